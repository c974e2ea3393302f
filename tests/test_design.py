"""Design of the next run: its checks on simulated ladders with a known truth, its inputs, its command."""

import json

import numpy as np
import pandas as pd
import pytest

from bayes_scaling.cli import main
from bayes_scaling.design import (
    answer, candidate_grid, candidates_from_table, design_next_runs, read_candidates, target_inputs,
)
from bayes_scaling.design_check import simulated_study
from bayes_scaling.errors import BayesScalingError, DataError, SpecError
from bayes_scaling.laws import get_law
from bayes_scaling.settings import SamplerSettings

#: Refits of the tests: the package's design settings (2 chains x 500 draws) without retries.
DESIGN_TEST = SamplerSettings(num_warmup=500, num_samples=500, num_chains=2, retry=False)


@pytest.fixture(scope="module")
def study():
    # 5 ladders x 3 candidates x 6 outcomes: 90 design refits, 15 obtained ones (about a minute on 2 cores).
    return simulated_study(5, n_outcomes=6, candidate_compute=(3e19, 3e20, 3e21), settings=DESIGN_TEST, seed=0)


def test_predicted_width_matches_the_width_obtained_by_adding_the_run(study):
    # The rule: the width predicted before a run is trained matches the width obtained after
    # training it (outcome from the truth, refit), ratio within 10%, for every candidate (mean over ladders).
    table = study.by_candidate()
    assert len(table) == 3
    assert np.all(np.abs(table["ratio"] - 1.0) < 0.10), table
    # Per ladder too, most single predictions are within 10% (the outcome moves one refit's width).
    each = study.table["predicted_width"] / study.table["obtained_width"]
    assert np.mean(np.abs(each - 1.0) < 0.10) >= 0.8, each


def test_suggested_run_narrows_the_interval_as_much_as_any_candidate(study):
    # On average over ladders, the suggested run's obtained width is no worse than the best fixed candidate's,
    # within two standard errors of the paired difference.
    found = study.suggested_against_best()
    assert found["difference"] <= 2.0 * found["difference_se"] + 1e-12, found
    # And the design ranks the candidates as the obtained widths do: the three differ well beyond Monte Carlo error.
    table = study.by_candidate()
    assert list(np.argsort(table["predicted_width"])) == list(np.argsort(table["obtained_width"]))
    # A run inside the ladder removes no form error: it barely narrows the target (< 5%), the largest halves it.
    inside = study.table[study.table["compute"] < 1e20]
    assert np.all(inside["predicted_width"] > 0.95 * inside["current_width"])
    largest = study.table[study.table["compute"] == 3e21]
    assert np.all(largest["predicted_width"] < 0.5 * largest["current_width"])


@pytest.fixture(scope="module")
def arc_fit(dclm):
    from bayes_scaling import fit, select

    data = select(dclm, "arc_easy", tpr=20, max_compute=1e20)
    return fit(data, settings=DESIGN_TEST)


def test_design_of_a_dclm_fit_with_a_budget_and_a_question(arc_fit):
    target = {"params": 7e9, "tokens": 1.4e11}
    candidates = pd.DataFrame({"params": [3e8, 1.2e9, 2.5e9], "tokens": [6e9, 2.4e10, 5e10]})
    result = design_next_runs(arc_fit, target, candidates, budget=9e20, threshold=0.75, n_outcomes=4,
                              settings=DESIGN_TEST)
    singles = result.designs[result.designs["runs"] == 1]
    pairs = result.designs[result.designs["runs"] == 2]
    # Costs 1.1e19, 1.7e20 and 7.5e20 FLOPs: all three fit in 9e20, and two of the three pairs.
    assert len(singles) == 3 and len(pairs) == 2
    assert np.all(pairs["cost"] <= 9e20)
    assert result.designs["suggested"].sum() == 1
    assert {"expected_width", "width_se", "reduction_per_cost", "p_answer_changes", "expected_p_above"} <= set(
        result.designs.columns)
    assert result.current["answer"].iloc[0] in {"yes", "no", "unsure"}
    # No result without its diagnostics: today's fit's and the refits'.
    assert {"max_rhat", "min_ess_bulk", "n_divergent"} <= set(result.current.columns)
    assert {"max_rhat", "min_ess_bulk", "n_divergent", "n_failed"} <= set(result.designs.columns)
    assert (result.designs["max_rhat"] < 1.1).all()
    assert np.all((result.designs["p_answer_changes"] >= 0) & (result.designs["p_answer_changes"] <= 1))
    # Nearer the target, narrower: the largest candidate beats the smallest by far more than its error.
    small, large = singles.sort_values("compute")["expected_width"].iloc[[0, -1]]
    assert large < small - 4 * singles["width_se"].max()
    assert "arc_easy" in result.summary()


