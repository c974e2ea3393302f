"""Does the design of the next run do what it says? Simulated ladders, and a backtest on the DCLM ladder.

Run from the repository root::

    python benchmarks/design_check.py                   # every part (about 12 minutes on 2 cores)
    python benchmarks/design_check.py --skip-backtest --skip-weights --skip-forms   # simulated ladders only
    python benchmarks/design_check.py --skip-study --skip-forms --benchmarks arc_easy,hellaswag

1. Simulated ladders with a known truth (:func:`bayes_scaling.design_check.simulated_study`):
   20 runs from 1e18 to 1e20 FLOPs of a power law whose form bends beyond the ladder by a
   slope drawn from the shipped form-error prior; candidates at 3e19, 3e20, 1e21 and 3e21
   FLOPs; target 1e22. Per candidate: the width the design predicts (mean over simulated
   outcomes, each refitted) against the width obtained by adding the run drawn from the
   truth and refitting, and whether the suggested run is as good as the best fixed one.
2. The bundled DCLM ladder (:func:`bayes_scaling.design_check.ladder_backtest`): the
   power law fitted on the TPR-20 runs up to 1e20 FLOPs (the spec models/dclm_power_law.toml
   with that cut-off, its sampler settings and form error) for each multiple-choice
   benchmark; target: the 6.8B run dclm-046 (5.6e21 FLOPs), the run nearest 7B. At each
   step, each benchmark adds one existing run (at most a tenth of the target's compute):
   the design's suggestion among them, or the next run in order of compute. Printed per
   step: the target's 90% interval width (mean over benchmarks), how many benchmarks'
   intervals cover the target's measured accuracy, and the coverage of every held-out run
   beyond the largest fitted one.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd

from bayes_scaling.design import candidate_grid, design_next_runs
from bayes_scaling.design_check import ladder_backtest, reweighting_khat, simulated_study
from bayes_scaling.pipeline import run_spec
from bayes_scaling.specs import load_spec

BENCHMARKS = ("arc_challenge", "arc_easy", "hellaswag", "piqa", "sciq", "winogrande")
TARGET_RUN = "dclm-046"


def study(args) -> None:
    start = time.perf_counter()
    result = simulated_study(args.ladders, n_outcomes=args.outcomes, seed=args.seed)
    print(f"simulated ladders: {args.ladders} ladders x 4 candidates x {args.outcomes} outcomes "
          f"({time.perf_counter() - start:.0f} s)")
    print(result.by_candidate().to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    found = result.suggested_against_best()
    print(f"suggested run: mean obtained width {found['suggested_width']:.4f}; best fixed candidate "
          f"({found['best_fixed']}) {found['best_fixed_width']:.4f}; difference {found['difference']:+.4f} "
          f"(s.e. {found['difference_se']:.4f})")
    ratio = result.table["predicted_width"] / result.table["obtained_width"]
    print(f"per ladder and candidate, predicted / obtained width: median {ratio.median():.3f}, "
          f"10-90% [{ratio.quantile(0.1):.3f}, {ratio.quantile(0.9):.3f}], within 10%: {(abs(ratio - 1) < 0.1).mean():.0%}")
    if args.out:
        result.table.to_csv(args.out / "design_study.csv", index=False)


def dclm_fits(args) -> dict:
    spec = replace(load_spec("models/dclm_power_law.toml"), benchmarks=tuple(args.benchmarks.split(",")),
                   max_compute=args.cutoff)
    return run_spec(spec).fits


def weights(args, fits) -> None:
    print("\nwhy refit: Pareto k of reweighting today's draws by one simulated outcome (16 per candidate; "
          "the default grid for a 7B target at TPR 20; k > 0.7: weights not to be trusted)")
    for benchmark, fit in fits.items():
        grid = candidate_grid(fit, {"params": 7e9, "tokens": 1.4e11})
        table = reweighting_khat(fit, grid, n_outcomes=16, seed=args.seed)
        print(benchmark)
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3g}"))


def backtest(args, fits) -> None:
    start = time.perf_counter()
    table = ladder_backtest(fits, dict.fromkeys(fits, TARGET_RUN), steps=args.steps, n_outcomes=args.outcomes,
                            seed=args.seed)
    print(f"\nDCLM backtest: {len(fits)} benchmarks fitted on TPR-20 runs <= {args.cutoff:.0e} FLOPs, target "
          f"{TARGET_RUN}, {args.steps} steps ({time.perf_counter() - start:.0f} s)")
    summary = table.groupby(["policy", "step"], sort=False).agg(
        runs_added=("added", lambda a: ", ".join(sorted(set(a) - {""}))),
        mean_spent=("spent", "mean"), mean_width=("width", "mean"),
        target_covered=("covered", "sum"), benchmarks=("covered", "size"),
        later_coverage=("later_coverage", "mean"),
    ).reset_index()
    print(summary.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print("\nper benchmark:")
    print(table[["policy", "step", "benchmark", "added", "largest_fitted", "predicted_width", "width", "lower",
                 "upper", "target_value", "covered", "later_coverage"]].to_string(
        index=False, float_format=lambda v: f"{v:.4g}"))
    ratio = (table["width"] / table["predicted_width"]).dropna()
    print(f"obtained / predicted width of the design's runs: median {ratio.median():.3f}, "
          f"range [{ratio.min():.3f}, {ratio.max():.3f}] over {len(ratio)} added runs")
    if args.out:
        table.to_csv(args.out / "design_backtest.csv", index=False)


def forms(args) -> None:
    """The default grids: the power law (the backtest's ladder), which TPR to add (additive N/D) and which k to
    sample (pass@k), on their DCLM specs' fits; today's width beside the refitted baseline of the reductions."""
    columns = ["design", "cost", "expected_width", "width_se", "reduction", "reduction_se", "narrows",
               "as_good_as_best", "suggested", "max_rhat", "n_failed"]
    for name, benchmark, target in (("dclm_power_law", "arc_easy", {"params": 7e9, "tokens": 1.4e11}),
                                    ("dclm_additive_nd", "arc_easy", {"params": 7e9, "tokens": 1.4e11}),
                                    ("dclm_pass_at_k", "humaneval", {"compute": 5.6e21, "k": 100})):
        start = time.perf_counter()
        spec = replace(load_spec(f"models/{name}.toml"), benchmarks=(benchmark,))
        if name == "dclm_power_law":
            spec = replace(spec, max_compute=args.cutoff)  # the ladder of the backtest
        result = design_next_runs(spec, target, n_outcomes=args.outcomes, seed=args.seed)
        print(f"\n{name} ({benchmark}, the spec's cut-off), target {target} ({time.perf_counter() - start:.0f} s)")
        print(result.summary())
        print(result.current[["benchmark", "width", "refit_width", "refit_width_se", "max_rhat", "min_ess_bulk",
                              "n_divergent"]].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
        print(result.designs[columns].to_string(index=False, float_format=lambda v: f"{v:.4g}"))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ladders", type=int, default=12, help="simulated ladders (default 12)")
    parser.add_argument("--outcomes", type=int, default=8, help="simulated outcomes per candidate (default 8)")
    parser.add_argument("--benchmarks", default=",".join(BENCHMARKS), help="DCLM benchmarks of the backtest")
    parser.add_argument("--cutoff", type=float, default=1e20, help="the backtest's starting ladder (FLOPs)")
    parser.add_argument("--steps", type=int, default=3, help="runs added per policy in the backtest")
    parser.add_argument("--skip-study", action="store_true")
    parser.add_argument("--skip-backtest", action="store_true")
    parser.add_argument("--skip-weights", action="store_true", help="skip the Pareto k of reweighting")
    parser.add_argument("--skip-forms", action="store_true", help="skip the additive N/D and pass@k designs")
    parser.add_argument("--out", type=Path, help="write design_study.csv and design_backtest.csv here")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
    pd.set_option("display.width", 200)
    if not args.skip_study:
        study(args)
    if not args.skip_forms:
        forms(args)
    if not (args.skip_backtest and args.skip_weights):
        fits = dclm_fits(args)
        if not args.skip_weights:
            weights(args, fits)
        if not args.skip_backtest:
            backtest(args, fits)


if __name__ == "__main__":
    main()
