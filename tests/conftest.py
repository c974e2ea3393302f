"""Shared fixtures: small simulated tables and one real fit reused across tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import bayes_scaling as bs

#: Small sampler settings for tests: enough for stable intervals, quick to run.
FAST = dict(num_warmup=500, num_samples=500, num_chains=4, quiet=True)


def simulate_power_law(log_a, alpha, sigma, *, n=30, chance=0.25, seed=0, lo=1e18, hi=1e21, benchmark="sim"):
    """A tidy table of one benchmark whose log(-log Q) follows the power law plus normal noise."""
    rng = np.random.default_rng(seed)
    flops = np.geomspace(lo, hi, n)
    x = np.log(flops / 1e21)
    y = log_a - alpha * x + sigma * rng.standard_normal(n)
    acc = chance + (1 - chance) * np.exp(-np.exp(y))
    return pd.DataFrame(
        {
            "run_id": [f"run{i:03d}" for i in range(n)],
            "flops": flops,
            "benchmark": benchmark,
            "metric": "acc",
            "value": acc,
            "chance": chance,
        }
    )


@pytest.fixture(scope="session")
def dclm():
    return bs.load_dataset("krajewski2025_dclm")


@pytest.fixture(scope="session")
def arc_easy_fit(dclm):
    """The direct law on ARC-Easy, DCLM TPR 20, fitted up to 1e21 FLOPs."""
    data = bs.select(dclm, "arc_easy", tpr=20, max_compute=1e21)
    return bs.fit(data, **FAST, seed=1)
