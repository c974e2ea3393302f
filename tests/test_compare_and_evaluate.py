"""Comparing forms (LOO), scoring extrapolation, and the decision tools, on data where the answer is known."""

import arviz_stats
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from arviz_base import from_dict
from scipy.special import logsumexp

import bayes_scaling as bs
from bayes_scaling.decisions import compare_groups, compute_for_accuracy
from bayes_scaling.evaluate import direct_vs_two_stage, error_metrics, evaluate, summarise
from bayes_scaling.inference import fit_many
from bayes_scaling.laws import get_law
from bayes_scaling.loo import INTERPOLATION_NOTE, compare_forms, loo

from conftest import FAST, simulate_power_law

#: A benchmark that visibly saturates: a floor of half of -log Q at 1e21 FLOPs
#: (maximum accuracy 0.25 + 0.75 exp(-0.22) = 0.85), over four decades.
SATURATING_TRUTH = {"log_total": -0.8, "mean_slope": 0.25, "floor_share": 0.5}


def simulate_saturating(seed=0, n=40, sigma=0.03):
    law = get_law("saturating_power_law")
    rng = np.random.default_rng(seed)
    flops = np.geomspace(1e18, 1e22, n)
    y = np.asarray(law.mean(SATURATING_TRUTH, {"log_compute": np.log(flops / 1e21)})) + sigma * rng.standard_normal(n)
    return bs.normalise_table(pd.DataFrame({
        "run_id": [f"run{i:03d}" for i in range(n)], "flops": flops, "benchmark": "sim", "metric": "acc",
        "value": 0.25 + 0.75 * np.exp(-np.exp(y)), "chance": 0.25,
    }))


@pytest.fixture(scope="module")
def saturating_data():
    return bs.select(simulate_saturating(), "sim")


@pytest.fixture(scope="module")
def form_fits(saturating_data):
    return {form: bs.fit(saturating_data, form, **FAST, seed=0) for form in ("power_law", "saturating_power_law")}


# ---------------------------------------------------------------------- LOO


def test_loo_prefers_the_true_form(form_fits):
    table = compare_forms(form_fits)
    assert table.attrs["note"] == INTERPOLATION_NOTE
    assert list(table["form"]) == ["saturating_power_law", "power_law"]
    wrong = table.iloc[1]
    # The straight line in log(-log Q) misses a bend that 40 runs with noise
    # 0.03 show clearly: the difference is many standard errors, not a tie.
    assert -wrong["elpd_diff"] > 4 * wrong["dse"], table.to_string()  # differences are negative
    assert table.iloc[0]["weight"] > 0.9
    assert set(table.columns) >= {"elpd", "se", "elpd_diff", "dse", "weight", "n_refits", "max_pareto_k", "warning"}


def test_exact_refits_agree_with_psis_where_it_is_reliable(form_fits):
    # Force exact refits of the two runs with the largest Pareto k (both below
    # 0.7 here): where PSIS is reliable, exact leave-one-out must agree with it
    # up to Monte Carlo error (about 0.02-0.05 per run for 2000 draws; 0.15
    # leaves room for both estimates' error).
    fit = form_fits["power_law"]
    psis = loo(fit, refit=False)
    k = psis.pointwise["pareto_k"].to_numpy()
    assert k.max() < 0.7
    threshold = np.sort(k)[-3]
    exact = loo(fit, k_threshold=threshold)
    assert exact.n_refits == 2
    refitted = exact.pointwise["method"] == "exact"
    assert refitted.sum() == 2
    np.testing.assert_allclose(exact.pointwise.loc[refitted, "elpd_i"], psis.pointwise.loc[refitted, "elpd_i"],
                               atol=0.15)
    assert exact.elpd == pytest.approx(exact.pointwise["elpd_i"].sum())


