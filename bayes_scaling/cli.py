"""The ``bayes-scaling`` command line.

Bad input prints one line on standard error and exits with status 2; no
traceback is shown for it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from bayes_scaling import __version__
from bayes_scaling.errors import BayesScalingError
from bayes_scaling.logs import configure_cli

EXIT_BAD_INPUT = 2
#: Exit status of --strict when a fit fails a sampling check (R-hat, ESS, divergences, E-BFMI).
EXIT_SAMPLING = 3


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line, like every other input error."""

    def error(self, message):
        command = self.prog.removeprefix("bayes-scaling").strip()
        where = f"{command} " if command else ""
        # A stray argument may hold a line break; the error stays one line.
        message = " ".join(str(message).split())
        self.exit(EXIT_BAD_INPUT, f"bayes-scaling: error: {where}{message}\n")


def _floats(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def _pairs(text: str) -> dict[str, str]:
    out = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise argparse.ArgumentTypeError(f"expected name=value pairs separated by commas, got {item!r}")
        out[key.strip()] = value.strip()
    return out


_NO_FORM_ERROR = "intervals from the law's parameters alone, without the form-error term beyond the data"


def _add_sampler(parser):
    group = parser.add_argument_group("sampler")
    group.add_argument("--num-warmup", type=int, help="warm-up iterations per chain (default 1000)")
    group.add_argument("--num-samples", type=int, help="draws per chain (default 1000)")
    group.add_argument("--num-chains", type=int, help="chains (default 4)")
    group.add_argument("--seed", type=int, help="PRNG seed (default 0)")
    group.add_argument("--no-form-error", action="store_true", help=_NO_FORM_ERROR)
    group.add_argument("--no-retry", action="store_true",
                       help="do not refit a fit that fails a sampling check (by default: once, twice the warm-up and draws)")
    group.add_argument("--strict", action="store_true",
                       help=f"exit with status {EXIT_SAMPLING} when any fit fails a sampling check")


def _add_data(parser):
    source = parser.add_argument_group("data")
    source.add_argument("--spec", type=Path, help="analysis spec (TOML); other options override it")
    source.add_argument("--dataset", help="bundled data set (see `bayes-scaling datasets`)")
    source.add_argument("--data", type=Path, help="a CSV file in the tidy schema")
    source.add_argument("--columns", type=_pairs, help="rename columns: their=our,... ")
    source.add_argument("--chance", type=_pairs, help="chance levels: benchmark=0.25,...")
    source.add_argument("--benchmark", help="benchmark(s), comma-separated")
    source.add_argument("--metric", help="metric (default acc)")
    source.add_argument("--group", help="keep only this group (data mixture)")
    source.add_argument("--tpr", type=float, help="keep only this token-to-parameter ratio")
    source.add_argument("--max-compute", type=float, help="hold out runs above this many FLOPs")
    source.add_argument("--chance-margin", type=float, help="exclude accuracy below chance + margin (default 0.02)")
    source.add_argument("--k", type=float, help="keep only this k (pass@k; default all k)")
    source.add_argument("--loss-benchmark", help="validation loss of the two-stage forms (e.g. dclm)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="bayes-scaling", description="Bayesian scaling laws of downstream metrics.")
    parser.add_argument("--version", action="version", version=f"bayes-scaling {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    fit = commands.add_parser("fit", help="fit a law to benchmarks of a table or a spec")
    _add_data(fit)
    fit.add_argument("--form", help="law (see `bayes-scaling forms`; default power_law)")
    fit.add_argument("--out", type=Path, default=Path("bayes_scaling_output"), help="output folder")
    _add_sampler(fit)

    compare = commands.add_parser("compare", help="compare forms on the same runs by PSIS-LOO (interpolation)")
    _add_data(compare)
    compare.add_argument("--forms", help="laws, comma-separated (default: the spec's evaluate.forms)")
    compare.add_argument("--csv", type=Path, help="also write the tables here (one CSV, a benchmark column)")
    _add_sampler(compare)

    evaluate = commands.add_parser(
        "evaluate", help="score extrapolation to held-out larger runs (Bayes and the paper's method)")
    _add_data(evaluate)
    evaluate.add_argument("--forms", help="laws, comma-separated (default: the spec's evaluate.forms)")
    evaluate.add_argument("--cutoffs", type=_floats, help="compute cut-offs in FLOPs (default: the spec's)")
    evaluate.add_argument("--no-paper", action="store_true", help="skip the paper's point-fit method")
    evaluate.add_argument("--out", type=Path, help="write scores.csv, summary.csv, direct_vs_two_stage.csv here")
    _add_sampler(evaluate)

    groups = commands.add_parser("groups", help="does group A (a data mixture) beat group B, and where do they cross")
    _add_data(groups)
    groups.add_argument("--groups", required=True, help="two groups, comma-separated: A,B")
    groups.add_argument("--form", help="law (default power_law)")
    groups.add_argument("--compute", type=_floats, required=True, help="training FLOPs to compare at")
    groups.add_argument("--prob", type=float, default=0.9, help="probability that counts as 'holds' (default 0.9)")
    groups.add_argument("--csv", type=Path, help="also write the table here")
    _add_sampler(groups)

    inverse = commands.add_parser("compute-for", help="compute needed to reach a target accuracy, from a saved fit")
    inverse.add_argument("fit_file", type=Path, help="a fits/<benchmark>.nc written by `fit`")
    inverse.add_argument("--accuracy", type=_floats, required=True, help="target accuracies, comma-separated")
    inverse.add_argument("--tpr", type=float, default=20.0, help="tokens per parameter, for laws in N and D")
    inverse.add_argument("--k", type=float, default=1.0, help="samples per problem, for pass@k")
    inverse.add_argument("--prob", type=float, default=0.9, help="interval probability (default 0.9)")
    inverse.add_argument("--csv", type=Path, help="also write the table here")

    predict = commands.add_parser("predict", help="predict accuracy from a saved fit")
    predict.add_argument("fit_file", type=Path, help="a fits/<benchmark>.nc written by `fit`")
    predict.add_argument("--compute", type=_floats, help="training FLOPs, comma-separated")
    predict.add_argument("--params", type=_floats, help="parameter counts, for laws in N and D")
    predict.add_argument("--tokens", type=_floats, help="token counts, for laws in N and D")
    predict.add_argument("--k", type=_floats, help="samples per problem, for pass@k")
    predict.add_argument("--prob", type=_floats, default=[0.5, 0.9], help="interval probabilities (default 0.5,0.9)")
    predict.add_argument("--csv", type=Path, help="also write the table here")
    predict.add_argument("--no-form-error", action="store_true", help=_NO_FORM_ERROR)

    backtest = commands.add_parser(
        "backtest", help="leave-future-out coverage of predictive intervals on the bundled ladders")
    backtest.add_argument("--datasets", help="data sets of the corpus, comma-separated (default all)")
    backtest.add_argument("--benchmarks-per-dataset", type=int,
                          help="only the first n benchmarks of each data set (a small corpus)")
    backtest.add_argument("--methods", help="methods, comma-separated (default all)")
    backtest.add_argument("--out", type=Path, default=Path("bayes_scaling_output/backtest"), help="output folder")
    backtest.add_argument("--reuse-fits", action="store_true",
                          help="score the fits an earlier run wrote to --out (fits.pkl) instead of fitting again")
    backtest.add_argument("--learn", action="store_true",
                          help="write the prior learned on every data set as the package's default form-error prior")
    _add_sampler(backtest)

    design = commands.add_parser(
        "design", help="which run to train next: expected width of a target's interval after each candidate run",
        description="The sampler options set today's fits; the refits of each (candidate, simulated outcome) use "
                    "2 chains x 500 draws after 500 warm-up steps, seeded by --seed.")
    _add_data(design)
    design.add_argument("--form", help="law (default power_law)")
    target = design.add_argument_group("target and question")
    target.add_argument("--target-compute", type=float, help="the target's training FLOPs")
    target.add_argument("--target-params", type=float, help="the target's parameters (with --target-tokens)")
    target.add_argument("--target-tokens", type=float, help="the target's training tokens")
    target.add_argument("--target-k", type=float, help="the target's samples per problem (pass@k)")
    target.add_argument("--threshold", type=float, help="the question: will the target's accuracy exceed this?")
    target.add_argument("--confidence", type=float, default=0.9,
                        help="probability at which the answer is yes (or no, at 1 - it; default 0.9)")
    target.add_argument("--prob", type=float, default=0.9, help="the target interval's probability (default 0.9)")
    choices = design.add_argument_group("candidates")
    choices.add_argument("--candidates", type=Path,
                         help="CSV of candidate runs: params,tokens (or flops) per row, k for pass@k, optional label "
                              "(default: a grid from the ladder's median run to half the target's compute)")
    choices.add_argument("--budget", type=float,
                         help="most FLOPs (samples per problem for pass@k) to spend; pairs are designed when two fit")
    choices.add_argument("--no-pairs", action="store_true", help="design single runs only")
    choices.add_argument("--n-outcomes", type=int, default=16, help="simulated outcomes per candidate (default 16)")
    design.add_argument("--out", type=Path, help="write design.csv, current.csv and design.png|pdf here")
    _add_sampler(design)

    demo = commands.add_parser("demo", help="the direct law on the bundled DCLM ladder, end to end")
    demo.add_argument("--out", type=Path, default=Path("bayes_scaling_output/demo"), help="output folder")
    _add_sampler(demo)

    prior = commands.add_parser("prior", help="plot the curves a form's default priors allow (prior predictive)")
    prior.add_argument("form", help="law (see `bayes-scaling forms`)")
    prior.add_argument("--chance", type=float, default=0.25, help="chance level of the benchmark (default 0.25)")
    prior.add_argument("--out", type=Path, default=Path("prior_predictive"), help="figure path without suffix")
    prior.add_argument("--seed", type=int, default=0, help="PRNG seed (default 0)")

    report = commands.add_parser("report", help="fit a spec and write an HTML and Markdown report with its figures")
    report.add_argument("spec", type=Path, help="analysis spec (TOML)")
    report.add_argument("--out", type=Path, help="report folder (default bayes_scaling_output/<spec name>_report)")
    _add_sampler(report)

    commands.add_parser("datasets", help="list the bundled data sets")
    commands.add_parser("forms", help="list the scaling laws with their formulas")
    for command in commands.choices.values():
        command.add_argument("--json", action="store_true",
                             help="print one JSON document (every table as a list of records) instead of text")
        talk = command.add_mutually_exclusive_group()
        talk.add_argument("-q", "--quiet", action="store_true", help="only warnings on stderr (no progress)")
        talk.add_argument("-v", "--verbose", action="store_true", help="details on stderr too (every fit's lines)")
    return parser


class _Output:
    """Where a command's lines and tables go: text on standard output, or with --json one JSON document.

    The document is ``{"command": ..., "tables": {name: [record, ...]}, "notes": [line, ...]}``;
    NaN and infinities become null, as pandas writes them.
    """

    def __init__(self, command: str, as_json: bool):
        self.command, self.as_json = command, as_json
        self.tables: dict = {}
        self.notes: list[str] = []

    def line(self, text: str = "") -> None:
        if not self.as_json:
            print(text)
        elif text.strip():
            self.notes.append(text.strip())

    def table(self, name: str, frame, csv=None) -> None:
        if self.as_json:
            self.tables[name] = json.loads(frame.to_json(orient="records", double_precision=15))
        else:
            print(frame.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
        if csv is not None:
            frame.to_csv(csv, index=False)

    def finish(self) -> None:
        if self.as_json:
            print(json.dumps({"command": self.command, "tables": self.tables, "notes": self.notes}))


def _compare(args, out: _Output) -> int:
    import pandas as pd

    from bayes_scaling.loo import INTERPOLATION_NOTE
    from bayes_scaling.pipeline import run_comparison

    tables = run_comparison(_spec_from_args(args))
    for benchmark, table in tables.items():
        out.line(f"{benchmark}: PSIS-LOO, best first (elpd on log(-log Q); runs with high Pareto k refitted exactly)")
        out.table(benchmark, table)
        out.line()
    out.line(f"note: {INTERPOLATION_NOTE}")
    if args.csv:
        pd.concat([t.assign(benchmark=b) for b, t in tables.items()], ignore_index=True).to_csv(args.csv, index=False)
    return 0


def _evaluate(args, out: _Output) -> int:
    from bayes_scaling.pipeline import run_evaluation

    result = run_evaluation(_spec_from_args(args), args.out, paper_method=not args.no_paper)
    out.line("extrapolation to held-out runs, per benchmark (bayes: posterior median and intervals; "
             "paper: the paper's point fit)")
    out.table("scores", result.scores)
    out.line("\npooled over benchmarks (mean of mae, mre, r2 and coverage; elpd summed)")
    out.table("summary", result.summary)
    if len(result.direct_vs_two_stage):
        out.line("\ndirect minus two-stage mean absolute error on the same held-out runs "
                 "(negative: direct is closer), posterior")
        out.table("direct_vs_two_stage", result.direct_vs_two_stage)
    if args.out:
        out.line(f"\nwrote {len(result.files)} files to {args.out}/")
    return _strict_check(args, {"/".join(map(str, key)): fit for key, fit in result.fits.items()})


def _backtest(args, out: _Output) -> int:
    from bayes_scaling import backtest

    def names(text):
        return [item.strip() for item in text.split(",") if item.strip()] if text else None

    if args.benchmarks_per_dataset is not None and args.benchmarks_per_dataset < 1:
        raise BayesScalingError("option --benchmarks-per-dataset: must be at least 1")
    sampler = {key: value for key, value in _sampler_overrides(args).items() if key not in ("retry", "form_error")}
    seed = sampler.pop("seed", 0)
    sampler = {"num_warmup": 500, "num_samples": 500, **sampler}
    result = backtest.run_backtest(
        names(args.datasets), args.out, benchmarks_per_dataset=args.benchmarks_per_dataset,
        methods=names(args.methods) or backtest.METHODS, seed=seed, reuse_fits=args.reuse_fits,
        **sampler,
    )
    out.line(f"backtest: {len(result.records)} splits fitted ({len(result.skipped)} skipped, listed in skipped.csv); "
          "form_error is scored with its prior learned without the data set scored, form_error_ladder with that "
          "prior updated by each ladder's own backtests (what `fit` does), "
          "form_error_all with the prior learned on every data set (in-sample); every method is scored on the "
          "same runs, those the package answers (n_refused: runs of splits it refuses to extrapolate, an emerging "
          "benchmark on too few runs above chance)")
    if out.as_json:
        out.table("by_dataset", result.by_dataset)
        out.table("by_bucket", result.by_bucket)
    else:
        out.line(backtest.format_summary(result.by_dataset))
        out.line("\nby distance beyond the largest fitted run (decades of compute), all data sets")
        out.line(backtest.format_summary(result.by_bucket[result.by_bucket["dataset"] == "all"]))
    if args.learn:
        path = backtest.save_default_prior(result, command="bayes-scaling " + " ".join(sys.argv[1:]))
        out.line(f"\nwrote the default form-error prior to {path}: {result.priors['all'].describe()}")
    out.line(f"\nwrote {len(result.files)} files to {args.out}/")
    return 0


def _groups(args, out: _Output) -> int:
    from bayes_scaling.decisions import compare_groups
    from bayes_scaling.pipeline import load_table
    from bayes_scaling.inference import fit_many, prepare
    from bayes_scaling.laws import get_law
    import pandas as pd

    names = [g.strip() for g in args.groups.split(",") if g.strip()]
    if len(names) != 2:
        raise BayesScalingError(f"option --groups: expected two groups A,B, got {args.groups!r}")
    spec = _spec_from_args(args)
    table = load_table(spec)
    law = get_law(spec.form)
    tables, summaries = [], []
    for benchmark in spec.benchmarks:
        data = [
            prepare(law.select_data(table, benchmark, spec.metric, max_compute=spec.max_compute,
                                    **law.selection_options({**spec.select_options(), "group": name})), law)[0]
            for name in names
        ]
        fit_a, fit_b = fit_many(data, law.name, spec.prior_distributions(), spec.sampler_settings())
        result = compare_groups(fit_a, fit_b, args.compute, prob=args.prob, tpr=spec.tpr or 20.0,
                                labels=(names[0], names[1]))
        tables.append(result.table.assign(benchmark=benchmark))
        summaries.append(result.summary.assign(benchmark=benchmark))
        out.line(f"{benchmark}: {names[0]} against {names[1]} ({law.name})")
        out.table(benchmark, result.table)
        out.line()
    out.line(f"where each group is better with probability >= {args.prob:g}, and where the curves cross")
    out.table("summary", pd.concat(summaries, ignore_index=True))
    if args.csv:
        pd.concat(tables, ignore_index=True).to_csv(args.csv, index=False)
    return 0


def _report(args, printed: _Output) -> int:
    from dataclasses import replace

    from bayes_scaling.report import build_report
    from bayes_scaling.specs import load_spec

    spec = replace(load_spec(args.spec), **_sampler_overrides(args))
    folder = args.out or Path("bayes_scaling_output") / f"{spec.name}_report"
    result = build_report(spec, folder)
    printed.line(f"wrote {result.html} (self-contained), {result.markdown} and {len(result.figures)} figures "
                 f"(PNG and PDF) to {folder}/")
    return _strict_check(args, {"/".join(map(str, key)): fit for key, fit in result.fits.items()})


def _compute_for(args, out: _Output) -> int:
    from bayes_scaling.decisions import compute_for_accuracy

    table = compute_for_accuracy(_open_fit(args.fit_file), args.accuracy, prob=args.prob, tpr=args.tpr, k=args.k)
    if out.as_json:
        out.table("compute_for", table, args.csv)
        return 0
    for answer in table["answer"]:
        out.line(answer)
    out.line()
    out.table("compute_for", table.drop(columns="answer"), args.csv)
    return 0


def _spec_from_args(args):
    from dataclasses import replace

    from bayes_scaling.specs import Spec, load_spec

    overrides = {
        "dataset": args.dataset,
        "path": str(args.data) if args.data else None,
        "columns": args.columns,
        "chance": {k: _chance_value(k, v) for k, v in args.chance.items()} if args.chance else None,
        "benchmarks": tuple(b.strip() for b in args.benchmark.split(",") if b.strip()) if args.benchmark else None,
        "metric": args.metric,
        "group": args.group,
        "tpr": args.tpr,
        "max_compute": args.max_compute,
        "chance_margin": args.chance_margin,
        "k": args.k,
        "loss_benchmark": args.loss_benchmark,
        "form": getattr(args, "form", None),
        "forms": tuple(f.strip() for f in args.forms.split(",") if f.strip()) if getattr(args, "forms", None) else None,
        "cutoffs": tuple(args.cutoffs) if getattr(args, "cutoffs", None) else None,
        **_sampler_overrides(args),
    }
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if args.spec is not None:
        spec = load_spec(args.spec)
        if "dataset" in overrides or "path" in overrides:
            spec = replace(spec, dataset=None, path=None)
        return replace(spec, **overrides)
    if "benchmarks" not in overrides:
        raise BayesScalingError("option --benchmark is required without --spec")
    return Spec(name="cli", **overrides)


def _chance_value(benchmark: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise BayesScalingError(f"option --chance: {benchmark}={text!r} is not a number") from None


def _sampler_overrides(args) -> dict:
    keys = ("num_warmup", "num_samples", "num_chains", "seed")
    overrides = {key: getattr(args, key) for key in keys if getattr(args, key) is not None}
    if getattr(args, "no_retry", False):
        overrides["retry"] = False
    if getattr(args, "no_form_error", False):
        overrides["form_error"] = False
    return overrides


def _strict_check(args, fits) -> int:
    """With --strict, one line naming every fit that failed a sampling check, and exit status 3."""
    from bayes_scaling.inference import fit_warnings

    failed = {label: fit_warnings(fit) for label, fit in fits.items() if fit_warnings(fit)}
    if not failed or not getattr(args, "strict", False):
        return 0
    detail = "; ".join(f"{label}: {', '.join(w['message'] for w in found)}" for label, found in failed.items())
    print(f"bayes-scaling: error: --strict: {len(failed)} fit(s) failed sampling checks: {detail}", file=sys.stderr)
    return EXIT_SAMPLING


def _run_and_report(spec, folder: Path, args, out: _Output) -> int:
    from bayes_scaling.pipeline import format_held_out, format_summary, run_spec

    start = time.perf_counter()
    result = run_spec(spec, folder)
    if out.as_json:
        out.table("held_out", result.held_out)
        out.table("summary", result.summary)
        out.line(format_summary(result))
    else:
        out.line(format_held_out(result))
        out.line()
        out.line(format_summary(result))
    out.line(f"\nwrote {len(result.files)} files to {folder}/ in {time.perf_counter() - start:.1f} s")
    if not result.fits:
        raise BayesScalingError("no benchmark could be fitted")
    return _strict_check(args, result.fits)


def _design(args, out: _Output) -> int:
    from bayes_scaling.design import design_next_runs, read_candidates
    from bayes_scaling.plotting import plot_design, save_figure

    given = {"compute": args.target_compute, "params": args.target_params, "tokens": args.target_tokens,
             "k": args.target_k}
    target = {name: value for name, value in given.items() if value is not None}
    if not target:
        raise BayesScalingError("option --target-compute (or --target-params and --target-tokens) is required")
    spec = _spec_from_args(args)
    candidates = read_candidates(args.candidates) if args.candidates else None
    result = design_next_runs(spec, target, candidates, args.budget, threshold=args.threshold, prob=args.prob,
                              confidence=args.confidence, n_outcomes=args.n_outcomes,
                              pairs=False if args.no_pairs else None, seed=spec.seed,
                              form_error=None if spec.form_error else False)
    out.line(result.summary())
    for note in result.notes:
        out.line(f"note: {note}")
    out.line()
    out.table("current", result.current)
    out.line()
    out.table("designs", result.designs)
    out.line(f"\nwidths: mean over {args.n_outcomes} outcomes simulated from the posterior predictive, each refitted "
             "(width_se: Monte Carlo standard error; suggested: the cheapest design within two paired standard "
             "errors of the narrowest)")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        result.designs.to_csv(args.out / "design.csv", index=False)
        result.current.to_csv(args.out / "current.csv", index=False)
        paths = save_figure(plot_design(result), args.out / "design")
        out.line(f"wrote design.csv, current.csv and {', '.join(p.name for p in paths)} to {args.out}/")
    return _strict_check(args, result.fits)


def _open_fit(path: Path):
    from bayes_scaling.saving import load_fit

    return load_fit(path)


def _predict(args, out: _Output) -> int:
    from bayes_scaling.predict import predict

    idata = _open_fit(args.fit_file)
    table = predict(idata, args.compute, params=args.params, tokens=args.tokens, k=args.k, prob=args.prob,
                    form_error=False if args.no_form_error else None)
    out.line(f"intervals: {table.attrs['form_error']}")
    out.table("predictions", table, args.csv)
    return 0


def _prior(args, out: _Output) -> int:
    from bayes_scaling.plotting import save_figure
    from bayes_scaling.prior_predictive import COMPUTE_RANGE, plot_prior_predictive, prior_predictive, rising_share

    if not 0 <= args.chance < 1:
        raise BayesScalingError(f"option --chance: {args.chance} is not in [0, 1)")
    curves = prior_predictive(args.form, chance=args.chance, seed=args.seed)["curve"]
    paths = save_figure(plot_prior_predictive(args.form, chance=args.chance, seed=args.seed), args.out)
    out.line(f"{args.form}: {rising_share(curves, args.chance):.0%} of {len(curves)} prior curves rise within "
             f"[chance, 1] from {COMPUTE_RANGE[0]:.0e} to {COMPUTE_RANGE[1]:.0e} FLOPs")
    out.line("wrote " + ", ".join(str(p) for p in paths))
    return 0


def _datasets(args, out: _Output) -> int:
    import pandas as pd

    from bayes_scaling.datasets import DATASETS

    table = pd.DataFrame([{"dataset": name, "description": description}
                          for name, (_, description) in DATASETS.items()])
    if out.as_json:
        out.table("datasets", table)
        return 0
    for row in table.itertuples():
        out.line(f"{row.dataset:<24} {row.description}")
    return 0


def _forms(args, out: _Output) -> int:
    import pandas as pd

    from bayes_scaling.laws import available_laws

    table = pd.DataFrame([{"form": name, "formula": law.formula, "inputs": ", ".join(law.inputs), "kind": law.kind}
                          for name, law in available_laws().items()])
    if out.as_json:
        out.table("forms", table)
        return 0
    for row in table.itertuples():
        out.line(f"{row.form:<22} {row.formula}   (inputs: {row.inputs})")
    return 0


def _fit(args, out: _Output) -> int:
    return _run_and_report(_spec_from_args(args), args.out, args, out)


def _demo(args, out: _Output) -> int:
    from dataclasses import replace

    from bayes_scaling.pipeline import DEMO_SPEC

    return _run_and_report(replace(DEMO_SPEC, **_sampler_overrides(args)), args.out, args, out)


_COMMANDS = {"fit": _fit, "demo": _demo, "predict": _predict, "backtest": _backtest, "compare": _compare,
             "evaluate": _evaluate, "groups": _groups, "compute-for": _compute_for, "report": _report,
             "prior": _prior, "datasets": _datasets, "forms": _forms, "design": _design}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_cli(-1 if args.quiet else 1 if args.verbose else 0)
    out = _Output(args.command, args.json)
    try:
        code = _COMMANDS[args.command](args, out)
        out.finish()
        return code
    except BayesScalingError as err:
        print(f"bayes-scaling: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as err:
        print(f"bayes-scaling: error: {err.strerror or err}: {err.filename or ''}".rstrip(": "), file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
