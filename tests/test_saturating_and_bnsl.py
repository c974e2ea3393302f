"""The saturating power law and BNSL: their formulas, parameter recovery, real fits and maximum accuracy."""

import jax
import numpy as np
import pandas as pd
import pytest
import xarray as xr

import bayes_scaling as bs
from bayes_scaling.inference import fit_many
from bayes_scaling.laws import base, get_law
from bayes_scaling.laws.bnsl import BrokenNeuralScalingLaw
from bayes_scaling.fits import max_accuracy
from bayes_scaling.laws.saturating_power_law import ANCHOR_LOG_COMPUTE, ANCHOR_SPAN
from bayes_scaling.predict import predict

from conftest import FAST

#: True parameters of the simulated benchmarks: a clear ceiling (Q_max = 0.85
#: for the saturating law) and, for BNSL, a slow start whose slope quadruples
#: at 3e19 FLOPs, both well inside the simulated range.
SATURATING_TRUTH = {"log_total": -0.8, "mean_slope": 0.15, "floor_share": 0.35}
BNSL_TRUTH = {"log_total": -0.5, "mean_slope": 0.2, "floor_share": 0.2, "slope_ratio1": 0.25, "log_d1": -3.5,
              "log_f1": -0.5}
#: Real benchmarks fitted by both forms: DCLM TPR 20, runs up to 1e21 FLOPs.
BENCHMARKS = ["arc_easy", "hellaswag"]
#: BNSL on HellaSwag puts about 10% of its posterior on a second regime (no
#: break at the near-chance start, whose few runs the Student-t then treats as
#: outliers) joined to the main one (a break at 3e18 FLOPs) only through
#: break ratios near 1. With 500 draws per chain the chains visit it unevenly
#: (R-hat 1.01-1.08 over eight seeds); with the package default of 1000 they
#: mostly do not, but not at every seed (R-hat 1.017, tail ESS 143 at one).
#: So BNSL runs as a user's fit does: default draws, and the automatic retry
#: (twice the warm-up and draws, target acceptance 0.95) of a fit that fails a check.
BNSL_SETTINGS = dict(num_warmup=1000, num_samples=1000, num_chains=4, retry=True)


def simulate(law, theta, sigma, *, n=40, chance=0.25, seed=0, lo=1e18, hi=1e22, benchmark="sim"):
    """A tidy table of one benchmark whose log(-log Q) follows ``law`` at ``theta`` plus normal noise."""
    rng = np.random.default_rng(seed)
    flops = np.geomspace(lo, hi, n)
    y = np.asarray(law.mean(theta, {"log_compute": np.log(flops / 1e21)})) + sigma * rng.standard_normal(n)
    return pd.DataFrame(
        {
            "run_id": [f"run{i:03d}" for i in range(n)],
            "flops": flops,
            "benchmark": benchmark,
            "metric": "acc",
            "value": chance + (1 - chance) * np.exp(-np.exp(y)),
            "chance": chance,
        }
    )


def fit_simulated_and_real(form, truth, sigma, dclm, settings):
    """One batched fit of a law: its simulated benchmark first, then the real ones (one compiled program)."""
    law = get_law(form)
    simulated = bs.select(bs.normalise_table(simulate(law, truth, sigma)), "sim")
    real = [bs.select(dclm, name, tpr=20, max_compute=1e21) for name in BENCHMARKS]
    fits = fit_many([simulated, *real], form, **settings, seed=0)
    return dict(zip(["sim", *BENCHMARKS], fits))


@pytest.fixture(scope="module")
def saturating_fits(dclm):
    # Noise 0.04 on log(-log Q), as the DCLM ladder shows (posterior sigma 0.02-0.06).
    return fit_simulated_and_real("saturating_power_law", SATURATING_TRUTH, 0.04, dclm, FAST)


# BNSL's batch (4 x 1000 draws, and a retry) takes over three minutes on 2
# cores: its fits run with `-m slow`; its formulas and priors stay in the
# default run (here and in test_laws_contract).
FITS = {"saturating_power_law": "saturating_fits", "bnsl": "bnsl_fits"}
FORMS = ["saturating_power_law", pytest.param("bnsl", marks=pytest.mark.slow)]


@pytest.fixture(scope="module")
def bnsl_fits(dclm):
    return fit_simulated_and_real("bnsl", BNSL_TRUTH, 0.03, dclm, BNSL_SETTINGS)


# ------------------------------------------------------------------ formulas


def test_declared_formulas_and_parameters():
    saturating, bnsl = get_law("saturating_power_law"), get_law("bnsl")
    assert saturating.formula == "-log Q = A C^-alpha + E"
    assert "-log Q = A C^(-alpha) + E" in type(saturating).__doc__
    assert bnsl.formula == "-log Q = a + b C^-c0 (1 + (C/d_1)^(1/f_1))^(-c_1 f_1)"
    assert "prod_i (1 + (C/d_i)^(1/f_i))^(-c_i f_i)" in type(bnsl).__doc__
    assert saturating.parameters == ("log_total", "mean_slope", "floor_share")
    assert bnsl.parameters == saturating.parameters + ("slope_ratio1", "log_d1", "log_f1")
    for law in (saturating, bnsl):
        assert law.inputs == ("compute",) and law.scale == "log_neg_log_q"
        assert tuple(law.default_priors()) == law.parameters


