"""The comparison and decision commands: compare, evaluate, groups, compute-for."""

from pathlib import Path

import pandas as pd
import pytest

from bayes_scaling.cli import main

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
    assert scores["mae"].between(0, 0.2).all()
    bayes = scores[scores["method"] == "bayes"]
    assert bayes["coverage_90"].between(0, 1).all() and bayes["elpd"].notna().all()
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert len(summary) == 2 and (summary["n_benchmarks"] == 2).all()


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
    assert duel["p_direct_closer"].between(0, 1).all()


def test_groups_compares_two_mixtures(tmp_path, capsys):
    code = main(["groups", "--spec", str(MODELS / "mixtures_c4_dclm.toml"), "--benchmark", "arc_easy",
                 "--groups", "dclm,c4", "--compute", "1e20,1e22", "--csv", str(tmp_path / "groups.csv"), *DRAWS])
    assert code == 0
    out = capsys.readouterr().out
    assert "arc_easy: dclm against c4" in out and "p_crossover" in out
    table = pd.read_csv(tmp_path / "groups.csv")
    assert list(table["compute"]) == [1e20, 1e22] and table["p_dclm_better"].between(0, 1).all()
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
