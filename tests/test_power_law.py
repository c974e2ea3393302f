"""The direct power law: parameter recovery on simulated data, and a real fit."""

import json

import numpy as np
import pytest

import bayes_scaling as bs
from bayes_scaling.laws import get_law

from conftest import FAST, simulate_power_law
from references import assert_matches_reference


def test_formula_and_priors_documented():
    law = get_law("power_law")
    assert law.formula == "-log Q = A C^-alpha"
    assert "-log Q = A C^(-alpha)" in type(law).__doc__
    assert set(law.priors()) == {"log_a", "alpha", "sigma", "nu"}


@pytest.mark.parametrize("log_a,alpha", [(0.2, 0.15), (-0.8, 0.08)])
def test_parameter_recovery(log_a, alpha):
    # 30 points over three decades with noise 0.05 on log(-log Q), as on the DCLM
    # ladder. With a calibrated posterior each 90% check misses for one seed in
    # ten; the seed is fixed (chosen before looking), so the test is deterministic.
    table = bs.normalise_table(simulate_power_law(log_a, alpha, 0.05, n=30, seed=0))
    idata = bs.fit(bs.select(table, "sim"), **FAST, seed=0)
    diagnostics = bs.diagnose(idata)
    assert diagnostics.max_rhat <= 1.01
    assert diagnostics.n_divergent == 0
    truth = {"log_a": log_a, "alpha": alpha}
    for name, value in truth.items():
        draws = np.asarray(idata["posterior"][name]).ravel()
        lo, hi = np.quantile(draws, [0.05, 0.95])
        assert lo <= value <= hi, f"{name}: {value} outside 90% interval [{lo:.3f}, {hi:.3f}]"
    # Prior draws also cover the truth; they fail here (sd 80-100 times the
    # least-squares standard error: prior sds 1.5 and 0.3), as does a posterior twice too narrow.
    # Measured: sd ratios 1.02-1.05, means within 0.04 standard errors.
    assert_matches_reference(idata, truth)


def test_fit_returns_full_datatree(arc_easy_fit):
    idata = arc_easy_fit
    for group in ["posterior", "sample_stats", "log_likelihood", "observed_data", "constant_data", "held_out_data"]:
        assert group in idata.children, group
    assert idata["posterior"].sizes == {"chain": 4, "draw": 500}
    assert idata["log_likelihood"]["y"].shape == (4, 500, 37)
    assert idata.attrs["law"] == "power_law"
    data = json.loads(idata.attrs["data"])
    assert data["benchmark"] == "arc_easy" and data["tpr"] == 20 and data["max_compute"] == 1e21
    sampler = json.loads(idata.attrs["sampler"])
    assert sampler["num_samples"] == 500 and sampler["chain_method"] in ("vectorized", "parallel")
    assert json.loads(idata.attrs["priors"])["alpha"] == "HalfNormal(scale=0.5)"
    assert idata["held_out_data"].sizes["held_out_point"] == 17


def test_real_fit_converges(arc_easy_fit):
    diagnostics = bs.diagnose(arc_easy_fit)
    assert diagnostics.max_rhat <= 1.01
    assert diagnostics.min_ess_bulk >= 400
    assert diagnostics.n_divergent == 0
    assert json.loads(arc_easy_fit.attrs["diagnostics"])["problems"] == []
    # ARC-Easy rises with compute on the DCLM ladder: alpha is clearly positive.
    assert np.quantile(np.asarray(arc_easy_fit["posterior"]["alpha"]), 0.05) > 0.05


def test_prior_override_is_used(dclm):
    import numpyro.distributions as dist

    data = bs.select(dclm, "sciq", tpr=20, max_compute=1e20)
    idata = bs.fit(data, priors={"alpha": dist.HalfNormal(0.01)}, **FAST)
    assert json.loads(idata.attrs["priors"])["alpha"] == "HalfNormal(scale=0.01)"
    # A prior this tight holds alpha near zero although the data want about 0.2.
    assert np.asarray(idata["posterior"]["alpha"]).mean() < 0.05


def test_same_seed_same_draws_other_seed_other_draws(dclm):
    # An implementation that ignored the seed would pass the first check alone.
    data = bs.select(dclm, "piqa", tpr=20, max_compute=1e20)
    first = bs.fit(data, **FAST, seed=3)["posterior"]["alpha"].values
    second = bs.fit(data, **FAST, seed=3)["posterior"]["alpha"].values
    other = bs.fit(data, **FAST, seed=4)["posterior"]["alpha"].values
    np.testing.assert_array_equal(first, second)
    assert not np.any(first == other), "seed 4 repeats draws of seed 3"
    # Same posterior all the same: means within a few Monte Carlo errors (sd / sqrt(ESS ~ 1000)).
    assert abs(first.mean() - other.mean()) < 5 * first.std() / np.sqrt(1000)


def test_unknown_prior_name_is_rejected(dclm):
    import numpyro.distributions as dist

    data = bs.select(dclm, "sciq", tpr=20)
    with pytest.raises(bs.SpecError, match="law 'power_law' has no parameter 'beta'"):
        bs.fit(data, priors={"beta": dist.Normal(0, 1)})
