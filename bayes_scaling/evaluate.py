"""Scoring extrapolation: fit on the small runs, score the large ones.

A scaling law is used to predict runs that have not been trained yet, so it is
judged on runs beyond the compute it was fitted on (leave-future-out). For
each form, benchmark and cut-off, :func:`evaluate` fits the runs at or below the
cut-off (all fits of a form in one compiled program) and scores every larger
run with:

- ``elpd``: the held-out log predictive density, ``sum_j log mean_s p(y_j |
  theta_s, x_j)``, on the likelihood scale ``log(-log Q)`` that every form
  shares (higher is better; it rewards calibrated intervals, not only a close
  median);
- the paper's error metrics of the posterior median in raw accuracy: ``mae``
  (mean absolute error), ``mre`` (mean absolute error relative to the observed
  accuracy) and ``r2`` (``1 - SS_res / SS_tot`` over the held-out runs);
- ``coverage_50`` and ``coverage_90``: the share of held-out runs inside the
  50% and 90% predictive intervals for a new run.

A direct law's intervals and density include, by default, the form-error term
of :mod:`bayes_scaling.form_error` (``form_error=False``: the parameters alone);
extrapolations the package refuses (an emerging benchmark on too few runs) are
counted in ``n_refused`` and not scored.

Beside each Bayesian row, the paper's own point-estimate method
(:mod:`bayes_scaling.paper_method`) is fitted on the same split and scored with
the same error metrics. LOO (:mod:`bayes_scaling.loo`) measures interpolation;
these scores measure extrapolation, which is what a scaling law is for.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.special import logsumexp
from tqdm.auto import tqdm

from bayes_scaling.diagnostics import diagnose
from bayes_scaling.errors import DataError, SpecError
from bayes_scaling.fits import (
    curve_draws, fitted_compute_range, held_out_frame, law_of, posterior_draws, summary_columns,
)
from bayes_scaling.inference import fit_many, prepare
from bayes_scaling.logs import bar_hidden, nested, progress_level
from bayes_scaling.laws import get_law, law_inputs, raw_inputs
from bayes_scaling.paper_method import paper_fit
from bayes_scaling.predict import PROBS, fit_form_error, form_error_shift, predict_held_out

logger = logging.getLogger(__name__)


def held_out_points(idata, prob: Sequence[float] = PROBS, seed: int = 0, form_error=None) -> pd.DataFrame:
    """Every held-out run of a fit, predicted and scored.

    Returns the columns of :func:`bayes_scaling.predict.predict_held_out` plus
    ``lpd`` (the run's log predictive density on the likelihood scale,
    ``log mean_s p(y | theta_s, x)``), ``abs_error`` and ``rel_error`` of the
    posterior median. Empty when the fit has no held-out runs. ``form_error``
    as in :func:`bayes_scaling.predict.predict` (by default a direct law's
    intervals and density include the form-error term).
    """
    table = predict_held_out(idata, prob=prob, seed=seed, form_error=form_error)
    if table.empty:
        return table
    law = law_of(idata)
    frame = held_out_frame(idata)
    observed = law.transform.forward(frame["value"], frame["chance"])
    inputs = law_inputs(law, frame)
    draws = posterior_draws(idata)
    shift = form_error_shift(fit_form_error(idata, form_error), table["compute"].to_numpy(float),
                             fitted_compute_range(idata)[1], len(draws["sigma"]), seed)
    log_density = law.predictive_log_density(draws, inputs, observed, np.random.default_rng(seed), shift=shift)
    table["lpd"] = logsumexp(log_density, axis=0) - np.log(log_density.shape[0])
    table["abs_error"] = (table["median"] - table["observed"]).abs()
    table["rel_error"] = table["abs_error"] / table["observed"]
    return table


def error_metrics(predicted, observed) -> dict[str, float]:
    """The paper's metrics of point predictions in raw accuracy: MAE, MRE and R^2.

    ``mae = mean |p - o|``, ``mre = mean |p - o| / o``, ``r2 = 1 - sum (o -
    p)^2 / sum (o - mean o)^2`` (NaN with fewer than two runs or no spread).
    """
    predicted, observed = np.asarray(predicted, dtype=float), np.asarray(observed, dtype=float)
    if predicted.size == 0:
        return {"mae": np.nan, "mre": np.nan, "r2": np.nan}
    error = predicted - observed
    spread = np.sum((observed - observed.mean()) ** 2)
    return {
        "mae": float(np.mean(np.abs(error))),
        "mre": float(np.mean(np.abs(error) / observed)),
        "r2": float(1.0 - np.sum(error**2) / spread) if observed.size > 1 and spread > 0 else np.nan,
    }


def score_fit(idata, prob: Sequence[float] = PROBS, seed: int = 0, form_error=None) -> dict:
    """One row of extrapolation scores for a fit (see the module docstring)."""
    points = held_out_points(idata, prob=prob, seed=seed, form_error=form_error)
    if "refused" in points:
        # Refused extrapolations (an emerging benchmark on too few runs) are counted, not scored.
        refused = int((points["refused"] != "").sum())
        points = points[points["refused"] == ""]
    else:
        refused = 0
    diagnostics = diagnose(idata)
    row = {
        "n_fitted": int(idata["observed_data"].sizes["point"]),
        "n_held_out": len(points),
        "n_refused": refused,
        "elpd": float(points["lpd"].sum()) if len(points) else np.nan,
        **error_metrics(points.get("median", []), points.get("observed", [])),
    }
    for p in prob:
        tag = f"{100 * p:g}"
        row[f"coverage_{tag}"] = float(points[f"inside_{tag}"].mean()) if len(points) else np.nan
    row.update(max_rhat=diagnostics.max_rhat, n_divergent=diagnostics.n_divergent)
    return row


def evaluate(
    table: pd.DataFrame,
    benchmarks: Sequence[str],
    forms: Sequence[str] = ("power_law",),
    cutoffs: Sequence[float] = (1e21,),
    *,
    metric: str = "acc",
    select_options: Mapping | None = None,
    priors: Mapping | None = None,
    prob: Sequence[float] = PROBS,
    paper_method: bool = True,
    fits_out: dict | None = None,
    form_error=None,
    **sampler,
) -> pd.DataFrame:
    """Leave-future-out scores of several forms, benchmarks and cut-offs (rolling origin), as one tidy table.

    Parameters
    ----------
    table : pandas.DataFrame
        Tidy table (:func:`bayes_scaling.load_dataset`).
    benchmarks : sequence of str
        Benchmarks to score.
    forms : sequence of str
        Registered laws; every form is fitted to every (benchmark, cut-off).
    cutoffs : sequence of float
        Compute cut-offs in FLOPs: runs at or below are fitted, larger ones scored.
    metric : str
        The accuracy metric.
    select_options : mapping, optional
        More options of the forms' data selection: ``group``, ``tpr``, ``k``,
        ``chance_margin``, ``dataset``, ``loss_benchmark`` (two-stage forms).
    priors : mapping, optional
        Prior overrides, shared by every form (names a form lacks are an error).
    prob : sequence of float
        Interval probabilities for coverage.
    paper_method : bool
        Also fit the paper's point-estimate method on each split.
    fits_out : dict, optional
        If given, filled with ``(form, benchmark, cutoff) -> fit``.
    form_error : None, bool or FormErrorPrior
        As in :func:`bayes_scaling.predict.predict`: by default a direct law's
        intervals and density include the form-error term.
    **sampler
        Options of :func:`bayes_scaling.fit_many` (``num_warmup``, ``num_samples``, ...).

    Returns
    -------
    pandas.DataFrame
        One row per (form, benchmark, cutoff, method), ``method`` being
        ``bayes`` (posterior median and intervals) or ``paper`` (point fit):
        ``n_fitted``, ``n_held_out`` (runs scored), ``n_refused``, ``elpd``, ``mae``, ``mre``, ``r2``,
        ``coverage_P``, ``max_rhat``, ``n_divergent``, and ``status`` (``ok``,
        or why the split could not be fitted: nothing is dropped silently).
    """
    options = {key: value for key, value in dict(select_options or {}).items() if value is not None}
    for cutoff in cutoffs:
        if not np.isfinite(cutoff) or cutoff <= 0:
            raise SpecError(f"option cutoffs: {cutoff!r} is not a positive number of FLOPs")
    rows = []
    for form in tqdm(forms, desc="evaluate: forms", disable=bar_hidden(logger), leave=False):
        law = get_law(form)
        splits, skipped = {}, []
        for benchmark in benchmarks:
            for cutoff in cutoffs:
                try:
                    data = law.select_data(table, benchmark, metric, max_compute=cutoff,
                                           **law.selection_options(options))
                    splits[benchmark, cutoff] = prepare(data, law)[0]
                except DataError as err:
                    skipped.append({"form": law.name, "benchmark": benchmark, "cutoff": cutoff, "status": str(err)})
        rows += [dict(row, method="bayes") for row in skipped]
        if not splits:
            continue
        logger.log(progress_level(), "evaluate: %s on %d splits", law.name, len(splits))
        with nested():
            fits = fit_many(list(splits.values()), law.name, priors, **sampler)
        for ((benchmark, cutoff), data), idata in zip(splits.items(), fits):
            key = {"form": law.name, "benchmark": benchmark, "cutoff": cutoff}
            if fits_out is not None:
                fits_out[law.name, benchmark, cutoff] = idata
            scores = score_fit(idata, prob=prob, form_error=form_error)
            rows.append({**key, "method": "bayes", **scores, "status": "ok"})
            if paper_method:
                rows.append({**key, "method": "paper", **_paper_scores(data, law.name), "status": "ok"})
    columns = ["form", "benchmark", "cutoff", "method", "n_fitted", "n_held_out", "n_refused", "elpd", "mae", "mre",
               "r2",
               *[f"coverage_{100 * p:g}" for p in prob], "max_rhat", "n_divergent", "status"]
    return pd.DataFrame(rows).reindex(columns=columns)


def _paper_scores(data, form: str) -> dict:
    """The paper method's point fit on the same split, scored with the same error metrics."""
    held = data.held_out
    result = {"n_fitted": len(data.fitted), "n_held_out": len(held)}
    if held.empty:
        return result | error_metrics([], [])
    predicted = paper_fit(data, form).predict(**raw_inputs(get_law(form), held))
    return result | error_metrics(predicted, held["value"].to_numpy(float))