def _prior_draws(law, n=20, seed=0):
    priors = law.default_priors()
    keys = jax.random.split(jax.random.key(seed), len(priors))
    return {name: np.asarray(prior.sample(key, (n,))) for key, (name, prior) in zip(keys, priors.items())}


@pytest.mark.parametrize("law", [get_law("saturating_power_law"), get_law("bnsl"), BrokenNeuralScalingLaw(2)],
                         ids=["saturating", "bnsl", "bnsl_2"])
def test_mean_is_the_papers_formula_at_prior_draws(law):
    # The law is fitted in its own parameters; mapped back to the paper's, the
    # mean must be the paper's formula exactly (to float64 rounding).
    compute = np.geomspace(1e17, 1e25, 17)
    theta = _prior_draws(law)
    mean = np.asarray(law.mean({k: v[:, None] for k, v in theta.items()}, {"log_compute": np.log(compute / 1e21)}))
    paper = {k: np.asarray(v)[:, None] for k, v in law.paper_parameters(theta).items()}
    if law.name == "saturating_power_law":
        expected = np.log(np.exp(paper["log_A"] - paper["alpha"] * np.log(compute)) + paper["E"])
    else:
        log_reducible = paper["log_b"] - paper["c0"] * np.log(compute)
        for i in range(1, law.n_breaks + 1):
            c, d, f = paper[f"c{i}"], paper[f"d{i}"], paper[f"f{i}"]
            log_reducible = log_reducible - c * f * np.log1p((compute / d) ** (1 / f))
            assert np.all(c >= 0), "breaks only steepen"
        expected = np.log(paper["a"] + np.exp(log_reducible))
    assert mean.shape == (20, 17)
    np.testing.assert_allclose(mean, expected, rtol=0, atol=1e-9)
    # mean_slope is what its name says: the mean fall of log(-log Q) per e-fold
    # between the anchor (1e19 FLOPs) and 1e21 FLOPs.
    ends = np.asarray(law.mean({k: v[:, None] for k, v in theta.items()},
                               {"log_compute": np.array([ANCHOR_LOG_COMPUTE, 0.0])}))
    np.testing.assert_allclose((ends[:, 0] - ends[:, 1]) / ANCHOR_SPAN, theta["mean_slope"], rtol=1e-9)


def test_more_breaks_register_as_their_own_form(monkeypatch):
    # Keep the registry as it was for other tests: registration is a side effect.
    monkeypatch.setattr(base, "_REGISTRY", dict(base._REGISTRY))
    monkeypatch.setattr(base, "_INSTANCES", dict(base._INSTANCES))
    law = BrokenNeuralScalingLaw(n_breaks=2)
    assert law.name == "bnsl_2" and "prod_i" in law.formula
    assert law.parameters[3:] == ("slope_ratio1", "log_d1", "log_f1", "slope_ratio2", "log_d2", "log_f2")
    priors = law.default_priors()
    assert tuple(priors) == law.parameters
    # Each break's location prior covers its own half of the ladder (x from -7 to 4).
    assert float(priors["log_d1"].loc) == -4.25 and float(priors["log_d2"].loc) == 1.25
    # A fit records the name, and prediction rebuilds the law from it.
    assert get_law("bnsl_2").n_breaks == 2
    assert get_law("bnsl").n_breaks == 1
    with pytest.raises(bs.SpecError, match="n_breaks must be a positive integer"):
        BrokenNeuralScalingLaw(0)


# ---------------------------------------------------------- parameter recovery


def _check_recovery(idata, truth):
    diagnostics = bs.diagnose(idata)
    assert diagnostics.max_rhat <= 1.01, str(diagnostics)
    assert diagnostics.divergent_fraction <= 0.01, str(diagnostics)
    # The truths must lie jointly in a 90% credible region. Separate 90%
    # intervals would all cover their truth only about half the time for a
    # calibrated six-parameter posterior (0.9^6 = 0.53): BNSL's first version
    # of this test missed floor_share on seed 0 that way. By Bonferroni, each
    # truth must lie in its central 1 - 0.1/p interval (98.3% for BNSL, 96.7%
    # for the saturating law), as in test_two_stage. Data and sampler seeds are
    # fixed, so the test is deterministic.
    tail = 0.1 / len(truth) / 2
    for name, value in truth.items():
        draws = np.asarray(idata["posterior"][name]).ravel()
        lo, hi = np.quantile(draws, [tail, 1 - tail])
        assert lo <= value <= hi, f"{name}: {value} outside {1 - 2 * tail:.1%} interval [{lo:.3f}, {hi:.3f}]"


