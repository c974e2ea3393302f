"""The two-stage baseline: compute -> validation loss -> accuracy, fitted as one joint model.

The older route to downstream accuracy (Krajewski et al. 2025 call it the
two-stage approach and show that it compounds errors) first fits the
pre-training validation loss against compute, then accuracy against loss, and
predicts a large run by pushing its compute through both fits. Here both stages
are one NumPyro model with two likelihoods, so that a predicted accuracy carries
the uncertainty of the loss curve as well as that of the loss-to-accuracy map.

Use :func:`select_two_stage` to build the data: it selects a benchmark's
accuracies as :func:`bayes_scaling.select` does and puts each run's validation
loss beside them in a ``loss`` column.

A two-stage law is composed of two parts, the way kernels are built from
parts: a loss curve (:class:`PowerLawLoss`, with or without an irreducible
loss) and a link from loss to accuracy (:class:`LogisticLink`,
:class:`LinearLink`). Each part carries its parameters, priors, formula, paper
notation and the paper method's point fit; :class:`TwoStage` joins them into
one law. A new variant is a new part, or a new pairing of parts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pandas as pd
from numpyro import handlers

from bayes_scaling.errors import DataError
from bayes_scaling.laws.base import REFERENCE, Law, register
from bayes_scaling.point_fit import CurveFit, PointData, PointParameter, PointSolution
from bayes_scaling.selection import ScalingData, select

#: Validation set whose loss stage 1 fits when none is named.
DEFAULT_LOSS_BENCHMARK = "dclm"

#: Reference validation loss in nats per token, the middle of a typical ladder's
#: losses (3.7 nats at 1e18 FLOPs to 2.4 nats at 1e21 on DCLM). The linear stage 2
#: is centred here, and the logistic's location prior.
LOSS_REFERENCE = 3.0

#: Normalised accuracy is kept this far inside (0, 1) before ``log(-log Q)``;
#: only the linear stage 2 can reach the edges, and only far from its data.
_Q_EDGE = 1e-9

#: Span of stage 1's two anchors, ``log(1e21 / 1e18)``: ``loss_slope`` is the
#: mean slope of ``-log L`` in ``log C`` between 1e18 and 1e21 FLOPs.
_SPAN = np.log(1e21 / 1e18)

#: The logistic's location is the loss at which accuracy has closed this share
#: of the gap between its floor and 1 (``loss_20``).
_ANCHOR_SHARE = 0.2

#: log of the reference compute, to convert stage 1 to the paper's ``C_N``.
_LOG_C_REF = float(np.log(REFERENCE["compute"]))


def select_two_stage(
    table: pd.DataFrame,
    benchmark: str,
    metric: str = "acc",
    loss_benchmark: str = DEFAULT_LOSS_BENCHMARK,
    **select_kwargs,
) -> ScalingData:
    """Select a benchmark's accuracies with each run's validation loss beside them.

    Parameters
    ----------
    table : pandas.DataFrame
        Tidy table with accuracy rows and ``metric == "loss"`` rows.
    benchmark, metric : str
        The downstream measurement, as in :func:`bayes_scaling.select`.
    loss_benchmark : str
        The validation set whose loss is stage 1's response (``c4``, ``dclm``,
        ``fineweb`` in ``krajewski2025_dclm``).
    **select_kwargs
        Passed to :func:`bayes_scaling.select` (``group``, ``tpr``,
        ``max_compute``, ``chance_margin``, ``dataset``...).

    Returns
    -------
    ScalingData
        Its ``fitted``, ``held_out`` and ``excluded`` frames gain a ``loss``
        column, matched by ``run_id``; runs without that loss are excluded with
        reason ``no_loss``. ``description["loss_benchmark"]`` records the loss.

    Raises
    ------
    DataError
        If the table has no such loss, or one run has two different losses.

    Examples
    --------
    >>> import bayes_scaling as bs
    >>> from bayes_scaling.laws.two_stage import select_two_stage
    >>> table = bs.load_dataset("krajewski2025_dclm")
    >>> data = select_two_stage(table, "arc_easy", tpr=20, max_compute=1e21)
    >>> data.description["loss_benchmark"]
    'dclm'
    """
    data = select(table, benchmark, metric, **select_kwargs)
    losses = table[(table["metric"] == "loss") & (table["benchmark"] == loss_benchmark)]
    if losses.empty:
        known = ", ".join(sorted(table.loc[table["metric"] == "loss", "benchmark"].unique())) or "none"
        raise DataError(f"option loss_benchmark: no loss rows for {loss_benchmark!r}; losses present: {known}")
    per_run = losses.groupby("run_id")["value"]
    conflicting = per_run.nunique() > 1
    if conflicting.any():
        run = conflicting.index[conflicting.to_numpy()][0]
        raise DataError(f"option loss_benchmark: run {run!r} has several different {loss_benchmark!r} losses")
    loss = per_run.first()

    def with_loss(frame):
        return frame.assign(loss=frame["run_id"].map(loss).astype(float))

    data = ScalingData(
        fitted=with_loss(data.fitted),
        held_out=with_loss(data.held_out),
        excluded=with_loss(data.excluded),
        description={**data.description, "loss_benchmark": loss_benchmark},
    )
    return data.exclude(data.fitted["loss"].isna(), data.held_out["loss"].isna(), "no_loss")




# --------------------------------------------------------------------------- stage 1
@dataclass(frozen=True)
class PowerLawLoss:
    r"""Stage 1: validation loss against compute, ``L = E + (C / C_N)^-alpha_N``.

    Sampled as ``log L(C) = log_loss_ref + log(f + (1 - f) exp(-alpha_N x))``
    with ``f = irreducible_fraction`` and ``alpha_N`` fixed by ``loss_slope``
    (see :class:`TwoStage`). With ``irreducible=False`` the pure power law
    ``log L = log_loss_ref - loss_slope x``.
    """

    irreducible: bool = True

    @property
    def parameters(self) -> tuple[str, ...]:
        return ("log_loss_ref", "loss_slope") + (("irreducible_fraction",) if self.irreducible else ())

    def priors(self) -> dict[str, dist.Distribution]:
        priors = {"log_loss_ref": dist.Normal(np.log(2.5), 0.5), "loss_slope": dist.HalfNormal(0.2)}
        if self.irreducible:
            priors["irreducible_fraction"] = dist.Beta(2.0, 2.0)
        return priors

    def alpha(self, theta):
        r"""The paper's exponent :math:`\alpha_N` of the reducible loss."""
        if not self.irreducible:
            return theta["loss_slope"]
        fraction = theta["irreducible_fraction"]
        # log L(1e18) - log L(1e21) = slope * span, i.e.
        # (L(1e18) - E) / (L(1e21) - E) = exp(alpha * span).
        return jnp.log((jnp.exp(theta["loss_slope"] * _SPAN) - fraction) / (1.0 - fraction)) / _SPAN

    def log_loss(self, theta, log_compute):
        """``log L(C)`` at ``log_compute = log(C / 1e21)``."""
        if not self.irreducible:
            return theta["log_loss_ref"] - theta["loss_slope"] * log_compute
        fraction = theta["irreducible_fraction"]
        decay = -self.alpha(theta) * log_compute
        return theta["log_loss_ref"] + jnp.logaddexp(jnp.log(fraction), jnp.log1p(-fraction) + decay)

    def paper_parameters(self, theta) -> dict:
        """``E``, ``alpha_N`` and ``log_C_N`` (natural log of FLOPs) from draws of this part's parameters."""
        loss_ref = jnp.exp(theta["log_loss_ref"])
        fraction = theta["irreducible_fraction"] if self.irreducible else 0.0
        alpha = self.alpha(theta)
        return {
            "E": fraction * loss_ref,
            "alpha_N": alpha,
            "log_C_N": _LOG_C_REF + jnp.log((1.0 - fraction) * loss_ref) / alpha,
        }

    # ------------------------------------------------------ the paper's method
    def curve_fit(self) -> CurveFit:
        r"""Huber fit on ``log L``: ``logaddexp(log r - alpha_N x, log E)`` (or without ``E``).

        ``r`` is the reducible loss at 1e21 FLOPs; bounds ``log r``, ``log E``
        in [-10, 3], ``alpha_N`` in [0, 3]; starts ``log r``, ``log E`` in
        [-3, 1.5], ``alpha_N`` in [0.01, 1].
        """
        parameters = [PointParameter("log_r", (-3.0, 1.5), (-10.0, 3.0)), PointParameter("alpha_N", (0.01, 1.0), (0.0, 3.0))]
        if not self.irreducible:
            return CurveFit(tuple(parameters), _pure_log_loss)
        return CurveFit((*parameters, PointParameter("log_e", (-3.0, 1.5), (-10.0, 3.0))), _floored_log_loss)

    def point_paper_parameters(self, theta) -> dict:
        # (C / C_N)^-alpha_N = r (C / 1e21)^-alpha_N, so log C_N = log 1e21 + log r / alpha_N.
        with np.errstate(divide="ignore", over="ignore"):
            out = {"E": np.exp(theta["log_e"])} if self.irreducible else {}
            return out | {"alpha_N": theta["alpha_N"], "C_N": np.exp(_LOG_C_REF + theta["log_r"] / theta["alpha_N"])}


