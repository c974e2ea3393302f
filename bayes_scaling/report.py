"""Reports: one folder with everything a spec's analysis says, as HTML, as Markdown, and as figures.

:func:`build_report` fits the spec once and writes to its output folder:

- ``report.html``: self-contained (figures embedded as base64 PNG data URIs,
  styles inline, no external resource), so it opens offline and can be mailed;
- ``report.md``: the same sections and tables, referencing ``figures/*.png``;
- ``figures/<name>.png`` and ``.pdf``: every figure;
- ``tables/<name>.csv``: every table, unrounded;
- ``spec.toml``: the exact spec, from which ``bayes-scaling report`` regenerates it.

The report holds band plots of every fit (one panel per benchmark), the
extrapolation scores (:func:`bayes_scaling.pipeline.run_evaluation`) with
their pooled summary and, when the spec has a direct and a two-stage form, the
posterior of their difference as a forest plot; the PIT values of the
held-out runs under each form's predictive distribution; the PSIS-LOO comparison of
two or more direct forms; for pass@k laws, pass@k against k and the
compute-versus-samples trade-off; the sampler diagnostics with problems
highlighted; and the provenance (spec, data, seed, package versions, command).

It is built in three steps. :func:`fit_for_report` makes every fit once
(:class:`ReportFits`): the evaluation's fits at the spec's hold-out cut-off
are the ones plotted, compared by LOO and diagnosed. One function per section
then turns those fits into a :class:`bayes_scaling.report_render.Section`,
fitting nothing itself, and :mod:`bayes_scaling.report_render` renders the
sections as HTML and Markdown.
"""

from __future__ import annotations

import hashlib
import platform
import logging
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import tomli_w
import pandas as pd

from bayes_scaling.diagnostics import BFMI_MIN, ESS_MIN, RHAT_MAX, diagnose
from bayes_scaling.errors import BayesScalingError, DataError, SpecError
from bayes_scaling.fits import curve_draws, held_out_frame, summary_columns
from bayes_scaling.laws import get_law
from bayes_scaling.loo import INTERPOLATION_NOTE, compare_forms, loo_pit
from bayes_scaling.predict import PROBS
from bayes_scaling.report_render import (
    PROBLEM_MARK,
    Figure,
    Section,
    format_table,
    render_html,
    render_markdown,
)
from bayes_scaling.specs import Spec

logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    from bayes_scaling.pipeline import EvaluationResult

#: Pareto k above which a PSIS-LOO estimate is unreliable (Vehtari et al. 2024).
PARETO_K_MAX = 0.7
#: Versions listed in the provenance, beyond :func:`bayes_scaling.saving.versions`.
_EXTRA_PACKAGES = ("matplotlib",)


@dataclass
class ReportResult:
    """What :func:`build_report` wrote and computed.

    Attributes
    ----------
    out_dir : Path
        The report's folder.
    html, markdown, spec_file : Path
        ``report.html``, ``report.md`` and ``spec.toml``.
    figures : dict
        Figure name -> [PNG path, PDF path].
    tables : dict
        Table name -> DataFrame (unrounded): ``scores``, ``pooled``,
        ``direct_vs_two_stage``, ``held_out_error``, ``held_out_pit``, ``loo``,
        ``diagnostics``, ``versions`` (those that apply to the spec).
    fits : dict
        ``(form, benchmark, cutoff) -> fit`` of every fit made.
    sections : list of str
        The report's headings, in order.
    files : list of Path
        Every file written.
    """

    out_dir: Path
    html: Path
    markdown: Path
    spec_file: Path
    figures: dict = field(default_factory=dict)
    tables: dict = field(default_factory=dict)
    fits: dict = field(default_factory=dict)
    sections: list = field(default_factory=list)
    files: list = field(default_factory=list)


# ----------------------------------------------------------------- the spec as TOML


def spec_to_toml(spec: Spec) -> str:
    """A spec as TOML that :func:`bayes_scaling.specs.load_spec` reads back to an equal spec.

    Every field is written, defaults included, except empty ones, so the file
    states the whole analysis. Written by tomli-w, the TOML writer of the tomli
    family that Python's own reader comes from.
    """
    document = {"name": spec.name}
    for section, values in spec.sections().items():
        if section == "name":
            continue
        kept = {key: value for key, value in values.items()
                if value is not None and not (isinstance(value, (dict, list)) and len(value) == 0)}
        if kept:
            document[section] = kept
    return tomli_w.dumps(document)


# ----------------------------------------------------------------- computations


