"""The form-error term: its formula, its use in predictions, and learning its prior from backtests."""

import numpy as np
import pytest

from conftest import conjugate_split_record

from bayes_scaling.backtest import TAU_GRID, bayes_draws, learn_prior, split_log_likelihood
from bayes_scaling.errors import SpecError
from bayes_scaling.form_error import FormErrorPrior, LadderFormError, decades_beyond, refusal, resolve
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
    compute = [3e20, 5e20, 1e22, 1e23]  # the fit's largest run is 8.3e20 FLOPs
    parametric = predict(arc_easy_fit, compute, form_error=False, prob=(0.9,))
    honest = predict(arc_easy_fit, compute, prob=(0.9,))
    width = {name: (t["predictive_upper_90"] - t["predictive_lower_90"]).to_numpy()
             for name, t in (("parametric", parametric), ("honest", honest))}
    # Inside the fitted range (up to 1e21) the draws are the same ones.
    np.testing.assert_allclose(width["honest"][:2], width["parametric"][:2])
    assert np.all(width["honest"][2:] > 1.2 * width["parametric"][2:])
    assert width["honest"][3] > width["honest"][2]
    assert "LogNormal" in honest.attrs["form_error"] and "off" in parametric.attrs["form_error"]


def test_learned_prior_recovers_known_form_error_scales():
    # Three simulated data sets whose forms bend with tau 0.05, 0.1 and 0.2 per
    # decade, 60 splits each. A data set's tau is estimated from its 60 slopes
    # b: relative standard error about 1 / sqrt(2 x 60) = 9%, plus the
    # parametric and noise blur; 30% is about three standard errors.
    rng = np.random.default_rng(11)
    truth = {"a": 0.05, "b": 0.1, "c": 0.2}
    records = [conjugate_split_record(rng, name, tau, 1.0) for name, tau in truth.items() for _ in range(60)]
    tables = {}
    prior = learn_prior(records, seed=0, num_warmup=300, num_samples=500, tables=tables)
    learned = prior.provenance["tau_per_data_set"]
    for name, tau in truth.items():
        assert abs(learned[name] / tau - 1) < 0.3, learned
    # Within a data set every split bends with the same tau here: the learned
    # split-level spread is small (its prior, HalfNormal(1), has median 0.67).
    assert prior.provenance["spread_within_data_set"] < 0.3, prior.provenance
    # A new data set inherits the spread of these scales, not their pooled mean.
    low, _, high = prior.tau_quantiles((0.05, 0.5, 0.95))
    assert low < 0.05 and high > 0.2
    # Left out, a data set's prior comes from the other two only.
    without = learn_prior(records, exclude="c", seed=0, num_warmup=300, num_samples=500, tables=tables)
    assert set(without.provenance["tau_per_data_set"]) == {"a", "b"}
    assert without.tau_quantiles((0.5,))[0] < prior.tau_quantiles((0.5,))[0]


def test_split_likelihood_peaks_near_the_true_scale():
    # One split's likelihood of tau is the exact predictive density; pooled over
    # 100 splits bent with tau = 0.3 its maximum lies near 0.3 (grid steps are 23%).
    rng = np.random.default_rng(2)
    records = [conjugate_split_record(rng, "a", 0.3, 1.0) for _ in range(100)]
    total = sum(split_log_likelihood(record) for record in records)
    assert 0.2 < TAU_GRID[np.argmax(total)] < 0.45


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
        records.append(conjugate_split_record(rng, "sim", tau, 1.0))
    coverage, ranks = {}, {}
    for name, used in (("form_error", prior), ("parametric", None)):
        inside, ranks[name] = [], []
        for number, record in enumerate(records):
            draws = bayes_draws(record, used, np.random.default_rng(number))
            lower, upper = np.quantile(draws, [0.05, 0.95], axis=0)
            z = record.held["z"].to_numpy()
            inside.append((z >= lower) & (z <= upper))
            # The farthest run of each split: one rank per simulated world, so the ranks are independent.
            ranks[name].append(np.mean(draws[:, -1] < z[-1]))
        coverage[name] = np.mean(np.concatenate(inside))
    assert abs(coverage["form_error"] - 0.9) < 0.05, coverage
    assert coverage["parametric"] < 0.6, coverage
    # Simulation-based calibration of the predictive: the 200 ranks are uniform
    # (chi-square over 10 bins; a calibrated model fails at p < 0.001 once in
    # a thousand seeds), and the parametric ranks, piled in the tails, are not.
    from scipy.stats import chisquare

    counts = {name: np.histogram(values, bins=10, range=(0, 1))[0] for name, values in ranks.items()}
    assert chisquare(counts["form_error"]).pvalue > 0.001, counts
    assert chisquare(counts["parametric"]).pvalue < 1e-6, counts


