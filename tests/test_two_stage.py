"""The two-stage baseline: its data, its algebra, parameter recovery, a real fit, and that
its accuracy intervals carry the loss curve's uncertainty.

All three fits (one simulated, ARC-Easy and HellaSwag on the DCLM ladder) run in one
compiled program (:func:`bayes_scaling.fit_many`), so the file pays for one compilation.
"""

import json

import jax
import numpy as np
import pandas as pd
import pytest

import bayes_scaling as bs
from bayes_scaling.laws import get_law
from bayes_scaling.laws.two_stage import LogisticLink, select_two_stage
from bayes_scaling.fits import posterior_draws
from bayes_scaling.predict import predict

from references import NONLINEAR, assert_matches_reference

# 500 warm-up iterations as elsewhere, but 1000 kept draws per chain: the logistic's
# floor, steepness and ceiling share a ridge that a diagonal mass matrix crosses at
# 0.3-0.6 effective draws per draw, and with 11 parameters the largest R-hat of
# 4 x 500 draws scatters between 1.005 and 1.016 across seeds on HellaSwag and PIQA
# (measured), i.e. the 1.01 threshold would be met by luck. With 4 x 1000 it stays
# at or below 1.006 on both.
DRAWS = dict(num_warmup=500, num_samples=1000, num_chains=4, retry=False)
CHANCE = 0.25

#: Paper-notation truth of the simulation: a DCLM-like loss curve (3.6 nats at 1e18
#: FLOPs, 2.45 at 1e21) and a logistic whose midpoint lies inside the simulated
#: losses, so that every parameter is identified by the data.
TRUTH = {"E": 1.8, "alpha_N": 0.15, "L_1e21": 2.45, "a": 0.6, "b": 0.26, "k": 4.0, "l0": 2.7}
SIGMA_LOSS, SIGMA_ACC = 0.005, 0.03


def simulate_two_stage(truth, *, n=37, seed=0):
    """A tidy table of runs with a loss and an accuracy, written in the paper's notation.

    ``L = E + (C / C_N)^-alpha_N`` with noise on log L, and
    ``acc = a / (1 + exp(k (L - l0))) + b`` with noise on log(-log Q): an independent
    code path from the law's own reparameterised functions.
    """
    rng = np.random.default_rng(seed)
    flops = np.geomspace(1e18, 1e21, n)  # 12 runs per decade, as on the DCLM ladder
    reducible_at_ref = truth["L_1e21"] - truth["E"]
    log_c_n = np.log(1e21) + np.log(reducible_at_ref) / truth["alpha_N"]
    loss = truth["E"] + np.exp(-truth["alpha_N"] * (np.log(flops) - log_c_n))
    loss = loss * np.exp(SIGMA_LOSS * rng.standard_normal(n))
    acc = truth["a"] / (1 + np.exp(truth["k"] * (loss - truth["l0"]))) + truth["b"]
    q = (acc - CHANCE) / (1 - CHANCE)
    q = np.exp(-np.exp(np.log(-np.log(q)) + SIGMA_ACC * rng.standard_normal(n)))
    runs = pd.DataFrame({"run_id": [f"run{i:03d}" for i in range(n)], "flops": flops})
    table = pd.concat(
        [
            runs.assign(benchmark="sim", metric="acc", value=CHANCE + (1 - CHANCE) * q, chance=CHANCE),
            runs.assign(benchmark="sim_loss", metric="loss", value=loss),
        ],
        ignore_index=True,
    )
    return bs.normalise_table(table), log_c_n


@pytest.fixture(scope="module")
def fits(dclm):
    table, _ = simulate_two_stage(TRUTH)
    datasets = {
        "sim": select_two_stage(table, "sim", loss_benchmark="sim_loss"),
        "arc_easy": select_two_stage(dclm, "arc_easy", tpr=20, max_compute=1e21),
        "hellaswag": select_two_stage(dclm, "hellaswag", tpr=20, max_compute=1e21),
    }
    return dict(zip(datasets, bs.fit_many(list(datasets.values()), "two_stage", **DRAWS, seed=0)))


# --------------------------------------------------------------------------- data