def summarise(scores: pd.DataFrame) -> pd.DataFrame:
    """Scores pooled over benchmarks: per (form, cutoff, method), the mean of each metric and the total elpd."""
    ok = scores[scores["status"] == "ok"]
    metrics = [c for c in ok.columns if c in ("mae", "mre", "r2") or c.startswith("coverage_")]
    grouped = ok.groupby(["form", "cutoff", "method"], sort=False)
    out = grouped[metrics].mean()
    out["elpd"] = grouped["elpd"].sum(min_count=1)
    out["n_benchmarks"] = grouped.size()
    out["n_held_out"] = grouped["n_held_out"].sum()
    return out.reset_index()


def direct_vs_two_stage(direct: Mapping, two_stage: Mapping, prob: float = 0.9) -> pd.DataFrame:
    """Per benchmark, which route predicts the held-out runs better, with the posterior of the difference.

    Parameters
    ----------
    direct, two_stage : mapping
        Benchmark -> fit (DataTree) of a direct law and of a two-stage law, on
        the same split.
    prob : float
        Probability of the interval of the difference.

    Returns
    -------
    pandas.DataFrame
        One row per benchmark in both mappings, scored on the held-out runs
        both fits have: ``mae_direct`` and ``mae_two_stage`` (of the posterior
        medians), and over posterior draws of the mean curves the difference
        ``d = MAE_direct - MAE_two_stage`` (negative: direct is closer):
        ``difference_median``, ``difference_lower_P``, ``difference_upper_P``
        and ``p_direct_closer = P(d < 0)``. The last row, ``all``, pools the
        runs of every benchmark (each run weighs the same).
    """
    rows, pooled = [], []
    for benchmark in [name for name in direct if name in two_stage]:
        held_direct = held_out_frame(direct[benchmark])
        common = set(held_direct["run_id"]) & set(held_out_frame(two_stage[benchmark])["run_id"])
        frame = held_direct[held_direct["run_id"].isin(common)].reset_index(drop=True)
        if frame.empty:
            continue
        observed = frame["value"].to_numpy(float)
        curves = [curve_draws(fit, frame) for fit in (direct[benchmark], two_stage[benchmark])]
        n_draws = min(len(c) for c in curves)
        # The two posteriors are independent, so pairing draws by index samples their joint.
        errors = [np.abs(c[:n_draws] - observed) for c in curves]
        pooled.append(errors)
        rows.append({"benchmark": benchmark, "n_held_out": len(frame),
                     "mae_direct": float(np.mean(np.abs(np.median(curves[0], axis=0) - observed))),
                     "mae_two_stage": float(np.mean(np.abs(np.median(curves[1], axis=0) - observed))),
                     **_difference(errors[0].mean(axis=1) - errors[1].mean(axis=1), prob)})
    if pooled:
        n_draws = min(e[0].shape[0] for e in pooled)
        direct_errors = np.concatenate([e[0][:n_draws] for e in pooled], axis=1)
        two_errors = np.concatenate([e[1][:n_draws] for e in pooled], axis=1)
        runs = sum(row["n_held_out"] for row in rows)
        rows.append({"benchmark": "all", "n_held_out": runs,
                     **{column: sum(row[column] * row["n_held_out"] for row in rows) / runs
                        for column in ("mae_direct", "mae_two_stage")},
                     **_difference(direct_errors.mean(axis=1) - two_errors.mean(axis=1), prob)})
    return pd.DataFrame(rows)


def _difference(draws: np.ndarray, prob: float) -> dict:
    columns = summary_columns(draws, prob, prefix="difference_")
    return {name: float(value) for name, value in columns.items()} | {"p_direct_closer": float(np.mean(draws < 0))}