def held_out_error(fits: dict, prob: float = 0.9) -> pd.DataFrame:
    """Per (form, benchmark): the posterior of the mean absolute error of the mean curve on the held-out runs.

    Parameters
    ----------
    fits : dict
        ``(form, benchmark) -> fit``.
    prob : float
        Interval probability.

    Returns
    -------
    pandas.DataFrame
        ``form``, ``benchmark``, ``n_held_out``, ``mae_median``,
        ``mae_lower_P``, ``mae_upper_P`` (over posterior draws of the mean
        curve) and ``mae_of_median`` (the error of the posterior median of
        the curve from the parameters alone; the scores' median also carries
        the form-error draws, which move it by Monte Carlo error only, as
        the form error has median zero). A row ``all`` per form pools the runs of its
        benchmarks when there are several.
    """
    tag = f"{100 * prob:g}"
    rows, pooled = [], {}
    for (form, benchmark), idata in fits.items():
        frame = held_out_frame(idata)
        if frame.empty:
            continue
        observed = frame["value"].to_numpy(float)
        errors = np.abs(curve_draws(idata, frame) - observed)
        pooled.setdefault(form, []).append(errors)
        rows.append({"form": form, "benchmark": benchmark, "n_held_out": len(frame),
                     **_mae_interval(errors.mean(axis=1), prob),
                     "mae_of_median": float(np.mean(np.abs(np.median(curve_draws(idata, frame), axis=0) - observed)))})
    for form, errors in pooled.items():
        if len(errors) > 1:
            n_draws = min(e.shape[0] for e in errors)
            joined = np.concatenate([e[:n_draws] for e in errors], axis=1)
            mine = [row for row in rows if row["form"] == form]
            runs = sum(row["n_held_out"] for row in mine)
            rows.append({"form": form, "benchmark": "all", "n_held_out": runs,
                         **_mae_interval(joined.mean(axis=1), prob),
                         "mae_of_median": sum(r["mae_of_median"] * r["n_held_out"] for r in mine) / runs})
    return pd.DataFrame(rows, columns=["form", "benchmark", "n_held_out", "mae_median", f"mae_lower_{tag}",
                                       f"mae_upper_{tag}", "mae_of_median"])


def held_out_pits(fits: dict, form_error=None) -> pd.DataFrame:
    """The PIT value of every held-out run of every fit (:func:`bayes_scaling.calibration.held_out_pit`).

    Parameters
    ----------
    fits : dict
        ``(form, benchmark) -> fit``.
    form_error : None, bool or FormErrorPrior
        As in :func:`bayes_scaling.predict.predict`.

    Returns
    -------
    pandas.DataFrame
        ``form``, ``benchmark`` and the columns of
        :func:`~bayes_scaling.calibration.held_out_pit`, one row per held-out run.
    """
    from bayes_scaling.calibration import held_out_pit

    frames = [held_out_pit(idata, form_error=form_error).assign(form=form, benchmark=benchmark)
              for (form, benchmark), idata in fits.items()]
    frames = [frame for frame in frames if len(frame)]
    columns = ["form", "benchmark", "run_id", "flops", "observed", "pit", "refused"]
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)


def pit_summary(pits: pd.DataFrame) -> pd.DataFrame:
    """Per (form, benchmark), and per form pooled over benchmarks (``all``), how uniform the PIT values are.

    Returns
    -------
    pandas.DataFrame
        ``form``, ``benchmark``, ``n_held_out``, ``n_refused``, ``p_value``
        (ArviZ's uniformity test, :func:`bayes_scaling.calibration.pit_uniformity`),
        ``below_5`` and ``above_95`` (shares of PIT values below 0.05 and above
        0.95: 5% each when calibrated) and ``mean_pit`` (0.5 when calibrated;
        below: the runs come out below their predictions).
    """
    from bayes_scaling.calibration import pit_uniformity

    def row(form, benchmark, group):
        pit = group["pit"].to_numpy(float)
        kept = pit[np.isfinite(pit)]
        shares = {"below_5": np.mean(kept < 0.05), "above_95": np.mean(kept > 0.95), "mean_pit": np.mean(kept)}
        return {"form": form, "benchmark": benchmark, "n_held_out": len(kept), "n_refused": len(pit) - len(kept),
                "p_value": pit_uniformity(kept),
                **{name: float(value) if kept.size else np.nan for name, value in shares.items()}}

    rows = []
    for form, by_form in pits.groupby("form", sort=False):
        rows += [row(form, benchmark, group) for benchmark, group in by_form.groupby("benchmark", sort=False)]
        if by_form["benchmark"].nunique() > 1:
            rows.append(row(form, "all", by_form))
    return pd.DataFrame(rows, columns=["form", "benchmark", "n_held_out", "n_refused", "p_value", "below_5",
                                       "above_95", "mean_pit"])


def _mae_interval(draws: np.ndarray, prob: float) -> dict:
    return {name: float(value) for name, value in summary_columns(draws, prob, prefix="mae_").items()}


