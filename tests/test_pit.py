"""PIT values of held-out runs (:func:`bayes_scaling.calibration.held_out_pit`) and their ECDF-PIT plots.

The posteriors here are built by hand (seeded), so that the truth is known
exactly: each "fit" is a cloud of power-law parameters, and its held-out run
is simulated from the model itself, with parameters drawn from that same
cloud and the law's Student-t noise. The run is then a draw from the fit's
own posterior predictive distribution, and its PIT value is uniform, whatever
the cloud. A posterior pulled halfway to its mean (as the broken sampler of
``tests/test_calibration.py``) makes the predictive too narrow, and the PIT
values pile up near 0 and 1.
"""

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from arviz_base import from_dict

from bayes_scaling.calibration import SBCResult, held_out_pit, pit_uniformity, rank_pit
from bayes_scaling.laws import get_law
from bayes_scaling.plotting import plot_held_out_pit, plot_sbc_pit
from bayes_scaling.predict import predict_held_out

LAW = get_law("power_law")
CHANCE = 0.25
#: Posterior draws per fit (one chain).
N_DRAWS = 1000
#: Fits, each with one held-out run (one run per fit keeps the PIT values independent).
N_FITS = 300
#: Noise on log(-log Q) and its Student-t degrees of freedom, as fitted ladders have.
SIGMA, NU = 0.03, 10.0


def _cloud(rng, centre, n):
    """Power-law parameters around ``centre``: spreads of 0.1 in log_a and 0.04 in alpha."""
    return {"log_a": centre["log_a"] + 0.1 * rng.standard_normal(n),
            "alpha": centre["alpha"] + 0.04 * rng.standard_normal(n)}


def _accuracy(theta, compute, rng):
    """Accuracy of runs at ``compute`` under the power law with parameters ``theta``, with the law's noise."""
    mean = np.asarray(LAW.mean(theta, {"log_compute": np.log(compute / 1e21)}))
    return np.asarray(LAW.transform.inverse(mean + SIGMA * rng.standard_t(NU, size=mean.shape), CHANCE))


def _fake_fit(draws, held_flops, held_values, *, n_fitted=20, near_chance=0):
    """A power-law fit (one chain) with posterior ``draws``, fitted up to 1e21 FLOPs, and these held-out runs."""
    n_draws = len(draws["log_a"])
    posterior = {name: np.asarray(values)[None, :] for name, values in draws.items()}
    posterior |= {"sigma": np.full((1, n_draws), SIGMA), "nu": np.full((1, n_draws), NU)}
    fitted = {"chance": np.full(n_fitted, CHANCE), "flops": np.geomspace(1e18, 1e21, n_fitted)}
    idata = from_dict({"posterior": posterior, "constant_data": fitted, "observed_data": {"y": np.zeros(n_fitted)}},
                      dims={"chance": ["point"], "flops": ["point"], "y": ["point"]})
    held_flops = np.asarray(held_flops, dtype=float)
    idata["held_out_data"] = xr.Dataset({
        "run_id": ("held_out_point", [f"r{i}" for i in range(held_flops.size)]),
        "flops": ("held_out_point", held_flops), "value": ("held_out_point", np.asarray(held_values, dtype=float)),
        "chance": ("held_out_point", np.full(held_flops.size, CHANCE)),
    })
    idata.attrs["law"] = LAW.name
    idata.attrs["excluded"] = json.dumps({"near_chance": near_chance})
    return idata


def _narrowed(draws, factor=0.5):
    """The draws pulled towards their mean, ``factor`` times as wide."""
    return {name: values.mean() + factor * (values - values.mean()) for name, values in draws.items()}


