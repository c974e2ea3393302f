"""The saturating power law of accuracy in compute (Krajewski et al. 2025, eq. 10, App. L).

Also the pieces :mod:`bayes_scaling.laws.bnsl` shares with it: the floor of
``-log Q`` parameterised as a share of ``-log Q`` at 1e21 FLOPs, the mean slope
between 1e19 and 1e21 FLOPs, and the ceiling that floor implies
(:func:`floor_ceiling`; read off a fit by :func:`bayes_scaling.fits.max_accuracy`).
"""

from __future__ import annotations

from collections.abc import Mapping

import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist

from bayes_scaling.laws.base import REFERENCE, Law, register
from bayes_scaling.point_fit import CurveFit, DirectPaperMethod, PointParameter

#: Rescaled log compute of the low anchor, 1e19 FLOPs: ``log(1e19 / 1e21)``. The
#: mean slope is measured from here to the reference 1e21 FLOPs (``x = 0``):
#: the upper part of a typical ladder below the usual hold-out cut-off, where
#: runs are well above chance on most benchmarks.
ANCHOR_LOG_COMPUTE = float(np.log(1e19 / REFERENCE["compute"]))
#: Length of that span in e-folds of compute (4.6).
ANCHOR_SPAN = -ANCHOR_LOG_COMPUTE


def reducible_mean_slope(mean_slope, floor_share):
    r"""Mean slope of the reducible part of ``-log Q`` between 1e19 and 1e21 FLOPs.

    With ``-log Q = T (s + (1 - s) exp(r(x)))``, ``r(0) = 0``, and a mean slope
    ``m`` of ``log(-log Q)`` over the span ``L`` (``-log Q`` at 1e19 FLOPs is
    ``T exp(L m)``), the reducible part falls by ``r(-L) = L m_r`` with

    .. math::

        m_r = m + \frac{\log(1 - s e^{-L m}) - \log(1 - s)}{L} \;\ge\; m.
    """
    return mean_slope + (
        jnp.log1p(-floor_share * jnp.exp(-ANCHOR_SPAN * mean_slope)) - jnp.log1p(-floor_share)
    ) / ANCHOR_SPAN


def floored_mean(log_total, floor_share, log_reducible):
    """``log(-log Q) = log_total + log(s + (1 - s) exp(log_reducible))``, in log space."""
    return log_total + jnp.logaddexp(jnp.log(floor_share), jnp.log1p(-floor_share) + log_reducible)


def floor_ceiling(theta: Mapping, chance):
    r"""The ceiling of a law whose ``-log Q`` falls to the floor ``E = floor_share exp(log_total)``.

    As compute grows without bound ``Q -> Q_max = exp(-E)``, so accuracy
    rises to ``chance + (1 - chance) exp(-E)``.
    """
    floor = np.asarray(theta["floor_share"], dtype=float) * np.exp(np.asarray(theta["log_total"], dtype=float))
    return chance + (1.0 - chance) * np.exp(-floor)


def floor_priors() -> dict[str, dist.Distribution]:
    """Priors of the level, mean slope and floor share, shared by the saturating law and BNSL."""
    return {
        "log_total": dist.Normal(0.0, 1.5),
        "mean_slope": dist.HalfNormal(0.5),
        "floor_share": dist.Beta(1.0, 4.0),
    }


