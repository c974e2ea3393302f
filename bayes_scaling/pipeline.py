"""Running a spec: fit every benchmark, predict the held-out runs, write the outputs.

Used by the CLI's ``fit`` and ``demo`` commands, and usable from Python.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from bayes_scaling.datasets import load_dataset, read_table
from bayes_scaling.backtest import ladder_form_error, ladder_splits
from bayes_scaling.diagnostics import diagnose
from bayes_scaling.errors import DataError, SpecError
from bayes_scaling.form_error import FormErrorPrior
from bayes_scaling.inference import fit_many, prepare, read_attrs
from bayes_scaling.plotting import plot_bands, save_figure
from bayes_scaling.predict import PROBS, predict_held_out
from bayes_scaling.laws import get_law
from bayes_scaling.fits import ceiling_draws, max_accuracy
from bayes_scaling.saving import save_fit, spec_json
from bayes_scaling.specs import Spec

logger = logging.getLogger(__name__)

#: The demo: the direct law on every multiple-choice benchmark of the DCLM
#: mixture at TPR 20, fitted on runs up to 1e21 FLOPs, predicting the larger ones.
#: ``models/dclm_power_law.toml`` is the same spec as a file.
DEMO_SPEC = Spec(
    name="dclm_power_law",
    dataset="krajewski2025_dclm",
    benchmarks=("arc_challenge", "arc_easy", "hellaswag", "piqa", "sciq", "winogrande", "mmlu"),
    metric="acc",
    tpr=20,
    max_compute=1e21,
    form="power_law",
)


@dataclass
class AnalysisResult:
    """Everything one spec produced.

    Attributes
    ----------
    fits : dict
        Benchmark -> DataTree of its fit.
    skipped : dict
        Benchmark -> the reason it could not be fitted (e.g. too few points).
    held_out : pandas.DataFrame
        One row per held-out run: prediction, interval, inside or not.
    summary : pandas.DataFrame
        One row per fitted benchmark: point counts, diagnostics, coverage.
    files : list of Path
        Everything written to the output folder.
    """

    spec: Spec
    fits: dict = field(default_factory=dict)
    skipped: dict = field(default_factory=dict)
    held_out: pd.DataFrame = field(default_factory=pd.DataFrame)
    summary: pd.DataFrame = field(default_factory=pd.DataFrame)
    files: list = field(default_factory=list)


def load_table(spec: Spec) -> pd.DataFrame:
    """The spec's table: a bundled data set, several joined by commas, or a CSV file."""
    if spec.dataset is not None:
        names = [name.strip() for name in spec.dataset.split(",") if name.strip()]
        tables = [load_dataset(name) for name in names]
        if len(tables) == 1:
            return tables[0]
        # Run ids are only unique within a data set.
        return pd.concat(
            [table.assign(run_id=name + "/" + table["run_id"]) for name, table in zip(names, tables)],
            ignore_index=True,
        )
    return read_table(spec.path, columns=spec.columns, chance=spec.chance)


