r"""Leave-future-out backtests over public ladders: how well do predictive intervals cover larger runs?

A backtest fits a law on the runs of a ladder up to a compute cut-off and
predicts every larger run (rolling origin: several cut-offs per ladder). The
corpus (:data:`CORPUS`) covers every bundled ladder where a direct law makes
sense:

- ``krajewski2025_dclm`` and ``krajewski2025_c4``: each token-to-parameter
  ratio a ladder, every ``acc`` benchmark, the power law;
- ``gadre2024``: each training set and ratio a ladder, its 46 tasks, the power law;
- ``olmo_ladder``: the ladder runs (all ratios together) towards the 7B and 13B
  targets, 13 tasks (``acc_norm``), the power law;
- ``llmonkeys_pythia_math``: pass@k of the Pythia models on MATH, the pass@k law.

Each split's posterior predictive draws are kept (:class:`SplitRecord`), so
that every method is scored on the same fits:

``parametric``
    today's law, parameter and noise uncertainty only;
``form_error``
    the same fits with the form-error term of :mod:`bayes_scaling.form_error`,
    its prior learned **without the data set being scored** (leave one data set
    out);
``form_error_ladder``
    ``form_error``'s prior updated by the ladder's own backtests (its smaller
    fitted runs predicting its larger fitted ones, :func:`ladder_splits`), as
    ``bayes-scaling fit`` and the demo do;
``form_error_all``
    the same as ``form_error`` with the prior learned on every data set, the scored one included
    (labelled in-sample; this is the prior the package ships);
``bootstrap``
    the paper's point fit (least squares on ``log(-log Q)``) with a residual
    bootstrap, what other scaling-law tools report;
``conformal``
    split-conformal intervals around the point fit whose width grows with the
    distance, ``|z - z_hat| / (s + d)`` calibrated on the other data sets.

Scores, per data set and per distance bucket (decades of compute beyond the
largest fitted run): coverage of the 50/80/90/95% intervals, mean width of the
90% interval, its interval score (Gneiting and Raftery 2007), CRPS (both in
raw accuracy), held-out log predictive density on ``log(-log Q)`` (Bayesian
methods), and MAE and MRE of the median.
"""

from __future__ import annotations

import json
import pickle
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pandas as pd
from jax import random
from numpyro.infer import MCMC, NUTS
from scipy.special import logsumexp
from scipy.stats import t as student_t
from tqdm.auto import tqdm

from bayes_scaling.datasets import load_dataset
from bayes_scaling.diagnostics import diagnose
from bayes_scaling.errors import DataError, SpecError
from bayes_scaling.form_error import (
    DEFAULT_PRIOR_FILE, TAU_GRID, FormErrorPrior, LadderFormError, decades_beyond, held_out_log_likelihood, refusal,
)
from bayes_scaling.inference import fit_many, prepare
from bayes_scaling.laws import get_law, law_inputs
from bayes_scaling.fits import fitted_compute_range, held_out_frame, interval, law_of, posterior_draws
from bayes_scaling.logs import bar_hidden, nested

logger = logging.getLogger(__name__)

#: Interval probabilities scored.
LEVELS = (0.5, 0.8, 0.9, 0.95)
#: Distance buckets in decades of compute beyond the largest fitted run.
BUCKETS = (0.0, 0.25, 0.5, 1.0, 2.0, np.inf)
#: Posterior draws kept per split (evenly thinned).
KEEP_DRAWS = 400
#: Fewest fitted runs of a cut-off, and the range of the ladder's runs it may fit.
MIN_FITTED_RUNS = 4
FITTED_SHARE = (0.4, 0.9)
#: Cut-offs per ladder, evenly spaced in log compute over the admissible range.
CUTOFFS_PER_LADDER = 3
#: Fewest fitted runs of a split that informs the form-error prior. With fewer,
#: the law's own parameters are barely pinned down (Student-t noise, its scale
#: and degrees of freedom from 3-5 runs): the parametric intervals are already
#: wider than the errors (Gadre et al.'s 4-6-run ladders: 94% of runs inside the
#: 90% intervals), and such splits would pull their data set's tau to zero for
#: a reason that is not the form.
MIN_RUNS_TO_LEARN = 6
#: The fitted splits an earlier run left in its output folder (``--reuse-fits``).
FITS_CACHE = "fits.pkl"
METHODS = ("parametric", "form_error", "form_error_ladder", "form_error_all", "bootstrap", "conformal")


@dataclass(frozen=True)
class CorpusEntry:
    """One bundled data set in the backtest corpus.

    ``ladders`` says which runs form one ladder: ``"tpr"`` (each
    token-to-parameter ratio), ``"group_tpr"`` (each training set and ratio)
    or ``"all"`` (every run; with ``role`` the ladder runs, targets held out).
    """

    dataset: str
    form: str
    metric: str
    ladders: str
    benchmarks: tuple[str, ...] | None = None


