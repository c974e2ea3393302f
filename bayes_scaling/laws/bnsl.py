"""The broken neural scaling law of accuracy in compute (Caballero et al. 2022; Krajewski et al. 2025, eq. 1)."""

from __future__ import annotations

from collections.abc import Mapping

import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist

from bayes_scaling.errors import SpecError
from bayes_scaling.laws.base import REFERENCE, Law, is_registered, register, register_family
from bayes_scaling.laws.saturating_power_law import (
    ANCHOR_LOG_COMPUTE,
    ANCHOR_SPAN,
    floor_ceiling,
    floor_priors,
    floored_mean,
    reducible_mean_slope,
)
from bayes_scaling.point_fit import CurveFit, DirectPaperMethod, PointParameter

#: The paper's range of a break location, 1e18 to 1e24 FLOPs, on the rescaled axis.
_LOG_D_RANGE = (float(np.log(1e18 / REFERENCE["compute"])), float(np.log(1e24 / REFERENCE["compute"])))

#: Rescaled log compute ``x = log(C / 1e21)`` of the typical ladder, 1e18 to
#: 5e22 FLOPs; the priors of the break locations spread over this range.
LADDER_LOG_COMPUTE = (-7.0, 4.0)


def _softplus(z):
    """``log(1 + exp(z))``, without overflow for large ``z``."""
    return jnp.logaddexp(0.0, z)