def test_pairs_are_dropped_when_the_budget_allows_one_run(arc_fit):
    candidates = pd.DataFrame({"params": [3e8, 2.5e9], "tokens": [6e9, 5e10]})
    result = design_next_runs(arc_fit, 5.9e21, candidates, budget=1e20, n_outcomes=2, settings=DESIGN_TEST)
    assert list(result.designs["runs"]) == [1]
    assert "1 of 2 candidates cost more than the budget" in result.notes[0]


def test_candidate_grids_follow_the_law(arc_fit):
    grid = candidate_grid(arc_fit, {"params": 7e9, "tokens": 1.4e11}, n=4)
    compute = [c.compute for c in grid]
    assert len(grid) == 4 and compute == sorted(compute)
    assert compute[-1] == pytest.approx(6 * 7e9 * 1.4e11 / 2)
    # Direct laws are fitted at one TPR: candidates stay on it.
    for c in grid:
        assert c.runs["tokens"].iloc[0] / c.runs["params"].iloc[0] == pytest.approx(20.0)
    with pytest.raises(SpecError, match="not above twice the ladder's median run"):
        candidate_grid(arc_fit, 1e18)


def test_target_inputs_and_answers():
    power, additive, pass_k = get_law("power_law"), get_law("additive_nd"), get_law("pass_at_k")
    assert target_inputs(power, 1e22) == {"compute": 1e22}
    assert target_inputs(power, {"params": 1e9, "tokens": 2e10})["compute"] == pytest.approx(1.2e20)
    assert target_inputs(additive, {"params": 1e9, "tokens": 2e10})["compute"] == pytest.approx(1.2e20)
    with pytest.raises(SpecError, match="needs params, tokens"):
        target_inputs(additive, 1e22)
    with pytest.raises(SpecError, match="needs k"):
        target_inputs(pass_k, 1e22)
    with pytest.raises(SpecError, match="compute must be positive"):
        target_inputs(power, {"compute": -1})
    assert [answer(p, 0.9) for p in (0.95, 0.5, 0.05)] == ["yes", "unsure", "no"]


def test_candidate_tables_are_checked(tmp_path):
    runs = pd.DataFrame({"params": [1e8, 2e8], "tokens": [2e9, 4e9], "flops": [1.2e18, 4.8e18], "k": [1.0, 1.0],
                         "value": [0.4, 0.45], "chance": [0.25, 0.25], "run_id": ["a", "b"]})
    listed = candidates_from_table(get_law("pass_at_k"), pd.DataFrame({"k": [256]}), runs)
    # pass@k: one candidate per k, sampled at every model of the ladder; its cost in samples per problem.
    assert len(listed) == 1 and len(listed[0].runs) == 2 and listed[0].cost == 512
    direct = candidates_from_table(get_law("power_law"), pd.DataFrame({"flops": [1e21]}), runs)
    assert direct[0].runs["tokens"].iloc[0] / direct[0].runs["params"].iloc[0] == pytest.approx(20.0)
    with pytest.raises(SpecError, match="row 0: law 'additive_nd' needs params and tokens"):
        candidates_from_table(get_law("additive_nd"), pd.DataFrame({"flops": [1e21]}), runs)
    path = tmp_path / "c.csv"
    path.write_text("params,tokens,size\n1e9,2e10,big\n")
    with pytest.raises(DataError, match="unknown column 'size'"):
        read_candidates(path)
    path.write_text("params,tokens\n1e9,many\n")
    with pytest.raises(DataError, match="row 0, column 'tokens': 'many' is not a number"):
        read_candidates(path)
    with pytest.raises(DataError, match="no such file"):
        read_candidates(tmp_path / "missing.csv")


def test_two_stage_fits_are_refused(arc_fit):
    arc_fit = arc_fit.copy()
    arc_fit.attrs = {**arc_fit.attrs, "law": "two_stage"}
    with pytest.raises(BayesScalingError, match="design needs a direct law"):
        design_next_runs(arc_fit, 1e22, n_outcomes=2)