def test_refitted_loo_aggregates_as_arviz_does(form_fits):
    # After exact refits, elpd, se and p_loo must be ArviZ's aggregates of the
    # pointwise values (arviz_stats' loo_summary and reloo), computed here from
    # the definitions: se = sqrt(n var(elpd_i, ddof=1)); p_loo = lppd - elpd,
    # lppd_i = log mean_s p(y_i | theta_s) over the full fit's draws. Both are
    # sums of the same numbers in another order, so they agree to rounding
    # (1e-10 relative). A ddof=0 standard error would be off by sqrt(40/39), 1.3%,
    # and a p_loo left at its PSIS value by the refits' change in elpd_i (0.01 or more).
    fit = form_fits["power_law"]
    k = loo(fit, refit=False).pointwise["pareto_k"].to_numpy()
    exact = loo(fit, k_threshold=np.sort(k)[-3])
    assert exact.n_refits == 2
    elpd_i = exact.pointwise["elpd_i"].to_numpy()
    n = elpd_i.size
    log_lik = np.asarray(fit["log_likelihood"]["y"]).reshape(-1, n)  # (chain x draw, run)
    lppd_i = logsumexp(log_lik, axis=0) - np.log(log_lik.shape[0])
    assert exact.elpd == pytest.approx(elpd_i.sum(), rel=1e-10)
    assert exact.se == pytest.approx(np.sqrt(n * np.var(elpd_i, ddof=1)), rel=1e-10)
    assert exact.p_loo == pytest.approx(lppd_i.sum() - elpd_i.sum(), rel=1e-10)
    # reloo's record of the refitted runs: Pareto k 0, p_loo_i = lppd_i - exact elpd_i.
    refitted = (exact.pointwise["method"] == "exact").to_numpy()
    np.testing.assert_array_equal(np.asarray(exact.elpd_data.pareto_k)[refitted], 0.0)
    np.testing.assert_allclose(np.asarray(exact.elpd_data.p_loo_i)[refitted], (lppd_i - elpd_i)[refitted],
                               rtol=1e-10)
    # The refits did change p_loo: the check above is not of PSIS's own value.
    assert abs(exact.p_loo - loo(fit, refit=False).p_loo) > 1e-6


def test_loo_without_refits_is_arviz_loo(form_fits):
    # No Pareto k above good_k in this fit (asserted), so nothing is refitted and
    # the result is arviz_stats.loo's, exactly.
    fit = form_fits["power_law"]
    reference = arviz_stats.loo(fit, pointwise=True, var_name="y")
    assert (np.asarray(reference.pareto_k) <= reference.good_k).all()
    for result in (loo(fit), loo(fit, refit=False)):
        assert result.n_refits == 0 and (result.pointwise["method"] == "psis").all()
        data = result.elpd_data
        assert (data.elpd, data.se, data.p, data.warning, data.good_k) == (
            reference.elpd, reference.se, reference.p, reference.warning, reference.good_k)
        np.testing.assert_array_equal(np.asarray(data.elpd_i), np.asarray(reference.elpd_i))
        np.testing.assert_array_equal(np.asarray(data.pareto_k), np.asarray(reference.pareto_k))


def test_compare_checks_its_inputs(form_fits, arc_easy_fit):
    with pytest.raises(bs.SpecError, match="at least two fits"):
        compare_forms({"power_law": form_fits["power_law"]})
    with pytest.raises(bs.SpecError, match="not on the same runs"):
        compare_forms({"a": form_fits["power_law"], "b": arc_easy_fit})


# ------------------------------------------------------------ extrapolation


@pytest.fixture(scope="module")
def coverage_scores():
    # 16 simulated benchmarks from one power law (the DCLM ladder's noise,
    # 0.05 on log(-log Q)): 24 runs fitted up to 1e21 FLOPs, 8 held out up to
    # 1e22, different noise per benchmark.
    tables = [simulate_power_law(-0.5, 0.15, 0.05, n=32, lo=1e18, hi=1e22, seed=seed, benchmark=f"sim{seed}")
              for seed in range(16)]
    table = bs.normalise_table(pd.concat(tables, ignore_index=True).assign(
        run_id=lambda f: f["benchmark"] + "/" + f["run_id"]))
    benchmarks = [f"sim{seed}" for seed in range(16)]
    # The simulated law is exactly right, so its parametric intervals must be
    # calibrated on their own: the form-error term (for laws that may be wrong
    # beyond the data) is off here, and tested in test_form_error.py.
    return evaluate(table, benchmarks, ["power_law"], [1.01e21], **FAST, seed=0, form_error=False)


