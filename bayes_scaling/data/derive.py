"""Rebuild the bundled data files from the project's shared raw copies.

Run ``python -m bayes_scaling.data.derive PATH/TO/shared/data`` to regenerate every
``*.csv.gz`` file beside this module. Each output is in the tidy schema of
:mod:`bayes_scaling.schema`: one row per (run, benchmark, metric[, k]). What each
step keeps, renames or drops is written down here and in ``PROVENANCE.md``.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np
import pandas as pd

from bayes_scaling.schema import COLUMNS

HERE = Path(__file__).parent

# Krajewski et al. report `acc` and length-normalised `acc_norm` for these.
_KRAJEWSKI_ACC = ["arc_challenge", "arc_easy", "hellaswag", "piqa", "sciq"]
_KRAJEWSKI_ACC_ONLY = ["winogrande", "lambada_openai", "mmlu"]
_KRAJEWSKI_EXACT = {
    "triviaqa_1shot_exact_match": "triviaqa",
    "webqs_1shot_exact_match": "webqs",
    "gsm8k_exact_match": "gsm8k",
    "math_minerva_exact_match": "math",
}
_KRAJEWSKI_CODE = ["humaneval", "mbpp", "lbpp"]
_KRAJEWSKI_LOSSES = ["c4", "dclm", "fineweb"]
# Blocks 54 and 55 of the DCLM file are one TPR-20 run listed twice (identical
# everywhere except mbpp). We keep the first listing, as SOURCE.md describes.
_KRAJEWSKI_DUPLICATE_BLOCKS = {("dclm", 55)}


def _tidy(frame: pd.DataFrame) -> pd.DataFrame:
    """Order the columns as the schema does and drop rows without a value."""
    out = frame.reindex(columns=COLUMNS)
    out = out[out["value"].notna()].reset_index(drop=True)
    return out


def derive_krajewski(source: Path, mixture: str) -> pd.DataFrame:
    wide = pd.read_csv(source / f"{mixture}_mixture.csv")
    keep = [
        (mixture, block) not in _KRAJEWSKI_DUPLICATE_BLOCKS
        for block in wide["file_block_order"]
    ]
    wide = wide[keep]
    runs = pd.DataFrame(
        {
            "run_id": [f"{mixture}-{b:03d}" for b in wide["file_block_order"]],
            "group": mixture,
            # The DCLM file gives no true parameter counts; its runs were planned at
            # N = D / TPR and C = 6 N D (SOURCE.md), so those are the columns we use.
            "params": wide["params"].fillna(wide["params_nominal_tokens_over_tpr"]),
            "tokens": wide["tokens"].astype(float),
            "flops": wide["flops"].fillna(wide["flops_nominal_6ND"]),
            "tpr": wide["tpr"].astype(float),
        }
    )
    pieces = []

    def add(column: str, benchmark: str, metric: str, k: float = np.nan):
        if column not in wide:
            return
        piece = runs.copy()
        piece["benchmark"] = benchmark
        piece["metric"] = metric
        piece["k"] = k
        piece["value"] = wide[column].to_numpy()
        pieces.append(piece)

    for bench in _KRAJEWSKI_ACC:
        add(f"{bench}_acc", bench, "acc")
        add(f"{bench}_acc_norm", bench, "acc_norm")
    for bench in _KRAJEWSKI_ACC_ONLY:
        add(f"{bench}_acc", bench, "acc")
    for column, bench in _KRAJEWSKI_EXACT.items():
        add(column, bench, "exact_match")
    for bench in _KRAJEWSKI_CODE:
        for k in 2 ** np.arange(8):
            add(f"{bench}_pass@{k}", bench, "pass_at_k", float(k))
    for val in _KRAJEWSKI_LOSSES:
        add(f"loss_{val}", val, "loss")
    return _tidy(pd.concat(pieces, ignore_index=True))


def derive_gadre(source: Path) -> pd.DataFrame:
    wide = pd.read_csv(source / "gadre2024_models.csv")
    meta = pd.read_csv(source / "raw" / "eval_metadata.csv").set_index("Eval Task")
    runs = pd.DataFrame(
        {
            "run_id": wide["name"],
            "group": wide["train_dataset"],
            "params": wide["params"].astype(float),
            "tokens": wide["tokens"].astype(float),
            "flops": wide["flops_6ND"].astype(float),
            "tpr": wide["tokens_per_param"].astype(float),
        }
    )
    pieces = []
    for column in wide.columns:
        if column.startswith("acc_"):
            task = column.removeprefix("acc_")
            piece = runs.assign(benchmark=task, metric="acc", value=wide[column])
            piece["n_items"] = float(meta.loc[task, "#datapoints"])
            # The source states each task's random baseline in percent.
            piece["chance"] = float(meta.loc[task, "Random baseline"]) / 100.0
            pieces.append(piece)
        elif re.fullmatch(r"loss_(?!lower95|upper95).+", column):
            val = column.removeprefix("loss_")
            pieces.append(runs.assign(benchmark=val, metric="loss", value=wide[column]))
    return _tidy(pd.concat(pieces, ignore_index=True))


# OLMo ladder tasks: we keep the test split where the ladder has one, as the
# paper does for its targets, and the validation split otherwise.
_OLMO_TASKS = {
    "mmlu_stem": "mmlu_stem_test",
    "mmlu_humanities": "mmlu_humanities_test",
    "mmlu_social_sciences": "mmlu_social_sciences_test",
    "mmlu_other": "mmlu_other_test",
    "hellaswag": "hellaswag_val",
    "arc_easy": "arc_easy_test",
    "arc_challenge": "arc_challenge_test",
    "boolq": "boolq_val",
    "csqa": "csqa_val",
    "openbookqa": "openbookqa_test",
    "piqa": "piqa_val",
    "socialiqa": "socialiqa_val",
    "winogrande": "winogrande_val",
}


def derive_olmo(source: Path) -> pd.DataFrame:
    wide = pd.read_csv(source / "olmo_ladder_final_checkpoints.csv")
    runs = pd.DataFrame(
        {
            "run_id": wide["run"],
            "group": "olmo2",
            "params": wide["N_params"].astype(float),
            "tokens": wide["tokens_D"].astype(float),
            # The ladder repo defines compute as tokens x FLOPs per token.
            "flops": wide["flops_C"].astype(float),
            "tpr": wide["tokens_D"] / wide["N_params"],
            "role": wide["kind"],
        }
    )
    pieces = []
    for bench, split in _OLMO_TASKS.items():
        metric_suffix = "acc" if bench == "boolq" else "len_norm"
        acc = f"eval/downstream/{split}_rc_5shot_{metric_suffix}"
        bpb = f"eval/downstream_bpb/{split}_rc_5shot_bpb"
        pieces.append(runs.assign(benchmark=bench, metric="acc_norm", value=wide[acc]))
        pieces.append(runs.assign(benchmark=bench, metric="bpb", value=wide[bpb]))
    for column in wide.columns:
        found = re.fullmatch(r"eval/(.+)-validation/CrossEntropyLoss", column)
        if found:
            pieces.append(runs.assign(benchmark=found[1], metric="loss", value=wide[column]))
    tidy = pd.concat(pieces, ignore_index=True)
    out = _tidy(tidy)
    out["role"] = tidy.loc[tidy["value"].notna(), "role"].to_numpy()
    return out


def derive_llmonkeys(source: Path) -> pd.DataFrame:
    """Per-problem sample counts: the sufficient statistic for pass@k at any k."""
    counts = pd.read_csv(source / "pythia_math_counts.csv")
    return pd.DataFrame(
        {
            "run_id": counts["model"].str.replace(" ", "-").str.lower(),
            "model": counts["model"],
            "params": counts["params"].astype(float),
            "tokens": counts["tokens"].astype(float),
            "flops": counts["flops_6ND"].astype(float),
            "benchmark": "math",
            "problem_idx": counts["problem_idx"],
            "n_samples": counts["n_samples"],
            "n_correct": counts["n_correct"].astype(int),
        }
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("shared_data", type=Path, help="path to shared/data")
    args = parser.parse_args(argv)
    src = args.shared_data
    outputs = {
        "krajewski2025_dclm.csv.gz": derive_krajewski(src / "krajewski2025", "dclm"),
        "krajewski2025_c4.csv.gz": derive_krajewski(src / "krajewski2025", "c4"),
        "gadre2024.csv.gz": derive_gadre(src / "gadre2024_overtraining"),
        "olmo_ladder.csv.gz": derive_olmo(src / "olmo_ladder"),
        "llmonkeys_pythia_math_counts.csv.gz": derive_llmonkeys(src / "llmonkeys_pythia_math"),
    }
    for name, frame in outputs.items():
        # mtime=0 keeps the gzip bytes identical from one rebuild to the next.
        frame.to_csv(
            HERE / name, index=False, compression={"method": "gzip", "mtime": 0}
        )
        print(f"{name}: {len(frame)} rows")


if __name__ == "__main__":
    main()