def diagnostics_table(fits: dict, pareto_k: dict | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per fit, the sampler's diagnostics, and a frame of the same shape that is True where a threshold fails.

    ``fits`` maps ``(form, benchmark, cutoff)`` to a fit; ``pareto_k`` maps the
    same keys to the largest Pareto k of the fit's PSIS-LOO, where computed.
    """
    pareto_k = pareto_k or {}
    rows = []
    for key, idata in fits.items():
        form, benchmark, cutoff = key
        found = diagnose(idata)
        k = float(pareto_k.get(key, np.nan))
        problems = found.problems()
        if np.isfinite(k) and k > PARETO_K_MAX:
            problems.append(f"Pareto k {k:.2f} > {PARETO_K_MAX}")
        rows.append({"form": form, "benchmark": benchmark, "cutoff": cutoff, "max_rhat": found.max_rhat,
                     "min_ess_bulk": found.min_ess_bulk, "min_ess_tail": found.min_ess_tail,
                     "n_divergent": found.n_divergent, "min_bfmi": found.min_bfmi, "max_pareto_k": k,
                     "retried": "retry" in idata.attrs, "problems": "; ".join(problems) or "none"})
    table = pd.DataFrame(rows, columns=["form", "benchmark", "cutoff", "max_rhat", "min_ess_bulk", "min_ess_tail",
                                        "n_divergent", "min_bfmi", "max_pareto_k", "retried", "problems"])
    flags = pd.DataFrame(False, index=table.index, columns=table.columns)
    flags["max_rhat"] = ~(table["max_rhat"] <= RHAT_MAX)
    flags["min_ess_bulk"] = ~(table["min_ess_bulk"] >= ESS_MIN)
    flags["min_ess_tail"] = ~(table["min_ess_tail"] >= ESS_MIN)
    flags["n_divergent"] = table["n_divergent"] > 0
    flags["min_bfmi"] = ~(table["min_bfmi"] >= BFMI_MIN)
    flags["max_pareto_k"] = table["max_pareto_k"] > PARETO_K_MAX
    flags["problems"] = table["problems"] != "none"
    return table, flags


def package_versions() -> pd.DataFrame:
    """Python and the versions of the packages a report depends on."""
    from importlib.metadata import PackageNotFoundError, version

    from bayes_scaling.saving import versions

    found = versions()
    for name in _EXTRA_PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    found.setdefault("python", platform.python_version())
    return pd.DataFrame(list(found.items()), columns=["package", "version"])


def _fingerprint(table: pd.DataFrame) -> str:
    return hashlib.sha256(pd.util.hash_pandas_object(table, index=False).to_numpy().tobytes()).hexdigest()


def _same(a: float | None, b: float | None) -> bool:
    return a is not None and b is not None and bool(np.isclose(a, b, rtol=1e-9, atol=0))


def _say(text: str):
    logger.info("report: %s", text)


# ------------------------------------------------------------------- the fits


@dataclass(frozen=True)
class ReportFits:
    """Every fit a report shows, made once by :func:`fit_for_report`; the sections only read it.

    Attributes
    ----------
    forms : tuple of str
        The spec's evaluated forms, in order.
    direct, two_stage : tuple of str
        The forms split by their law's ``kind``.
    band_cutoff : float or None
        The cut-off of the plotted fits: ``holdout.max_compute``, else the
        largest scored cut-off, else None (every run fitted).
    evaluation : EvaluationResult or None
        The extrapolation scores and their fits; None without a cut-off.
    fits : dict
        ``(form, benchmark, cutoff) -> fit`` of every fit made.
    reasons : dict
        Benchmark -> why a fit of it could not be made.
    band_keys : dict
        ``(form, benchmark) -> (form, benchmark, cutoff)``: the keys of
        ``fits`` at ``band_cutoff``.
    at_band : dict
        Form -> {benchmark: fit} at ``band_cutoff``, for the forms with at
        least one fit.
    skipped : tuple of str
        The spec's benchmarks without any fit at ``band_cutoff``.
    loo_forms : tuple of str
        The direct forms fitted at ``band_cutoff``: those PSIS-LOO compares.
    loo : pandas.DataFrame or None
        The PSIS-LOO comparison of ``loo_forms`` per benchmark, best
        first; None when fewer than two direct forms were fitted or none
        could be compared.
    loo_failed : tuple of str
        ``"benchmark: error"`` of each comparison that failed.
    pareto_k : dict
        Key of ``fits`` -> the largest Pareto k of its PSIS-LOO, where computed.
    """

    forms: tuple
    direct: tuple
    two_stage: tuple
    band_cutoff: float | None
    evaluation: EvaluationResult | None
    fits: dict
    reasons: dict
    band_keys: dict
    at_band: dict
    skipped: tuple
    loo_forms: tuple
    loo: pd.DataFrame | None
    loo_failed: tuple
    pareto_k: dict


def fit_for_report(spec: Spec, table: pd.DataFrame, *, prob=PROBS) -> ReportFits:
    """Make every fit of a spec's report, once.

    Every form is fitted at every cut-off, with the extrapolation scores
    (:func:`bayes_scaling.pipeline.run_evaluation`); when the spec's own
    hold-out is not among those cut-offs (or there is none), every form is
    fitted at it too. Two or more direct forms are then compared by PSIS-LOO
    at that cut-off, which refits exactly the runs whose Pareto k is too high.

    Parameters
    ----------
    spec : Spec
        The analysis, as in :func:`build_report`.
    table : pandas.DataFrame
        The runs.
    prob : sequence of float
        Interval probabilities of the fits' predictions.

    Returns
    -------
    ReportFits

    Raises
    ------
    DataError
        If no benchmark could be fitted.
    """
    forms = tuple(spec.evaluated_forms)
    cutoffs, band_cutoff = _cutoffs(spec)
    evaluation, fits, reasons = _evaluate(spec, table, cutoffs)
    if not any(_same(band_cutoff, c) for c in cutoffs):
        # The spec's own hold-out is not among the scored cut-offs (or there is none): fit it.
        band_fits, band_reasons = _fit_at_band(spec, table, forms, band_cutoff, prob)
        fits.update(band_fits)
        for benchmark, reason in band_reasons.items():
            reasons.setdefault(benchmark, reason)
    if not fits:
        why = "; ".join(f"{benchmark}: {reason}" for benchmark, reason in reasons.items())
        raise DataError(f"spec {spec.name!r}: no benchmark could be fitted" + (f" ({why})" if why else ""))
    # The fits at the spec's hold-out: plotted, compared by LOO, scored for held-out error.
    band_keys = {(f, b): (f, b, c) for f, b, c in fits if _same(c, band_cutoff) or c is band_cutoff}
    at_band = {form: {b: fits[key] for (f, b), key in band_keys.items() if f == form} for form in forms}
    at_band = {form: by_benchmark for form, by_benchmark in at_band.items() if by_benchmark}
    direct = tuple(form for form in forms if get_law(form).kind != "two_stage")
    loo_forms = tuple(form for form in direct if form in at_band)
    loo, loo_failed, pareto_k = _compare_by_loo(spec, {form: at_band[form] for form in loo_forms}, band_keys)
    return ReportFits(
        forms=forms, direct=direct, two_stage=tuple(form for form in forms if get_law(form).kind == "two_stage"),
        band_cutoff=band_cutoff, evaluation=evaluation, fits=fits, reasons=reasons, band_keys=band_keys,
        at_band=at_band,
        skipped=tuple(sorted(set(spec.benchmarks) - {b for by_benchmark in at_band.values() for b in by_benchmark})),
        loo_forms=loo_forms, loo=loo, loo_failed=loo_failed, pareto_k=pareto_k,
    )


def _cutoffs(spec: Spec) -> tuple[list, float | None]:
    """The scored cut-offs, and the cut-off of the plotted fits."""
    try:
        cutoffs = list(spec.evaluated_cutoffs)
    except SpecError:  # no cut-off at all: nothing is scored
        cutoffs = []
    band_cutoff = spec.max_compute if spec.max_compute is not None else (max(cutoffs) if cutoffs else None)
    return cutoffs, band_cutoff


def _evaluate(spec: Spec, table: pd.DataFrame, cutoffs: list) -> tuple:
    """(evaluation, fits, reasons) of every form at every cut-off; (None, {}, {}) without cut-offs."""
    if not cutoffs:
        return None, {}, {}
    from bayes_scaling.pipeline import run_evaluation

    forms = spec.evaluated_forms
    _say(f"fitting {', '.join(forms)} to {len(spec.benchmarks)} benchmark(s) at {len(cutoffs)} cut-off(s)")
    evaluation = run_evaluation(spec, table=table)
    reasons: dict[str, str] = {}
    failed = evaluation.scores[evaluation.scores["status"] != "ok"]
    for row in failed.to_dict("records"):
        reasons.setdefault(row["benchmark"], f"{row['form']} at {row['cutoff']:.3g} FLOPs: {row['status']}")
    return evaluation, dict(evaluation.fits), reasons


def _fit_at_band(spec: Spec, table: pd.DataFrame, forms: tuple, band_cutoff, prob) -> tuple:
    """(fits, reasons) of every form with the spec's own hold-out."""
    from bayes_scaling.pipeline import run_spec

    fits, reasons = {}, {}
    for form in forms:
        _say(f"fitting {form} with the spec's hold-out ({band_cutoff or 'none'})")
        result = run_spec(replace(spec, form=form), table=table, prob=prob)
        fits.update({(form, benchmark, band_cutoff): idata for benchmark, idata in result.fits.items()})
        for benchmark, reason in result.skipped.items():
            reasons.setdefault(benchmark, f"{form}: {reason}")
    return fits, reasons


def _compare_by_loo(spec: Spec, at_band: dict, band_keys: dict) -> tuple:
    """(comparison or None, failures, Pareto k per fit) of the forms of ``at_band``, per benchmark.

    Nothing is compared with fewer than two forms; a benchmark is compared
    only where every form was fitted to it.
    """
    forms = list(at_band)
    if len(forms) < 2:
        return None, (), {}
    _say(f"PSIS-LOO of {', '.join(forms)}")
    frames, failed, pareto_k = [], [], {}
    for benchmark in spec.benchmarks:
        if not all(benchmark in at_band[form] for form in forms):
            continue
        try:
            frame = compare_forms({form: at_band[form][benchmark] for form in forms}, priors=spec.prior_distributions())
        except BayesScalingError as err:
            failed.append(f"{benchmark}: {err}")
            continue
        frames.append(frame.assign(benchmark=benchmark))
        pareto_k.update({band_keys[row["form"], benchmark]: row["max_pareto_k"] for row in frame.to_dict("records")})
    if not frames:
        return None, tuple(failed), pareto_k
    loo = pd.concat(frames, ignore_index=True)
    return loo[["benchmark", *[c for c in loo.columns if c != "benchmark"]]], tuple(failed), pareto_k


# ------------------------------------------------------------------- the sections
# Each builds one section from the fits already made, adding its tables and
# figures through the collector, so that every table is also written as CSV
# and every figure as PNG and PDF.


@dataclass
class _Collector:
    """The tables (unrounded) and figures (saved as PNG and PDF) that the sections add."""

    figures_dir: Path
    tables: dict = field(default_factory=dict)
    figures: dict = field(default_factory=dict)

    def table(self, section: Section, name: str, frame: pd.DataFrame, caption: str = "", flags=None):
        """Keep ``frame`` to write as CSV and add it, formatted, to ``section``."""
        self.tables[name] = frame
        section.table(format_table(frame, flags, caption, name))

    def figure(self, section: Section, name: str, make, caption: str):
        """Draw ``make()`` in the report's style, save it and add it to ``section``."""
        from bayes_scaling.plotting import figure_style, save_figure

        with figure_style():
            fig = make()
            png, pdf = save_figure(fig, self.figures_dir / name)
        self.figures[name] = [png, pdf]
        section.figure(Figure(name, png, pdf, caption))


def _levels(prob) -> str:
    return " and ".join(f"{100 * p:g}%" for p in sorted(prob))


def _overview_section(spec: Spec, fitted: ReportFits, tag: str) -> Section:
    overview = Section("Overview")
    band_cutoff = fitted.band_cutoff
    selection = ", ".join(filter(None, [
        f"metric `{spec.metric}`", f"TPR {spec.tpr:g}" if spec.tpr is not None else "",
        f"group `{spec.group}`" if spec.group else "", f"k = {spec.k:g}" if spec.k is not None else "",
        f"loss `{spec.loss_benchmark}`" if spec.loss_benchmark and fitted.two_stage else "",
    ]))
    overview.text(
        f"Spec `{spec.name}`: the form(s) {', '.join(f'`{f}`' for f in fitted.forms)} fitted to "
        f"{len(spec.benchmarks)} benchmark(s) of `{spec.dataset or spec.path}` ({selection}). "
        + (f"Runs up to {band_cutoff:.3g} FLOPs are fitted and larger runs held out. " if band_cutoff else
           "No compute cut-off: every run is fitted. ")
        + f"NUTS: {spec.num_chains} chains of {spec.num_samples} draws after {spec.num_warmup} warm-up "
        f"iterations, seed {spec.seed}."
    )
    findings = _findings(fitted, tag)
    if findings:
        overview.items(findings)
    return overview


def _findings(fitted: ReportFits, tag: str) -> list[str]:
    """The overview's bullets: direct against two-stage, coverage per form, benchmarks not fitted."""
    findings = []
    evaluation = fitted.evaluation
    if evaluation is not None and len(evaluation.direct_vs_two_stage):
        duel = evaluation.direct_vs_two_stage
        for row in duel[duel["benchmark"] == "all"].to_dict("records"):
            findings.append(
                f"Direct (`{row['direct']}`) minus two-stage (`{row['two_stage']}`) mean absolute error on the "
                f"held-out runs at cut-off {row['cutoff']:.3g}, pooled: {row['difference_median']:+.4f} "
                f"({tag}% interval {row[f'difference_lower_{tag}']:+.4f} to {row[f'difference_upper_{tag}']:+.4f}); "
                f"P(direct closer) = {row['p_direct_closer']:.2f}."
            )
    if evaluation is not None and not evaluation.summary.empty:
        bayes = evaluation.summary[evaluation.summary["method"] == "bayes"]
        for row in bayes.to_dict("records"):
            if f"coverage_{tag}" in row and np.isfinite(row[f"coverage_{tag}"]):
                findings.append(f"`{row['form']}` at cut-off {row['cutoff']:.3g}: {row[f'coverage_{tag}']:.0%} of "
                                f"{int(row['n_held_out'])} held-out runs inside their {tag}% predictive interval "
                                f"(mean over benchmarks); mean absolute error {row['mae']:.4f}.")
    for benchmark in fitted.skipped:
        findings.append(f"Not fitted: {benchmark} ({fitted.reasons.get(benchmark, 'no usable runs')}).")
    return findings


def _bands_section(fitted: ReportFits, parts: _Collector, prob) -> Section:
    from bayes_scaling.plotting import plot_band_grid

    bands = Section("Fits and held-out runs")
    bands.text(
        "One panel per benchmark. Filled dots: fitted runs; open diamonds: held-out runs; grey region: "
        "extrapolation beyond the largest fitted run; solid line: posterior median of the mean curve; shaded: "
        f"{_levels(prob)} credible intervals of the mean curve; dotted: "
        f"{100 * max(prob):g}% predictive interval for a new run (the mean curve plus run-to-run noise)."
    )
    band_cutoff = fitted.band_cutoff
    cut = f"fitted on runs up to {band_cutoff:.3g} FLOPs" if band_cutoff else "fitted on every run"
    for form, by_benchmark in fitted.at_band.items():
        parts.figure(bands, f"bands_{form}",
                     partial(plot_band_grid, by_benchmark, prob=prob, title=f"{form}: posterior bands, {cut}"),
                     f"`{form}`, {cut}: accuracy against training compute.")
    return bands


def _extrapolation_section(fitted: ReportFits) -> Section:
    extrapolation = Section("Extrapolation to larger runs")
    if fitted.evaluation is None:
        extrapolation.text("The spec sets no compute cut-off (`holdout.max_compute` or `evaluate.cutoffs`), so no "
                           "run is held out and extrapolation is not scored.")
    else:
        extrapolation.text(
            "Each form is fitted on the runs at or below a cut-off and scores every larger run "
            "(leave-future-out). `elpd`: held-out log predictive density on log(-log Q) (higher is better); "
            "`mae`, `mre`, `r2`: error of the posterior median in raw accuracy (the paper's metrics); "
            "`coverage_P`: share of held-out runs inside the P% predictive interval. Rows `paper` are the paper's "
            "point-estimate method on the same split."
        )
    return extrapolation


def _scores_section(evaluation: EvaluationResult, parts: _Collector) -> Section:
    scores = Section("Scores per benchmark", 3)
    parts.table(scores, "scores", evaluation.scores, "Extrapolation scores per form, benchmark, cut-off and method.")
    return scores


def _pooled_section(evaluation: EvaluationResult, parts: _Collector) -> Section:
    pooled = Section("Pooled over benchmarks", 3)
    parts.table(pooled, "pooled", evaluation.summary, "Mean of mae, mre, r2 and coverage over benchmarks; elpd summed.")
    return pooled


def _duel_section(fitted: ReportFits, parts: _Collector, tag: str) -> Section:
    """Direct against two-stage: the posterior of their difference in held-out error, or why there is none."""
    from bayes_scaling.plotting import plot_forest

    section = Section("Direct against two-stage", 3)
    duel = fitted.evaluation.direct_vs_two_stage
    if not len(duel):
        section.text(
            f"The spec's forms ({', '.join(fitted.forms)}) do not include both a direct and a two-stage form, so the "
            "two routes are not compared. Below: the held-out error of each fit."
        )
        return section
    section.text(
        "Posterior of d = MAE(direct) - MAE(two-stage) on the held-out runs both routes predict, from "
        "draws of the two mean curves (negative: the direct law is closer). The row `all` pools every "
        "benchmark's runs."
    )
    parts.table(section, "direct_vs_two_stage", duel,
                f"Direct minus two-stage mean absolute error: median and {tag}% interval.")
    many = duel["cutoff"].nunique() > 1
    parts.figure(section, "forest_direct_vs_two_stage", partial(
        plot_forest, duel, median="difference_median", lower=f"difference_lower_{tag}",
        upper=f"difference_upper_{tag}", group="cutoff" if many else None,
        annotate=None if many else "p_direct_closer", annotate_title="P(direct closer)",
        xlabel="MAE(direct) - MAE(two-stage) on held-out runs (accuracy)", reference=0.0,
        sides=("direct closer", "two-stage closer"),
        title=f"{duel['direct'].iloc[0]} minus {duel['two_stage'].iloc[0]}",
    ), f"Forest plot: per benchmark, the posterior median (dot) and {tag}% interval (bar) of the "
       "difference in held-out mean absolute error; dashed line: no difference.")
    return section


def _held_out_error_section(fitted: ReportFits, parts: _Collector, prob: float) -> Section:
    """The posterior of each fit's held-out error, where direct and two-stage are not compared."""
    from bayes_scaling.plotting import plot_forest

    tag = f"{100 * prob:g}"
    section = Section("Held-out error", 3)
    errors = held_out_error({(form, b): fit for form, by_benchmark in fitted.at_band.items()
                             for b, fit in by_benchmark.items()}, prob=prob)
    if errors.empty:
        section.text("No run lies beyond the cut-off: there is nothing to score.")
        return section
    section.text(
        "Per benchmark, the posterior of the mean absolute error of the mean curve on the held-out runs "
        f"(over posterior draws): median and {tag}% interval. `mae_of_median` is the error of the "
        "posterior median, as in the scores."
    )
    parts.table(section, "held_out_error", errors,
                f"Held-out mean absolute error, median and {tag}% interval over posterior draws.")
    several = errors["form"].nunique() > 1
    parts.figure(section, "forest_held_out_error", partial(
        plot_forest, errors, median="mae_median", lower=f"mae_lower_{tag}", upper=f"mae_upper_{tag}",
        group="form" if several else None, reference=0.0,
        xlabel="mean absolute error on held-out runs (accuracy)",
        title=None if several else f"{errors['form'].iloc[0]}: held-out error",
    ), f"Forest plot: per benchmark, the posterior median (dot) and {tag}% interval (bar) of the mean "
       "absolute error on the runs beyond the cut-off.")
    return section


def _held_out_pit_section(spec: Spec, fitted: ReportFits, parts: _Collector) -> Section:
    """Whether the held-out runs look like draws from each form's predictive distribution: their PIT values."""
    from arviz_base import rcParams

    from bayes_scaling.plotting import plot_held_out_pit

    section = Section("Held-out runs under the predictive distribution (PIT)", 3)
    # The predictive distribution of the report's intervals: with the form-error term unless the spec turns it off.
    pits = held_out_pits({(form, b): fit for form, by_benchmark in fitted.at_band.items()
                          for b, fit in by_benchmark.items()}, form_error=None if spec.form_error else False)
    if pits.empty:
        section.text("No run lies beyond the cut-off: there is nothing to check.")
        return section
    section.text(
        "The PIT value of a held-out run is the share of its posterior-predictive draws (the draws of the "
        "predictive intervals above) below its observed accuracy. If the predictive distributions are right, PIT "
        "values are uniform: 5% below 0.05 and 5% above 0.95 (`below_5`, `above_95`), mean 0.5. Too narrow "
        "intervals pile them near 0 and 1; predictions that are too high put them low. `p_value`: ArviZ's "
        "uniformity test (pot_c). The runs of one benchmark share its parameter error, so their PIT values are "
        "not independent: read the test and the band as warnings, not verdicts."
    )
    parts.table(section, "held_out_pit", pit_summary(pits),
                "PIT values of the held-out runs per form and benchmark (`all`: pooled over benchmarks).")
    by_form = {form: group["pit"] for form, group in pits.groupby("form", sort=False)}
    cut = f"runs above {fitted.band_cutoff:.3g} FLOPs" if fitted.band_cutoff else "held-out runs"
    parts.figure(section, "held_out_pit", partial(plot_held_out_pit, by_form, title=f"PIT of the {cut}"),
                 "ECDF-PIT per form, pooled over benchmarks: the ECDF of the held-out runs' PIT values minus the "
                 f"uniform CDF (zero when calibrated), inside ArviZ's {100 * rcParams['stats.envelope_prob']:g}% "
                 "simultaneous band for independent uniform values; a hump above zero means runs below their "
                 "predictions, an S shape intervals too narrow.")
    return section


def _loo_section(fitted: ReportFits, parts: _Collector) -> Section:
    from bayes_scaling.plotting import plot_held_out_pit

    section = Section("Interpolation: PSIS-LOO")
    forms = fitted.loo_forms
    if len(forms) >= 2:
        section.text(
            f"The direct forms compared by PSIS-LOO on the runs each was fitted on (up to {fitted.band_cutoff:.3g} "
            "FLOPs), best first per benchmark: `elpd` on log(-log Q) with its standard error, the difference from "
            "the best (`elpd_diff`, `dse`), stacking `weight`; runs with Pareto k above 0.7 are refitted exactly "
            "(`n_refits`). The fits are those plotted above." if fitted.band_cutoff else
            "The direct forms compared by PSIS-LOO, best first per benchmark.")
        if fitted.loo is not None:
            parts.table(section, "loo", fitted.loo, "PSIS-LOO comparison per benchmark.")
        if fitted.loo_failed:
            section.items(list(fitted.loo_failed))
        pits = {form: np.concatenate([loo_pit(fit) for fit in fitted.at_band[form].values()]) for form in forms}
        parts.figure(section, "loo_pit", partial(plot_held_out_pit, pits, title="LOO-PIT of the fitted runs"),
                     "LOO-PIT of every fitted run (ArviZ's PSIS weights; all benchmarks of a form pooled): the "
                     "ECDF minus the uniform CDF inside the simultaneous band for uniform values. Piled at the "
                     "ends, the intervals are too narrow inside the data; near the middle, too wide.")
    else:
        section.text(
            f"PSIS-LOO compares two or more direct forms fitted to the same runs; this spec lists "
            f"{len(forms)} ({', '.join(forms) or 'none'}), so there is no LOO comparison."
            + (" Two-stage forms condition accuracy on each run's loss, so their LOO is not comparable with a "
               "direct law's; they are compared by extrapolation above." if fitted.two_stage else "")
        )
    section.text(f"Note: {INTERPOLATION_NOTE}.")
    return section


def _pass_at_k_section(title: str, form: str, by_benchmark: dict, parts: _Collector, prob) -> Section:
    from bayes_scaling.plotting import plot_compute_vs_k, plot_pass_at_k

    widest = max(prob)
    section = Section(title)
    section.text(
        "Pass@k against the number of samples k at fixed training compute (the compute of some of the "
        "benchmark's runs; the largest are extrapolations), and the trade-off between training compute and "
        "samples: for each pass@k level, the compute needed to reach it at each k."
    )
    parts.figure(section, f"pass_at_k_{form}", partial(plot_pass_at_k, by_benchmark, prob=prob),
                 f"`{form}`: pass@k against k at fixed compute; lines: posterior median; shaded: "
                 f"{_levels(prob)} intervals of the mean curve; markers: "
                 "runs at that compute (filled fitted, open held out).")
    parts.figure(section, f"compute_vs_k_{form}", partial(plot_compute_vs_k, by_benchmark, prob=widest),
                 f"`{form}`: iso-pass@k contours of training compute against samples per problem k; lines: "
                 f"posterior median of the compute needed; bands: {100 * widest:g}% intervals; grey: beyond the "
                 "largest fitted run.")
    return section


def _pass_at_k_sections(fitted: ReportFits, parts: _Collector, prob) -> list[Section]:
    """One section per form whose law takes k, titled by the form only when there are several."""
    k_forms = {form: by_benchmark for form, by_benchmark in fitted.at_band.items() if "k" in get_law(form).inputs}
    return [_pass_at_k_section("pass@k" if len(k_forms) == 1 else f"pass@k: {form}", form, by_benchmark, parts, prob)
            for form, by_benchmark in k_forms.items()]


def _interval_calibration_section(spec: Spec, parts: _Collector) -> Section:
    """What the predictive intervals include, and their coverage measured on held-out runs of public ladders."""
    from bayes_scaling.backtest import shipped_backtest
    from bayes_scaling.pipeline import interval_note
    from bayes_scaling.plotting import plot_reliability

    section = Section("How far to trust the intervals")
    section.text(f"Predictive intervals of this report include {interval_note(spec)}.")
    summary, reliability = shipped_backtest()
    section.text(
        "Coverage of those intervals on runs beyond the fitted range, measured by `bayes-scaling backtest` on the "
        "bundled ladders (rolling cut-offs, every larger run scored). `form_error_ladder`: the form-error prior "
        "learned without the data set scored (leave one data set out), updated by each ladder's own backtests, as "
        "`bayes-scaling fit` does; `form_error`: that prior alone; `form_error_all`: the prior learned on every data "
        "set, the one the package ships (in-sample); `parametric`: the law's parameters and noise alone; "
        "`bootstrap`: the paper's point fit with a residual bootstrap; `conformal`: split-conformal intervals "
        "growing with distance. `coverage_90_low`/`_high`: 95% bootstrap interval over (benchmark, ladder) pairs.")
    columns = ["method", "dataset", "n_runs", "n_pairs", "coverage_50", "coverage_90", "coverage_90_low",
               "coverage_90_high", "width_90", "interval_score_90", "crps", "median_mre"]
    parts.table(section, "interval_coverage", summary[[c for c in columns if c in summary]],
                "Leave-future-out scores of the predictive intervals per method and data set (`all`: pooled).")
    parts.figure(section, "reliability", partial(plot_reliability, reliability),
                 "Reliability: share of held-out runs inside central predictive intervals against their nominal "
                 "level.")
    return section


def _diagnostics_section(fitted: ReportFits, parts: _Collector) -> Section:
    section = Section("Sampling diagnostics")
    section.text("Every fit of the report, with the thresholds it is checked against; a value that fails its "
                 f"threshold is highlighted and marked {PROBLEM_MARK}.")
    section.items([
        (f"R-hat <= {RHAT_MAX}: chains that agree (rank-normalised split R-hat, Vehtari et al. 2021); above it the "
         "chains have not mixed and the posterior is not trustworthy."),
        (f"bulk and tail ESS >= {ESS_MIN}: enough effective draws (100 per chain for four chains) for stable medians "
         "and interval ends."),
        ("no divergent transitions: a divergence means NUTS could not follow the posterior's curvature, and draws "
         "may miss part of it."),
        (f"E-BFMI >= {BFMI_MIN}: the momentum resampling explores the energy distribution; lower values mean heavy "
         "tails the sampler crosses slowly."),
        (f"Pareto k <= {PARETO_K_MAX} (where LOO was computed): the PSIS estimate of a run's leave-one-out density is "
         "reliable; runs above were refitted exactly."),
    ])
    table, flags = diagnostics_table(fitted.fits, fitted.pareto_k)
    parts.table(section, "diagnostics", table, "Diagnostics per fit (retried: refitted once with a longer "
                "warm-up after failing a check).", flags)
    return section


def _provenance_section(spec: Spec, table: pd.DataFrame, supplied: bool) -> Section:
    section = Section("Provenance")
    section.text(
        f"Data set `{spec.dataset or spec.path}`"
        + (" (a table supplied in Python, not loaded from the spec)" if supplied else "")
        + f"; table of {len(table)} rows, SHA-256 fingerprint `{_fingerprint(table)[:16]}`. Seed {spec.seed}. "
        f"Generated {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}."
    )
    return section


def _spec_section(spec_text: str) -> Section:
    section = Section("Spec", 3)
    section.text("The exact spec, with every default written out (also in `spec.toml` beside this report):")
    section.code(spec_text, "toml")
    return section


def _software_section(parts: _Collector) -> Section:
    section = Section("Software", 3)
    parts.table(section, "versions", package_versions(), "Package versions.")
    return section


def _regenerate_section(out: Path, supplied: bool) -> Section:
    section = Section("Regenerate", 3)
    section.text("In the folder the report was built from (the paths are relative to it):" if not supplied else
                 "The table was supplied in Python; with the spec's own data, this command regenerates it:")
    section.code(f"bayes-scaling report {(out / 'spec.toml').as_posix()} --out {out.as_posix()}", "bash")
    return section


# ------------------------------------------------------------------- the report


def build_report(
    spec: Spec,
    out_dir: str | Path,
    *,
    table: pd.DataFrame | None = None,
    prob=PROBS,
) -> ReportResult:
    """Fit the spec once and write its report folder (HTML, Markdown, figures, tables, spec).

    Parameters
    ----------
    spec : Spec
        The analysis. Its forms are ``evaluate.forms`` (or ``law.form``); its
        cut-offs ``evaluate.cutoffs`` (or ``holdout.max_compute``). The band
        plots, LOO and pass@k figures use the fits at ``holdout.max_compute``
        (or the largest cut-off).
    out_dir : path
        The report folder (created; files in it are overwritten); progress goes to
        the ``bayes_scaling`` logger.
    table : pandas.DataFrame, optional
        Use this table instead of loading the spec's data.
    prob : sequence of float
        Interval probabilities of the bands and scores (the widest is the
        interval of the forest plots).

    Returns
    -------
    ReportResult
    """
    from bayes_scaling.pipeline import load_table

    out = Path(out_dir)
    parts = _Collector(out / "figures")
    for folder in (out, parts.figures_dir, out / "tables"):
        folder.mkdir(parents=True, exist_ok=True)
    supplied = table is not None
    table = load_table(spec) if table is None else table
    fitted = fit_for_report(spec, table, prob=prob)
    spec_text = spec_to_toml(spec)
    widest = max(prob)
    tag = f"{100 * widest:g}"

    sections = [_overview_section(spec, fitted, tag), _bands_section(fitted, parts, prob),
                _extrapolation_section(fitted)]
    if fitted.evaluation is not None:
        sections += [_scores_section(fitted.evaluation, parts), _pooled_section(fitted.evaluation, parts),
                     _duel_section(fitted, parts, tag)]
        if not len(fitted.evaluation.direct_vs_two_stage):
            sections.append(_held_out_error_section(fitted, parts, widest))
        sections.append(_held_out_pit_section(spec, fitted, parts))
    sections += [_loo_section(fitted, parts), *_pass_at_k_sections(fitted, parts, prob),
                 _interval_calibration_section(spec, parts), _diagnostics_section(fitted, parts),
                 _provenance_section(spec, table, supplied), _spec_section(spec_text), _software_section(parts),
                 _regenerate_section(out, supplied)]
    return _write_report(out, f"Bayesian scaling-law report: {spec.name}", sections, parts, spec_text, fitted)


def _write_report(out: Path, title: str, sections: list[Section], parts: _Collector, spec_text: str,
                  fitted: ReportFits) -> ReportResult:
    """Render the sections, write them with the spec and the tables, and say what was written."""
    spec_file = out / "spec.toml"
    spec_file.write_text(spec_text)
    html_path, md_path = out / "report.html", out / "report.md"
    html_path.write_text(render_html(title, sections), encoding="utf-8")
    md_path.write_text(render_markdown(title, sections, out), encoding="utf-8")
    files = [html_path, md_path, spec_file]
    for name, frame in parts.tables.items():
        path = out / "tables" / f"{name}.csv"
        frame.to_csv(path, index=False)
        files.append(path)
    files += [path for paths in parts.figures.values() for path in paths]
    _say(f"wrote {html_path} and {md_path}")
    return ReportResult(out_dir=out, html=html_path, markdown=md_path, spec_file=spec_file, figures=parts.figures,
                        tables=parts.tables, fits=fitted.fits, sections=[s.title for s in sections], files=files)