def run_spec(
    spec: Spec,
    out_dir: str | Path | None = None,
    *,
    table: pd.DataFrame | None = None,
    prob=PROBS,
) -> AnalysisResult:
    """Fit the spec's law to each of its benchmarks and score the held-out runs.

    Parameters
    ----------
    spec : Spec
        What to fit.
    out_dir : path, optional
        If given: ``fits/<benchmark>.nc``, ``plots/<benchmark>.png|pdf``,
        ``held_out.csv`` and ``summary.csv`` are written there.
    table : pandas.DataFrame, optional
        Use this table instead of loading the spec's data.
    prob : sequence of float
        Interval probabilities for the held-out table.

    Progress and diagnostics go to the ``bayes_scaling`` logger (:mod:`bayes_scaling.logs`).
    """
    table = load_table(spec) if table is None else table
    priors = spec.prior_distributions()
    law = get_law(spec.form)
    result = AnalysisResult(spec=spec)
    out = Path(out_dir) if out_dir is not None else None
    rows, held_tables = [], []
    selected = {}
    for benchmark in spec.benchmarks:
        try:
            data = law.select_data(
                table, benchmark, spec.metric, group=spec.group, tpr=spec.tpr, k=spec.k,
                max_compute=spec.max_compute, chance_margin=spec.chance_margin,
                dataset=spec.dataset or spec.path, loss_benchmark=spec.loss_benchmark,
            )
            selected[benchmark] = prepare(data, spec.form)[0]
        except DataError as err:
            # A benchmark without enough usable points is reported, not fatal:
            # the others can still be fitted.
            result.skipped[benchmark] = str(err)
            logger.warning("skipped %s: %s", benchmark, err)
    if selected:
        # A direct law's form error is the shipped prior updated by each ladder's own
        # backtests (its smaller fitted runs predicting its larger ones): those fits
        # join the same batch.
        inner = {b: ladder_splits(d) if spec.form_error and law.kind == "direct" else [] for b, d in selected.items()}
        datasets = [*selected.values(), *[split for splits in inner.values() for split in splits]]
        # Every benchmark of the spec in one compiled program (bayes_scaling.engine).
        fits = fit_many(datasets, spec.form, priors, spec.sampler_settings())
        result.fits = dict(zip(selected, fits))
        inner_fits = iter(fits[len(selected):])
        for benchmark, splits in inner.items():
            if splits:
                updated = ladder_form_error(FormErrorPrior.default(), [next(inner_fits) for _ in splits])
                result.fits[benchmark].attrs["form_error"] = json.dumps(updated.to_dict())
    for benchmark, idata in result.fits.items():
        diagnostics = diagnose(idata)
        # None: the form-error term where the law has one (direct laws); False: the parameters alone.
        form_error = None if spec.form_error else False
        held = predict_held_out(idata, prob=prob, seed=spec.seed, form_error=form_error)
        widest = f"{100 * max(prob):g}"
        if len(held):
            held_tables.append(held.assign(benchmark=benchmark))
        rows.append(
            {
                "benchmark": benchmark,
                "n_fitted": idata["observed_data"].sizes["point"],
                "n_held_out": len(held),
                "excluded": ", ".join(
                    f"{n} {reason.replace('_', ' ')}" for reason, n in read_attrs(idata, "excluded").items()
                ) or "none",
                # Refused predictions (an emerging benchmark on too few runs) are counted apart.
                f"coverage_{widest}": _answered(held)[f"inside_{widest}"].mean() if len(held) else float("nan"),
                "n_refused": int((held["refused"] != "").sum()) if len(held) else 0,
                "max_rhat": diagnostics.max_rhat,
                "min_ess_bulk": diagnostics.min_ess_bulk,
                "min_ess_tail": diagnostics.min_ess_tail,
                "n_divergent": diagnostics.n_divergent,
                "retried": "retry" in idata.attrs,
                "retry_declined": idata.attrs.get("retry_declined", ""),
                "warnings": "; ".join(diagnostics.problems()),
            }
        )
        if ceiling_draws(idata) is not None:
            # Laws with a floor imply a ceiling on accuracy; it is reported with its interval.
            ceiling = max_accuracy(idata, prob=max(prob)).loc["max_accuracy"]
            rows[-1].update({f"max_accuracy_{key}": value for key, value in ceiling.items()})
        idata.attrs["spec"] = spec_json(spec)
        if out is not None:
            result.files += save_figure(plot_bands(idata, prob=prob, form_error=form_error), out / "plots" / benchmark)
            result.files.append(save_fit(idata, out / "fits" / f"{benchmark}.nc"))
    result.summary = pd.DataFrame(rows)
    if held_tables:
        held = pd.concat(held_tables, ignore_index=True)
        result.held_out = held[["benchmark", *[c for c in held.columns if c != "benchmark"]]]
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        for name, frame in (("held_out.csv", result.held_out), ("summary.csv", result.summary)):
            frame.to_csv(out / name, index=False)
            result.files.append(out / name)
    return result


def format_held_out(result: AnalysisResult, prob: float = 0.9) -> str:
    """The held-out table as text: benchmark, compute, observed, median, interval, inside."""
    tag = f"{100 * prob:g}"
    if result.held_out.empty:
        return "no held-out runs"
    held = result.held_out
    lines = [f"{'benchmark':<14} {'compute':>9} {'observed':>8} {'median':>7} {tag + '% interval':>17} inside"]
    for row in held.itertuples(index=False):
        row = row._asdict()
        start = f"{row['benchmark']:<14} {row['compute']:9.2e} {row['observed']:8.3f}"
        if row.get("refused"):
            lines.append(f"{start}  refused (too few runs above chance)")
            continue
        lines.append(
            f"{start} {row['median']:7.3f} "
            f"[{row[f'predictive_lower_{tag}']:.3f}, {row[f'predictive_upper_{tag}']:.3f}]  "
            f"{'yes' if row[f'inside_{tag}'] else 'no'}"
        )
    return "\n".join(lines)


