"""The saturating power law of accuracy in compute (Krajewski et al. 2025, eq. 10, App. L).

Also the pieces :mod:`bayes_scaling.laws.bnsl` shares with it: the floor of
``-log Q`` parameterised as a share of ``-log Q`` at 1e21 FLOPs, the mean slope
between 1e19 and 1e21 FLOPs, and :func:`max_accuracy`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import pandas as pd

from bayes_scaling.errors import SpecError
from bayes_scaling.laws.base import REFERENCE, Law, register

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
    ``chance + (1 - chance) exp(-E)`` (see :func:`max_accuracy`).

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

    def paper_parameters(self, theta: Mapping) -> dict[str, np.ndarray]:
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


def max_accuracy(idata, prob: float | Sequence[float] = 0.9) -> pd.DataFrame:
    r"""The maximum accuracy that a fit with a floor implies, with credible intervals.

    As compute grows without bound, ``-log Q`` falls to its floor ``E``
    (``a`` in BNSL), so

    .. math::

        Q_{max} = e^{-E}, \qquad
        \mathrm{acc}_{max} = \mathrm{chance} + (1 - \mathrm{chance}) \, e^{-E}.

    Parameters
    ----------
    idata : xarray.DataTree
        A ``saturating_power_law`` or ``bnsl`` fit from :func:`bayes_scaling.fit`.
    prob : float or sequence of float
        Probabilities of the equal-tailed intervals, each in (0, 1).

    Returns
    -------
    pandas.DataFrame
        Index ``quantity``: ``max_accuracy`` (raw accuracy), ``max_q``
        (normalised accuracy ``Q_max``) and ``e`` (the floor ``E`` of
        ``-log Q``); columns ``median`` and ``lower_P``, ``upper_P`` per
        probability (P in percent, as in :func:`bayes_scaling.predict.predict`).

    Examples
    --------
    >>> import bayes_scaling as bs
    >>> from bayes_scaling.laws.saturating_power_law import max_accuracy
    >>> data = bs.select(bs.load_dataset("krajewski2025_dclm"), "arc_easy", tpr=20, max_compute=1e21)
    >>> idata = bs.fit(data, "saturating_power_law", quiet=True)  # doctest: +SKIP
    >>> max_accuracy(idata).loc["max_accuracy", ["median", "lower_90", "upper_90"]]  # doctest: +SKIP
    """
    probs = [prob] if np.ndim(prob) == 0 else list(prob)
    for p in probs:
        if not 0 < p < 1:
            raise SpecError(f"option prob: {p} is not in (0, 1)")
    draws = _ceiling_draws(idata)
    table = pd.DataFrame({"median": {name: np.median(values) for name, values in draws.items()}})
    for p in probs:
        tag = f"{100 * p:g}"
        table[f"lower_{tag}"] = {name: np.quantile(values, (1 - p) / 2) for name, values in draws.items()}
        table[f"upper_{tag}"] = {name: np.quantile(values, (1 + p) / 2) for name, values in draws.items()}
    table.index.name = "quantity"
    return table


def _ceiling_draws(idata) -> dict[str, np.ndarray]:
    """Posterior draws of the floor ``E``, ``Q_max`` and the maximum accuracy of a fit with a floor."""
    posterior = idata["posterior"]
    if "floor_share" not in posterior or "log_total" not in posterior:
        raise SpecError(
            f"max_accuracy needs a fit of a law with a floor (saturating_power_law, bnsl), "
            f"got a {idata.attrs.get('law')!r} fit"
        )
    chance = np.unique(np.asarray(idata["constant_data"]["chance"], dtype=float))
    if chance.size != 1:
        raise SpecError(f"max_accuracy needs one chance level per fit, got {chance.tolist()}")
    e = np.asarray(posterior["floor_share"], dtype=float).ravel() * np.exp(
        np.asarray(posterior["log_total"], dtype=float).ravel()
    )
    q_max = np.exp(-e)
    return {"max_accuracy": chance[0] + (1.0 - chance[0]) * q_max, "max_q": q_max, "e": e}


def max_accuracy_draws(idata) -> np.ndarray:
    """Posterior draws (chains and draws flattened) of the maximum accuracy a fit with a floor implies."""
    return _ceiling_draws(idata)["max_accuracy"]