def _floored_log_loss(theta, inputs):
    return jnp.logaddexp(theta["log_r"] - theta["alpha_N"] * inputs["log_compute"], theta["log_e"])


def _pure_log_loss(theta, inputs):
    return theta["log_r"] - theta["alpha_N"] * inputs["log_compute"]


# --------------------------------------------------------------------------- stage 2
@dataclass(frozen=True)
class LogisticLink:
    r"""Stage 2: the paper's logistic ``acc = a / (1 + exp(k (L - l0))) + b``.

    Sampled as ``floor``, ``saturation``, ``rate_20``, ``loss_20`` (see
    :class:`TwoStage`): ``Q = Q_min + 1 / (1/h + (1/d - 1/h) exp(k (L - L_20)))``.
    """

    parameters: ClassVar[tuple[str, ...]] = ("floor", "saturation", "rate_20", "loss_20")
    formula: ClassVar[str] = "acc = a/(1+exp(k(L-l0))) + b"

    def priors(self) -> dict[str, dist.Distribution]:
        return {
            "floor": dist.Beta(1.0, 9.0),
            "saturation": dist.Beta(3.0, 1.0),
            "rate_20": dist.LogNormal(np.log(3.0), 1.0),
            "loss_20": dist.Normal(LOSS_REFERENCE, 1.0),
        }

    def normalised_accuracy(self, theta, loss):
        floor, height = theta["floor"], self._height(theta)
        anchor = _ANCHOR_SHARE * (1.0 - floor)
        # f + 1 / (1/h + (1/d - 1/h) exp(k (L - L20))) = f + h sigmoid(k (l0 - L)),
        # which equals f + d at L = L20.
        growth = jnp.exp(self._steepness(theta) * (loss - theta["loss_20"]))
        return floor + 1.0 / (1.0 / height + (1.0 / anchor - 1.0 / height) * growth)

    @staticmethod
    def _height(theta):
        """``h = Q_max - Q_min``: at least the anchor's share of the gap above the floor."""
        return (1.0 - theta["floor"]) * (_ANCHOR_SHARE + (1.0 - _ANCHOR_SHARE) * theta["saturation"])

    @staticmethod
    def _steepness(theta):
        """The logistic's ``k = rate_20 / (1 - d / h)``."""
        # d / h = 0.2 / (0.2 + 0.8 saturation), so 1 / (1 - d/h) = 1 + 0.2 / (0.8 saturation).
        share = _ANCHOR_SHARE / (1.0 - _ANCHOR_SHARE)
        return theta["rate_20"] * (1.0 + share / theta["saturation"])

    def paper_parameters(self, theta, chance: float) -> dict:
        """``a``, ``b``, ``k``, ``l0`` in raw accuracy."""
        height = self._height(theta)
        anchor = _ANCHOR_SHARE * (1.0 - theta["floor"])
        # sigmoid(k (l0 - L20)) = d / h.
        steepness = self._steepness(theta)
        return {
            "a": (1.0 - chance) * height,
            "b": chance + (1.0 - chance) * theta["floor"],
            "k": steepness,
            "l0": theta["loss_20"] + jnp.log(anchor / (height - anchor)) / steepness,
        }

    def curve_fit(self, loss: np.ndarray) -> CurveFit:
        """Huber fit on raw accuracy; the midpoint ``l0`` starts within a nat of the fitted losses.

        Bounds ``a``, ``b`` in [0, 1], ``log k`` in [log 0.01, log 100], ``l0``
        in [0, 10]; starts ``a`` in [0.05, 1], ``b`` in [0, 0.7], ``k`` in
        [0.3, 30] (uniform in ``log k``).
        """
        return CurveFit((
            PointParameter("a", (0.05, 1.0), (0.0, 1.0)),
            PointParameter("b", (0.0, 0.7), (0.0, 1.0)),
            PointParameter("log_k", (float(np.log(0.3)), float(np.log(30.0))), (float(np.log(0.01)), float(np.log(100.0)))),
            PointParameter("l0", (float(loss.min()) - 1.0, float(loss.max()) + 1.0), (0.0, 10.0)),
        ), _logistic_accuracy)

    @staticmethod
    def point_paper_parameters(theta) -> dict:
        return {"a": theta["a"], "k": np.exp(theta["log_k"]), "l0": theta["l0"], "b": theta["b"]}


