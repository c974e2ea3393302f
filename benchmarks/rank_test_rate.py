"""How often the calibration rule fails a perfectly calibrated form: exactly uniform SBC ranks.

Run from the repository root::

    python benchmarks/rank_test_rate.py              # 4000 sets per case
    python benchmarks/rank_test_rate.py --sets 20000

For each number of simulations (60, as the test suite; 100, as benchmarks/calibration.py)
and each number of parameters m (4 to 11, the registered forms' range), draws ``--sets``
sets of m independent uniform rank vectors (ranks 0..99, 99 thinned draws), and prints
the share of sets in which some parameter's p-value of ArviZ's uniformity test
(:func:`bayes_scaling.calibration.pit_uniformity`) is at or below 0.05 / m: the rule's
false-alarm rate, 5% if the test's p-values were exact.
"""

from __future__ import annotations

import argparse

import numpy as np

from bayes_scaling.calibration import pit_uniformity, rank_pit


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", type=int, default=4000, help="calibrated sets per case (default 4000)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    print("simulations  parameters  false-alarm rate  (binomial s.e.)")
    for n_sims in (60, 100):
        for m in (4, 6, 8, 11):
            failed = [
                min(pit_uniformity(rank_pit(rng.integers(0, 100, n_sims), 99)) for _ in range(m)) <= 0.05 / m
                for _ in range(args.sets)
            ]
            rate = float(np.mean(failed))
            print(f"{n_sims:11d}  {m:10d}  {rate:16.3%}  ({np.sqrt(rate * (1 - rate) / args.sets):.3%})")


if __name__ == "__main__":
    main()