def _share(value: float) -> str:
    return "refused" if value != value else f"{value:.0%}"  # NaN: every held-out run refused


def _answered(held: pd.DataFrame) -> pd.DataFrame:
    """Held-out rows with a prediction (not refused)."""
    return held[held["refused"] == ""] if "refused" in held else held


def interval_note(spec: Spec) -> str:
    """What a spec's predictive intervals include, in one line."""
    from bayes_scaling.form_error import resolve

    prior = resolve(None if spec.form_error else False, get_law(spec.form))
    if prior is None:
        return "the law's parameters and run-to-run noise only (no form-error term)"
    note = (f"the law's parameters, run-to-run noise and its {prior.describe()}, updated per benchmark by the "
            "ladder's own backtests where it has 8 or more fitted runs; "
            "coverage measured leave-one-data-set-out by `bayes-scaling backtest` (README, Honest extrapolation)")
    learned_on = set(prior.provenance.get("learned_on", ()))
    used = {name.strip() for name in (spec.dataset or "").split(",")}
    if used & learned_on:
        note += (f". {', '.join(sorted(used & learned_on))} is among the ladders that prior was learned on, so the "
                 "coverage printed here is in-sample")
    return note


def format_summary(result: AnalysisResult, prob: float = 0.9) -> str:
    """Per benchmark: points, coverage of held-out runs, diagnostics; and skipped ones."""
    tag = f"{100 * prob:g}"
    lines = [
        f"{'benchmark':<14} {'fitted':>6} {'held out':>8} {'inside ' + tag + '%':>10} "
        f"{'R-hat':>6} {'ESS bulk':>8} {'ESS tail':>8} {'diverg.':>7}  excluded"
    ]
    for row in result.summary.to_dict("records"):
        lines.append(
            f"{row['benchmark']:<14} {row['n_fitted']:>6} {row['n_held_out']:>8} "
            f"{_share(row[f'coverage_{tag}']):>10} {row['max_rhat']:>6.3f} {row['min_ess_bulk']:>8.0f} "
            f"{row['min_ess_tail']:>8.0f} {row['n_divergent']:>7}  {row['excluded']}"
        )
    if f"max_accuracy_lower_{tag}" in result.summary:
        ceilings = result.summary.dropna(subset=[f"max_accuracy_lower_{tag}"])
        lines.append(f"implied maximum accuracy (median, {tag}% interval): " + "; ".join(
            f"{row['benchmark']} {row['max_accuracy_median']:.3f} [{row[f'max_accuracy_lower_{tag}']:.3f}, "
            f"{row[f'max_accuracy_upper_{tag}']:.3f}]" for row in ceilings.to_dict("records")
        ))
    if not result.held_out.empty:
        inside = _answered(result.held_out)[f"inside_{tag}"]
        refused = result.held_out[result.held_out["refused"] != ""]
        lines.append(
            f"all benchmarks: {int(inside.sum())} of {len(inside)} held-out runs inside their {tag}% "
            f"predictive interval ({inside.mean():.0%})"
            + (f"; {len(refused)} run(s) of {', '.join(refused['benchmark'].unique())} not predicted: "
               + "; ".join(refused.drop_duplicates("benchmark")["refused"]) if len(refused) else "")
        )
        lines.append(f"intervals: {interval_note(result.spec)}")
    for row in result.summary.to_dict("records"):
        retried = " after a retry with a longer warm-up and more draws" if row.get("retried") else ""
        if row.get("retry_declined"):
            retried = " (not retried: more sampling cannot add runs above chance)"
        if row.get("warnings"):
            lines.append(f"WARNING {row['benchmark']}: sampling checks failed{retried}: {row['warnings']}")
        elif retried:
            lines.append(f"note {row['benchmark']}: passed the sampling checks{retried}")
    for benchmark, reason in result.skipped.items():
        lines.append(f"skipped {benchmark}: {reason}")
    return "\n".join(lines)


# ------------------------------------------------------------------ comparisons


