"""Simulation-based calibration, fast version: every form, 8 simulations each.

Parameters are drawn from each form's priors, observations simulated from its
own model, and every simulation fitted by the batched engine; the rank of each
true value among 99 thinned posterior draws must be uniform. Eight simulations
only detect gross miscalibration (a posterior that misses the truth on the same
side every time, or is far too narrow); ``benchmarks/calibration.py`` runs the
full version (README, "Calibration").

Decision rule and false-alarm rate: per form, the ranks of all parameters are
pooled into 4 bins and tested with chi-square (fails at p < 0.001), and every
parameter's own ranks must not all fall in one bin (chance 4 x 4^-8 = 6e-5 per
parameter). For a calibrated form the false-alarm rate is about 0.1% for the
pooled test (more if parameters' ranks are correlated within a simulation) plus
at most 0.07% for the per-parameter check over 11 parameters. Seeds are fixed.
"""

import numpy as np
import pytest

from bayes_scaling.calibration import rank_uniformity, sbc
from bayes_scaling.engine import MIN_BATCH

# Each form with the sampler settings its own tests use, in chunks of the
# smallest batch, so that these fits reuse compiled programs.
FORMS = {
    "power_law": dict(num_warmup=500, num_samples=500),
    "saturating_power_law": dict(num_warmup=500, num_samples=500),
    "bnsl": dict(num_warmup=1000, num_samples=1000),
    "additive_nd": dict(num_warmup=500, num_samples=500),
    "pass_at_k": dict(num_warmup=500, num_samples=500),
    "two_stage": dict(num_warmup=500, num_samples=1000),
}


# BNSL and the two-stage model run 1000 draws per chain, and the saturating and
# additive laws compile programs of their own here (2 min each on 2 cores):
# they run with `-m slow` (and in full in benchmarks/calibration.py).
SLOW_FORMS = {"bnsl", "two_stage", "saturating_power_law", "additive_nd"}


@pytest.mark.parametrize("form", [pytest.param(f, marks=pytest.mark.slow) if f in SLOW_FORMS else f for f in FORMS])
def test_ranks_of_true_parameters_are_uniform(form):
    result = sbc(form, 8, chunk=MIN_BATCH, num_chains=4, seed=3, **FORMS[form])
    table = rank_uniformity(result)
    assert set(table["parameter"]) >= {"sigma", "nu"} and (table["n_sims"] == 8).all()
    pooled = result.ranks.assign(parameter="all")
    pooled_test = rank_uniformity(type(result)(form, pooled, result.max_rhat, result.n_divergent))
    assert pooled_test["p_value"].iloc[0] > 0.001, table.to_string()
    for row in table.itertuples():
        assert max(row.counts) < 8, f"{form}.{row.parameter}: every rank in one bin {row.counts}"
    # Calibration is judged on fits that sampled: report, don't hide, the rest.
    assert np.median(result.max_rhat) < 1.05