def test_select_two_stage_joins_each_runs_loss(dclm):
    data = select_two_stage(dclm, "arc_easy", tpr=20, max_compute=1e21, loss_benchmark="c4")
    assert data.description["loss_benchmark"] == "c4" and data.description["benchmark"] == "arc_easy"
    loss = dclm[(dclm["benchmark"] == "c4") & (dclm["metric"] == "loss")].set_index("run_id")["value"]
    for frame in (data.fitted, data.held_out):
        assert len(frame) and np.array_equal(frame["loss"].to_numpy(), loss.loc[frame["run_id"]].to_numpy())
    assert (data.fitted["flops"] <= 1e21).all() and (data.held_out["flops"] > 1e21).all()


def test_runs_without_a_loss_are_excluded_and_counted():
    table, _ = simulate_two_stage(TRUTH, n=12)
    table = table[~((table["metric"] == "loss") & table["run_id"].isin(["run003", "run007"]))]
    data = select_two_stage(table, "sim", loss_benchmark="sim_loss")
    assert len(data.fitted) == 10
    assert sorted(data.excluded.loc[data.excluded["reason"] == "no_loss", "run_id"]) == ["run003", "run007"]
    assert "2 no loss" in data.summary()


def test_unknown_loss_benchmark_names_the_ones_present(dclm):
    with pytest.raises(bs.DataError, match="losses present: c4, dclm, fineweb"):
        select_two_stage(dclm, "arc_easy", loss_benchmark="pile")


def test_fit_without_losses_says_how_to_select(dclm):
    with pytest.raises(bs.DataError, match="select_two_stage"):
        bs.fit(bs.select(dclm, "arc_easy", tpr=20), "two_stage")


def test_law_select_data_passes_the_loss_benchmark(dclm):
    law = get_law("two_stage")
    data = law.select_data(dclm, "piqa", tpr=20, group=None, loss_benchmark="fineweb")
    assert data.description["loss_benchmark"] == "fineweb" and "loss" in data.fitted
    assert law.select_data(dclm, "piqa", tpr=20).description["loss_benchmark"] == "dclm"
    with pytest.raises(bs.SpecError, match="option n_items: not used by form 'two_stage'"):
        law.select_data(dclm, "piqa", n_items=5)


# ------------------------------------------------------------------------ algebra


@pytest.mark.parametrize("name", ["two_stage", "two_stage_linear", "two_stage_no_irreducible"])
def test_paper_parameters_reproduce_both_stages(name):
    # The law samples reparameterised coordinates; the paper's formulas evaluated at
    # paper_parameters must give the same loss curve and accuracy curve, at every
    # prior draw (a check of the algebra, independent of any fit).
    law = get_law(name)
    rng = np.random.default_rng(0)
    compute = np.geomspace(1e17, 1e24, 9)
    x = np.log(compute / 1e21)
    for _ in range(20):
        theta = {p: float(prior.sample(jax.random.key(rng.integers(1 << 30))))
                 for p, prior in law.priors().items() if p in law.parameters}
        paper = law.paper_parameters(theta, CHANCE)
        loss = paper["E"] + np.exp(-paper["alpha_N"] * (np.log(compute) - paper["log_C_N"]))
        np.testing.assert_allclose(np.exp(law.log_loss(theta, x)), loss, rtol=1e-9)
        if isinstance(law.link, LogisticLink):
            acc = paper["a"] / (1 + np.exp(paper["k"] * (loss - paper["l0"]))) + paper["b"]
        else:
            acc = np.clip(paper["a"] + paper["b"] * loss, CHANCE, 1.0)
        q = np.asarray(law.normalised_accuracy(theta, loss))
        np.testing.assert_allclose(CHANCE + (1 - CHANCE) * q, acc, rtol=1e-7, atol=1e-8)


def test_accuracy_spread_comes_from_both_stages():
    # Draws that differ only in stage 1 must give different accuracies at a new
    # compute, and draws that differ in neither must give one curve.
    law = get_law("two_stage")
    base = {"log_loss_ref": 0.9, "loss_slope": 0.06, "irreducible_fraction": 0.7, "floor": 0.02,
            "saturation": 0.7, "rate_20": 3.0, "loss_20": 2.8,
            "sigma_loss": 0.005, "nu_loss": 30.0, "sigma": 0.02, "nu": 30.0}
    draws = {name: np.full(4, value) for name, value in base.items()}
    inputs = {"log_compute": np.log(np.array([1e22, 3e22]) / 1e21)}
    curve, _ = law.accuracy_draws(draws, inputs, CHANCE, np.random.default_rng(0))
    assert np.ptp(curve, axis=0).max() == 0
    draws["irreducible_fraction"] = np.array([0.6, 0.65, 0.7, 0.75])
    curve, _ = law.accuracy_draws(draws, inputs, CHANCE, np.random.default_rng(0))
    assert np.all(np.ptp(curve, axis=0) > 0.005)