@register
class SaturatingPowerLaw(Law):
    r"""Saturating power law: ``-log Q = A C^(-alpha) + E``.

    The direct power law plus an irreducible term ``E``: as compute grows,
    ``-log Q`` falls to ``E`` instead of to zero, so normalised accuracy
    saturates at ``Q_max = exp(-E)`` and raw accuracy at
    ``chance + (1 - chance) exp(-E)`` (:meth:`ceiling`).

    Fitted, like the direct law, on ``log(-log Q)``, and parameterised by what
    a ladder of runs measures rather than by ``A``, ``alpha``, ``E``:

    .. math::

        \log(-\log Q) = \mathrm{log\_total}
            + \log\left(s + (1 - s)\, e^{-\alpha x}\right),
        \qquad x = \log(C / 10^{21}),

    with ``s = floor_share`` and ``alpha`` fixed by ``mean_slope`` (below).

    ``log_total``
        ``log(-log Q)`` at 1e21 FLOPs: the level of the curve where it is fitted.
    ``mean_slope``
        How fast ``log(-log Q)`` falls per e-fold of compute, on average from
        1e19 to 1e21 FLOPs (4.6 e-folds): ``-log Q`` at 1e19 FLOPs is
        ``exp(log_total + 4.6 m)``.
    ``floor_share``
        ``s = E / (-log Q at 1e21 FLOPs)``: the share of what is left to learn
        at 1e21 FLOPs that no amount of compute removes.

    In the paper's notation ``E = s exp(log_total)``, ``A = (1 - s)
    exp(log_total) 1e21^alpha`` and ``alpha = m + (log(1 - s exp(-4.6 m)) -
    log(1 - s)) / 4.6`` (see :meth:`paper_parameters`). With ``s = 0`` this is
    ``power_law`` with ``log_a = log_total`` and ``alpha = mean_slope``, and the
    priors are the same; that shared scale keeps the two comparable by LOO.

    Why not sample ``log A``, ``alpha``, ``log E`` directly: the data pin the
    level at the top of the ladder, so a larger ``E`` forces a smaller ``A``
    and a steeper ``alpha`` along a narrow curved ridge, and NUTS mixes badly
    along it (R-hat above 1.01 with 4 x 500 draws on the DCLM ladder). In the
    parameters above the posterior is close to Gaussian.

    Priors
    ------
    ``log_total ~ Normal(0, 1.5)``
        As ``log_a`` of ``power_law``: 95% of the mass on ``Q`` at 1e21 FLOPs
        between 1e-8 and 0.95.
    ``mean_slope ~ HalfNormal(0.5)``
        As ``alpha`` of ``power_law``: accuracy rises with compute, observed
        slopes on the DCLM ladder are 0.05-0.3, and 0.5 leaves room for steeper
        benchmarks.
    ``floor_share ~ Beta(1, 4)``
        Mean 0.2, 90% below 0.44, most density at 0 (no floor): at 1e21 FLOPs,
        a model of about 3B parameters, most of what remains on a benchmark is
        still learnable, as larger public models show, but a share is not
        (mislabelled or ambiguous items). On ARC-Easy (``-log Q = 0.53`` at
        1e21) the prior median puts the ceiling at ``Q_max = 0.92``.
    """

    name = "saturating_power_law"
    formula = "-log Q = A C^-alpha + E"
    inputs = ("compute",)
    scale = "log_neg_log_q"
    parameters = ("log_total", "mean_slope", "floor_share")

    def default_priors(self):
        return floor_priors()

    def exponent(self, theta):
        """The paper's ``alpha``, from ``mean_slope`` and ``floor_share``."""
        return reducible_mean_slope(theta["mean_slope"], theta["floor_share"])

    def mean(self, theta, inputs):
        log_reducible = -self.exponent(theta) * inputs["log_compute"]
        return floored_mean(theta["log_total"], theta["floor_share"], log_reducible)

    def ceiling(self, theta, chance):
        return floor_ceiling(theta, chance)

    def paper_parameters(self, theta: Mapping, chance=None) -> dict[str, np.ndarray]:
        """``A``, ``alpha``, ``E`` of ``-log Q = A C^(-alpha) + E`` with ``C`` in FLOPs.

        ``theta`` maps the law's parameters to arrays of draws (or floats);
        ``log_A`` is returned instead of ``A``, which overflows for steep laws.
        """
        total = np.exp(np.asarray(theta["log_total"], dtype=float))
        share = np.asarray(theta["floor_share"], dtype=float)
        alpha = np.asarray(self.exponent(theta))
        return {
            "log_A": np.log(total) + np.log1p(-share) + alpha * np.log(REFERENCE["compute"]),
            "alpha": alpha,
            "E": share * total,
        }

    def paper_method(self):
        r"""Huber loss on ``log(-log Q)`` (eq. 10), in the paper's own coordinates.

        Minimises :math:`H(\operatorname{logaddexp}(\log a - \alpha x, \log E) - y)`
        with ``log a = log A - alpha log 1e21``. Bounds ``log a`` in [-10, 5],
        ``alpha`` in [0, 3], ``log E`` in [-15, 3]; starts ``log a`` in [-3, 2],
        ``alpha`` in [0, 2], ``log E`` in [-5, 1].
        """
        parameters = (
            PointParameter("log_a", (-3.0, 2.0), (-10.0, 5.0)),
            PointParameter("alpha", (0.0, 2.0), (0.0, 3.0)),
            PointParameter("log_e", (-5.0, 1.0), (-15.0, 3.0)),
        )
        return DirectPaperMethod(CurveFit(parameters, _paper_curve), self.scale, _paper_notation)


def _paper_curve(theta, inputs):
    """``log(-log Q) = log(a (C/1e21)^-alpha + E)``."""
    return jnp.logaddexp(theta["log_a"] - theta["alpha"] * inputs["log_compute"], theta["log_e"])


def _paper_notation(theta) -> dict:
    return {
        "A": np.exp(theta["log_a"] + theta["alpha"] * np.log(REFERENCE["compute"])),
        "alpha": theta["alpha"],
        "E": np.exp(theta["log_e"]),
    }