def _logistic_accuracy(theta, inputs):
    # 1 / (1 + exp(k (L - l0))) written as a sigmoid, which does not overflow.
    return theta["a"] * jax.nn.sigmoid(-jnp.exp(theta["log_k"]) * (inputs["loss"] - theta["l0"])) + theta["b"]


@dataclass(frozen=True)
class LinearLink:
    r"""Stage 2: a line ``acc = a + b L``, centred at :data:`LOSS_REFERENCE`.

    Sampled as ``Q = q_at_reference + accuracy_slope (L_ref - L)``, so that the
    two parameters are nearly uncorrelated on a ladder's losses.
    """

    parameters: ClassVar[tuple[str, ...]] = ("q_at_reference", "accuracy_slope")
    formula: ClassVar[str] = "acc = a + b L"

    def priors(self) -> dict[str, dist.Distribution]:
        return {"q_at_reference": dist.Beta(1.0, 1.0), "accuracy_slope": dist.HalfNormal(1.0)}

    def normalised_accuracy(self, theta, loss):
        return theta["q_at_reference"] + theta["accuracy_slope"] * (LOSS_REFERENCE - loss)

    def paper_parameters(self, theta, chance: float) -> dict:
        """``a``, ``b`` of ``acc = a + b L`` in raw accuracy."""
        return {
            "a": chance + (1.0 - chance) * (theta["q_at_reference"] + theta["accuracy_slope"] * LOSS_REFERENCE),
            "b": -(1.0 - chance) * theta["accuracy_slope"],
        }

    def curve_fit(self, loss: np.ndarray) -> CurveFit:
        """Huber fit of ``a' + b (L - 3)`` on raw accuracy; convex, so any start (``a'`` in [0, 1], ``b`` in [-1, 0]) reaches the minimum."""
        return CurveFit((PointParameter("a_centre", (0.0, 1.0)), PointParameter("b", (-1.0, 0.0))), _linear_accuracy)

    @staticmethod
    def point_paper_parameters(theta) -> dict:
        return {"a": theta["a_centre"] - theta["b"] * LOSS_REFERENCE, "b": theta["b"]}