def test_held_out_coverage_is_near_nominal(coverage_scores):
    bayes = coverage_scores[coverage_scores["method"] == "bayes"]
    assert (bayes["status"] == "ok").all() and bayes["n_held_out"].sum() == 16 * 8
    pooled = np.average(bayes["coverage_90"], weights=bayes["n_held_out"])
    # 128 held-out runs: a binomial standard error of 0.027 at 90%, larger in
    # truth since a benchmark's runs share its parameter error (8 per benchmark).
    # The band is 0.9 +- 0.08, about three standard errors with that inflation.
    assert 0.82 <= pooled <= 0.98, pooled
    pooled_50 = np.average(bayes["coverage_50"], weights=bayes["n_held_out"])
    assert 0.38 <= pooled_50 <= 0.66, pooled_50
    # The coverage claim needs converged chains, checked here as R-hat below
    # 1.05: with 4 x 500 draws R-hat of converged chains scatters up to about
    # 1.015 (one fit of 16 reached 1.014), so the 1.01 of full-length runs
    # would test the draw count, not convergence.
    assert (bayes["max_rhat"] < 1.05).all() and (bayes["n_divergent"] == 0).all()


def test_paper_method_rows_beside_each_bayesian_row(coverage_scores):
    paper = coverage_scores[coverage_scores["method"] == "paper"].set_index("benchmark")
    bayes = coverage_scores[coverage_scores["method"] == "bayes"].set_index("benchmark")
    assert list(paper.index) == list(bayes.index)
    # Least squares and the posterior median see the same runs of a well
    # specified law: their extrapolation errors are of the same size.
    assert abs(paper["mae"].mean() - bayes["mae"].mean()) < 0.01
    summary = summarise(coverage_scores)
    assert set(summary["method"]) == {"bayes", "paper"} and (summary["n_benchmarks"] == 16).all()


def test_evaluate_reports_what_it_cannot_fit(dclm):
    # MMLU at TPR 20 has one run above chance + 0.02 up to 5e18 FLOPs.
    scores = evaluate(dclm, ["mmlu"], ["power_law"], [5e18], select_options={"tpr": 20}, **FAST)
    assert len(scores) == 1 and "needs at least" in scores["status"].iloc[0]
    with pytest.raises(bs.SpecError, match="option cutoffs"):
        evaluate(dclm, ["arc_easy"], ["power_law"], [-1.0])


def test_error_metrics_are_the_papers():
    metrics = error_metrics([0.5, 0.7], [0.4, 0.8])
    assert metrics["mae"] == pytest.approx(0.1)
    assert metrics["mre"] == pytest.approx((0.1 / 0.4 + 0.1 / 0.8) / 2)
    assert metrics["r2"] == pytest.approx(1 - 0.02 / 0.08)


def _fake_fit(log_a, alpha, spread, seed, held_flops, held_values):
    """A power-law 'fit' whose posterior is a narrow cloud around (log_a, alpha)."""
    rng = np.random.default_rng(seed)
    draws = {"log_a": log_a + spread * rng.standard_normal((2, 200)),
             "alpha": alpha + spread * rng.standard_normal((2, 200)),
             "sigma": np.full((2, 200), 0.05), "nu": np.full((2, 200), 10.0)}
    idata = from_dict({"posterior": draws, "constant_data": {"chance": np.array([0.25]), "flops": np.array([1e20])}})
    idata["held_out_data"] = xr.Dataset({
        "run_id": ("held_out_point", [f"r{i}" for i in range(len(held_flops))]),
        "flops": ("held_out_point", np.asarray(held_flops)), "value": ("held_out_point", np.asarray(held_values)),
        "chance": ("held_out_point", np.full(len(held_flops), 0.25)),
    })
    idata.attrs["law"] = "power_law"
    return idata


