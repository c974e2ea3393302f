r"""Form error: how far a fitted law may be wrong beyond the runs it was fitted on.

A law fitted on 30-50 small runs has tiny parameter uncertainty, so intervals
from the parameters alone say "sure" exactly where the form starts to bend
away from the truth (Kennedy and O'Hagan 2001). Every direct law's prediction
therefore carries a model-discrepancy term on its likelihood scale
``z = log(-log Q)``:

.. math::

    z_{\mathrm{new}}(C) = f_\theta(C) + \delta(C) + \varepsilon,
    \qquad
    \delta(C) = b \, d(C)^{p},
    \qquad
    d(C) = \max\bigl(0, \log_{10}(C / C_{\max})\bigr),

    b \mid \tau \sim \mathrm{Normal}(0, \tau^2),
    \qquad
    \tau \sim \mathrm{LogNormal}(m, s),

where ``f_theta`` is the law's mean, ``epsilon`` its Student-t noise, ``C_max``
the largest fitted compute, so ``d`` is the distance in decades of compute
beyond the data. One ``b`` per fit: the form bends one way for all larger runs
of a benchmark, as measured errors do (they share their sign per benchmark).
Given ``tau``, ``delta`` has standard deviation ``tau d^p``: zero inside the
fitted range, growing beyond it.

Inside the fitted range ``d = 0``, so the fitted runs carry no information
about ``b`` or ``tau`` (Brynjarsdottir and O'Hagan 2014: a discrepancy needs an
informative prior). Their posterior is their prior, and they are drawn at
prediction time rather than by NUTS: the joint posterior predictive is the
same, and the sampler's programs do not change. The prior itself, ``m``, ``s``
and ``p``, is learned from leave-future-out backtests on public ladders
(:mod:`bayes_scaling.backtest`, ``bayes-scaling backtest --learn``): a
hierarchical model gives each data set its own ``tau``, and a new ladder
inherits the spread of those data-set scales (the posterior predictive of a new
data set's ``tau``), not their pooled mean. The default ships with the package
(``data/form_error_prior.json``, with the command and data that produced it).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from importlib import resources

import numpy as np

from bayes_scaling.errors import SpecError

#: The shipped prior, learned on every bundled ladder (see its ``provenance``).
DEFAULT_PRIOR_FILE = "form_error_prior.json"
#: Fewest fitted runs of a benchmark emerging from chance that a direct law
#: extrapolates. The form-error prior is learned on ladders of at least this
#: many fitted runs (:data:`bayes_scaling.backtest.MIN_RUNS_TO_LEARN`); below it,
#: with runs near chance, the curve's rise has barely begun inside the data.
MIN_RUNS_EMERGING = 6


def refusal(n_fitted: int, n_near_chance: int) -> str | None:
    """Why extrapolation is refused for a fit, or None.

    A benchmark with runs at chance (excluded as ``near_chance``) and fewer than
    :data:`MIN_RUNS_EMERGING` runs above it is emerging: a handful of points
    where accuracy has just left chance cannot say how fast it will rise (the
    demo's MMLU: 3 fitted runs, larger runs 0.2 above the law's median).
    """
    if n_near_chance > 0 and n_fitted < MIN_RUNS_EMERGING:
        return (f"refused: {n_fitted} fitted run(s) above chance and {n_near_chance} near chance; an emerging "
                f"benchmark needs at least {MIN_RUNS_EMERGING} runs above chance to extrapolate")
    return None


@dataclass(frozen=True)
class FormErrorPrior:
    """Prior of the form-error term: ``tau ~ LogNormal(loc, scale)``, growth exponent ``power``.

    Attributes
    ----------
    loc, scale : float
        Mean and standard deviation of ``log tau`` (``tau`` on ``log(-log Q)``
        per decade of compute to the power ``power``).
    power : float
        Exponent ``p`` of the distance: the form error's standard deviation
        given ``tau`` is ``tau d^p``.
    provenance : dict
        Where the numbers come from: command, data sets, number of splits.
    """

    loc: float
    scale: float
    power: float = 1.0
    provenance: dict = field(default_factory=dict, compare=False)

    def __post_init__(self):
        if not np.isfinite(self.loc):
            raise SpecError(f"option form_error: loc must be finite, got {self.loc!r}")
        if not (np.isfinite(self.scale) and self.scale >= 0):
            raise SpecError(f"option form_error: scale must be >= 0, got {self.scale!r}")
        if not (np.isfinite(self.power) and self.power > 0):
            raise SpecError(f"option form_error: power must be > 0, got {self.power!r}")

    @classmethod
    def default(cls) -> "FormErrorPrior":
        """The prior shipped with the package."""
        text = resources.files("bayes_scaling.data").joinpath(DEFAULT_PRIOR_FILE).read_text()
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_dict(cls, values: dict) -> "FormErrorPrior":
        return cls(float(values["loc"]), float(values["scale"]), float(values.get("power", 1.0)),
                   dict(values.get("provenance", {})))

    def to_dict(self) -> dict:
        return asdict(self)

    def tau_quantiles(self, probs=(0.05, 0.5, 0.95)) -> np.ndarray:
        """Quantiles of ``tau`` under this prior."""
        from scipy.stats import norm

        return np.exp(self.loc + self.scale * norm.ppf(np.asarray(probs, dtype=float)))

    def shift_draws(self, distance, n_draws: int, rng: np.random.Generator) -> np.ndarray:
        """Draws of ``delta`` at ``distance`` decades beyond the data, shape (draws, points).

        One ``tau`` and one ``b`` per draw, shared by every point: the form bends
        one way for a whole benchmark.
        """
        distance = np.clip(np.asarray(distance, dtype=float), 0.0, None)
        tau = np.exp(self.loc + self.scale * rng.standard_normal(n_draws))
        slope = tau * rng.standard_normal(n_draws)
        return slope[:, None] * distance[None, :] ** self.power

    def describe(self) -> str:
        low, mid, high = self.tau_quantiles()
        return (f"form error: z += b d^{self.power:.2f}, b ~ Normal(0, tau), tau ~ LogNormal({self.loc:.2f}, "
                f"{self.scale:.2f}) (median {mid:.3f}, 90% [{low:.3f}, {high:.3f}] per decade)")


def decades_beyond(compute, largest_fitted: float) -> np.ndarray:
    """Distance in decades of compute beyond the largest fitted run, 0 inside the range."""
    return np.clip(np.log10(np.asarray(compute, dtype=float) / float(largest_fitted)), 0.0, None)


def resolve(form_error, law) -> FormErrorPrior | None:
    """The form-error prior a prediction uses.

    ``None`` or ``True``: the shipped default for a direct law, none for a
    two-stage law (whose prediction is not a curve in compute alone); ``False``:
    none (the purely parametric law); a :class:`FormErrorPrior` or a dict with
    ``loc``, ``scale`` (and ``power``): that prior.
    """
    if form_error is False:
        return None
    if form_error is None or form_error is True:
        if law.kind != "direct":
            if form_error is True:
                raise SpecError(f"option form_error: form {law.name!r} is not a direct law; "
                                "form error applies to direct laws")
            return None
        return FormErrorPrior.default()
    if isinstance(form_error, FormErrorPrior):
        return form_error
    if isinstance(form_error, dict):
        return FormErrorPrior.from_dict(form_error)
    raise SpecError(f"option form_error: expected True, False or a FormErrorPrior, got {form_error!r}")
