"""The additive law in parameters and tokens (Krajewski et al. 2025, eq. 4).

The question this law exists for (at a given compute budget, which
token-to-parameter ratio gives the best accuracy?) is answered from a fit by
:func:`bayes_scaling.decisions.best_tpr` and :func:`bayes_scaling.decisions.iso_flop`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist

from bayes_scaling.laws.base import REFERENCE, Law, register
from bayes_scaling.point_fit import CurveFit, DirectPaperMethod, PointParameter


@register
class AdditiveND(Law):
    r"""Additive law in parameters and tokens: ``-log Q = A N^(-alpha) + B D^(-beta)``.

    Fitted on all token-to-parameter ratios together, on the transformed scale.
    With ``n = log(N / 1e9)`` and ``d = log(D / 2e10)``,

    .. math::

        \log(-\log Q) = \log\left(e^{\mathrm{log\_a} - \alpha n}
                                  + e^{\mathrm{log\_b} - \beta d}\right),

    where ``log_a`` and ``log_b`` are the logs of the two terms of ``-log Q``
    for the reference run of 1e9 parameters trained on 2e10 tokens (TPR 20,
    1.2e20 FLOPs, the middle of the DCLM ladder). The paper's
    ``log A = log_a + alpha log(1e9)`` and ``log B = log_b + beta log(2e10)``
    (:meth:`paper_parameters`). ``-log Q`` falls towards 0 as N or D grows and
    never goes below 0, so predictions stay in ``[chance, 1]``.

    Parameterisation
    ----------------
    The law samples ``log_total``, ``log_ratio``, ``alpha``, ``beta`` with

    .. math::

        \mathrm{log\_total} = \log(e^{\mathrm{log\_a}} + e^{\mathrm{log\_b}}),
        \qquad \mathrm{log\_ratio} = \mathrm{log\_a} - \mathrm{log\_b},

    i.e. ``log(-log Q)`` of the reference run and the log of how much more its
    N-term weighs than its D-term; back, ``log_a = log_total +
    log_sigmoid(log_ratio)`` and ``log_b = log_total + log_sigmoid(-log_ratio)``.
    The data pin down the total well and the split less well, so ``log_a`` and
    ``log_b`` come out almost perfectly anti-correlated (-0.98 on DCLM
    ARC-Easy), which NUTS with a diagonal mass matrix samples slowly; the total
    and the ratio are nearly uncorrelated (bulk ESS per draw up by a third
    to a half on DCLM and Gadre et al. fits).

    Priors
    ------
    ``log_total ~ Normal(0, 1.5)``
        ``log(-log Q)`` of the reference run: 95% of the mass on Q between 1e-8
        and 0.95, from indistinguishable from chance to nearly solved, as the
        power law's ``log_a``.
    ``log_ratio ~ Normal(0, 1.5)``
        No preference for a parameter- or data-limited reference run; 95% of the
        mass on one term between 1/20 and 20 times the other.
    ``alpha ~ HalfNormal(0.5)``, ``beta ~ HalfNormal(0.5)``
        Accuracy rises with N and with D. Along one TPR, N and D each grow as
        the square root of compute, so the exponents are about twice the direct
        law's compute slope (0.05-0.3 per e-fold): 0.1-0.6. The half-normal
        keeps mass near 0 for a term that is nearly flat, where the data say
        little and the prior keeps the exponent bounded.

    Notes
    -----
    When one term dominates over the whole data range the other is weakly
    identified; the posterior says so with wide intervals rather than the
    single point a least-squares fit returns. Runs at several TPRs per compute
    (DCLM's 10-160, Gadre et al.'s 5-640) separate the two terms.
    """

    name = "additive_nd"
    formula = "-log Q = A N^-alpha + B D^-beta"
    inputs = ("params", "tokens")
    scale = "log_neg_log_q"
    parameters = ("log_total", "log_ratio", "alpha", "beta")

    def default_priors(self):
        return {
            "log_total": dist.Normal(0.0, 1.5),
            "log_ratio": dist.Normal(0.0, 1.5),
            "alpha": dist.HalfNormal(0.5),
            "beta": dist.HalfNormal(0.5),
        }

    def mean(self, theta, inputs):
        log_a, log_b = term_logs(theta)
        return _terms(log_a, theta["alpha"], log_b, theta["beta"], inputs)

    def paper_parameters(self, theta, chance=None) -> dict:
        """The paper's ``log A``, ``alpha``, ``log B``, ``beta`` (N and D unscaled) from ours.

        Works on scalars or arrays of posterior draws (e.g. from
        :func:`bayes_scaling.fits.posterior_draws`).
        """
        theta = {name: np.asarray(theta[name], dtype=float) for name in self.parameters}
        log_a, log_b = (np.asarray(v) for v in term_logs(theta))
        return {
            "log_A": log_a + theta["alpha"] * np.log(REFERENCE["params"]),
            "alpha": theta["alpha"],
            "log_B": log_b + theta["beta"] * np.log(REFERENCE["tokens"]),
            "beta": theta["beta"],
        }

    def paper_method(self):
        r"""Huber loss on ``log(-log Q)`` (eq. 4) in ``log a``, ``alpha``, ``log b``, ``beta``, from 81 starts (the paper's 3^4 grid).

        Minimises :math:`H(\operatorname{logaddexp}(\log a - \alpha n, \log b - \beta d) - y)`.
        Bounds ``log a``, ``log b`` in [-15, 10], ``alpha``, ``beta`` in [0, 3];
        starts ``log a``, ``log b`` in [-4, 1], ``alpha``, ``beta`` in [0.05, 1.5].
        """
        parameters = (
            PointParameter("log_a", (-4.0, 1.0), (-15.0, 10.0)),
            PointParameter("alpha", (0.05, 1.5), (0.0, 3.0)),
            PointParameter("log_b", (-4.0, 1.0), (-15.0, 10.0)),
            PointParameter("beta", (0.05, 1.5), (0.0, 3.0)),
        )
        return DirectPaperMethod(CurveFit(parameters, _paper_curve, default_starts=81), self.scale, _paper_notation)


def _terms(log_a, alpha, log_b, beta, inputs):
    # logaddexp keeps log(A N^-alpha + B D^-beta) finite when one term
    # underflows, which log(exp + exp) would not.
    return jnp.logaddexp(log_a - alpha * inputs["log_params"], log_b - beta * inputs["log_tokens"])


def _paper_curve(theta, inputs):
    return _terms(theta["log_a"], theta["alpha"], theta["log_b"], theta["beta"], inputs)


def _paper_notation(theta) -> dict:
    return {
        "A": np.exp(theta["log_a"] + theta["alpha"] * np.log(REFERENCE["params"])),
        "alpha": theta["alpha"],
        "B": np.exp(theta["log_b"] + theta["beta"] * np.log(REFERENCE["tokens"])),
        "beta": theta["beta"],
    }


def term_logs(theta):
    """``(log_a, log_b)``: logs of the N- and D-terms of ``-log Q`` at the reference run."""
    log_total, log_ratio = theta["log_total"], theta["log_ratio"]
    return log_total + jax.nn.log_sigmoid(log_ratio), log_total + jax.nn.log_sigmoid(-log_ratio)