# ------------------------------------------------------------------------- fits


def test_parameter_recovery(fits):
    # 37 simulated runs over three decades with DCLM-like noise (0.5% on the loss,
    # 0.03 on log(-log Q)); fixed seeds, chosen before looking. The check is on the
    # paper's seven parameters, computed from the draws by paper_parameters, so it
    # also tests the reparameterisation. Seven separate 90% intervals would all
    # cover their truth only about half the time for a correct posterior, so the
    # truths must lie jointly in a 90% region: by Bonferroni, each in its central
    # 1 - 0.1/7 (98.6%) interval.
    idata = fits["sim"]
    diagnostics = bs.diagnose(idata)
    assert diagnostics.max_rhat <= 1.01, str(diagnostics)
    assert diagnostics.n_divergent <= 0.01 * diagnostics.n_draws
    law = get_law("two_stage")
    paper = law.paper_parameters(posterior_draws(idata), CHANCE)
    _, log_c_n = simulate_two_stage(TRUTH)
    truth = {name: TRUTH[name] for name in ("E", "alpha_N", "a", "b", "k", "l0")} | {"log_C_N": log_c_n}
    tail = 0.1 / len(truth) / 2
    for name, value in truth.items():
        lo, hi = np.quantile(paper[name], [tail, 1 - tail])
        assert lo <= value <= hi, f"{name}: {value:.4g} outside [{lo:.4g}, {hi:.4g}]"


def test_both_stages_match_least_squares(fits):
    # Prior draws cover every truth above; they fail here. Given the observed
    # losses the likelihood factorises: stage 1 (log loss on compute) and stage 2
    # (log(-log Q) on the observed loss) are two nonlinear regressions with
    # independent priors, each checked against scipy's least squares on the
    # same data. Measured: sd ratios 0.99-1.15, means within 0.27 standard errors.
    idata = fits["sim"]
    law = get_law("two_stage")
    log_compute = np.asarray(idata["constant_data"]["log_compute"])
    loss = np.exp(np.asarray(idata["observed_data"]["loss"]))
    stage_1 = ["log_loss_ref", "loss_slope", "irreducible_fraction"]
    stages = {
        "loss": (stage_1, lambda theta: law.log_loss(theta, log_compute)),
        "y": ([name for name in law.parameters if name not in stage_1], lambda theta: law.accuracy_mean(theta, loss)),
    }
    for observed, (names, mean) in stages.items():
        # The least-squares optimum does not depend on where it starts; the posterior median is near it.
        start = {name: float(np.median(idata["posterior"][name])) for name in names}
        assert_matches_reference(idata, start, mean=mean, observed=observed, **NONLINEAR)


@pytest.mark.parametrize("benchmark", ["arc_easy", "hellaswag"])
def test_real_fit_converges_and_predicts_inside_chance_and_one(fits, benchmark):
    idata = fits[benchmark]
    diagnostics = bs.diagnose(idata)
    assert diagnostics.max_rhat <= 1.01, str(diagnostics)
    assert diagnostics.divergent_fraction <= 0.01, str(diagnostics)
    # Both observed sites are stored per run, on the shared "point" dimension.
    n = idata["observed_data"].sizes["point"]
    assert set(idata["log_likelihood"].data_vars) == {"loss", "y"}
    assert idata["log_likelihood"]["loss"].shape == idata["log_likelihood"]["y"].shape == (4, 1000, n)
    assert json.loads(idata.attrs["data"])["loss_benchmark"] == "dclm"

    held = np.asarray(idata["held_out_data"]["flops"])
    table = predict(idata, compute=held)
    bands = [("lower_90", "lower_50", "median", "upper_50", "upper_90")]
    bands.append(tuple(f"predictive_{c}" for c in bands[0]))
    for columns in bands:
        values = table[list(columns)].to_numpy()
        assert np.all(np.diff(values, axis=1) >= 0), columns
        assert values.min() >= CHANCE and values.max() <= 1
    # A new run varies more than the mean curve.
    assert np.all(table["predictive_upper_90"] - table["predictive_lower_90"] > table["upper_90"] - table["lower_90"])
    # Held-out compute lies beyond the fit, and accuracy rises with it.
    assert (table["region"] == "extrapolation").all()
    assert np.all(np.diff(table.sort_values("compute")["median"]) > 0)


