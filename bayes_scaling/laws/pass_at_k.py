"""The pass@k law in compute and number of samples (Krajewski et al. 2025, eq. 5)."""

from __future__ import annotations

import numpy as np
import numpyro.distributions as dist

from bayes_scaling.laws.base import REFERENCE, Law, register
from bayes_scaling.point_fit import CurveFit, DirectPaperMethod, PointParameter

#: log of the reference compute, to convert to the paper's unscaled coefficients.
_LOG_C_REF = float(np.log(REFERENCE["compute"]))


@register
class PassAtK(Law):
    r"""Pass@k law: ``log(-log Q(C,k)) = log A + alpha log C + beta log k + delta log C log k``.

    Fitted jointly over every compute and every k, on the transformed scale,
    with ``x = log(C / 1e21)`` and ``kappa = log k``:

    .. math::

        \log(-\log Q) = \mathrm{log\_a} - \alpha\, x - \beta\, \kappa + \delta\, x\, \kappa .

    Here ``alpha`` and ``beta`` are the *falls* of ``log(-log Q)`` per e-fold
    of compute (at k = 1) and of k (at 1e21 FLOPs), so both are positive when
    pass@k rises with compute and with k; ``delta`` is the change of the k-slope
    per e-fold of compute (positive: more samples help *less* at larger compute).
    ``log_a`` is ``log(-log pass@1)`` at 1e21 FLOPs. The paper's coefficients
    (signed, unscaled compute) are, with ``L = log(1e21)``::

        log A   = log_a + alpha L          alpha_paper = -alpha
        beta_paper = -beta - delta L       delta_paper = delta

    Chance is 0 for code and math benchmarks, so ``Q`` is pass@k itself.

    Priors
    ------
    ``log_a ~ Normal(0, 1.5)``
        ``log(-log pass@1)`` at 1e21 FLOPs: 95% of the mass on pass@1 between
        1e-8 and 0.95, as the power law's ``log_a``.
    ``alpha ~ HalfNormal(0.5)``
        Pass@1 rises with compute; fitted slopes are 0.1-0.25 per e-fold
        (HumanEval, MBPP, LBPP at DCLM TPR 20; MATH for Pythia), like the
        direct law's 0.05-0.3.
    ``beta ~ HalfNormal(0.5)``
        Pass@k rises with k; fitted k-slopes at 1e21 FLOPs are 0.09-0.15 per
        e-fold of k on the code benchmarks and 0.3 on MATH; 0.5 is wide.
    ``delta ~ Normal(0, 0.1)``
        Over the 4-5 e-folds of compute of a typical ladder, 0.1 changes the
        k-slope by about 0.5, more than the slope itself: a weakly informative
        scale centred on no interaction. Fitted values are -0.01 to -0.02 (the
        k-slope steepens slowly with compute).

    Notes
    -----
    The rows of one run at different k come from the same samples and share
    their noise; the shared Student-t likelihood treats them as independent, so
    intervals are somewhat narrower than a model of that correlation would give.

    The k-slope ``-beta + delta x`` is negative (pass@k rising in k) at 1e21
    FLOPs by the prior, but not at every compute; far from the data it can
    change sign. A model that never solves some problems has pass@k flattening
    below 1, which the law cannot follow (Pythia-70M on MATH: 94 of 128
    problems unsolved in 10,000 samples); the Student-t then turns heavy-tailed
    (nu near 2), and such runs are better left out.
    """

    name = "pass_at_k"
    formula = "log(-log Q) = log A + alpha log C + beta log k + delta log C log k"
    inputs = ("compute", "k")
    scale = "log_neg_log_q"
    parameters = ("log_a", "alpha", "beta", "delta")

    def default_priors(self):
        return {
            "log_a": dist.Normal(0.0, 1.5),
            "alpha": dist.HalfNormal(0.5),
            "beta": dist.HalfNormal(0.5),
            "delta": dist.Normal(0.0, 0.1),
        }

    def mean(self, theta, inputs):
        x, kappa = inputs["log_compute"], inputs["log_k"]
        return theta["log_a"] - theta["alpha"] * x - theta["beta"] * kappa + theta["delta"] * x * kappa

    def paper_parameters(self, theta, chance=None) -> dict:
        """The paper's signed coefficients of eq. 5 (natural logs, C in FLOPs) from ours.

        Works on scalars or arrays of posterior draws.
        """
        log_a, alpha, beta, delta = (np.asarray(theta[name], dtype=float) for name in self.parameters)
        return {
            "log_A": log_a + alpha * _LOG_C_REF,
            "alpha": -alpha,
            "beta": -beta - delta * _LOG_C_REF,
            "delta": delta,
        }

    def paper_method(self):
        """Ordinary least squares on all (C, k) together (eq. 5), closed form: the curve is linear in its parameters."""
        parameters = tuple(PointParameter(name, (-1.0, 1.0)) for name in self.parameters)
        curve_fit = CurveFit(parameters, self.mean, "least_squares", 1,
                             "at least two compute budgets and two values of k")
        return DirectPaperMethod(curve_fit, self.scale, self._paper_notation)

    def _paper_notation(self, theta) -> dict:
        paper = self.paper_parameters(theta)
        return {"A": np.exp(paper.pop("log_A"))} | paper