CORPUS = (
    CorpusEntry("krajewski2025_dclm", "power_law", "acc", "tpr"),
    CorpusEntry("krajewski2025_c4", "power_law", "acc", "tpr"),
    CorpusEntry("gadre2024", "power_law", "acc", "group_tpr"),
    CorpusEntry("olmo_ladder", "power_law", "acc_norm", "all"),
    CorpusEntry("llmonkeys_pythia_math", "pass_at_k", "pass_at_k", "all"),
)


@dataclass
class SplitRecord:
    """One backtest split: a fit on a ladder up to a cut-off and its draws at the larger runs.

    ``mean_draws`` are the law's mean on ``log(-log Q)`` at each held-out run,
    per kept posterior draw; ``sigma`` and ``nu`` the Student-t noise draws.
    ``fitted_inputs``, ``fitted_z`` and ``held_inputs`` (rescaled inputs) serve
    the point-fit baselines.
    """

    dataset: str
    ladder: str
    benchmark: str
    form: str
    cutoff: float
    largest_fitted: float
    held: pd.DataFrame
    mean_draws: np.ndarray
    sigma: np.ndarray
    nu: np.ndarray
    fitted_inputs: dict
    fitted_z: np.ndarray
    held_inputs: dict
    max_rhat: float = np.nan
    n_divergent: int = 0
    n_near_chance: int = 0
    #: ``log p(held-out | tau)`` on :data:`TAU_GRID` of each of the split's own internal
    #: backtests (:func:`ladder_splits`), which the ``form_error_ladder`` method updates its prior with.
    inner_tables: list = field(default_factory=list)

    @property
    def refusal(self) -> str | None:
        """Why the package refuses to extrapolate this split (:func:`bayes_scaling.form_error.refusal`)."""
        return refusal(len(self.fitted_z), self.n_near_chance)

    @property
    def pair(self) -> str:
        return f"{self.dataset}/{self.ladder}/{self.benchmark}"


# ------------------------------------------------------------------ the corpus
def _ladders(table: pd.DataFrame, rule: str) -> dict[str, pd.DataFrame]:
    if rule == "tpr":
        return {f"tpr{tpr:g}": rows for tpr, rows in table.groupby(table["tpr"].round(0))}
    if rule == "group_tpr":
        return {f"{group}/tpr{tpr:g}": rows for (group, tpr), rows in table.groupby(["group", table["tpr"].round(0)])}
    if rule == "all":
        return {"all": table}
    raise SpecError(f"corpus: unknown ladder rule {rule!r}")


def choose_cutoffs(flops: Sequence[float], n: int = CUTOFFS_PER_LADDER) -> list[float]:
    """Cut-offs of a ladder: runs' computes leaving at least :data:`MIN_FITTED_RUNS` fitted and one held out.

    Admissible cut-offs fit between 40% and 90% of the ladder's distinct
    computes; up to ``n`` are taken evenly spaced in log compute among them.
    """
    values = np.unique(np.asarray(flops, dtype=float))
    counts = np.arange(1, len(values) + 1)
    share = counts / len(values)
    ok = (counts >= MIN_FITTED_RUNS) & (counts < len(values)) & (share >= FITTED_SHARE[0] - 1e-9) & (
        share <= FITTED_SHARE[1] + 1e-9)
    candidates = values[ok]
    if len(candidates) == 0:
        # A short ladder: fit all but its largest run, when that leaves enough.
        return [float(values[-2])] if len(values) > MIN_FITTED_RUNS else []
    if len(candidates) <= n:
        return [float(c) for c in candidates]
    targets = np.linspace(np.log(candidates[0]), np.log(candidates[-1]), n)
    picked = sorted({float(candidates[np.argmin(np.abs(np.log(candidates) - t))]) for t in targets})
    return picked


def build_splits(
    corpus: Sequence[CorpusEntry] = CORPUS, *, datasets: Sequence[str] | None = None,
    benchmarks_per_dataset: int | None = None,
) -> tuple[list[tuple[CorpusEntry, str, str, float, object]], list[dict]]:
    """Every (data set, ladder, benchmark, cut-off) split of the corpus, selected and prepared.

    Returns the splits as ``(entry, ladder, benchmark, cutoff, data)`` and the
    skipped ones with their reason (too few usable runs, nothing held out):
    nothing is dropped silently.
    """
    splits, skipped = [], []
    for entry in corpus:
        if datasets is not None and entry.dataset not in datasets:
            continue
        table = load_dataset(entry.dataset)
        if "role" in table:
            # The OLMo ladder: the ladder runs define the cut-offs; targets are held out.
            ladder_flops = table.loc[table["role"] == "ladder", "flops"]
        rows = table[table["metric"] == entry.metric].drop(columns=["role"], errors="ignore")
        names = entry.benchmarks or tuple(sorted(rows["benchmark"].unique()))
        if benchmarks_per_dataset is not None:
            names = names[:benchmarks_per_dataset]
        law = get_law(entry.form)
        for ladder, ladder_rows in _ladders(rows, entry.ladders).items():
            flops = ladder_flops if "role" in table else ladder_rows["flops"]
            cutoffs = choose_cutoffs(flops)
            if "role" in table:
                cutoffs = sorted(set(cutoffs) | {float(ladder_flops.max())})
            for benchmark in names:
                for cutoff in cutoffs:
                    key = {"dataset": entry.dataset, "ladder": ladder, "benchmark": benchmark, "cutoff": cutoff}
                    try:
                        data = law.select_data(ladder_rows, benchmark, entry.metric, max_compute=cutoff,
                                               dataset=entry.dataset)
                        data = prepare(data, law)[0]
                        if data.held_out.empty:
                            raise DataError("no usable held-out run")
                    except DataError as err:
                        skipped.append({**key, "reason": str(err)})
                        continue
                    splits.append((entry, ladder, benchmark, cutoff, data))
    logger.info("backtest: %d splits, %d skipped", len(splits), len(skipped))
    return splits, skipped