def test_design_command(tmp_path, capsys):
    path = tmp_path / "candidates.csv"
    pd.DataFrame({"label": ["small", "large"], "params": [3e8, 2.5e9], "tokens": [6e9, 5e10]}).to_csv(path, index=False)
    code = main(["design", "--dataset", "krajewski2025_dclm", "--benchmark", "arc_easy", "--tpr", "20",
                 "--max-compute", "1e20", "--target-params", "7e9", "--target-tokens", "1.4e11",
                 "--threshold", "0.75", "--candidates", str(path), "--no-pairs", "--n-outcomes", "2",
                 "--num-warmup", "500", "--num-samples", "500", "--num-chains", "2", "--no-retry", "--quiet",
                 "--out", str(tmp_path / "out"), "--json"])
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert [row["design"] for row in printed["tables"]["designs"]] == ["small", "large"]
    assert any("suggested" in note for note in printed["notes"])
    assert {p.name for p in (tmp_path / "out").iterdir()} >= {"design.csv", "current.csv", "design.png", "design.pdf"}


@pytest.mark.parametrize(("args", "message"), [
    ([], "--target-compute (or --target-params and --target-tokens) is required"),
    (["--target-compute", "1e22", "--budget", "-1"], "option budget: must be positive"),
    (["--target-compute", "1e22", "--form", "two_stage", "--loss-benchmark", "dclm"], "design needs a direct law"),
])
def test_design_command_errors_are_one_line(args, message, capsys):
    code = main(["design", "--dataset", "krajewski2025_dclm", "--benchmark", "arc_easy", "--tpr", "20",
                 "--max-compute", "1e19", "--num-warmup", "100", "--num-samples", "100", "--quiet", *args])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_suggestion_is_the_cheapest_design_as_good_as_the_best():
    from bayes_scaling.design import _suggest

    rng = np.random.default_rng(0)
    base = 0.10 + 0.01 * rng.standard_normal(8)  # outcomes shared by the designs (common random numbers)
    widths = np.array([base + 0.0001 * rng.standard_normal(8),   # cheap, indistinguishable from the best
                       base - 0.0001,                             # narrowest, expensive
                       base + 0.02])                              # clearly wider
    table = pd.DataFrame({"benchmark": "b", "design": ["cheap", "best", "wide"], "cost": [1.0, 10.0, 0.5],
                          "expected_width": widths.mean(axis=1),
                          "width_se": widths.std(axis=1, ddof=1) / np.sqrt(8)})
    table["reduction"] = 0.2 - table["expected_width"]
    table["reduction_se"] = table["width_se"]
    marked = _suggest(table, widths)
    assert list(marked["as_good_as_best"]) == [True, True, False]
    assert list(marked.loc[marked["suggested"], "design"]) == ["cheap"]
    # The cheap design does not narrow today's interval beyond Monte Carlo error: the best one is suggested.
    table["reduction"] = [0.0, 0.1, 0.1]
    assert list(_suggest(table, widths).loc[lambda t: t["suggested"], "design"]) == ["best"]
    # Equal costs up to rounding (one compute at several TPRs): the narrower of the two.
    table["reduction"] = 0.1
    table["cost"] = [10.0, 10.0 * (1 + 1e-15), 0.5]
    assert list(_suggest(table, widths).loc[lambda t: t["suggested"], "design"]) == ["best"]
    # Nothing narrows today's interval beyond Monte Carlo error: nothing is suggested.
    table["reduction"] = 0.0
    assert not _suggest(table, widths)["suggested"].any()


def test_dclm_backtest_adds_the_suggested_run_and_the_next_in_compute(arc_fit):
    # The backtest, on a small grid: ARC-Easy fitted on runs <= 1e20 FLOPs, target the 6.8B run,
    # one step of each policy (the full run: benchmarks/design_check.py).
    from bayes_scaling.design_check import ladder_backtest

    table = ladder_backtest({"arc_easy": arc_fit}, {"arc_easy": "dclm-046"}, steps=1, n_outcomes=3,
                            settings=DESIGN_TEST)
    assert list(table["step"]) == [0, 1, 0, 1]
    start, design, _, ordered = (row for _, row in table.iterrows())
    # Compute order adds the next run above 1e20; the design a run within a tenth of the target's compute.
    assert ordered["added"] == "dclm-028" and 1e20 < design["added_compute"] <= 5.63e21 / 10
    assert design["width"] <= ordered["width"] < start["width"]
    assert design["largest_fitted"] == design["added_compute"] and design["spent"] == design["added_compute"]
    assert table["n_later"].iloc[0] > table["n_later"].iloc[1]
    # The width obtained with the run's measured accuracy is the one the design predicted, within 10%.
    assert abs(design["width"] / design["predicted_width"] - 1.0) < 0.10
    assert np.isnan(ordered["predicted_width"])