@pytest.fixture(scope="module")
def simulated_pits():
    """(PIT values under the right posterior, under the posterior pulled halfway to its mean), one per fit."""
    rng = np.random.default_rng(20)
    right, narrow = [], []
    for _ in range(N_FITS):
        centre = {"log_a": -0.5 + 0.3 * rng.standard_normal(), "alpha": 0.15 + 0.03 * rng.standard_normal()}
        draws = _cloud(rng, centre, N_DRAWS)
        truth = {name: values[0] for name, values in _cloud(rng, centre, 1).items()}
        # Half a decade to two decades beyond the largest fitted run, where the
        # parameters' spread (0.04 in alpha: 0.05-0.18 on log(-log Q)) outweighs the noise.
        flops = 1e21 * 10 ** rng.uniform(0.5, 2.0, size=1)
        observed = _accuracy(truth, flops, rng)
        for pits, cloud in ((right, draws), (narrow, _narrowed(draws))):
            pits.append(held_out_pit(_fake_fit(cloud, flops, observed), form_error=False)["pit"].iloc[0])
    return np.asarray(right), np.asarray(narrow)


def test_pit_of_runs_simulated_from_the_model_is_uniform(simulated_pits):
    right, _ = simulated_pits
    # 300 independent uniform values: the share in the central 90% within 3 binomial
    # standard errors (0.017 each) of 0.9, the mean within 3 standard errors (0.017)
    # of 0.5, and ArviZ's test not rejecting at 1% (a calibrated seed fails that
    # about 1% of the time). This seed: 0.907, 0.522 and p = 0.24.
    inside = np.mean((right >= 0.05) & (right <= 0.95))
    assert abs(inside - 0.9) < 3 * np.sqrt(0.09 / N_FITS), inside
    assert abs(right.mean() - 0.5) < 3 * np.sqrt(1 / 12 / N_FITS), right.mean()
    assert pit_uniformity(right) > 0.01


def test_pit_under_a_posterior_too_narrow_is_not_uniform(simulated_pits):
    right, narrow = simulated_pits
    # Half the parameters' spread roughly halves the predictive spread this far
    # out, so about 40% of runs fall outside the central 90% of the narrowed
    # draws (here 40.3%), and the test rejects by many orders of magnitude (6e-17).
    outside = np.mean((narrow < 0.05) | (narrow > 0.95))
    assert outside > 0.25, outside
    assert pit_uniformity(narrow) < 1e-6 < pit_uniformity(right)


def test_pit_agrees_with_the_predictive_intervals_and_its_direction():
    # With the default form-error term: a run is inside the 90% predictive interval of
    # predict_held_out exactly when its PIT value lies in the central 90%, up to one
    # draw (the interval ends interpolate between draws) and the mid-rank's half a
    # draw: 2/1000 each side.
    rng = np.random.default_rng(21)
    draws = _cloud(rng, {"log_a": -0.5, "alpha": 0.15}, N_DRAWS)
    flops = np.geomspace(2e21, 1e23, 40)
    observed = _accuracy({"log_a": -0.45, "alpha": 0.13}, flops, rng).copy()
    observed[:2] = [0.999, CHANCE + 1e-6]  # far above every draw, far below
    fit = _fake_fit(draws, flops, observed)
    pit = held_out_pit(fit)
    intervals = predict_held_out(fit, prob=(0.9,))
    assert list(pit["run_id"]) == list(intervals["run_id"]) and (pit["refused"] == "").all()
    values = pit["pit"].to_numpy()
    inside = intervals["inside_90"].to_numpy()
    slack = 2 / N_DRAWS
    assert np.all(values[inside] >= 0.05 - slack) and np.all(values[inside] <= 0.95 + slack)
    assert np.all((values[~inside] <= 0.05 + slack) | (values[~inside] >= 0.95 - slack))
    assert 0 < inside.sum() < len(inside)  # both cases occur here
    # PIT counts draws *below* the observed accuracy: the mid-rank above all of them, and below all.
    assert values[0] == (N_DRAWS + 0.5) / (N_DRAWS + 1) and values[1] == 0.5 / (N_DRAWS + 1)


def test_refused_predictions_have_no_pit():
    # An emerging benchmark (3 fitted runs, 2 near chance): its extrapolations are
    # refused with the form-error term, so there is no predictive draw to compare with.
    rng = np.random.default_rng(22)
    fit = _fake_fit(_cloud(rng, {"log_a": -0.5, "alpha": 0.15}, N_DRAWS), [1e22, 1e23], [0.4, 0.5], n_fitted=3,
                    near_chance=2)
    pit = held_out_pit(fit)
    assert pit["pit"].isna().all() and pit["refused"].str.startswith("refused").all()
    assert held_out_pit(fit, form_error=False)["pit"].notna().all()  # the parametric law does predict them