def test_direct_vs_two_stage_probability():
    flops = np.array([2e21, 5e21, 1e22])
    truth = 0.25 + 0.75 * np.exp(-np.exp(-0.5 - 0.15 * np.log(flops / 1e21)))
    close = {"b": _fake_fit(-0.5, 0.15, 0.01, 0, flops, truth)}
    off = {"b": _fake_fit(-0.2, 0.15, 0.01, 1, flops, truth)}  # under-predicts by about 0.07
    table = direct_vs_two_stage(close, off)
    assert list(table["benchmark"]) == ["b", "all"]
    row = table.iloc[0]
    assert row["p_direct_closer"] == 1.0 and row["difference_upper_90"] < 0
    assert row["mae_direct"] < 0.01 < row["mae_two_stage"]
    assert direct_vs_two_stage(off, close).iloc[0]["p_direct_closer"] == 0.0


# ------------------------------------------------------------------ groups


@pytest.fixture(scope="module")
def group_fits():
    # Two mixtures with the same slope, A better by 0.4 in log(-log Q) (about
    # 0.07 accuracy at 1e21 FLOPs); and A fitted twice on the same runs.
    better = simulate_power_law(-0.9, 0.15, 0.05, seed=1, benchmark="a")
    worse = simulate_power_law(-0.5, 0.15, 0.05, seed=2, benchmark="b")
    data = [bs.select(bs.normalise_table(t), name) for t, name in ((better, "a"), (worse, "b"), (better, "a"))]
    return fit_many(data, "power_law", **FAST, seed=0)


def test_clearly_better_group_has_probability_near_one(group_fits):
    a, b, _ = group_fits
    result = compare_groups(a, b, [1e19, 1e20, 1e21, 1e22], labels=("a", "b"))
    assert (result.table["p_a_better"] > 0.99).all()
    summary = result.summary.iloc[0]
    assert summary["a_better_from"] == 1e19 and summary["a_better_to"] == 1e22
    assert np.isnan(summary["b_better_from"])
    # Parallel laws do not cross; a few draws with slightly different slopes may.
    assert summary["p_crossover"] < 0.2


def test_same_group_twice_has_probability_near_one_half(group_fits):
    # The same runs fitted twice (different chains): P(A > B) is 0.5 up to
    # Monte Carlo error (about 0.02 for 2000 paired draws; tolerance 0.1). Two
    # *independent* samples from one truth would not give 0.5 but a value that
    # varies from sample to sample, as it should.
    a, _, a_again = group_fits
    result = compare_groups(a, a_again, [1e19, 1e21, 1e23])
    np.testing.assert_allclose(result.table["p_a_better"], 0.5, atol=0.1)


def test_groups_must_share_law_and_benchmark(group_fits, form_fits):
    with pytest.raises(bs.SpecError, match="one law"):
        compare_groups(group_fits[0], form_fits["saturating_power_law"], [1e21])


# --------------------------------------------------------- inverse prediction


def test_compute_for_accuracy_brackets_the_truth(group_fits):
    fit = group_fits[0]  # log_a = -0.9, alpha = 0.15
    target = 0.8
    q = (target - 0.25) / 0.75
    truth = 1e21 * np.exp((-0.9 - np.log(-np.log(q))) / 0.15)
    row = compute_for_accuracy(fit, target).iloc[0]
    assert row["p_reached"] == 1.0
    assert row["compute_lower_90"] < truth < row["compute_upper_90"]
    assert "needs" in row["answer"] and np.isnan(row["p_above_ceiling"])


def test_target_above_the_ceiling_is_out_of_reach(form_fits):
    fit = form_fits["saturating_power_law"]  # ceiling 0.85 (see SATURATING_TRUTH)
    row = compute_for_accuracy(fit, 0.97).iloc[0]
    assert row["p_above_ceiling"] > 0.95 and row["p_reached"] < 0.05
    assert np.isinf(row["compute_median"])
    assert row["answer"].startswith("accuracy 0.97 is out of reach: above the law's ceiling")
    with pytest.raises(bs.SpecError, match="option target"):
        compute_for_accuracy(fit, 0.2)