def _linear_accuracy(theta, inputs):
    return theta["a_centre"] + theta["b"] * (inputs["loss"] - LOSS_REFERENCE)


# --------------------------------------------------------------------------- the paper's method
@dataclass(frozen=True)
class TwoStagePaperMethod:
    """The paper's two-stage fit: stage 1 on ``log L`` against compute, then stage 2 on accuracy against each run's observed loss."""

    loss_curve: PowerLawLoss
    link: object
    default_starts: int = 50

    def fit(self, points: PointData, n_starts: int | None, seed: int) -> PointSolution:
        n_starts = self.default_starts if n_starts is None else n_starts
        log_loss = points.y["loss"]
        first = self.loss_curve.curve_fit().fit(points.inputs, log_loss, n_starts, seed)
        loss = np.exp(log_loss)
        accuracy = np.asarray(points.frame["value"], dtype=float)
        second = self.link.curve_fit(loss).fit({"loss": loss}, accuracy, n_starts, seed)
        return PointSolution({**first.theta, **second.theta}, first.loss + second.loss, n_starts,
                             min(first.n_converged, second.n_converged))

    def normalised_accuracy(self, theta: Mapping, inputs: Mapping, chance: float) -> np.ndarray:
        """Through both stages: compute -> predicted loss -> accuracy, as ``Q``."""
        loss = np.exp(self.loss_curve.curve_fit().predict(theta, inputs))
        accuracy = self.link.curve_fit(loss).predict(theta, {"loss": loss})
        return (accuracy - chance) / (1.0 - chance)

    def paper_parameters(self, theta: Mapping) -> dict:
        return {**self.loss_curve.point_paper_parameters(theta), **self.link.point_paper_parameters(theta)}


