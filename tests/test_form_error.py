"""The form-error term: its formula, its use in predictions, and learning its prior from backtests."""

import numpy as np
import pandas as pd
import pytest

from bayes_scaling.backtest import SplitRecord, bayes_draws, learn_prior
from bayes_scaling.errors import SpecError
from bayes_scaling.form_error import FormErrorPrior, decades_beyond, resolve
from bayes_scaling.laws import get_law
from bayes_scaling.predict import predict


def test_shift_is_zero_inside_the_range_and_grows_as_tau_d_to_the_power():
    # scale 0 fixes tau = exp(loc) = 0.2, so the shift's sd is exactly 0.2 d^1.5.
    prior = FormErrorPrior(loc=np.log(0.2), scale=0.0, power=1.5)
    shift = prior.shift_draws([0.0, 1.0, 2.0], 40_000, np.random.default_rng(0))
    assert np.all(shift[:, 0] == 0)
    # Standard error of an sd from 40,000 normal draws: 0.35%; 2% is about 6 of them.
    np.testing.assert_allclose(shift[:, 1:].std(axis=0), 0.2 * np.array([1.0, 2.0]) ** 1.5, rtol=0.02)
    # One slope per draw: the shift at 2 decades is 2^1.5 times the shift at 1.
    np.testing.assert_allclose(shift[:, 2], shift[:, 1] * 2**1.5)


def test_decades_beyond_and_resolve():
    np.testing.assert_allclose(decades_beyond([1e20, 1e21, 1e22, 1e23], 1e21), [0, 0, 1, 2])
    assert resolve(False, get_law("power_law")) is None
    assert resolve(None, get_law("two_stage")) is None
    assert resolve(None, get_law("power_law")) == FormErrorPrior.default()
    with pytest.raises(SpecError, match="form_error"):
        resolve(True, get_law("two_stage"))
    with pytest.raises(SpecError, match="scale"):
        FormErrorPrior(loc=0.0, scale=-1.0)


def test_default_prior_says_where_it_comes_from():
    prior = FormErrorPrior.default()
    assert prior.provenance["command"].startswith("bayes-scaling backtest")
    assert len(prior.provenance["learned_on"]) >= 4


def test_prediction_widens_beyond_the_data_only(arc_easy_fit):
    compute = [3e20, 1e21, 1e22, 1e23]
    parametric = predict(arc_easy_fit, compute, form_error=False, prob=(0.9,))
    honest = predict(arc_easy_fit, compute, prob=(0.9,))
    width = {name: (t["predictive_upper_90"] - t["predictive_lower_90"]).to_numpy()
             for name, t in (("parametric", parametric), ("honest", honest))}
    # Inside the fitted range (up to 1e21) the draws are the same ones.
    np.testing.assert_allclose(width["honest"][:2], width["parametric"][:2])
    assert np.all(width["honest"][2:] > 1.2 * width["parametric"][2:])
    assert width["honest"][3] > width["honest"][2]
    assert "LogNormal" in honest.attrs["form_error"] and "off" in parametric.attrs["form_error"]


def _conjugate_record(rng, dataset, tau, power, n_fit=20, n_held=8, sigma=0.05):
    """A split whose posterior is exact: a line with known noise and a flat prior, bent by b d^power beyond."""
    x_fit = np.linspace(-4.0, 0.0, n_fit)
    x_held = np.sort(rng.uniform(0.1, 3.5, n_held))  # up to 1.5 decades beyond (x is a natural log)
    intercept, slope, bend = -0.5, 0.2, tau * rng.standard_normal()
    distance = x_held / np.log(10)
    z_fit = intercept - slope * x_fit + sigma * rng.standard_normal(n_fit)
    z_held = intercept - slope * x_held + bend * distance**power + sigma * rng.standard_normal(n_held)
    design = np.stack([np.ones(n_fit), -x_fit], axis=1)
    mean, *_ = np.linalg.lstsq(design, z_fit, rcond=None)
    covariance = sigma**2 * np.linalg.inv(design.T @ design)
    theta = rng.multivariate_normal(mean, covariance, size=400)
    held = pd.DataFrame({"run_id": [f"r{i}" for i in range(n_held)], "flops": 1e21 * np.exp(x_held), "k": np.nan,
                         "value": np.nan, "chance": 0.25, "distance": distance, "z": z_held})
    return SplitRecord(dataset=dataset, ladder="sim", benchmark="b", form="power_law", cutoff=1e21,
                       largest_fitted=1e21, held=held, mean_draws=theta[:, :1] - theta[:, 1:] * x_held[None, :],
                       sigma=np.full(400, sigma), nu=np.full(400, 1e6), fitted_inputs={"log_compute": x_fit},
                       fitted_z=z_fit, held_inputs={"log_compute": x_held})


def test_learned_prior_recovers_known_form_error_scales():
    # Three simulated data sets whose forms bend with tau 0.05, 0.1 and 0.2 per
    # decade (power 1), 60 splits each. A data set's tau is estimated from its
    # 60 slopes b: relative standard error about 1 / sqrt(2 x 60) = 9%, plus the
    # parametric and noise blur; 30% is about three standard errors.
    rng = np.random.default_rng(11)
    truth = {"a": 0.05, "b": 0.1, "c": 0.2}
    records = [_conjugate_record(rng, name, tau, 1.0) for name, tau in truth.items() for _ in range(60)]
    prior = learn_prior(records, seed=0, num_warmup=300, num_samples=500)
    learned = prior.provenance["tau_per_data_set"]
    for name, tau in truth.items():
        assert abs(learned[name] / tau - 1) < 0.3, learned
    assert 0.7 < prior.power < 1.4
    # A new data set inherits the spread of these scales, not their pooled mean.
    low, _, high = prior.tau_quantiles((0.05, 0.5, 0.95))
    assert low < 0.05 and high > 0.2
    # Left out, a data set's prior comes from the other two only.
    without = learn_prior(records, exclude="c", seed=0, num_warmup=300, num_samples=500)
    assert set(without.provenance["tau_per_data_set"]) == {"a", "b"}
    assert without.tau_quantiles((0.5,))[0] < prior.tau_quantiles((0.5,))[0]


def test_predictive_with_form_error_is_calibrated_where_parametric_is_not():
    # Worlds drawn from the model itself: every split bends with tau ~ the prior.
    # With the term, the held-out runs' predictive ranks are uniform; without it
    # they pile up in the tails. 200 splits x 8 runs; runs of a split share b, so
    # the effective sample is nearer 200: a coverage's standard error about 2-3 points.
    prior = FormErrorPrior(loc=np.log(0.15), scale=0.5, power=1.0)
    rng = np.random.default_rng(5)
    records = []
    for _ in range(200):
        tau = float(np.exp(prior.loc + prior.scale * rng.standard_normal()))
        records.append(_conjugate_record(rng, "sim", tau, 1.0))
    coverage = {}
    for name, used in (("form_error", prior), ("parametric", None)):
        inside = []
        for number, record in enumerate(records):
            draws = bayes_draws(record, used, np.random.default_rng(number))
            lower, upper = np.quantile(draws, [0.05, 0.95], axis=0)
            z = record.held["z"].to_numpy()
            inside.append((z >= lower) & (z <= upper))
        coverage[name] = np.mean(np.concatenate(inside))
    assert abs(coverage["form_error"] - 0.9) < 0.05, coverage
    assert coverage["parametric"] < 0.6, coverage