def ladder_splits(data, n: int = 2) -> list:
    """A ladder's own leave-future-out splits: its fitted runs cut again, the smaller fitted, the larger held out.

    Only for ladders of at least ``2 x`` :data:`MIN_FITTED_RUNS` fitted runs; up to ``n``
    cut-offs (:func:`choose_cutoffs` on the fitted runs).
    """
    from dataclasses import replace

    fitted = data.fitted
    if len(fitted) < 2 * MIN_FITTED_RUNS:
        return []
    out = []
    for cutoff in choose_cutoffs(fitted["flops"], n=n):
        inner = replace(data, fitted=fitted[fitted["flops"] <= cutoff].reset_index(drop=True),
                        held_out=fitted[fitted["flops"] > cutoff].reset_index(drop=True))
        if len(inner.fitted) >= MIN_FITTED_RUNS and len(inner.held_out):
            out.append(inner)
    return out


def fit_log_likelihood(idata) -> np.ndarray:
    """``log p(held-out runs | tau)`` on :data:`TAU_GRID` of a fit with held-out runs (its posterior integrated out)."""
    law = law_of(idata)
    frame = held_out_frame(idata)
    draws, mean = _draws_at(law, idata, frame)
    return held_out_log_likelihood(mean, draws["sigma"], draws["nu"], law.observations(frame),
                                   decades_beyond(frame["flops"], fitted_compute_range(idata)[1]))


def _draws_at(law, idata, frame: pd.DataFrame) -> tuple[dict, np.ndarray]:
    """A fit's posterior thinned to :data:`KEEP_DRAWS`, and the law's mean (draws, runs) at the runs of ``frame``."""
    draws = {name: _thin(values, KEEP_DRAWS) for name, values in posterior_draws(idata).items()}
    inputs = law_inputs(law, frame)
    mean = np.asarray(jax.vmap(lambda t: law.mean(t, inputs))({name: draws[name] for name in law.parameters}))
    return draws, mean


def ladder_form_error(prior: FormErrorPrior, inner_fits) -> FormErrorPrior | LadderFormError:
    """``prior`` updated by a ladder's own backtests (fits of :func:`ladder_splits`); ``prior`` itself without any."""
    if not inner_fits:
        return prior
    return LadderFormError.update(prior, [fit_log_likelihood(fit) for fit in inner_fits])


def _thin(values: np.ndarray, keep: int) -> np.ndarray:
    index = np.linspace(0, len(values) - 1, min(keep, len(values))).round().astype(int)
    return values[index]


def fit_splits(splits, **sampler) -> list[SplitRecord]:
    """Fit every split (one batch per form) and keep its draws at the held-out runs."""
    records = []
    by_form: dict[str, list] = {}
    for split in splits:
        by_form.setdefault(split[0].form, []).append(split)
    for form, group in tqdm(by_form.items(), desc="backtest: forms", disable=bar_hidden(logger),
                            leave=False):
        law = get_law(form)
        inner = [ladder_splits(data) for *_, data in group]
        datasets = [data for *_, data in group] + [split for splits in inner for split in splits]
        logger.info("backtest: fitting %s to %d splits and %d of their own internal splits", form, len(group),
                    len(datasets) - len(group))
        with nested():
            fits = fit_many(datasets, form, retry=False, **sampler)
        inner_fits = iter(fits[len(group):])
        for (entry, ladder, benchmark, cutoff, data), idata, splits in zip(group, fits, inner):
            record = _record(law, entry, ladder, benchmark, cutoff, data, idata)
            record.inner_tables = [fit_log_likelihood(next(inner_fits)) for _ in splits]
            records.append(record)
    return records


def _record(law, entry, ladder, benchmark, cutoff, data, idata) -> SplitRecord:
    held = data.held_out.reset_index(drop=True)
    held_inputs = law_inputs(law, held)
    draws, mean = _draws_at(law, idata, held)
    largest = float(data.fitted["flops"].max())
    frame = pd.DataFrame({
        "run_id": held["run_id"].astype(str).to_numpy(), "flops": held["flops"].to_numpy(float),
        "k": held["k"].to_numpy(float), "value": held["value"].to_numpy(float),
        "chance": held["chance"].to_numpy(float),
    })
    frame["distance"] = decades_beyond(frame["flops"], largest)
    frame["z"] = law.observations(held)
    diagnostics = diagnose(idata)
    return SplitRecord(
        dataset=entry.dataset, ladder=ladder, benchmark=benchmark, form=law.name, cutoff=float(cutoff),
        largest_fitted=largest, held=frame, mean_draws=mean, sigma=draws["sigma"], nu=draws["nu"],
        fitted_inputs=law_inputs(law, data.fitted), fitted_z=np.asarray(law.observations(data.fitted)),
        held_inputs=held_inputs, max_rhat=diagnostics.max_rhat, n_divergent=diagnostics.n_divergent,
        n_near_chance=int((data.excluded["reason"] == "near_chance").sum()) if len(data.excluded) else 0,
    )