@register
class TwoStage(Law):
    r"""Two-stage baseline: loss from compute, then accuracy from loss.

    **Stage 1**, validation loss ``L`` (nats per token) against compute, a power
    law with an irreducible loss ``E``:

    .. math::

        L(C) = E + (C / C_N)^{-\alpha_N}.

    It is sampled in coordinates that the data pin down nearly independently
    (in ``(E, alpha_N, C_N)`` the three are correlated above 0.99 on a ladder,
    and NUTS then needs hundreds of steps per draw): with ``x = log(C / 1e21)``,

    .. math::

        \log L(C) = \mathrm{log\_loss\_ref}
                    + \log\bigl(f + (1 - f)\, e^{-\alpha_N x}\bigr),
        \qquad
        \alpha_N = \frac{1}{\Delta}
                   \log\frac{e^{s \Delta} - f}{1 - f},

    where ``log_loss_ref`` is ``log L`` at 1e21 FLOPs, ``f`` =
    ``irreducible_fraction`` is ``E / L(1e21)``, and ``s`` = ``loss_slope`` is
    the mean fall of ``log L`` per e-fold of compute from 1e18 to 1e21 FLOPs
    (:math:`\Delta = \log 1000`). So ``E = f L(1e21)`` and
    :math:`\log C_N = \log 10^{21} + \log((1 - f) L(10^{21})) / \alpha_N`
    (:meth:`paper_parameters`). Variants with ``irreducible = False`` drop
    ``E``: ``log L = log_loss_ref - loss_slope x``, ``alpha_N = loss_slope``.

    **Stage 2**, normalised accuracy ``Q = (acc - chance) / (1 - chance)``
    against the loss: the paper's logistic, written with ``k > 0`` because
    accuracy rises as the loss falls,

    .. math::

        \mathrm{acc} = \frac{a}{1 + \exp(k (L - l_0))} + b
        \iff
        Q = Q_{\min} + \frac{1}{1/h + (1/d - 1/h)\, e^{k (L - L_{20})}},

    with ``floor`` :math:`= Q_{\min}`; height :math:`h = Q_{\max} - Q_{\min} =
    (1 - Q_{\min})(0.2 + 0.8\, \mathrm{saturation})`; ``loss_20``
    :math:`= L_{20}`, the loss at which accuracy has closed a fifth of the gap
    between its floor and 1 (:math:`Q = Q_{\min} + d`, :math:`d = 0.2 (1 -
    Q_{\min})`); and ``rate_20`` :math:`= k (1 - d/h)`, the rate per nat at
    which the rise above the floor grows there, :math:`-d \log(Q -
    Q_{\min}) / dL` at :math:`L_{20}`. The midpoint :math:`l_0 = L_{20} +
    \log(d / (h - d)) / k` and :math:`k` itself are not sampled: a ladder sees
    a short stretch of the curve, over which ``(Q_max, l_0)`` are correlated at
    -0.99 and ``(Q_max, k)`` at -0.95, while :math:`L_{20}` and the local rate
    lie among the data whatever the ceiling (this halves NUTS's steps per draw
    on the DCLM benchmarks). In raw accuracy
    ``b = chance + (1 - chance) Q_min``, ``a = (1 - chance) h``.
    Since ``0 < Q_min < Q_max < 1``, the curve cannot leave ``(chance, 1)`` at
    any loss. The form assumes the benchmark rises at least a fifth of the way
    from its floor to perfect accuracy as the loss falls (``saturation > 0``).

    Likelihood
    ----------
    Every run ``i`` gives two observations:

    - ``log L_i ~ StudentT(nu_loss, log L(C_i), sigma_loss)``: on the log,
      because a loss is positive and its run-to-run noise is relative;
    - ``y_i = log(-log Q_i) ~ StudentT(nu, g(L_i), sigma)``, ``g`` the stage-2
      curve on ``log(-log Q)`` at the run's *observed* loss (stage 2 regresses
      accuracy on measured loss, as the two-stage method does). This is the
      direct laws' scale, so the accuracy site (named ``y`` as in every law)
      has a pointwise log likelihood comparable with theirs by LOO, and a
      predicted new run stays inside ``(chance, 1)`` without clipping.

    ``sigma``, ``nu`` (the shared priors of
    :func:`~bayes_scaling.laws.base.noise_priors`) are the accuracy site's
    noise; ``sigma_loss``, ``nu_loss`` the loss site's. Both sites share the
    plate ``point``, one element per run. Given the observed losses the two
    stages' parameters are independent a posteriori; they meet in prediction.

    **Prediction** at a new compute pushes every posterior draw through both
    stages (:meth:`accuracy_draws`): the mean curve is stage 2 at the stage-1
    mean loss; a new run draws its loss with stage-1 noise, then its accuracy
    with stage-2 noise. So the intervals carry the uncertainty of both stages.

    Priors
    ------
    ``log_loss_ref ~ Normal(log 2.5, 0.5)``
        Validation loss at 1e21 FLOPs between 0.9 and 6.7 nats (95%); 2.44 on
        the DCLM ladder's DCLM validation set.
    ``loss_slope ~ HalfNormal(0.2)``
        Loss falls with compute; whole-loss exponents are about 0.05 (Kaplan et
        al. 2020; 0.06 on the DCLM ladder), so 0.2 is wide.
    ``irreducible_fraction ~ Beta(2, 2)``
        Share of the loss at 1e21 FLOPs that no compute removes; Hoffmann et
        al.'s E = 1.69 nats is about 0.7 of such a loss. Wide, but away from 0
        (the pure power law, a separate variant) and 1 (nothing left to learn).
    ``floor ~ Beta(1, 9)``
        Normalised accuracy at a high loss: near chance (mean 0.1), with room
        for benchmarks that small models already answer above chance (ARC-Easy
        sits at Q = 0.2 on the smallest DCLM runs).
    ``saturation ~ Beta(3, 1)``
        How far the ceiling goes beyond the first fifth of the gap: most
        benchmarks approach Q near 1, label noise caps some lower (the ceiling
        closes 80% of the gap on average, under 60% with probability 0.12).
    ``rate_20 ~ LogNormal(log 3, 1)``
        Per nat: 0.4 to 21 (95%); 1.5-7 on the DCLM ladder's benchmarks.
    ``loss_20 ~ Normal(3, 1)``
        In nats, centred on :data:`LOSS_REFERENCE`, the middle of a typical
        ladder; 2.4-3.1 on the DCLM ladder.
    ``sigma_loss ~ HalfNormal(0.1)``, ``nu_loss ~ Gamma(2, 0.1)``
        Noise of ``log L``: validation losses are smooth in compute (residuals
        of about 0.005 on the log), so 0.1 is wide; ``nu_loss`` as every law's
        ``nu``.

    Losses are taken in nats per token; override the loss priors for other
    units (bits per byte).
    """

    name = "two_stage"
    formula = "L = E + (C/C_N)^-alpha_N; acc = a/(1+exp(k(L-l0))) + b"
    kind = "two_stage"
    inputs = ("compute",)
    scale = "log_neg_log_q"
    #: Stage 1, the loss curve.
    loss_curve: ClassVar[PowerLawLoss] = PowerLawLoss(irreducible=True)
    #: Stage 2, the link from loss to accuracy.
    link: ClassVar[object] = LogisticLink()
    parameters = loss_curve.parameters + link.parameters
    extra_select_options: ClassVar[tuple[str, ...]] = ("loss_benchmark",)
    #: Noise parameters, per site: loss, then accuracy (``sigma``, ``nu``).
    noise_parameters: ClassVar[tuple[str, ...]] = ("sigma_loss", "nu_loss", "sigma", "nu")

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # A variant names its parts; its parameters are theirs, stage 1 first.
        cls.parameters = cls.loss_curve.parameters + cls.link.parameters

    # --------------------------------------------------------------- priors
    def default_priors(self):
        """Priors of both stages and of the loss noise (see the class docstring).

        :meth:`~bayes_scaling.laws.base.Law.priors` adds the accuracy noise
        ``sigma``, ``nu``.
        """
        return {**self.loss_curve.priors(), **self.link.priors(),
                "sigma_loss": dist.HalfNormal(0.1), "nu_loss": dist.Gamma(2.0, 0.1)}

    @property
    def min_points(self) -> int:
        """Fewest runs: one more than the larger stage's parameters.

        Every run gives both a loss and an accuracy, so each stage is fitted on
        every run and needs one run more than its own parameters.
        """
        return max(len(self.loss_curve.parameters), len(self.link.parameters)) + 1

    # ------------------------------------------------------------ the stages
    def log_loss(self, theta, log_compute):
        """Stage 1: ``log L(C)`` at ``log_compute = log(C / 1e21)``."""
        return self.loss_curve.log_loss(theta, log_compute)

    def normalised_accuracy(self, theta, loss):
        """Stage 2: ``Q`` at validation loss ``loss`` (nats), inside (0, 1)."""
        # Only the line (or a Beta draw that rounds to 0 or 1) reaches the edges;
        # there Q is held just inside, where log(-log Q) is finite.
        return jnp.clip(self.link.normalised_accuracy(theta, loss), _Q_EDGE, 1.0 - _Q_EDGE)

    def accuracy_mean(self, theta, loss):
        """Stage 2 on the likelihood scale: ``log(-log Q(L))``."""
        return jnp.log(-jnp.log(self.normalised_accuracy(theta, loss)))

    def mean(self, theta, inputs):
        """Mean curve on ``log(-log Q)``: stage 2 at the stage-1 mean loss."""
        return self.accuracy_mean(theta, jnp.exp(self.log_loss(theta, inputs["log_compute"])))

    def paper_parameters(self, theta, chance: float | None = None) -> dict:
        """The paper's parameters from draws of this law's.

        Returns ``E``, ``alpha_N``, ``log_C_N`` (natural log of FLOPs) and, in
        raw accuracy, ``a``, ``b`` and (logistic) ``k``, ``l0`` of
        ``acc = a / (1 + exp(k (L - l0))) + b`` or (linear) of ``acc = a + b L``.
        """
        if chance is None:
            raise ValueError(f"law {self.name!r}: paper_parameters needs the chance level (stage 2 is in raw accuracy)")
        theta = {name: jnp.asarray(value) for name, value in theta.items()}
        out = {**self.loss_curve.paper_parameters(theta), **self.link.paper_parameters(theta, chance)}
        return {name: np.asarray(value) for name, value in out.items()}

    def paper_method(self) -> TwoStagePaperMethod:
        """Stage 1 by Huber loss on ``log L``, then stage 2 on raw accuracy at each run's observed loss."""
        return TwoStagePaperMethod(self.loss_curve, self.link)

    # ------------------------------------------------------- extension hooks
    def select_data(self, table, benchmark: str, metric: str = "acc", loss_benchmark: str | None = None, **options):
        """The runs' accuracies with their validation loss: :func:`select_two_stage`.

        ``loss_benchmark`` defaults to :data:`DEFAULT_LOSS_BENCHMARK`; the other
        options are those of :func:`bayes_scaling.select`.
        """
        return select_two_stage(
            table, benchmark, metric, loss_benchmark=loss_benchmark or DEFAULT_LOSS_BENCHMARK,
            **self.common_select_options(options),
        )

    def observations(self, frame) -> dict[str, np.ndarray]:
        """``{"loss": log L, "y": log(-log Q)}`` per row, NaN where undefined.

        The keys are the model's observed sites. ``y`` is the accuracy, named as
        in every law, so that ``observed_data["y"]`` and
        ``log_likelihood["y"]`` mean the same for every fit.

        Raises
        ------
        DataError
            If ``frame`` has no ``loss`` column (use :func:`select_two_stage`).
        """
        if "loss" not in frame:
            raise DataError(
                f"law {self.name!r} needs each run's validation loss in a 'loss' column; "
                "select the data with bayes_scaling.laws.two_stage.select_two_stage"
            )
        loss = np.asarray(frame["loss"], dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            log_loss = np.where(loss > 0, np.log(loss), np.nan)
        return {"loss": log_loss, "y": self.transform.forward(frame["value"], frame["chance"])}

    def model(self, priors, inputs, y=None, mask=None):
        """Joint NumPyro model of both stages.

        Parameters
        ----------
        priors : mapping
            From :meth:`priors`: the :attr:`parameters` and the noise
            ``sigma_loss``, ``nu_loss``, ``sigma``, ``nu``.
        inputs : mapping
            ``log_compute`` of shape ``(n,)``.
        y : dict, optional
            ``{"loss": log L, "y": log(-log Q)}``, each of shape ``(n,)``
            (:meth:`observations`); ``None`` simulates both.
        mask : bool array, optional
            ``False`` marks padding kept out of both likelihoods.
        """
        theta = {name: numpyro.sample(name, prior) for name, prior in priors.items() if name not in self.noise_parameters}
        sigma_loss = numpyro.sample("sigma_loss", priors["sigma_loss"])
        nu_loss = numpyro.sample("nu_loss", priors["nu_loss"])
        sigma = numpyro.sample("sigma", priors["sigma"])
        nu = numpyro.sample("nu", priors["nu"])
        y = {"loss": None, "y": None} if y is None else y
        log_loss_mean = self.log_loss(theta, inputs["log_compute"])
        with numpyro.plate("point", log_loss_mean.shape[-1]), handlers.mask(mask=True if mask is None else mask):
            log_loss = numpyro.sample("loss", dist.StudentT(nu_loss, log_loss_mean, sigma_loss), obs=y["loss"])
            # Stage 2 at the run's loss: observed in a fit, simulated otherwise.
            numpyro.sample("y", dist.StudentT(nu, self.accuracy_mean(theta, jnp.exp(log_loss)), sigma), obs=y["y"])

    def accuracy_draws(self, draws, inputs, chance, rng, shift=None):
        """Posterior draws of accuracy through both stages.

        Parameters
        ----------
        draws : dict
            Posterior variables, chains and draws flattened to one axis.
        inputs : dict
            ``log_compute`` of the points to predict.
        chance : float
            Chance level of the benchmark.
        rng : numpy.random.Generator
            Source of both stages' new-run noise.

        Returns
        -------
        curve, new_run : arrays of shape (draws, points)
            ``curve``: ``chance + (1 - chance) Q(L(C))`` at the stage-1 mean
            loss. ``new_run``: loss ``log L ~ StudentT(nu_loss, log L(C),
            sigma_loss)``, then ``log(-log Q) ~ StudentT(nu, g(L), sigma)``.
            Both lie in ``[chance, 1]``.
        """
        _no_form_error(shift)
        theta = {name: np.asarray(draws[name])[:, None] for name in self.parameters}
        log_compute = np.asarray(inputs["log_compute"], dtype=float)[None, :]
        log_loss = np.asarray(self.log_loss(theta, log_compute))

        def noise(nu, sigma):
            nu, sigma = (np.asarray(draws[name])[:, None] for name in (nu, sigma))
            return rng.standard_t(nu, size=log_loss.shape) * sigma

        curve = self.transform.inverse(self.accuracy_mean(theta, np.exp(log_loss)), chance)
        # A heavy-tailed loss draw (small nu_loss) may overflow to an infinite
        # loss; the logistic then sits at its floor, which is the right limit.
        with np.errstate(over="ignore"):
            new_loss = np.exp(log_loss + noise("nu_loss", "sigma_loss"))
        new_run = self.transform.inverse(self.accuracy_mean(theta, new_loss) + noise("nu", "sigma"), chance)
        return np.asarray(curve), np.asarray(new_run)

    #: Monte Carlo draws of a new run's loss per posterior draw, for its accuracy density.
    loss_draws: ClassVar[int] = 64

    def predictive_log_density(self, draws, inputs, y, rng, shift=None):
        """Log density of the accuracy ``y`` at new compute, the loss integrated out.

        A held-out run is predicted from its compute alone, as a direct law
        predicts it: ``p(y | C, theta) = E_L[p(y | L, theta)]`` over the
        stage-1 distribution of its loss, ``log L ~ StudentT(nu_loss, log
        L(C), sigma_loss)``, estimated with :attr:`loss_draws` draws of ``L``
        per posterior draw (log-mean-exp). Conditioning on the run's measured
        loss instead would give the two-stage route information a direct law
        never sees.
        """
        _no_form_error(shift)
        theta = {name: np.asarray(draws[name])[:, None, None] for name in self.parameters}
        log_compute = np.asarray(inputs["log_compute"], dtype=float)[None, :, None]
        log_loss_mean = np.asarray(self.log_loss(theta, log_compute))
        shape = (len(draws["nu"]), log_compute.shape[1], self.loss_draws)
        noise = rng.standard_t(np.asarray(draws["nu_loss"])[:, None, None], size=shape)
        log_loss = log_loss_mean + noise * np.asarray(draws["sigma_loss"])[:, None, None]
        with np.errstate(over="ignore"):  # an infinite loss puts the logistic at its floor, as it should
            mean = np.asarray(self.accuracy_mean(theta, np.exp(log_loss)))
        nu, sigma = (np.asarray(draws[name])[:, None, None] for name in ("nu", "sigma"))
        density = np.asarray(dist.StudentT(nu, mean, sigma).log_prob(np.asarray(y, dtype=float)[None, :, None]))
        return np.asarray(jax.scipy.special.logsumexp(density, axis=-1)) - np.log(self.loss_draws)


def _no_form_error(shift) -> None:
    # The form-error term bends a direct curve in compute; a two-stage
    # prediction goes through a loss, so it has none (form_error.resolve).
    if shift is not None:
        raise ValueError("two-stage laws take no form-error shift")


@register
class TwoStageLinear(TwoStage):
    r"""Two-stage baseline with a linear stage 2, ``acc = a + b L`` (:class:`LinearLink`).

    Stage 1, likelihoods and prediction as in :class:`TwoStage`. Stage 2 is
    centred at :data:`LOSS_REFERENCE` (3 nats), so that its two parameters are
    nearly uncorrelated on a ladder's losses:

    .. math::

        Q = \mathrm{q\_at\_reference}
            + \mathrm{accuracy\_slope}\,(L_{\mathrm{ref}} - L),

    i.e. ``b = -(1 - chance) accuracy_slope`` and ``a = chance + (1 - chance)
    (q_at_reference + accuracy_slope L_ref)``. A line leaves (0, 1) at losses
    far from the data; there ``Q`` is held at the edge (clipped), so the curve
    stays inside ``[chance, 1]``.

    Priors
    ------
    ``q_at_reference ~ Beta(1, 1)``
        Normalised accuracy at a loss of 3 nats: anywhere in (0, 1).
    ``accuracy_slope ~ HalfNormal(1)``
        Rise of Q per nat of loss removed; 0.2-0.5 on the DCLM ladder.

    Stage 1 and noise priors as in :class:`TwoStage`.
    """

    name = "two_stage_linear"
    formula = "L = E + (C/C_N)^-alpha_N; acc = a + b L"
    link = LinearLink()


@register
class TwoStagePureLoss(TwoStage):
    r"""Two-stage baseline whose loss is a pure power law, ``L = (C/C_N)^-alpha_N``.

    As :class:`TwoStage` with ``PowerLawLoss(irreducible=False)``: stage 1 is the
    straight line ``log L = log_loss_ref - loss_slope x`` and
    ``alpha_N = loss_slope``. A pure power law keeps falling towards zero loss,
    so it predicts faster gains at large compute than the default; on the DCLM
    ladder ``log L`` is visibly concave in ``log C`` (its slope per decade falls
    from 0.18 to 0.10 between 1e18 and 1e21 FLOPs), which is why the default
    keeps ``E``.
    """

    name = "two_stage_no_irreducible"
    formula = "L = (C/C_N)^-alpha_N; acc = a/(1+exp(k(L-l0))) + b"
    loss_curve = PowerLawLoss(irreducible=False)