@dataclass
class EvaluationResult:
    """What :func:`run_evaluation` produced: the tidy tables and the fits behind them."""

    scores: pd.DataFrame
    summary: pd.DataFrame
    direct_vs_two_stage: pd.DataFrame
    fits: dict
    files: list = field(default_factory=list)


def run_evaluation(
    spec: Spec, out_dir=None, *, table=None, paper_method: bool = True
) -> EvaluationResult:
    """Score extrapolation of the spec's forms at its cut-offs; direct against two-stage where both are present.

    Fits every form of ``spec.evaluated_forms`` to every benchmark and cut-off
    (:func:`bayes_scaling.evaluate.evaluate`, with the paper method beside),
    then, per cut-off, compares the first direct form with the first two-stage
    form (:func:`bayes_scaling.evaluate.direct_vs_two_stage`). With
    ``out_dir``, writes ``scores.csv``, ``summary.csv`` and
    ``direct_vs_two_stage.csv`` there.
    """
    from bayes_scaling.evaluate import direct_vs_two_stage, evaluate, summarise

    table = load_table(spec) if table is None else table
    fits: dict = {}
    scores = evaluate(
        table, spec.benchmarks, spec.evaluated_forms, spec.evaluated_cutoffs, metric=spec.metric,
        select_options=spec.select_options(), priors=spec.prior_distributions(), paper_method=paper_method,
        fits_out=fits, settings=spec.sampler_settings(),
    )
    two_stage = [form for form in spec.evaluated_forms if get_law(form).kind == "two_stage"]
    direct = [form for form in spec.evaluated_forms if get_law(form).kind == "direct"]
    comparisons = []
    if two_stage and direct:
        for cutoff in spec.evaluated_cutoffs:
            pick = {form: {b: fit for (f, b, c), fit in fits.items() if f == form and c == cutoff}
                    for form in (direct[0], two_stage[0])}
            frame = direct_vs_two_stage(pick[direct[0]], pick[two_stage[0]])
            if len(frame):
                comparisons.append(frame.assign(direct=direct[0], two_stage=two_stage[0], cutoff=cutoff))
    result = EvaluationResult(
        scores=scores, summary=summarise(scores),
        direct_vs_two_stage=pd.concat(comparisons, ignore_index=True) if comparisons else pd.DataFrame(),
        fits=fits,
    )
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        for name in ("scores", "summary", "direct_vs_two_stage"):
            path = out / f"{name}.csv"
            getattr(result, name).to_csv(path, index=False)
            result.files.append(path)
    return result


def run_comparison(spec: Spec, *, table=None) -> dict[str, pd.DataFrame]:
    """PSIS-LOO comparison of the spec's forms, per benchmark (:func:`bayes_scaling.loo.compare_forms`).

    Returns benchmark -> comparison table. Each form's fits of all benchmarks
    run in one compiled program; the exact refits of runs with high Pareto k
    in another.
    """
    from bayes_scaling.loo import compare_forms

    forms = spec.evaluated_forms
    if len(forms) < 2:
        raise SpecError(f"spec {spec.name!r}: compare needs at least two forms (evaluate.forms or --forms)")
    kinds = {get_law(form).kind for form in forms}
    if len(kinds) > 1:
        raise SpecError(
            "option forms: two-stage forms condition accuracy on each run's loss, so their LOO is not comparable "
            "with direct forms; compare those by `evaluate`"
        )
    table = load_table(spec) if table is None else table
    selected: dict[str, dict] = {form: {} for form in forms}
    for benchmark in spec.benchmarks:
        try:
            for form in forms:
                law = get_law(form)
                data = law.select_data(table, benchmark, spec.metric, max_compute=spec.max_compute,
                                       **law.selection_options(spec.select_options()))
                selected[form][benchmark] = prepare(data, law)[0]
        except DataError as err:
            # Reported, not fatal: the other benchmarks can still be compared.
            for form in forms:
                selected[form].pop(benchmark, None)
            logger.warning("skipped %s: %s", benchmark, err)
    benchmarks = list(selected[forms[0]])
    if not benchmarks:
        raise DataError("no benchmark could be fitted by every form")
    fits = {
        form: dict(zip(benchmarks, fit_many([selected[form][b] for b in benchmarks], form,
                                            spec.prior_distributions(), spec.sampler_settings())))
        for form in forms
    }
    return {
        benchmark: compare_forms({form: fits[form][benchmark] for form in forms}, priors=spec.prior_distributions())
        for benchmark in benchmarks
    }