# ------------------------------------------------------- learning the prior
def split_log_likelihood(record: SplitRecord, taus=TAU_GRID, power: float = 1.0) -> np.ndarray:
    """``log p(held-out runs | tau)`` of one split (:func:`bayes_scaling.form_error.held_out_log_likelihood`)."""
    return held_out_log_likelihood(record.mean_draws, record.sigma, record.nu, record.held["z"].to_numpy(),
                                   record.held["distance"].to_numpy(), taus, power)


def _hierarchy_model(log_likelihood, dataset_index, n_datasets):
    """Form-error scales of data sets and of their splits, learned from held-out runs.

    ``log tau_i = loc + spread u_g + within v_i`` for split ``i`` of data set
    ``g`` (``u, v ~ Normal(0, 1)``): data sets differ (``spread``) and so do the
    benchmarks and ladders within one (``within``). Each split's likelihood of
    ``tau`` is tabulated by :func:`split_log_likelihood` on :data:`TAU_GRID`
    and interpolated in ``log tau`` (constant beyond the grid's ends).
    """
    loc = numpyro.sample("loc", dist.Normal(np.log(0.1), 1.5))
    spread = numpyro.sample("spread", dist.HalfNormal(1.0))
    within = numpyro.sample("within", dist.HalfNormal(1.0))
    with numpyro.plate("data_set", n_datasets):
        data_set = numpyro.sample("data_set_effect", dist.Normal(0.0, 1.0))
    with numpyro.plate("split", len(dataset_index)):
        split = numpyro.sample("split_effect", dist.Normal(0.0, 1.0))
    numpyro.deterministic("log_tau", loc + spread * data_set)
    log_tau = loc + spread * data_set[dataset_index] + within * split
    grid = jnp.log(jnp.asarray(TAU_GRID))
    values = jax.vmap(lambda x, table: jnp.interp(x, grid, table))(log_tau, log_likelihood)
    numpyro.factor("held_out", values.sum())


def learn_prior(records: Sequence[SplitRecord], *, exclude: str | None = None, seed: int = 0,
                num_warmup: int = 500, num_samples: int = 1000, num_chains: int = 2,
                power: float = 1.0, tables: dict | None = None) -> FormErrorPrior:
    """Learn the form-error prior from backtest splits, leaving out data set ``exclude``.

    A hierarchical model (:func:`_hierarchy_model`) is sampled with NUTS; the
    prior for a benchmark of a new data set is the posterior predictive of its
    ``log tau = loc + spread u + within v``, summarised as ``LogNormal(mean,
    sd)`` of those draws. Only splits with at least :data:`MIN_RUNS_TO_LEARN`
    fitted runs inform it. ``tables`` caches :func:`split_log_likelihood` per
    split (by position in ``records``) across calls.
    """
    tables = {} if tables is None else tables
    chosen = [i for i, r in enumerate(records)
              if r.dataset != exclude and len(r.held) and len(r.fitted_z) >= MIN_RUNS_TO_LEARN]
    if not chosen:
        raise DataError(f"learn_prior: no backtest split with at least {MIN_RUNS_TO_LEARN} fitted runs to learn from")
    for i in chosen:
        if (i, power) not in tables:
            tables[i, power] = split_log_likelihood(records[i], power=power)
    names = sorted({records[i].dataset for i in chosen})
    index = np.array([names.index(records[i].dataset) for i in chosen])
    log_likelihood = np.stack([tables[i, power] for i in chosen])
    mcmc = MCMC(NUTS(_hierarchy_model, target_accept_prob=0.95), num_warmup=num_warmup, num_samples=num_samples,
                num_chains=num_chains, chain_method="sequential", progress_bar=False)
    mcmc.run(random.PRNGKey(seed), log_likelihood, index, len(names))
    samples = {name: np.asarray(values) for name, values in mcmc.get_samples().items()}
    rng = np.random.default_rng(seed)
    n = len(samples["loc"])
    new_log_tau = (samples["loc"] + samples["spread"] * rng.standard_normal(n)
                   + samples["within"] * rng.standard_normal(n))
    taus = np.exp(np.median(samples["log_tau"], axis=0))
    return FormErrorPrior(
        loc=float(np.mean(new_log_tau)), scale=float(np.std(new_log_tau)), power=float(power),
        provenance={
            "learned_on": names, "left_out": exclude, "n_splits": len(chosen),
            "n_held_out_runs": int(sum(len(records[i].held) for i in chosen)),
            "tau_per_data_set": {name: round(float(t), 4) for name, t in zip(names, taus)},
            "spread_between_data_sets": round(float(np.median(samples["spread"])), 3),
            "spread_within_data_set": round(float(np.median(samples["within"])), 3),
            "model": "bayes_scaling.backtest.learn_prior (hierarchical, NUTS "
                     f"{num_chains} x ({num_warmup} + {num_samples}), seed {seed})",
        },
    )