@pytest.mark.slow
def test_design_of_the_additive_law_and_of_pass_at_k(dclm):
    # Which TPR to add (additive N/D over the DCLM TPRs) and which k to sample (pass@k on HumanEval):
    # both designed end to end with one engine call each, on small grids.
    from bayes_scaling import fit_many, get_law

    additive = get_law("additive_nd").select_data(dclm, "arc_easy", max_compute=1e20)
    nd_fit = fit_many([additive], "additive_nd", settings=DESIGN_TEST)[0]
    target = {"params": 7e9, "tokens": 1.4e11}
    grid = candidate_grid(nd_fit, target, n=2)
    tprs = sorted({round(c.runs["tokens"].iloc[0] / c.runs["params"].iloc[0]) for c in grid})
    assert tprs == [10, 20, 40, 80, 160]  # the ladder's TPRs (the target's, 20, among them)
    result = design_next_runs(nd_fit, target, grid, n_outcomes=2, settings=DESIGN_TEST)
    assert len(result.designs) == len(grid) == 10 and result.designs["suggested"].sum() <= 1
    larger = result.designs[result.designs["compute"] == result.designs["compute"].max()]
    assert (larger["expected_width"] < result.current["width"].iloc[0]).all()

    code = get_law("pass_at_k").select_data(dclm, "humaneval", metric="pass_at_k", tpr=20, max_compute=1e20)
    k_fit = fit_many([code], "pass_at_k", settings=DESIGN_TEST)[0]
    listed = candidate_grid(k_fit, {"compute": 5.6e21, "k": 1000}, n=2)
    # Doublings of the ladder's largest k (128) and the target's k: each sampled at every model.
    assert [c.runs["k"].iloc[0] for c in listed] == [256, 512, 1000]
    assert all(len(c.runs) == code.fitted["flops"].nunique() for c in listed)
    result = design_next_runs(k_fit, {"compute": 5.6e21, "k": 1000}, listed, n_outcomes=2, settings=DESIGN_TEST)
    assert result.cost_unit == "samples per problem" and len(result.designs) == 3
    assert np.isfinite(result.designs["expected_width"]).all()


def test_pairs_within_the_budget():
    from bayes_scaling.design import Candidate, _pairs

    listed = [Candidate(f"c{i}", pd.DataFrame({"params": [1.0], "tokens": [1.0], "flops": [10.0**i], "k": [1.0]}),
                        10.0**i) for i in range(8)]
    notes = []
    assert _pairs(listed, None, None, notes, "b") == []  # no budget: single runs unless pairs=True
    few = _pairs(listed[:5], 1.5e4, None, notes, "b")
    # Every pair of c0..c4 whose cost fits in 1.5e4 (c4 costs 1e4, so c4 with each of c0..c3, and the rest).
    assert len(few) == 10 and not notes
    many = _pairs(listed, 2e7, None, notes, "b")
    # 28 pairs fit: beyond MAX_PAIRS, each candidate with its largest partner (c7, and c7 with c6).
    assert sorted(label for label, _ in many) == sorted([f"c{i} + c7" for i in range(6)] + ["c7 + c6"])
    assert "28 pairs fit in the budget; 7 were designed" in notes[0]


def test_refits_use_the_fits_priors(dclm):
    import numpyro.distributions as dist

    from bayes_scaling import fit, select

    custom = fit(select(dclm, "arc_easy", tpr=20, max_compute=1e20), priors={"alpha": dist.HalfNormal(0.3)},
                 settings=DESIGN_TEST)
    with pytest.raises(SpecError, match="the fit used other priors for alpha; pass them as priors="):
        design_next_runs(custom, 1e22, n_outcomes=2)