def test_an_emerging_benchmark_on_few_runs_is_refused():
    assert refusal(3, 35).startswith("refused: 3 fitted run(s) above chance and 35 near chance")
    assert refusal(5, 1) is not None
    # Enough runs, or none at chance (a benchmark that is simply small): answered.
    assert refusal(6, 35) is None and refusal(3, 0) is None


def test_refused_predictions_are_withheld_beyond_the_data_only(arc_easy_fit, monkeypatch):
    import importlib

    # The module, not the function `bayes_scaling.predict` that the package exports under its name.
    predict_module = importlib.import_module("bayes_scaling.predict")

    monkeypatch.setattr(predict_module, "fit_refusal", lambda idata: "refused: a reason")
    table = predict(arc_easy_fit, [3e20, 1e22], prob=(0.9,))
    assert list(table["refused"]) == ["", "refused: a reason"]
    assert table.loc[0, ["median", "lower_90", "predictive_upper_90"]].notna().all()
    assert table.loc[1, ["median", "lower_90", "predictive_median", "predictive_upper_90"]].isna().all()
    # The purely parametric law is the user's explicit choice: it answers.
    assert predict(arc_easy_fit, [1e22], form_error=False)["predictive_upper_90"].notna().all()


@pytest.mark.parametrize("name", ["power_law", "saturating_power_law", "bnsl", "additive_nd", "pass_at_k"])
def test_every_direct_law_takes_the_form_error_on_its_likelihood_scale(name):
    import jax
    from scipy.stats import t as student_t

    from bayes_scaling.laws import inputs_along_compute, rescale

    law = get_law(name)
    assert law.kind == "direct" and law.scale == "log_neg_log_q"
    # Prior draws stand in for a posterior: the term's arithmetic is what is checked.
    keys = jax.random.split(jax.random.PRNGKey(0), len(law.priors()))
    draws = {key: np.asarray(prior.sample(k, (64,))) for (key, prior), k in zip(law.priors().items(), keys)}
    compute = np.array([1e21, 1e22, 1e23])
    inputs = {f"log_{key}": rescale(key, values) for key, values in inputs_along_compute(law, compute).items()}
    shift = FormErrorPrior(np.log(0.3), 0.0).shift_draws(decades_beyond(compute, 1e21), 64, np.random.default_rng(0))
    mean = np.asarray(jax.vmap(lambda t: law.mean(t, inputs))({k: draws[k] for k in law.parameters}))
    bent, _ = law.accuracy_draws(draws, inputs, 0.25, np.random.default_rng(1), shift=shift)
    np.testing.assert_allclose(bent, law.transform.inverse(mean + shift, 0.25), rtol=1e-10)
    y = np.zeros(3)
    density = law.predictive_log_density(draws, inputs, y, np.random.default_rng(1), shift=shift)
    expected = student_t.logpdf(y[None, :], draws["nu"][:, None], loc=mean + shift, scale=draws["sigma"][:, None])
    np.testing.assert_allclose(density, expected, rtol=1e-8)


def test_a_ladders_own_backtests_move_its_tau_towards_the_truth():
    # Internal splits of a ladder whose form bends with tau 0.02 (well behaved)
    # or 0.5 (badly): the prior's median (0.11) moves towards each.
    prior = FormErrorPrior.default()
    rng = np.random.default_rng(4)
    for truth in (0.02, 0.5):
        tables = [split_log_likelihood(conjugate_split_record(rng, "a", truth, 1.0)) for _ in range(3)]
        ladder = LadderFormError.update(prior, tables)
        median = ladder.tau_quantiles((0.5,))[0]
        if truth < 0.1:
            assert median < 0.6 * prior.tau_quantiles((0.5,))[0], median
        else:
            assert median > 2 * prior.tau_quantiles((0.5,))[0], median
        # Stored in a fit's attributes as JSON and read back by predict.
        assert resolve(ladder.to_dict(), get_law("power_law")) == ladder
        draws = ladder.tau_draws(20_000, np.random.default_rng(0))
        assert abs(np.median(draws) / median - 1) < 0.15
