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

A ladder can then say something about its own ``tau``: fitted on its smaller
runs, how well did the law predict its larger fitted runs? :class:`LadderFormError`
is the prior times the likelihood of those internal backtests, on a grid of
``tau``; ``bayes-scaling fit`` and the demo attach it to each fit with 8 or more
fitted runs (``attrs["form_error"]``), and :func:`bayes_scaling.predict.predict`
uses it.
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

    def tau_draws(self, n_draws: int, rng: np.random.Generator) -> np.ndarray:
        """Draws of ``tau`` from this prior."""
        return np.exp(self.loc + self.scale * rng.standard_normal(n_draws))

    def shift_draws(self, distance, n_draws: int, rng: np.random.Generator) -> np.ndarray:
        """Draws of ``delta`` at ``distance`` decades beyond the data, shape (draws, points).

        One ``tau`` and one ``b`` per draw, shared by every point: the form bends
        one way for a whole benchmark.
        """
        return _bend(self.tau_draws(n_draws, rng), distance, self.power, rng)

    def describe(self) -> str:
        low, mid, high = self.tau_quantiles()
        return (f"form error: z += b d^{self.power:.2f}, b ~ Normal(0, tau), tau ~ LogNormal({self.loc:.2f}, "
                f"{self.scale:.2f}) (median {mid:.3f}, 90% [{low:.3f}, {high:.3f}] per decade)")


#: Grid of tau (per decade) on which a ladder's own backtests are tabulated.
TAU_GRID = np.geomspace(1e-3, 3.0, 40)
#: Gauss-Hermite nodes that integrate the slope b out, and posterior draws used per table.
HERMITE_NODES = 24
TABLE_DRAWS = 200


def held_out_log_likelihood(mean_draws, sigma, nu, z, distance, taus=TAU_GRID, power: float = 1.0) -> np.ndarray:
    """``log p(held-out runs | tau)`` of one fit on a grid of ``tau``, its posterior integrated out.

    For each posterior draw ``s`` (mean curve ``mean_draws[s]`` at the held-out
    runs, Student-t noise ``sigma[s]``, ``nu[s]``) and slope ``b ~ Normal(0,
    tau^2)`` shared by the runs:
    ``p(z | tau) = mean_s E_b prod_j StudentT(z_j; mu_sj + b d_j^p, sigma_s, nu_s)``,
    with ``E_b`` by Gauss-Hermite quadrature: the very predictive the package reports.
    """
    from scipy.special import logsumexp
    from scipy.stats import t as student_t

    index = np.linspace(0, len(sigma) - 1, min(TABLE_DRAWS, len(sigma))).round().astype(int)
    mean, sigma, nu = np.asarray(mean_draws)[index], np.asarray(sigma)[index], np.asarray(nu)[index]
    nodes, weights = np.polynomial.hermite_e.hermegauss(HERMITE_NODES)
    log_weights = np.log(weights / weights.sum())
    z = np.asarray(z, dtype=float)
    grown = np.asarray(distance, dtype=float) ** power
    out = np.empty(len(taus))
    for k, tau in enumerate(taus):
        centre = mean[:, None, :] + tau * nodes[None, :, None] * grown[None, None, :]
        density = student_t.logpdf(z[None, None, :], nu[:, None, None], loc=centre, scale=sigma[:, None, None])
        per_draw = logsumexp(density.sum(axis=-1) + log_weights[None, :], axis=1)
        out[k] = logsumexp(per_draw) - np.log(len(per_draw))
    return out


@dataclass(frozen=True)
class LadderFormError:
    """The form-error prior updated by the ladder's own backtests: ``tau`` on a grid.

    ``p(log tau | ladder) ∝ Normal(log tau; loc, scale) prod_k p(held-out runs of
    internal split k | tau)``: the prior's ``LogNormal`` times the likelihood of
    the ladder's own leave-future-out splits (fit its smaller runs, predict its
    larger fitted ones; :func:`held_out_log_likelihood`). A ladder whose form
    held well so far gets a smaller ``tau``, one that bent a larger one.
    """

    log_tau: tuple
    weights: tuple
    power: float = 1.0
    provenance: dict = field(default_factory=dict, compare=False)

    @classmethod
    def update(cls, prior: FormErrorPrior, tables, provenance: dict | None = None) -> "LadderFormError":
        grid = np.log(TAU_GRID)
        log_weights = -0.5 * ((grid - prior.loc) / max(prior.scale, 1e-9)) ** 2 + np.sum(np.atleast_2d(tables), axis=0)
        weights = np.exp(log_weights - log_weights.max())
        return cls(tuple(grid.tolist()), tuple((weights / weights.sum()).tolist()), prior.power,
                   {**prior.provenance, **(provenance or {}), "updated_by": f"{len(np.atleast_2d(tables))} internal "
                    "backtest split(s) of this ladder"})

    def tau_draws(self, n_draws: int, rng: np.random.Generator) -> np.ndarray:
        grid = np.asarray(self.log_tau)
        step = grid[1] - grid[0]
        picked = rng.choice(len(grid), size=n_draws, p=np.asarray(self.weights))
        # Uniform within a grid cell in log tau, so draws are not stuck on the grid's points.
        return np.exp(grid[picked] + rng.uniform(-step / 2, step / 2, n_draws))

    def tau_quantiles(self, probs=(0.05, 0.5, 0.95)) -> np.ndarray:
        cdf = np.cumsum(self.weights)
        return np.exp(np.interp(np.asarray(probs, dtype=float), cdf, np.asarray(self.log_tau)))

    def shift_draws(self, distance, n_draws: int, rng: np.random.Generator) -> np.ndarray:
        """As :meth:`FormErrorPrior.shift_draws`, with ``tau`` from this ladder's grid."""
        return _bend(self.tau_draws(n_draws, rng), distance, self.power, rng)

    @classmethod
    def from_dict(cls, values: dict) -> "LadderFormError":
        return cls(tuple(values["log_tau"]), tuple(values["weights"]), float(values.get("power", 1.0)),
                   dict(values.get("provenance", {})))

    def to_dict(self) -> dict:
        return {"kind": "ladder", **asdict(self)}

    def describe(self) -> str:
        low, mid, high = self.tau_quantiles()
        return (f"form error: z += b d^{self.power:.2f}, b ~ Normal(0, tau), tau from the shipped prior updated by "
                f"this ladder's own backtests (median {mid:.3f}, 90% [{low:.3f}, {high:.3f}] per decade)")


def _bend(tau: np.ndarray, distance, power: float, rng: np.random.Generator) -> np.ndarray:
    """``b d^power`` with ``b ~ Normal(0, tau^2)``, one ``b`` per draw of ``tau``: shape (draws, points)."""
    distance = np.clip(np.asarray(distance, dtype=float), 0.0, None)
    slope = tau * rng.standard_normal(len(tau))
    return slope[:, None] * distance[None, :] ** power


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
    if isinstance(form_error, (FormErrorPrior, LadderFormError)):
        return form_error
    if isinstance(form_error, dict):
        kind = LadderFormError if form_error.get("kind") == "ladder" else FormErrorPrior
        return kind.from_dict(form_error)
    raise SpecError(f"option form_error: expected True, False or a FormErrorPrior, got {form_error!r}")