# ------------------------------------------------------ predictive draws
def bayes_draws(record: SplitRecord, prior: FormErrorPrior | None, rng) -> np.ndarray:
    """Posterior predictive draws of ``log(-log Q)`` at the held-out runs (draws, runs)."""
    mean = record.mean_draws
    if prior is not None:
        mean = mean + prior.shift_draws(record.held["distance"], len(mean), rng)
    noise = rng.standard_t(record.nu[:, None], size=mean.shape) * record.sigma[:, None]
    return mean + noise


def bayes_log_density(record: SplitRecord, prior: FormErrorPrior | None, rng) -> np.ndarray:
    """Log predictive density of each held-out run on ``log(-log Q)`` (Monte Carlo over draws)."""
    mean = record.mean_draws
    if prior is not None:
        mean = mean + prior.shift_draws(record.held["distance"], len(mean), rng)
    z = record.held["z"].to_numpy()[None, :]
    density = student_t.logpdf(z, record.nu[:, None], loc=mean, scale=record.sigma[:, None])
    return logsumexp(density, axis=0) - np.log(len(mean))


def _design(record: SplitRecord, inputs: dict) -> np.ndarray:
    """The linear design of the paper's least-squares fit on ``log(-log Q)`` (eq. 2 and 5 are linear there).

    Read off the law's own paper method: the Jacobian of its curve.
    """
    curve_fit = getattr(get_law(record.form).paper_method(), "curve_fit", None)
    if curve_fit is None or curve_fit.loss != "least_squares":
        raise SpecError(f"backtest baselines: no linear point fit for form {record.form!r}")
    design, offset = curve_fit.linear_design(inputs)
    if np.any(offset != 0):
        raise SpecError(f"backtest baselines: the point fit of form {record.form!r} has a fixed offset")
    return design


def point_fit(record: SplitRecord):
    """The paper's least-squares fit on ``log(-log Q)``: prediction at the held-out runs, residuals, design."""
    design = _design(record, record.fitted_inputs)
    coefficients, *_ = np.linalg.lstsq(design, record.fitted_z, rcond=None)
    residuals = record.fitted_z - design @ coefficients
    held_design = _design(record, record.held_inputs)
    return held_design @ coefficients, residuals, design, held_design


def bootstrap_draws(record: SplitRecord, rng, n_boot: int = KEEP_DRAWS) -> np.ndarray:
    """Residual bootstrap of the point fit: refit on resampled residuals, add a resampled residual."""
    _, residuals, design, held_design = point_fit(record)
    n, p = design.shape
    # Residuals shrink by the fit's degrees of freedom; rescale them (Davison and Hinkley 1997, eq. 6.9).
    scaled = residuals * np.sqrt(n / max(n - p, 1))
    fitted = record.fitted_z - residuals
    resampled = fitted[None, :] + rng.choice(scaled, size=(n_boot, n))
    coefficients = np.linalg.lstsq(design, resampled.T, rcond=None)[0]  # (p, n_boot)
    return (held_design @ coefficients).T + rng.choice(scaled, size=(n_boot, held_design.shape[0]))


def conformal_scale(record: SplitRecord) -> tuple[np.ndarray, np.ndarray]:
    """Point prediction and the conformal scale ``s + d`` of each held-out run."""
    prediction, residuals, design, _ = point_fit(record)
    spread = np.sqrt(np.sum(residuals**2) / max(len(residuals) - design.shape[1], 1))
    return prediction, spread + record.held["distance"].to_numpy()


def conformal_scores(records: Sequence[SplitRecord]) -> np.ndarray:
    """Nonconformity ``|z - z_hat| / (s + d)`` of every held-out run of ``records``."""
    scores = []
    for record in records:
        prediction, scale = conformal_scale(record)
        scores.append(np.abs(record.held["z"].to_numpy() - prediction) / scale)
    return np.concatenate(scores) if scores else np.array([])


def conformal_draws(record: SplitRecord, calibration: np.ndarray, rng, n_draws: int = KEEP_DRAWS) -> np.ndarray:
    """Draws of the symmetric predictive whose quantiles are the split-conformal intervals."""
    prediction, scale = conformal_scale(record)
    n = len(calibration)
    # Finite-sample conformal quantiles: level q uses the ceil((n + 1) q)-th smallest score.
    levels = rng.uniform(size=(n_draws, len(prediction)))
    rank = np.minimum(np.ceil((n + 1) * levels).astype(int), n) - 1
    magnitude = np.sort(calibration)[rank]
    sign = rng.choice([-1.0, 1.0], size=magnitude.shape)
    return prediction[None, :] + sign * magnitude * scale[None, :]


# -------------------------------------------------------------- scoring
def _to_accuracy(z, chance):
    with np.errstate(over="ignore"):
        return chance + (1.0 - chance) * np.exp(-np.exp(z))