def _ks_distance(values):
    """Largest distance between the ECDF of ``values`` and the uniform CDF (Kolmogorov-Smirnov)."""
    u = np.sort(values)
    i = np.arange(1, u.size + 1)
    return max(np.max(i / u.size - u), np.max(u - (i - 1) / u.size))


def test_held_out_pit_plot_draws_the_ecdf_minus_uniform(simulated_pits):
    right, narrow = simulated_pits
    fig = plot_held_out_pit({"calibrated": right, "too narrow": narrow, "none": np.array([np.nan])})
    axes = fig.get_axes()
    assert [ax.get_title() for ax in axes] == ["calibrated", "too narrow", "none"]
    # Each panel states n and ArviZ's p-value; the empty one says it has nothing.
    assert axes[0].texts[0].get_text() == f"n = {N_FITS}, p = {pit_uniformity(right):.2g} (pot_c)"
    assert axes[2].texts[0].get_text() == "no PIT values"
    for ax, values in zip(axes[:2], (right, narrow)):
        # One band, and the curve ECDF(u) - u: from (0, 0) to (1, 0), as far from zero as the KS distance.
        assert len(ax.collections) == 1 and "simultaneous band" in ax.collections[0].get_label()
        x, y = ax.lines[-1].get_xydata().T
        assert (x[0], y[0], x[-1], y[-1]) == (0.0, 0.0, 1.0, 0.0) and np.all(np.diff(x) >= 0)
        assert np.abs(y).max() == pytest.approx(_ks_distance(values), abs=1e-12)
    # The narrowed PIT values stray much further: about 0.2 against 0.05 here.
    assert _ks_distance(narrow) > 2 * _ks_distance(right)


def test_sbc_pit_plot_has_a_panel_per_parameter():
    rng = np.random.default_rng(23)
    ranks = pd.DataFrame([{"simulation": i, "parameter": name, "rank": int(rng.integers(0, 100)), "n_ranked": 99,
                           "posterior_sd": 0.1} for name in ("log_a", "alpha") for i in range(60)])
    result = SBCResult("power_law", ranks, np.ones(60), np.zeros(60), {"log_a": 1.0, "alpha": 1.0})
    fig = plot_sbc_pit(result)
    axes = fig.get_axes()
    assert [ax.get_title() for ax in axes] == ["log_a", "alpha"]
    assert "60 simulations" in fig._suptitle.get_text()
    for ax, name in zip(axes, ("log_a", "alpha")):
        pit = rank_pit(ranks.loc[ranks["parameter"] == name, "rank"], 99)
        assert np.abs(ax.lines[-1].get_xydata()[:, 1]).max() == pytest.approx(_ks_distance(pit), abs=1e-12)


def test_loo_pit_is_uniform_for_the_true_model_and_piled_for_a_narrow_one():
    # 60 runs simulated from the power law itself (seed 3): ArviZ's PSIS LOO-PIT of the fit is
    # near uniform (p above 0.01, mean within 0.05 of 0.5). With the posterior's noise scale cut
    # to a third, the same runs fall in the predictive tails: p below 1e-3, the tails overfull.
    import bayes_scaling as bs
    from bayes_scaling.calibration import pit_uniformity
    from bayes_scaling.loo import loo_pit
    from conftest import FAST, simulate_power_law

    data = bs.select(bs.normalise_table(simulate_power_law(-0.5, 0.15, 0.03, n=60, seed=3)), "sim")
    fit = bs.fit(data, **FAST)
    pit = loo_pit(fit)
    assert pit.shape == (60,) and np.all((pit >= 0) & (pit <= 1))
    assert pit_uniformity(pit) > 0.01 and abs(pit.mean() - 0.5) < 0.05
    narrow = fit.copy()
    narrow["posterior"] = fit["posterior"].to_dataset().assign(sigma=fit["posterior"]["sigma"] / 3)
    piled = loo_pit(narrow)
    assert pit_uniformity(piled) < 1e-3 and np.mean((piled < 0.05) | (piled > 0.95)) > 0.3
