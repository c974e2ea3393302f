"""The backtest: its scores, its baselines and the command end to end on a small corpus."""

import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from bayes_scaling import backtest as bt
from bayes_scaling.cli import main
from conftest import conjugate_split_record


def test_crps_from_draws_matches_the_normal_closed_form():
    # CRPS of N(0, 1) at y: y (2 Phi(y) - 1) + 2 phi(y) - 1 / sqrt(pi) (Gneiting and Raftery 2007).
    draws = norm.ppf((np.arange(20_000) + 0.5) / 20_000)[:, None].repeat(3, axis=1)
    observed = np.array([0.0, 1.0, -2.5])
    exact = observed * (2 * norm.cdf(observed) - 1) + 2 * norm.pdf(observed) - 1 / np.sqrt(np.pi)
    np.testing.assert_allclose(bt.crps_from_draws(draws, observed), exact, atol=1e-3)


def test_interval_score_penalises_misses_by_two_over_alpha():
    lower, upper = np.array([0.4, 0.4, 0.4]), np.array([0.6, 0.6, 0.6])
    observed = np.array([0.5, 0.3, 0.7])
    np.testing.assert_allclose(bt.interval_score(lower, upper, observed, 0.1), [0.2, 0.2 + 20 * 0.1, 0.2 + 20 * 0.1])


def test_cutoffs_leave_enough_runs_on_both_sides():
    flops = np.geomspace(1e18, 1e22, 20)
    cutoffs = bt.choose_cutoffs(flops)
    assert len(cutoffs) == 3
    for cutoff in cutoffs:
        fitted = np.sum(flops <= cutoff)
        assert bt.MIN_FITTED_RUNS <= fitted < 20 and 0.4 <= fitted / 20 <= 0.9
    # A five-run ladder fits its four smallest runs; a four-run ladder cannot be backtested.
    assert bt.choose_cutoffs(flops[:5]) == [flops[3]]
    assert bt.choose_cutoffs(flops[:4]) == []


def test_conformal_intervals_have_their_nominal_coverage_on_exchangeable_scores():
    # Calibration and test scores from the same distribution: the split-conformal
    # 90% interval covers at least 90% (Lei et al. 2018), and not much more.
    rng = np.random.default_rng(0)
    records = [conjugate_split_record(rng, "sim", 0.2, 1.0) for _ in range(300)]
    calibration = bt.conformal_scores(records[:150])
    inside = []
    for number, record in enumerate(records[150:]):
        draws = bt.conformal_draws(record, calibration, np.random.default_rng(number), n_draws=4000)
        lower, upper = np.quantile(draws, [0.05, 0.95], axis=0)
        z = record.held["z"].to_numpy()
        inside.append((z >= lower) & (z <= upper))
    # 150 splits of 8 runs sharing their bend: effective sample nearer 150, standard error about 2.5 points.
    assert 0.85 < np.mean(np.concatenate(inside)) < 0.96


def test_pair_bootstrap_interval_contains_the_pooled_share():
    rng = np.random.default_rng(0)
    group = pd.DataFrame({"pair": np.repeat([f"p{i}" for i in range(20)], 5), "inside_90": rng.uniform(size=100) < 0.8})
    low, high = bt.pair_bootstrap(group, "inside_90", rng, 2000)
    assert low < group["inside_90"].mean() < high and high - low < 0.3


@pytest.fixture(scope="module")
def small_backtest(tmp_path_factory):
    """The command on two data sets, one benchmark each (the first in alphabetical order)."""
    out = tmp_path_factory.mktemp("backtest")
    code = main(["backtest", "--datasets", "krajewski2025_c4,krajewski2025_dclm", "--benchmarks-per-dataset", "1",
                 "--num-warmup", "500", "--num-samples", "500", "--quiet", "--out", str(out)])
    return code, out


def test_backtest_command_runs_end_to_end_on_a_small_corpus(small_backtest, capsys):
    code, out = small_backtest
    assert code == 0
    for name in ("points.csv", "by_dataset.csv", "by_bucket.csv", "reliability.csv", "skipped.csv", "priors.json",
                 "reliability.png", "reliability.pdf"):
        assert (out / name).is_file(), name
    points = pd.read_csv(out / "points.csv")
    assert set(points["method"]) == {*bt.METHODS, "paper_point_fit"}
    assert set(points["dataset"]) == {"krajewski2025_c4", "krajewski2025_dclm"}
    # Every method scores the same held-out runs.
    runs = points.groupby("method").size()
    assert runs.nunique() == 1 and runs.iloc[0] > 30
    # The summary is the pooled share of the answered points, per data set; refusals are counted.
    summary = pd.read_csv(out / "by_dataset.csv").set_index(["method", "dataset"])
    answered = points[~points["refused"] & (points["method"] != "paper_point_fit")]
    for (method, dataset), group in answered.groupby(["method", "dataset"]):
        assert summary.loc[(method, dataset), "coverage_90"] == pytest.approx(group["inside_90"].mean())
        assert summary.loc[(method, dataset), "n_runs"] == len(group)
        assert summary.loc[(method, dataset), "n_refused"] == points[(points["method"] == method) & (
            points["dataset"] == dataset)]["refused"].sum()
    # Leave one data set out: each data set's prior is learned on the other one alone.
    priors = json.loads((out / "priors.json").read_text())
    assert priors["krajewski2025_c4"]["provenance"]["learned_on"] == ["krajewski2025_dclm"]
    assert priors["krajewski2025_dclm"]["provenance"]["learned_on"] == ["krajewski2025_c4"]
    assert sorted(priors["all"]["provenance"]["learned_on"]) == ["krajewski2025_c4", "krajewski2025_dclm"]
    # The form-error term only widens intervals, and more the further out.
    wide = answered[answered["method"] == "form_error"].reset_index(drop=True)
    narrow = answered[answered["method"] == "parametric"].reset_index(drop=True)
    assert (wide["width_90"] >= narrow["width_90"] - 1e-3).mean() > 0.95
    gain = (wide["width_90"] - narrow["width_90"]).groupby(wide["distance"] > 1).mean()
    assert gain[True] > gain[False] > 0
    # The reliability table's 90% row is the share inside the 90% intervals (the two
    # read the same draws; a run on an interval's end may fall either way: one run).
    reliability = pd.read_csv(out / "reliability.csv")
    row = reliability[(reliability["method"] == "parametric") & (reliability["dataset"] == "krajewski2025_dclm")
                      & np.isclose(reliability["nominal"], 0.9)]
    dclm = answered[(answered["method"] == "parametric") & (answered["dataset"] == "krajewski2025_dclm")]
    assert row["empirical"].iloc[0] == pytest.approx(dclm["inside_90"].mean(), abs=1.01 / len(dclm))


def test_backtest_rejects_an_unknown_data_set(capsys):
    assert main(["backtest", "--datasets", "nope", "--quiet"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "nope" in error and "krajewski2025_dclm" in error
