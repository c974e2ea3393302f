"""The comparison and decision commands: compare, evaluate, groups, compute-for."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bayes_scaling as bs
from bayes_scaling.cli import main
from bayes_scaling.paper_method import paper_fit

from references import assert_probability_matches_difference

MODELS = Path(__file__).resolve().parents[1] / "models"
# The test suite's usual draws (conftest.FAST), so these fits share compiled
# programs with the other tests.
DRAWS = ["--num-warmup", "500", "--num-samples", "500", "--num-chains", "4", "--quiet", "--no-retry"]


def test_compare_prints_loo_table_and_says_it_is_interpolation(tmp_path, capsys):
    code = main(["compare", "--spec", str(MODELS / "dclm_power_law.toml"), "--benchmark", "arc_easy",
                 "--forms", "power_law,saturating_power_law", "--csv", str(tmp_path / "loo.csv"), *DRAWS])
    assert code == 0
    out = capsys.readouterr().out
    assert "arc_easy: PSIS-LOO" in out and "interpolation" in out
    table = pd.read_csv(tmp_path / "loo.csv")
    assert sorted(table["form"]) == ["power_law", "saturating_power_law"]
    assert (table["benchmark"] == "arc_easy").all() and table["weight"].sum() == pytest.approx(1.0)


def test_compare_refuses_to_mix_two_stage_and_direct(capsys):
    code = main(["compare", "--spec", str(MODELS / "dclm_headline.toml"), *DRAWS])
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not comparable with direct forms" in err


def test_evaluate_scores_each_benchmark_by_both_methods(tmp_path, capsys):
    code = main(["evaluate", "--spec", str(MODELS / "dclm_headline.toml"), "--benchmark", "arc_easy,hellaswag",
                 "--forms", "power_law", "--cutoffs", "1e21", "--out", str(tmp_path), *DRAWS])
    assert code == 0
    scores = pd.read_csv(tmp_path / "scores.csv")
    # 2 benchmarks x (bayes, paper)
    assert len(scores) == 4 and (scores["status"] == "ok").all()
    assert set(scores["method"]) == {"bayes", "paper"} and (scores["n_held_out"] == 17).all()
    # The paper method's error, recomputed here from its own fit of the same runs.
    dclm = bs.load_dataset("krajewski2025_dclm")
    for benchmark in ("arc_easy", "hellaswag"):
        data = bs.select(dclm, benchmark, tpr=20, max_compute=1e21)
        held = data.held_out
        mae = np.mean(np.abs(paper_fit(data, "power_law").predict_frame(held) - held["value"]))
        row = scores[(scores["benchmark"] == benchmark) & (scores["method"] == "paper")].iloc[0]
        assert row["mae"] == pytest.approx(mae, rel=1e-6) and row["n_held_out"] == len(held)
        # The posterior median of a well-identified line sits on the least-squares fit: errors within 0.003.
        bayes = scores[(scores["benchmark"] == benchmark) & (scores["method"] == "bayes")].iloc[0]
        assert abs(bayes["mae"] - mae) < 0.003
    bayes = scores[scores["method"] == "bayes"]
    # Coverage is a count of the 17 held-out runs, and a fit with a score has one for every run.
    assert np.allclose(bayes["coverage_90"] * 17, np.round(bayes["coverage_90"] * 17)) and bayes["elpd"].notna().all()
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert len(summary) == 2 and (summary["n_benchmarks"] == 2).all()
    # The summary pools the benchmarks' runs: run-weighted means of their scores.
    for method, pooled in summary.set_index("method").iterrows():
        rows = scores[scores["method"] == method]
        assert pooled["n_held_out"] == rows["n_held_out"].sum() == 34
        for column in ("mae", "mre", "coverage_90", "elpd"):
            if rows[column].notna().all():
                expected = np.average(rows[column], weights=rows["n_held_out"])
                if column == "elpd":
                    expected = rows[column].sum()
                assert pooled[column] == pytest.approx(expected, rel=1e-9), (method, column)


# The two-stage fits compile programs of their own (two minutes on 2 cores);
# notebooks/paper_reproduction.ipynb, run by test_notebooks, covers the same
# direct-against-two-stage evaluation through the API in the default run.
@pytest.mark.slow
def test_evaluate_headline_spec(tmp_path, capsys):
    code = main(["evaluate", "--spec", str(MODELS / "dclm_headline.toml"), "--benchmark", "arc_easy,hellaswag",
                 "--cutoffs", "1e21", "--out", str(tmp_path), *DRAWS])
    assert code == 0
    out = capsys.readouterr().out
    assert "direct minus two-stage" in out
    scores = pd.read_csv(tmp_path / "scores.csv")
    # 2 forms x 2 benchmarks x (bayes, paper)
    assert len(scores) == 8 and (scores["status"] == "ok").all()
    duel = pd.read_csv(tmp_path / "direct_vs_two_stage.csv")
    assert list(duel["benchmark"]) == ["arc_easy", "hellaswag", "all"]
    # P(direct closer) agrees with the posterior of the difference d = MAE_direct - MAE_two_stage.
    assert_probability_matches_difference(duel, "p_direct_closer")


def test_groups_compares_two_mixtures(tmp_path, capsys):
    code = main(["groups", "--spec", str(MODELS / "mixtures_c4_dclm.toml"), "--benchmark", "arc_easy",
                 "--groups", "dclm,c4", "--compute", "1e20,1e22", "--csv", str(tmp_path / "groups.csv"), *DRAWS])
    assert code == 0
    out = capsys.readouterr().out
    assert "arc_easy: dclm against c4" in out and "p_crossover" in out
    table = pd.read_csv(tmp_path / "groups.csv")
    assert list(table["compute"]) == [1e20, 1e22]
    # Each group's own least-squares fit (the paper's method, same runs) predicts a difference
    # inside the posterior's 90% interval; measured: 0.044 and 0.055, DCLM ahead, every draw.
    fits = {group: paper_fit(bs.select(bs.load_dataset(f"krajewski2025_{group}"), "arc_easy", tpr=20,
                                       max_compute=1e21), "power_law") for group in ("dclm", "c4")}
    point = fits["dclm"].predict(compute=table["compute"]) - fits["c4"].predict(compute=table["compute"])
    assert ((table["difference_lower_90"] <= point) & (point <= table["difference_upper_90"])).all()
    assert (table["difference_lower_90"] > 0).all() and (table["p_dclm_better"] > 0.95).all()
    assert main(["groups", "--spec", str(MODELS / "mixtures_c4_dclm.toml"), "--groups", "dclm",
                 "--compute", "1e20"]) == 2


def test_compute_for_reads_a_saved_fit(tmp_path, capsys):
    assert main(["fit", "--dataset", "krajewski2025_dclm", "--benchmark", "arc_easy", "--tpr", "20",
                 "--max-compute", "1e21", "--out", str(tmp_path), *DRAWS]) == 0
    capsys.readouterr()
    code = main(["compute-for", str(tmp_path / "fits" / "arc_easy.nc"), "--accuracy", "0.7,0.8",
                 "--csv", str(tmp_path / "inverse.csv")])
    assert code == 0
    out = capsys.readouterr().out
    assert "accuracy 0.7 needs" in out
    table = pd.read_csv(tmp_path / "inverse.csv")
    # More accuracy needs more compute.
    assert table["compute_median"].iloc[0] < table["compute_median"].iloc[1]
    assert main(["compute-for", str(tmp_path / "fits" / "arc_easy.nc"), "--accuracy", "0.1"]) == 2
    assert "option target" in capsys.readouterr().err


# Every registered form compiles a program of its own here (bnsl_2 and the two
# pure-power-law-loss variant nowhere else): `-m slow`. The paper rows of the forms
# the paper never wrote are checked without sampling in test_paper_method.
@pytest.mark.slow
def test_evaluate_works_for_every_registered_form(tmp_path, capsys):
    # Every registered form (other tests may have registered bnsl_3 and the like), bnsl_2 among them,
    # grouped by the inputs a spec's data give it.
    laws = {**bs.available_laws(), "bnsl_2": bs.get_law("bnsl_2")}
    by_inputs = {inputs: sorted(form for form, law in laws.items() if law.inputs == inputs)
                 for inputs in {law.inputs for law in laws.values()}}
    runs = {"dclm_headline": ("hellaswag", by_inputs.pop(("compute",))),
            "dclm_additive_nd": ("hellaswag", by_inputs.pop(("params", "tokens"))),
            "dclm_pass_at_k": ("humaneval", by_inputs.pop(("compute", "k")))}
    assert not by_inputs, by_inputs
    for spec, (benchmark, forms) in runs.items():
        out = tmp_path / spec
        code = main(["evaluate", "--spec", str(MODELS / f"{spec}.toml"), "--benchmark", benchmark,
                     "--forms", ",".join(forms), "--cutoffs", "1e21", "--out", str(out), *DRAWS])
        assert code == 0, capsys.readouterr().err
        scores = pd.read_csv(out / "scores.csv")
        assert (scores["status"] == "ok").all(), scores[["form", "method", "status"]]
        for form in forms:
            rows = scores[scores["form"] == form].set_index("method")
            assert set(rows.index) == {"bayes", "paper"}, form
            assert np.isfinite(rows.loc["paper", "mae"]) and np.isfinite(rows.loc["bayes", "elpd"]), form
    assert {f for _, forms in runs.values() for f in forms} == set(laws)