def test_accuracy_interval_carries_stage_one_uncertainty(fits):
    # Half a decade beyond the fit (3.2e21 FLOPs, the DCLM ladder's held-out runs
    # start at 1.2e21) the loss itself is uncertain, chiefly through the
    # irreducible loss E. Fixing stage 1 at its posterior mean, draw by draw with
    # the same stage-2 draws, must narrow the accuracy interval. Measured: 12-15%
    # narrower, with a bootstrap 5% bound of 10-12% over the 4000 draws; a law
    # that ignored stage-1 draws would give exactly the same width. The margin
    # asked for is 5%. The stage-1 part alone (stage 2 fixed) must be a sizeable
    # share of the whole (measured 0.44-0.47; asked: 0.3).
    idata = fits["hellaswag"]
    law = get_law("two_stage")
    draws = posterior_draws(idata)
    inputs = {"log_compute": np.log(np.array([3.16e21]) / 1e21)}

    def at_mean(names):
        fixed = dict(draws)
        for name in names:
            fixed[name] = np.full_like(draws[name], draws[name].mean())
        return fixed

    def width(d):
        curve, _ = law.accuracy_draws(d, inputs, CHANCE, np.random.default_rng(0))
        lo, hi = np.quantile(curve[:, 0], [0.05, 0.95])
        return hi - lo

    stage_one = ("log_loss_ref", "loss_slope", "irreducible_fraction")
    stage_two = ("floor", "saturation", "rate_20", "loss_20")
    full = width(draws)
    assert full > 1.05 * width(at_mean(stage_one)), (full, width(at_mean(stage_one)))
    assert width(at_mean(stage_two)) > 0.3 * full, (full, width(at_mean(stage_two)))
    # predict() reports the full width: it is the same computation.
    table = predict(idata, compute=[3.16e21])
    assert table["upper_90"].iloc[0] - table["lower_90"].iloc[0] == pytest.approx(full, rel=1e-9)


def test_held_out_density_integrates_the_loss_out(fits):
    # The held-out score of a two-stage fit is p(y | C) with the run's loss
    # integrated out by Monte Carlo (law.loss_draws per draw). Here it is checked
    # against the same integral by adaptive quadrature over log L, with scipy's
    # Student-t densities (no code shared with the law's): a law that
    # conditioned on a point loss, dropped the stage-1 noise or mis-weighted
    # the draws would miss it (at a point loss the log densities here are off by
    # 0.05-0.48, against the 0.02 allowed). Five posterior draws of the DCLM
    # ARC-Easy fit, at 1e22 FLOPs, at the draw's own mean and 2 sigma either side.
    from scipy import integrate, stats

    law = get_law("two_stage")
    draws = {name: values[::800] for name, values in posterior_draws(fits["arc_easy"]).items()}
    log_compute = float(np.log(1e22 / 1e21))
    inputs = {"log_compute": np.array([log_compute] * 3)}
    for s in range(len(draws["nu"])):
        one = {name: values[s:s + 1] for name, values in draws.items()}
        theta = {name: float(one[name][0]) for name in law.parameters}
        centre = float(law.log_loss(theta, log_compute))
        nu_loss, sigma_loss, nu, sigma = (float(one[name][0]) for name in ("nu_loss", "sigma_loss", "nu", "sigma"))
        at_mean = float(law.accuracy_mean(theta, np.exp(centre)))
        y = np.array([at_mean - 2 * sigma, at_mean, at_mean + 2 * sigma])

        def integrand(log_loss, target):
            mean = float(law.accuracy_mean(theta, np.exp(log_loss)))
            return (stats.t.pdf(log_loss, nu_loss, centre, sigma_loss) * stats.t.pdf(target, nu, mean, sigma))

        exact = [np.log(integrate.quad(integrand, centre - 60 * sigma_loss, centre + 60 * sigma_loss, args=(target,),
                                       points=[centre], limit=200)[0]) for target in y]
        # 20,000 loss draws: the Monte Carlo log-mean-exp error is then below 0.01.
        estimate = _WithLossDraws().predictive_log_density(one, inputs, y, np.random.default_rng(s))
        np.testing.assert_allclose(estimate[0], exact, atol=0.02, err_msg=f"draw {s}")


class _WithLossDraws(type(get_law("two_stage"))):
    loss_draws = 20_000
