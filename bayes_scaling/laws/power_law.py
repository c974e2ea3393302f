"""The direct power law of accuracy in compute (Krajewski et al. 2025, eq. 2)."""

from __future__ import annotations

import numpy as np
import numpyro.distributions as dist

from bayes_scaling.laws.base import REFERENCE, Law, register
from bayes_scaling.point_fit import CurveFit, DirectPaperMethod, PointParameter


@register
class PowerLaw(Law):
    r"""Direct power law: ``-log Q = A C^(-alpha)``.

    Fitted, as in the paper, on the transformed scale

    .. math::

        \log(-\log Q) = \log A - \alpha \log C
                      = \mathrm{log\_a} - \alpha \, x,
        \qquad x = \log(C / 10^{21}),

    so ``log_a`` is ``log(-log Q)`` at the reference compute of 1e21 FLOPs and
    the paper's ``log A = log_a + alpha * log(1e21)``.

    Priors
    ------
    ``log_a ~ Normal(0, 1.5)``
        At 1e21 FLOPs this puts 95% of the mass on Q between 1e-8 and 0.95:
        from indistinguishable from chance to nearly solved.
    ``alpha ~ HalfNormal(0.5)``
        Accuracy rises with compute. Observed slopes on the DCLM ladder are
        0.05-0.3 per e-fold of compute; 0.5 leaves room for steeper benchmarks.
    """

    name = "power_law"
    formula = "-log Q = A C^-alpha"
    inputs = ("compute",)
    scale = "log_neg_log_q"
    parameters = ("log_a", "alpha")

    def default_priors(self):
        return {"log_a": dist.Normal(0.0, 1.5), "alpha": dist.HalfNormal(0.5)}

    def mean(self, theta, inputs):
        return theta["log_a"] - theta["alpha"] * inputs["log_compute"]

    def paper_parameters(self, theta, chance=None):
        """``log_A`` and ``alpha`` of ``-log Q = A C^-alpha`` with C in FLOPs (``log A``: ``A`` overflows)."""
        log_a, alpha = (np.asarray(theta[name], dtype=float) for name in self.parameters)
        return {"log_A": log_a + alpha * np.log(REFERENCE["compute"]), "alpha": alpha}

    def paper_method(self):
        """Ordinary least squares of ``log(-log Q)`` on ``log C`` (eq. 2), closed form."""
        parameters = (PointParameter("log_a", (-1.0, 1.0)), PointParameter("alpha", (0.0, 1.0)))
        curve_fit = CurveFit(parameters, self.mean, "least_squares", 1, "at least two compute budgets")
        return DirectPaperMethod(curve_fit, self.scale, _paper_notation)


def _paper_notation(theta) -> dict:
    return {"A": np.exp(theta["log_a"] + theta["alpha"] * np.log(REFERENCE["compute"])), "alpha": theta["alpha"]}