def crps_from_draws(draws: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """CRPS of each column's sample against its observation: ``E|X - y| - E|X - X'| / 2``."""
    ordered = np.sort(draws, axis=0)
    n = ordered.shape[0]
    weights = (2 * np.arange(1, n + 1) - n - 1)[:, None]
    spread = 2.0 * np.sum(weights * ordered, axis=0) / n**2
    return np.mean(np.abs(draws - observed[None, :]), axis=0) - 0.5 * spread


def interval_score(lower, upper, observed, alpha: float) -> np.ndarray:
    """Interval score of a central (1 - alpha) interval (Gneiting and Raftery 2007, eq. 43); lower is better."""
    return (upper - lower) + (2 / alpha) * (lower - observed) * (observed < lower) + (2 / alpha) * (
        observed - upper) * (observed > upper)


def score_points(record: SplitRecord, z_draws: np.ndarray, method: str, lpd=None) -> pd.DataFrame:
    """One row per held-out run: intervals at :data:`LEVELS`, CRPS, interval score, errors of the median."""
    held = record.held
    accuracy = _to_accuracy(z_draws, held["chance"].to_numpy()[None, :])
    observed = held["value"].to_numpy()
    out = pd.DataFrame({
        "method": method, "dataset": record.dataset, "ladder": record.ladder, "benchmark": record.benchmark,
        "pair": record.pair, "cutoff": record.cutoff, "run_id": held["run_id"], "flops": held["flops"],
        "k": held["k"], "distance": held["distance"], "observed": observed,
    })
    out["median"] = np.median(accuracy, axis=0)
    for level in LEVELS:
        tag = f"{100 * level:g}"
        lower, upper = interval(accuracy, level)
        out[f"inside_{tag}"] = (observed >= lower) & (observed <= upper)
        if level == 0.9:
            out["width_90"] = upper - lower
            out["interval_score_90"] = interval_score(lower, upper, observed, 0.1)
    # The narrowest central interval holding the run: a run is inside the
    # central interval of level L exactly when central_level <= L (reliability).
    below = np.mean(accuracy < observed[None, :], axis=0) + 0.5 * np.mean(accuracy == observed[None, :], axis=0)
    out["central_level"] = np.abs(2 * below - 1)
    out["crps"] = crps_from_draws(accuracy, observed)
    out["lpd"] = np.nan if lpd is None else lpd
    out["abs_error"] = np.abs(out["median"] - observed)
    out["rel_error"] = out["abs_error"] / observed
    return out


def score_records(records: Sequence[SplitRecord], priors: dict, methods: Sequence[str] = METHODS,
                  seed: int = 0) -> pd.DataFrame:
    """Every held-out run of every split, scored by every method.

    ``priors`` maps ``"all"`` to the prior learned on every data set and each
    data set's name to the prior learned without it.
    """
    frames = []
    by_dataset: dict[str, list] = {}
    for record in records:
        by_dataset.setdefault(record.dataset, []).append(record)
    calibration = {name: conformal_scores([r for r in records if r.dataset != name]) for name in by_dataset}
    for number, record in enumerate(records):
        for method in methods:
            rng = np.random.default_rng([seed, number, METHODS.index(method)])
            if method in ("parametric", "form_error", "form_error_ladder", "form_error_all"):
                learned_on = "all" if method == "form_error_all" else record.dataset
                prior = None if method == "parametric" else priors[learned_on]
                if method == "form_error_ladder" and record.inner_tables:
                    prior = LadderFormError.update(prior, record.inner_tables)
                draws = bayes_draws(record, prior, rng)
                lpd = bayes_log_density(record, prior, rng)
            elif method == "bootstrap":
                draws, lpd = bootstrap_draws(record, rng), None
            elif method == "conformal":
                draws, lpd = conformal_draws(record, calibration[record.dataset], rng), None
            else:
                raise SpecError(f"option methods: unknown method {method!r}; known: {', '.join(METHODS)}")
            # The package answers an emerging benchmark on too few runs with a refusal, not an
            # interval: every method is summarised on the splits it answers (the same runs), the
            # refused ones counted.
            frames.append(score_points(record, draws, method, lpd).assign(refused=record.refusal is not None))
        # The paper's point fit: its errors are the reference for the median's MRE.
        paper = score_points(record, np.repeat(point_fit(record)[0][None, :], 2, axis=0), "paper_point_fit").assign(
            refused=record.refusal is not None)
        frames.append(paper)
    points = pd.concat(frames, ignore_index=True)
    points["bucket"] = pd.cut(points["distance"], BUCKETS, labels=bucket_labels(), include_lowest=True).astype(str)
    return points


def bucket_labels() -> list[str]:
    edges = [f"{b:g}" for b in BUCKETS]
    return [f"({a}, {b}]" if b != "inf" else f"> {a}" for a, b in zip(edges[:-1], edges[1:])]


def summarise(points: pd.DataFrame, by: Sequence[str] = ("method", "dataset"), *, n_boot: int = 1000,
              seed: int = 0) -> pd.DataFrame:
    """Pooled scores per group, with a 95% bootstrap interval of the 90% coverage over (benchmark, ladder) pairs."""
    rows = []
    rng = np.random.default_rng(seed)
    for key, group in points.groupby(list(by), sort=False):
        key = key if isinstance(key, tuple) else (key,)
        row = dict(zip(by, key))
        refused = group["refused"].to_numpy(bool) if "refused" in group else np.zeros(len(group), bool)
        group = group[~refused]
        row.update(n_runs=len(group), n_pairs=group["pair"].nunique(), n_refused=int(refused.sum()))
        if group.empty:
            rows.append(row)
            continue
        for level in LEVELS:
            row[f"coverage_{100 * level:g}"] = group[f"inside_{100 * level:g}"].mean()
        low, high = pair_bootstrap(group, "inside_90", rng, n_boot)
        row.update(coverage_90_low=low, coverage_90_high=high, width_90=group["width_90"].mean(),
                   interval_score_90=group["interval_score_90"].mean(), crps=group["crps"].mean(),
                   elpd=group["lpd"].mean(), mae=group["abs_error"].mean(), mre=group["rel_error"].mean(),
                   median_mre=group["rel_error"].median())
        if row.get("method") == "paper_point_fit":
            # A point has no interval: its row is there for the errors of its prediction.
            row.update({k: np.nan for k in row if k.startswith(("coverage_", "width_", "interval_score", "crps"))})
        rows.append(row)
    return pd.DataFrame(rows)


def pair_bootstrap(group: pd.DataFrame, column: str, rng, n_boot: int) -> tuple[float, float]:
    """95% interval of a pooled mean, resampling (benchmark, ladder) pairs: runs of a pair share their error."""
    per_pair = group.groupby("pair")[column].agg(["sum", "count"])
    if len(per_pair) < 2:
        return np.nan, np.nan
    picks = rng.integers(0, len(per_pair), size=(n_boot, len(per_pair)))
    sums, counts = per_pair["sum"].to_numpy()[picks].sum(axis=1), per_pair["count"].to_numpy()[picks].sum(axis=1)
    return tuple(np.quantile(sums / counts, [0.025, 0.975]))


#: Nominal levels of the reliability diagram.
RELIABILITY_LEVELS = tuple(np.round(np.arange(0.05, 1.0, 0.05), 2))


def reliability(points: pd.DataFrame, by: Sequence[str] = ("method",)) -> pd.DataFrame:
    """Empirical coverage of central predictive intervals against nominal, per group (a reliability table)."""
    rows = []
    # A point fit has no interval to be reliable about.
    points = points[points["method"] != "paper_point_fit"]
    for key, group in points.groupby(list(by), sort=False):
        key = key if isinstance(key, tuple) else (key,)
        levels = group.loc[~group["refused"].to_numpy(bool), "central_level"].to_numpy()
        rows += [{**dict(zip(by, key)), "nominal": level, "empirical": float(np.mean(levels <= level)),
                  "n_runs": len(levels)} for level in RELIABILITY_LEVELS]
    return pd.DataFrame(rows)


@dataclass
class BacktestResult:
    """What :func:`run_backtest` produced."""

    points: pd.DataFrame
    by_dataset: pd.DataFrame
    by_bucket: pd.DataFrame
    priors: dict
    skipped: list
    records: list = field(repr=False, default_factory=list)
    files: list = field(default_factory=list)


def learn_priors(records: Sequence[SplitRecord], *, seed: int = 0, **options) -> dict:
    """The prior learned on every data set (``"all"``) and, per data set, the one learned without it.

    A data set alone in ``records`` has no other to learn from: it is scored
    with the shipped default prior, and the prior's provenance says so.
    """
    names = sorted({r.dataset for r in records})
    options.setdefault("tables", {})  # each split's likelihood table is computed once
    priors = {"all": learn_prior(records, seed=seed, **options)}
    for name in names:
        if len(names) == 1:
            default = FormErrorPrior.default()
            priors[name] = FormErrorPrior(default.loc, default.scale, default.power,
                                          {**default.provenance, "note": "no other data set to learn from"})
        else:
            priors[name] = learn_prior(records, exclude=name, seed=seed, **options)
        logger.info("backtest: prior without %s: %s", name, priors[name].describe())
    return priors


def run_backtest(
    datasets: Sequence[str] | None = None, out_dir=None, *, benchmarks_per_dataset: int | None = None,
    methods: Sequence[str] = METHODS, records: Sequence[SplitRecord] | None = None, seed: int = 0,
    reuse_fits: bool = False, **sampler,
) -> BacktestResult:
    """Fit every split of the corpus, learn the form-error priors leave-one-data-set-out, score every method.

    Parameters
    ----------
    datasets : sequence of str, optional
        Data sets of :data:`CORPUS` to use (default all).
    out_dir : path, optional
        Writes ``points.csv``, ``by_dataset.csv``, ``by_bucket.csv``,
        ``reliability.csv``, ``priors.json`` and ``reliability.png|pdf``.
    benchmarks_per_dataset : int, optional
        Only the first n benchmarks (alphabetically) of each data set: a small corpus.
    methods : sequence of str
        Among :data:`METHODS`.
    records : sequence of SplitRecord, optional
        Fits from an earlier run (skips fitting).
    reuse_fits : bool
        Read the fits that an earlier run wrote to ``out_dir`` (``fits.pkl``,
        a cache of this package's own objects) instead of fitting again.
    **sampler
        Options of :func:`bayes_scaling.fit_many`.
    """
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise SpecError(f"option methods: unknown method {unknown[0]!r}; known: {', '.join(METHODS)}")
    known = [entry.dataset for entry in CORPUS]
    for name in datasets or ():
        if name not in known:
            raise SpecError(f"option datasets: {name!r} is not in the backtest corpus; known: {', '.join(known)}")
    skipped: list = []
    cache = Path(out_dir) / FITS_CACHE if out_dir is not None else None
    if records is None and reuse_fits:
        if cache is None or not cache.is_file():
            raise SpecError(f"option reuse_fits: no {FITS_CACHE} in {out_dir} (run once without it)")
        records, skipped = pickle.loads(cache.read_bytes())
    if records is None:
        splits, skipped = build_splits(datasets=datasets, benchmarks_per_dataset=benchmarks_per_dataset)
        if not splits:
            raise DataError("backtest: no split of the chosen data sets has enough runs to fit and score")
        records = fit_splits(splits, seed=seed, **sampler)
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            cache.write_bytes(pickle.dumps((records, skipped)))
    priors = learn_priors(records, seed=seed)
    points = score_records(records, priors, methods, seed=seed)
    by_dataset = summarise(pd.concat([points, points.assign(dataset="all")]), ("method", "dataset"), seed=seed)
    by_bucket = summarise(pd.concat([points, points.assign(dataset="all")]), ("method", "dataset", "bucket"), seed=seed)
    order = {name: i for i, name in enumerate((*METHODS, "paper_point_fit", *bucket_labels()))}
    by_bucket = by_bucket.sort_values(
        ["dataset", "method", "bucket"], kind="stable",
        key=lambda column: column if column.name == "dataset" else column.map(order),
    ).reset_index(drop=True)
    result = BacktestResult(points, by_dataset, by_bucket, priors, skipped, list(records))
    if out_dir is not None:
        result.files = write_outputs(result, Path(out_dir))
    return result


def write_outputs(result: BacktestResult, out: Path) -> list[Path]:
    """The backtest's tables, priors and reliability diagram under ``out``."""
    from bayes_scaling.plotting import plot_reliability, save_figure

    out.mkdir(parents=True, exist_ok=True)
    files = []
    tables = {"points": result.points, "by_dataset": result.by_dataset, "by_bucket": result.by_bucket,
              "reliability": reliability(result.points, ("method", "dataset")),
              "skipped": pd.DataFrame(result.skipped)}
    for name, frame in tables.items():
        frame.to_csv(out / f"{name}.csv", index=False)
        files.append(out / f"{name}.csv")
    (out / "priors.json").write_text(json.dumps({k: p.to_dict() for k, p in result.priors.items()}, indent=2))
    files.append(out / "priors.json")
    files += save_figure(plot_reliability(reliability(result.points, ("method",))), out / "reliability")
    return files


def format_summary(table: pd.DataFrame) -> str:
    """A backtest summary table as text, one row per group."""
    columns = [c for c in ("method", "dataset", "bucket") if c in table]
    shown = table[[*columns, "n_runs", "n_pairs", "n_refused", "coverage_50", "coverage_80", "coverage_90",
                   "coverage_90_low",
                   "coverage_90_high", "coverage_95", "width_90", "interval_score_90", "crps", "elpd", "mae",
                   "median_mre"]]
    return shown.to_string(index=False, float_format=lambda v: f"{v:.3f}")


#: Files written beside the default prior: the backtest that measured it.
SHIPPED_SUMMARY = "form_error_backtest.csv"
SHIPPED_RELIABILITY = "form_error_reliability.csv"


def save_default_prior(result: BacktestResult, command: str) -> Path:
    """Write the prior learned on every data set as the package default, with the backtest that measured it.

    ``bayes_scaling/data/form_error_prior.json`` (the prior and its provenance),
    ``form_error_backtest.csv`` (scores per method and data set) and
    ``form_error_reliability.csv`` (reliability per method), which reports show.
    """
    folder = Path(__file__).parent / "data"
    values = result.priors["all"].to_dict()
    values["provenance"] = {**values["provenance"], "command": command}
    path = folder / DEFAULT_PRIOR_FILE
    path.write_text(json.dumps(values, indent=2) + "\n")
    result.by_dataset.to_csv(folder / SHIPPED_SUMMARY, index=False, float_format="%.4g")
    reliability(result.points, ("method",)).to_csv(folder / SHIPPED_RELIABILITY, index=False, float_format="%.4g")
    return path


def shipped_backtest() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The backtest behind the default prior: scores per method and data set, and its reliability table."""
    folder = resources.files("bayes_scaling.data")
    return tuple(pd.read_csv(folder.joinpath(name).open()) for name in (SHIPPED_SUMMARY, SHIPPED_RELIABILITY))