@register
class BrokenNeuralScalingLaw(Law):
    r"""Broken neural scaling law: ``-log Q = a + b C^(-c0) prod_i (1 + (C/d_i)^(1/f_i))^(-c_i f_i)``.

    A power law in compute whose slope steepens smoothly at each break
    ``d_i``, from ``c0 + ... + c_(i-1)`` to ``c0 + ... + c_i`` over a
    transition about ``f_i`` e-folds of compute wide, above the floor ``a``
    that ``-log Q`` falls to at infinite compute. ``bnsl`` has one break;
    ``BrokenNeuralScalingLaw(n)`` has ``n`` and registers itself as ``bnsl_n``.

    Fitted on ``log(-log Q)`` with every term in log space, on
    ``x = log(C / 10^{21})``:

    .. math::

        \log(-\log Q) = \mathrm{log\_total} + \log\left(s + (1 - s)\, e^{r(x)}\right),

        r(x) = -c_0 x - \sum_i c_i g_i(x), \qquad
        g_i(x) = f_i \left[\operatorname{softplus}\left(\frac{x - \mathrm{log\_d}_i}{f_i}\right)
                  - \operatorname{softplus}\left(\frac{-\mathrm{log\_d}_i}{f_i}\right)\right],

    with ``f_i = exp(log_f_i)``, ``s = floor_share``, and ``g_i(x)`` close to
    ``max(0, x - log_d_i)`` up to a constant: the extra fall of ``-log Q``
    after break ``i``. As in ``saturating_power_law``, the parameters are what
    the ladder measures:

    ``log_total``, ``mean_slope``, ``floor_share``
        ``log(-log Q)`` at 1e21 FLOPs; its mean fall per e-fold of compute
        from 1e19 to 1e21 FLOPs; the floor ``a`` as a share of ``-log Q`` at
        1e21 FLOPs. They are exactly those of ``saturating_power_law``, which
        is this law without breaks.
    ``slope_ratio_i``
        ``rho_i in (0, 1)``: the slope before break ``i`` over the slope after
        it, so the slopes are ``c0 = k prod_j rho_j``, ..., ``c0 + ... + c_n =
        k``; near 0 a plateau that takes off at the break, near 1 no break.
        ``k`` follows from ``mean_slope``.
    ``log_d_i``
        Break location on the rescaled axis, ``d_i = 1e21 exp(log_d_i)`` FLOPs.
    ``log_f_i``
        Log sharpness, ``f_i = exp(log_f_i)`` e-folds of compute.

    The paper's ``a``, ``b``, ``c_i``, ``d_i``, ``f_i`` follow in closed form
    (:meth:`paper_parameters`). Why not sample them: ``a`` and ``b`` trade off
    along a curved ridge once the level at the top of the ladder is pinned (see
    ``saturating_power_law``), and ``c0`` and ``c_1`` trade off whenever the
    break lies outside the data, where only their sum or only ``c0`` is seen.
    Here the level, mean slope and floor are nearly independent, the ratio is
    bounded, and a break outside the data leaves only bounded or proper
    directions to the prior.

    Likelihood scale
    ----------------
    ``log(-log Q)``, as for ``power_law`` and ``saturating_power_law``, so that
    LOO compares the three on the same observations, and because evaluation
    noise is closer to constant there than on ``-log Q``, where a point of
    accuracy near chance moves ``-log Q`` many times more than near the top.
    The log needs ``-log Q > 0`` at every compute, so ``a >= 0``; nothing is
    lost, since ``Q <= 1`` means ``-log Q >= 0`` and a negative floor (allowed by
    the paper's bounds, ``a`` in (-2, 5)) would promise accuracy above 100%.

    Priors
    ------
    ``log_total ~ Normal(0, 1.5)``, ``mean_slope ~ HalfNormal(0.5)``, ``floor_share ~ Beta(1, 4)``
        As in ``saturating_power_law``, and for the same reasons.
    ``slope_ratio_i ~ Beta(1, 1)``
        Uniform: no preference between a benchmark that sits on a plateau and
        then takes off (``rho`` near 0) and one with no break (``rho`` near 1).
        Breaks only steepen, as in the paper's bounds (``c_i`` in (0.1, 3)):
        flattening at the top is the floor's job, and a break of either sign
        would let the two explain the same bend.
    ``log_d_i ~ Normal(m_i, 2.75 / n)``
        The ladder runs over ``x`` from about -7 to +4 (1e18 to 5e22 FLOPs).
        The prior means ``m_i`` sit at the centres of ``n`` equal slices of that
        range, with a standard deviation of a quarter of a slice: one break
        (``m_1 = -1.5``) has 95% of its mass on the whole ladder, and several
        breaks each cover their own slice, which keeps them from swapping
        labels. A break outside the fitted range is allowed (it is what
        extrapolation has to fear) but not favoured.
    ``log_f_i ~ Normal(-0.5, 0.5)``
        95% of the mass on ``f_i`` from 0.23 to 1.6 e-folds, inside the paper's
        bounds (0.1, 3). Sharper breaks make the curvature, and so NUTS's step
        size, blow up; smoother ones turn into a constant plus a slope that
        ``log_total`` and ``mean_slope`` already carry, and leave the break's
        location unidentified.
    """

    name = "bnsl"
    formula = "-log Q = a + b C^-c0 (1 + (C/d_1)^(1/f_1))^(-c_1 f_1)"
    inputs = ("compute",)
    scale = "log_neg_log_q"
    parameters = ("log_total", "mean_slope", "floor_share", "slope_ratio1", "log_d1", "log_f1")

    def __init__(self, n_breaks: int = 1):
        if isinstance(n_breaks, bool) or int(n_breaks) != n_breaks or n_breaks < 1:
            raise SpecError(f"option n_breaks must be a positive integer, got {n_breaks!r}")
        self.n_breaks = int(n_breaks)
        if self.n_breaks != 1:
            # A fit records the law's name and prediction rebuilds the law from
            # the registry, so every break count is a registered form of its own.
            self.name = f"bnsl_{self.n_breaks}"
            self.formula = "-log Q = a + b C^-c0 prod_i (1 + (C/d_i)^(1/f_i))^(-c_i f_i)"
            self.parameters = ("log_total", "mean_slope", "floor_share") + tuple(
                f"{stem}{i}" for i in range(1, self.n_breaks + 1) for stem in ("slope_ratio", "log_d", "log_f")
            )
            _register_break_count(self.n_breaks)

    def default_priors(self):
        lo, hi = LADDER_LOG_COMPUTE
        width = (hi - lo) / self.n_breaks
        priors = floor_priors()
        for i in range(1, self.n_breaks + 1):
            priors[f"slope_ratio{i}"] = dist.Beta(1.0, 1.0)
            priors[f"log_d{i}"] = dist.Normal(lo + (i - 0.5) * width, width / 4)
            priors[f"log_f{i}"] = dist.Normal(-0.5, 0.5)
        return priors

    def slopes(self, theta, xs=()):
        """The paper's ``c0, c1, ..., c_n`` and the break terms ``g_i`` at each of ``xs``.

        Returns ``(c, g)``: ``c`` a list of ``n + 1`` slopes, ``g`` a list with,
        per ``x`` in ``xs``, the list of ``g_i(x)``.
        """
        n = self.n_breaks
        ratios = [theta[f"slope_ratio{i}"] for i in range(1, n + 1)]
        widths = [jnp.exp(theta[f"log_f{i}"]) for i in range(1, n + 1)]

        def g(x):
            return [
                f * (_softplus((x - theta[f"log_d{i}"]) / f) - _softplus(-theta[f"log_d{i}"] / f))
                for i, f in zip(range(1, n + 1), widths)
            ]

        # Relative slope after break i, with the last segment's slope set to 1.
        after = [1.0] * (n + 1)
        for i in range(n - 1, -1, -1):
            after[i] = after[i + 1] * ratios[i]
        relative = [after[0]] + [after[i] - after[i - 1] for i in range(1, n + 1)]
        # Share of the 1e19-1e21 span that lies after each break, in [0, 1].
        shares = [-gi / ANCHOR_SPAN for gi in g(ANCHOR_LOG_COMPUTE)]
        scale = reducible_mean_slope(theta["mean_slope"], theta["floor_share"]) / (
            relative[0] + sum(u * w for u, w in zip(relative[1:], shares))
        )
        return [scale * u for u in relative], [g(x) for x in xs]

    def mean(self, theta, inputs):
        x = inputs["log_compute"]
        c, (g,) = self.slopes(theta, [x])
        log_reducible = -c[0] * x - sum(ci * gi for ci, gi in zip(c[1:], g))
        return floored_mean(theta["log_total"], theta["floor_share"], log_reducible)

    def ceiling(self, theta, chance):
        return floor_ceiling(theta, chance)

    def paper_parameters(self, theta: Mapping, chance=None) -> dict[str, np.ndarray]:
        """``a``, ``log_b``, ``c0``, ``c_i``, ``d_i``, ``f_i`` of the paper's formula, ``C`` in FLOPs.

        ``theta`` maps the law's parameters to arrays of draws (or floats).
        ``log b`` is returned instead of ``b``, which overflows for steep laws.
        """
        theta = {name: jnp.asarray(theta[name], dtype=float) for name in self.parameters}
        c, _ = self.slopes(theta)
        total = jnp.exp(theta["log_total"])
        out = {"a": theta["floor_share"] * total, "c0": c[0]}
        log_b = theta["log_total"] + jnp.log1p(-theta["floor_share"]) + c[0] * np.log(REFERENCE["compute"])
        for i in range(1, self.n_breaks + 1):
            f = jnp.exp(theta[f"log_f{i}"])
            log_b = log_b + c[i] * f * _softplus(-theta[f"log_d{i}"] / f)
            out.update({f"c{i}": c[i], f"d{i}": REFERENCE["compute"] * jnp.exp(theta[f"log_d{i}"]), f"f{i}": f})
        out["log_b"] = log_b
        return {name: np.asarray(value) for name, value in out.items()}

    def paper_method(self):
        r"""Huber loss on ``-log Q`` itself (eq. 1), as the paper's released code, from 100 random starts.

        Minimises :math:`H(a + b' e^{-c_0 x - \sum_i c_i f_i \operatorname{softplus}(u_i)} + \log Q)`
        with :math:`u_i = (x - \log(d_i / 10^{21})) / f_i` and ``b' = b 1e21^-c0``.
        Bounds and starts: the paper's ranges, ``a`` in [-2, 5], ``c0``,
        ``c_i``, ``f_i`` in [0.1, 3], ``d_i`` in [1e18, 1e24] (uniform in
        ``log d_i``), ``log b'`` in [-14, log 50] (starts in [log 1e-3, log 50]).
        The floor ``a`` may be negative there, so the curve is fitted on
        ``-log Q``, where it need not stay positive.
        """
        parameters = [
            PointParameter("a", (-2.0, 5.0), (-2.0, 5.0)),
            PointParameter("log_b", (float(np.log(1e-3)), float(np.log(50.0))), (-14.0, float(np.log(50.0)))),
            PointParameter("c0", (0.1, 3.0), (0.1, 3.0)),
        ]
        for i in range(1, self.n_breaks + 1):
            parameters += [
                PointParameter(f"c{i}", (0.1, 3.0), (0.1, 3.0)),
                PointParameter(f"log_d{i}", _LOG_D_RANGE, _LOG_D_RANGE),
                PointParameter(f"f{i}", (0.1, 3.0), (0.1, 3.0)),
            ]
        return DirectPaperMethod(CurveFit(tuple(parameters), self._paper_curve, default_starts=100), "neg_log_q",
                                 self._paper_notation)

    def _paper_curve(self, theta, inputs):
        """``-log Q = a + b' (C/1e21)^-c0 prod_i (1 + (C/d_i)^(1/f_i))^(-c_i f_i)``, the break terms in log space."""
        x = inputs["log_compute"]
        log_reducible = theta["log_b"] - theta["c0"] * x
        for i in range(1, self.n_breaks + 1):
            f = theta[f"f{i}"]
            log_reducible = log_reducible - theta[f"c{i}"] * f * _softplus((x - theta[f"log_d{i}"]) / f)
        return theta["a"] + jnp.exp(log_reducible)

    def _paper_notation(self, theta) -> dict:
        out = {"a": theta["a"], "b": np.exp(theta["log_b"] + theta["c0"] * np.log(REFERENCE["compute"])),
               "c0": theta["c0"]}
        for i in range(1, self.n_breaks + 1):
            out.update({f"c{i}": theta[f"c{i}"], f"d{i}": REFERENCE["compute"] * np.exp(theta[f"log_d{i}"]),
                        f"f{i}": theta[f"f{i}"]})
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n_breaks={self.n_breaks})"


def _register_break_count(n_breaks: int) -> None:
    """Register ``bnsl_<n>``: a BNSL with ``n_breaks`` breaks that the registry builds without arguments."""
    name = f"bnsl_{n_breaks}"
    if is_registered(name):
        return

    def __init__(self):
        BrokenNeuralScalingLaw.__init__(self, n_breaks)

    register(type(f"BrokenNeuralScalingLaw{n_breaks}", (BrokenNeuralScalingLaw,), {"name": name, "__init__": __init__}))


register_family("bnsl", _register_break_count)
