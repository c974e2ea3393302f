"""Every bundled loader: row counts, columns, chance levels; user tables with renamed columns."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bayes_scaling as bs
from bayes_scaling.datasets import load_counts, unbiased_pass_at_k
from bayes_scaling.schema import COLUMNS

#: Published benchmark means of Large Language Monkeys pass@k (7 Pythia models, k = 1, 100, 10000),
#: shipped with the tests; the file's header gives their origin and licence.
#: The raw copies (``shared/data`` beside the repository), where they are.
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
LLMONKEYS_REFERENCE = Path(__file__).resolve().parent / "data" / "llmonkeys_pythia_math_passk.csv"

#: Krajewski et al.: 13 accuracy columns (acc and acc_norm of ARC-Easy, ARC-Challenge, HellaSwag, PIQA,
#: SciQ; acc of Winogrande, LAMBADA, MMLU), 3 exact-match (TriviaQA, WebQS, GSM8K; MATH apart), 3 losses,
#: 3 code benchmarks x 8 k. Where the source leaves cells empty, the runs that have them, counted in the raw
#: copies (SOURCE.md; re-counted by test_partial_columns_match_the_raw_copies where they are beside us):
KRAJEWSKI_PER_RUN = 13 + 3 + 3 + 3 * 8
DCLM_RUNS_WITH_MATH = 43
C4_RUNS_WITH_CODE = {"humaneval": 27, "mbpp": 24, "lbpp": 26}

# (name, rows, distinct runs), each built from PROVENANCE.md's description of the file.
EXPECTED = [
    # 149 source rows, one duplicate dropped; MATH only where the source has it.
    ("krajewski2025_dclm", 148 * KRAJEWSKI_PER_RUN + DCLM_RUNS_WITH_MATH, 148),
    # 44 runs; the code benchmarks only where the source has them.
    ("krajewski2025_c4", 44 * (KRAJEWSKI_PER_RUN - 3 * 8) + 8 * sum(C4_RUNS_WITH_CODE.values()), 44),
    # 104 runs x (46 task accuracies + 8 validation losses).
    ("gadre2024", 104 * (46 + 8), 104),
    # 30 ladder runs and 2 targets x (13 tasks x (acc_norm, bpb) + 11 validation losses).
    ("olmo_ladder", 32 * (13 * 2 + 11), 32),
    # 7 Pythia models x 15 k (1, 2, 4, ..., 8192, 10000).
    ("llmonkeys_pythia_math", 7 * 15, 7),
]


@pytest.mark.parametrize("name,rows,runs", EXPECTED)
def test_bundled_dataset_shape(name, rows, runs):
    table = bs.load_dataset(name)
    assert list(table.columns[: len(COLUMNS)]) == COLUMNS
    assert len(table) == rows
    assert table["run_id"].nunique() == runs
    assert (table["flops"] > 0).all()
    acc = table[table["metric"] != "loss"]
    acc = acc[acc["metric"] != "bpb"]
    assert acc["value"].between(0, 1).all()
    assert acc["chance"].between(0, 1, inclusive="left").all()


def test_partial_columns_match_the_raw_copies(dclm):
    # The counts above, read off the raw copies with plain pandas (not the loader), and the loader's
    # tables agreeing with them benchmark by benchmark.
    raw = SHARED / "krajewski2025"
    if not raw.is_dir():
        pytest.skip("shared/data not beside the repository: the raw copies are not shipped")
    source = pd.read_csv(raw / "dclm_mixture.csv")
    assert source["math_minerva_exact_match"].notna().sum() == DCLM_RUNS_WITH_MATH
    assert dclm.loc[dclm["benchmark"] == "math", "run_id"].nunique() == DCLM_RUNS_WITH_MATH
    c4_source = pd.read_csv(raw / "c4_mixture.csv")
    c4 = bs.load_dataset("krajewski2025_c4")
    for benchmark, runs in C4_RUNS_WITH_CODE.items():
        assert c4_source[f"{benchmark}_pass@1"].notna().sum() == runs, benchmark
        assert c4.loc[c4["benchmark"] == benchmark, "run_id"].nunique() == runs, benchmark
    # The HumanEval runs that solve nothing at any k (test_additive_and_pass_at_k lists them).
    columns = [f"humaneval_pass@{k}" for k in (1, 2, 4, 8, 16, 32, 64, 128)]
    zero = source[(source[columns] == 0).all(axis=1)]["file_block_order"].tolist()
    assert zero == [1, 56, 59, 63, 68, 100]


def test_krajewski_dclm_layout(dclm):
    tpr20 = dclm[(dclm["tpr"] == 20) & (dclm["benchmark"] == "arc_easy") & (dclm["metric"] == "acc")]
    # 55 rows in the source at TPR 20, one of them a duplicate listing of the same run.
    assert len(tpr20) == 54
    assert tpr20["flops"].min() == pytest.approx(1e18, rel=1e-3)
    assert tpr20["flops"].max() == pytest.approx(3.83e22, rel=1e-3)
    code = dclm[(dclm["metric"] == "pass_at_k")]
    assert sorted(code["k"].unique()) == [1, 2, 4, 8, 16, 32, 64, 128]
    assert set(dclm.loc[dclm["metric"] == "loss", "benchmark"]) == {"c4", "dclm", "fineweb"}


@pytest.mark.parametrize(
    "benchmark,chance",
    [("arc_easy", 0.25), ("hellaswag", 0.25), ("mmlu", 0.25), ("piqa", 0.5), ("winogrande", 0.5),
     ("humaneval", 0.0), ("triviaqa", 0.0)],
)
def test_krajewski_chance_levels(dclm, benchmark, chance):
    assert set(dclm.loc[dclm["benchmark"] == benchmark, "chance"]) == {chance}


def test_c4_mixture_has_true_parameter_counts():
    c4 = bs.load_dataset("krajewski2025_c4")
    run = c4.drop_duplicates("run_id")
    # The C4 file gives true N and C = 6 N D; both must agree.
    np.testing.assert_allclose(run["flops"], 6 * run["params"] * run["tokens"], rtol=1e-6)
    assert run["tpr"].eq(20).all()


def test_gadre_chance_from_metadata():
    gadre = bs.load_dataset("gadre2024")
    by_task = gadre[gadre["metric"] == "acc"].groupby("benchmark")["chance"].first()
    assert by_task["arc_easy"] == 0.25
    assert by_task["piqa"] == 0.5
    assert by_task["lambada_openai"] == 0.0
    assert gadre["group"].value_counts().to_dict() == {"rpj": 35 * 54, "rw_original": 35 * 54, "c4_original": 34 * 54}


def test_olmo_ladder_targets_and_losses():
    olmo = bs.load_dataset("olmo_ladder")
    runs = olmo.drop_duplicates("run_id")
    assert (runs["role"] == "target").sum() == 2
    assert (runs["role"] == "ladder").sum() == 30
    assert "c4_en" in set(olmo.loc[olmo["metric"] == "loss", "benchmark"])
    assert set(olmo.loc[olmo["benchmark"] == "csqa", "chance"].dropna()) == {0.2}


def test_llmonkeys_pass_at_k_matches_published_means():
    table = bs.load_dataset("llmonkeys_pythia_math", k=[1, 100, 10000])
    ref = pd.read_csv(LLMONKEYS_REFERENCE, comment="#")
    ref = ref.assign(run_id=ref["model"].str.replace(" ", "-").str.lower(), k=ref["k"].astype(float))
    merged = table.merge(ref, on=["run_id", "k"])
    assert len(merged) == 21
    np.testing.assert_allclose(merged["value"], merged["pass_at_k"], rtol=1e-9, atol=1e-12)


def test_unbiased_pass_at_k_edge_cases():
    np.testing.assert_allclose(unbiased_pass_at_k(10, 0, 3), 0.0)
    np.testing.assert_allclose(unbiased_pass_at_k(10, 10, 3), 1.0)
    np.testing.assert_allclose(unbiased_pass_at_k(10, 8, 3), 1.0)  # fewer than k failures
    np.testing.assert_allclose(unbiased_pass_at_k(10, 1, 1), 0.1)
    assert len(load_counts()) == 7 * 128


def test_read_table_with_column_mapping(tmp_path):
    user = pd.DataFrame(
        {
            "name": ["a", "b", "c"],
            "FLOPs": [1e19, 1e20, 1e21],
            "task": ["mytask"] * 3,
            "kind": ["acc"] * 3,
            "score": [0.3, 0.4, 0.5],
        }
    )
    path = tmp_path / "runs.csv"
    user.to_csv(path, index=False)
    table = bs.read_table(
        path,
        columns={"name": "run_id", "FLOPs": "flops", "task": "benchmark", "kind": "metric", "score": "value"},
        chance={"mytask": 0.2},
    )
    assert table["chance"].eq(0.2).all()
    assert table["group"].eq("all").all()
    assert table["flops"].tolist() == [1e19, 1e20, 1e21]


def test_flops_derived_from_params_and_tokens():
    table = bs.normalise_table(
        pd.DataFrame({"run_id": ["a"], "params": [1e8], "tokens": [2e9], "benchmark": ["arc_easy"],
                      "metric": ["acc"], "value": [0.4]})
    )
    assert table["flops"].iloc[0] == pytest.approx(6 * 1e8 * 2e9)
    assert table["tpr"].iloc[0] == pytest.approx(20)


def test_chance_override_beats_table():
    table = bs.normalise_table(
        pd.DataFrame({"run_id": ["a"], "flops": [1e20], "benchmark": ["arc_easy"], "metric": ["acc"],
                      "value": [0.4]}),
        chance={"arc_easy": 0.2},
    )
    assert table["chance"].iloc[0] == 0.2