def test_saturating_parameter_recovery(saturating_fits):
    idata = saturating_fits["sim"]
    _check_recovery(idata, SATURATING_TRUTH)
    # The ceiling: 40 runs up to 1e22 FLOPs, three times past the point where
    # the floor is a third of -log Q, pin it to a few points of accuracy.
    e = SATURATING_TRUTH["floor_share"] * np.exp(SATURATING_TRUTH["log_total"])
    ceiling = max_accuracy(idata, prob=0.9).loc["max_accuracy"]
    assert ceiling["lower_90"] <= 0.25 + 0.75 * np.exp(-e) <= ceiling["upper_90"]
    assert ceiling["upper_90"] - ceiling["lower_90"] < 0.1


@pytest.mark.slow
def test_bnsl_parameter_recovery(bnsl_fits):
    idata = bnsl_fits["sim"]
    _check_recovery(idata, BNSL_TRUTH)
    # The break is located to within about half a decade of compute.
    log_d = np.asarray(idata["posterior"]["log_d1"]).ravel()
    assert np.diff(np.quantile(log_d, [0.05, 0.95]))[0] < np.log(10 ** 1.0)


# ------------------------------------------------------------------ real data


@pytest.mark.parametrize("benchmark", BENCHMARKS)
@pytest.mark.parametrize("form", FORMS)
def test_real_fits_converge(form, benchmark, request):
    idata = request.getfixturevalue(FITS[form])[benchmark]
    assert idata.attrs["law"] == form
    diagnostics = bs.diagnose(idata)
    assert diagnostics.max_rhat <= 1.01, str(diagnostics)
    assert diagnostics.divergent_fraction <= 0.01, str(diagnostics)
    # Predictions stay accuracies above chance, out to 1e25 FLOPs.
    table = predict(idata, np.geomspace(1e18, 1e25, 8))
    chance = float(idata["constant_data"]["chance"][0])
    for column in ["lower_90", "upper_90", "predictive_lower_90", "predictive_upper_90"]:
        assert table[column].between(chance, 1.0).all()


# ------------------------------------------------------------- max accuracy


@pytest.mark.parametrize("form", FORMS)
def test_max_accuracy_is_the_limit_of_the_curve(form, request):
    idata = request.getfixturevalue(FITS[form])["arc_easy"]
    table = max_accuracy(idata, prob=(0.5, 0.9))
    assert list(table.index) == ["max_accuracy", "max_q", "e"]
    assert list(table.columns) == ["median", "lower_50", "upper_50", "lower_90", "upper_90"]
    assert (table["lower_90"] <= table["lower_50"]).all() and (table["lower_50"] <= table["median"]).all()
    assert (table["median"] <= table["upper_50"]).all() and (table["upper_50"] <= table["upper_90"]).all()
    accuracy = table.loc["max_accuracy"]
    assert 0.25 <= accuracy["lower_90"] and accuracy["upper_90"] <= 1.0
    # Every draw's curve rises towards its ceiling, so the ceiling's quantiles
    # lie above those of the curve at the largest fitted run...
    at_top = predict(idata, [float(idata["constant_data"]["flops"].max())])
    for column in ["median", "lower_90", "upper_90"]:
        assert accuracy[column] >= at_top[column].iloc[0]
    # ... and the curve reaches them far out (at 1e60 FLOPs the reducible part
    # of -log Q is below 1e-6 of the floor for these posteriors).
    # The ceiling is the parametric law's: the form-error term, which widens
    # predictions beyond the data without bound, is off for this limit.
    far = predict(idata, [1e60], form_error=False)
    for column in ["median", "lower_90", "upper_90"]:
        assert far[column].iloc[0] == pytest.approx(accuracy[column], abs=1e-3)


def test_max_accuracy_checks_its_input():
    posterior = xr.Dataset({"log_a": (("chain", "draw"), np.zeros((2, 3))), "alpha": (("chain", "draw"), np.ones((2, 3)))})
    chance = xr.Dataset({"chance": ("point", [0.25] * 4)})
    power_law_fit = xr.DataTree.from_dict({"posterior": posterior, "constant_data": chance})
    power_law_fit.attrs["law"] = "power_law"
    with pytest.raises(bs.SpecError, match="law with a ceiling.*'power_law'"):
        max_accuracy(power_law_fit)
    floor = xr.Dataset({"log_total": (("chain", "draw"), np.zeros((2, 3))),
                        "floor_share": (("chain", "draw"), np.full((2, 3), 0.5))})
    fake = xr.DataTree.from_dict({"posterior": floor, "constant_data": chance})
    fake.attrs["law"] = "saturating_power_law"
    # E = 0.5 on every draw: Q_max = exp(-0.5), accuracy 0.25 + 0.75 exp(-0.5).
    table = max_accuracy(fake)
    np.testing.assert_allclose(table.loc["max_accuracy"], 0.25 + 0.75 * np.exp(-0.5))
    np.testing.assert_allclose(table.loc["e"], 0.5)
    with pytest.raises(bs.SpecError, match="option prob"):
        max_accuracy(fake, prob=1.5)
