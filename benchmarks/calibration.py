"""Simulation-based calibration of every form, full version.

Run from the repository root::

    python benchmarks/calibration.py                      # 100 simulations per registered form
    python benchmarks/calibration.py --sims 40 --forms power_law,bnsl
    python benchmarks/calibration.py --law-file my_law.py --forms my_law   # a law defined in a file of its own
    python benchmarks/calibration.py --forms power_law --figures sbc_figures   # ECDF-PIT plots as well
    BAYES_SCALING_HOST_DEVICES=1 python benchmarks/calibration.py --forms bnsl &   # one core per process

For each form: draw parameters from its default priors, simulate a 40-run
ladder from its own model, fit every simulation with NUTS (4 chains, batched),
and rank each true value among 99 thinned posterior draws. Prints, per form and
parameter, the p-value of ArviZ's ECDF-based uniformity test of the ranks
(``pot_c``, :func:`bayes_scaling.calibration.rank_uniformity`), the mean
normalised rank (0.5 expected), the rank counts in 10 bins and the posterior
contraction (1 - posterior variance / prior variance), the README's verdict
(:func:`bayes_scaling.calibration.calibration_failures`), plus the share of fits
with R-hat above 1.01 and with divergences. Uniform ranks (large p-values, mean
near 0.5) mean the posterior is calibrated. With ``--figures``, writes each
form's ECDF-PIT plot (:func:`bayes_scaling.plotting.plot_sbc_pit`) there.
"""

from __future__ import annotations

import argparse
import runpy
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bayes_scaling.calibration import UNIFORMITY_TEST, calibration_failures, contraction, rank_uniformity, sbc
from bayes_scaling.laws import available_laws


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sims", type=int, default=100, help="simulations per form (default 100)")
    parser.add_argument("--forms", help="forms, comma-separated (default: every registered form)")
    parser.add_argument("--law-file", help="a Python file to run first, which registers laws of its own")
    parser.add_argument("--num-warmup", type=int, default=500)
    parser.add_argument("--num-samples", type=int, default=1000)
    parser.add_argument("--bins", type=int, default=10, help="bins of the rank counts shown (the test uses none)")
    parser.add_argument("--figures", help="folder for each form's ECDF-PIT plot (PNG and PDF)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--chunk", type=int, default=8,
                        help="fits per compiled batch (default 8): in one vectorised NUTS step every chain waits "
                             "for the longest trajectory of its batch, and a few hard prior draws would hold "
                             "a batch of 100 back")
    args = parser.parse_args(argv)
    if args.law_file:
        runpy.run_path(args.law_file)
    forms = args.forms or ",".join(available_laws())
    pd.set_option("display.width", 160)
    for form in [f.strip() for f in forms.split(",") if f.strip()]:
        start = time.perf_counter()
        result = sbc(form, args.sims, num_warmup=args.num_warmup, num_samples=args.num_samples, num_chains=4,
                     seed=args.seed, chunk=args.chunk)
        table = rank_uniformity(result, bins=args.bins)
        elapsed = time.perf_counter() - start
        print(f"\n{form}: {args.sims} simulations, {elapsed:.0f} s; fits with R-hat > 1.01: "
              f"{np.mean(result.max_rhat > 1.01):.0%}, with divergences: {np.mean(result.n_divergent > 0):.0%}")
        table = table.merge(contraction(result).reset_index(), on="parameter")
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
        failures = calibration_failures(result)
        print(f"passes (every {UNIFORMITY_TEST} p above 0.05 / m)" if not failures else "FAILS: " + "; ".join(failures))
        if args.figures:
            from bayes_scaling.plotting import plot_sbc_pit, save_figure

            save_figure(plot_sbc_pit(result), Path(args.figures) / f"sbc_{form}")


if __name__ == "__main__":
    main()
