"""The tidy table every part of the package reads, its chance levels, and its checks.

One row per (run, benchmark, metric[, k]):

========== ======== ===========================================================
column     required meaning
========== ======== ===========================================================
run_id     yes      identifier of the training run
group      no       data mixture or other intervention (default ``"all"``)
params     no*      parameter count N
tokens     no*      training tokens D
flops      no*      training compute C in FLOPs; ``6 * params * tokens`` if absent
tpr        no       token-to-parameter ratio D / N (derived if absent)
benchmark  yes      benchmark or validation-set name (``arc_easy``, ``c4``)
metric     yes      ``acc``, ``acc_norm``, ``exact_match``, ``pass_at_k``,
                    ``loss`` or ``bpb``
k          no       number of samples, for ``pass_at_k`` rows
value      yes      the measurement: accuracy in [0, 1] or a loss > 0
n_items    no       number of benchmark items
chance     no       random-guess accuracy; looked up in :data:`CHANCE` if absent
========== ======== ===========================================================

(*) either ``flops`` or both ``params`` and ``tokens``.

Any other column is kept as it is.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from bayes_scaling.errors import DataError

COLUMNS = [
    "run_id",
    "group",
    "params",
    "tokens",
    "flops",
    "tpr",
    "benchmark",
    "metric",
    "k",
    "value",
    "n_items",
    "chance",
]
REQUIRED = ["run_id", "benchmark", "metric", "value"]
RUN_COLUMNS = ["params", "tokens", "flops", "tpr"]

#: Metrics that are accuracies in [0, 1] and need a chance level.
ACCURACY_METRICS = frozenset({"acc", "acc_norm", "exact_match", "pass_at_k"})
#: Metrics that are losses: positive, lower is better, no chance level.
LOSS_METRICS = frozenset({"loss", "bpb"})

#: Random-guess accuracy per benchmark. Multiple choice with m options has 1/m;
#: generative tasks (exact match, code execution) have 0. Override per call with
#: ``chance={"name": value}`` or a ``chance`` column.
CHANCE: dict[str, float] = {
    # four options
    "arc_challenge": 0.25,
    "arc_easy": 0.25,
    "hellaswag": 0.25,
    "sciq": 0.25,
    "mmlu": 0.25,
    "mmlu_stem": 0.25,
    "mmlu_humanities": 0.25,
    "mmlu_social_sciences": 0.25,
    "mmlu_other": 0.25,
    "openbookqa": 0.25,
    # five options
    "csqa": 0.2,
    "commonsense_qa": 0.2,
    # three options
    "socialiqa": 1.0 / 3.0,
    # two options
    "piqa": 0.5,
    "winogrande": 0.5,
    "boolq": 0.5,
    "copa": 0.5,
    # generative: exact match or execution
    "lambada_openai": 0.0,
    "triviaqa": 0.0,
    "webqs": 0.0,
    "gsm8k": 0.0,
    "math": 0.0,
    "humaneval": 0.0,
    "mbpp": 0.0,
    "lbpp": 0.0,
}


def _row_label(frame: pd.DataFrame, position: int) -> str:
    """A row as a user can find it: its index label and, if present, its run."""
    label = frame.index[position]
    run = frame["run_id"].iloc[position] if "run_id" in frame else None
    return f"row {label}" + (f" (run {run!r})" if run is not None else "")


def _fail_rows(frame: pd.DataFrame, bad: np.ndarray, column: str, what: str) -> None:
    bad = np.asarray(bad, dtype=bool)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        more = int(bad.sum()) - 1
        value = frame[column].iloc[first]
        value = value.item() if isinstance(value, np.generic) else value
        extra = f" ({more} more row{'s' if more != 1 else ''})" if more else ""
        raise DataError(f"column {column!r}, {_row_label(frame, first)}: {what}, got {value!r}{extra}")


def _numeric(frame: pd.DataFrame, column: str) -> pd.Series:
    values = pd.to_numeric(frame[column], errors="coerce")
    _fail_rows(frame, values.isna() & frame[column].notna(), column, "not a number")
    return values.astype(float)


def normalise_table(
    table: pd.DataFrame,
    columns: Mapping[str, str] | None = None,
    chance: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """Validate a user table and return it in the tidy schema.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per (run, benchmark, metric[, k]).
    columns : mapping, optional
        ``{their_name: our_name}`` for columns named differently from the schema.
    chance : mapping, optional
        Chance levels per benchmark; they take precedence over :data:`CHANCE` and
        fill rows whose ``chance`` column is empty.

    Returns
    -------
    pandas.DataFrame
        The schema's columns first (derived ``flops`` and ``tpr`` filled in), then
        any extra columns. Exact duplicate rows are dropped and their count is
        stored in ``attrs["n_duplicate_rows"]``.

    Raises
    ------
    DataError
        Naming the column and row at fault.
    """
    if not isinstance(table, pd.DataFrame):
        raise DataError(f"expected a pandas DataFrame, got {type(table).__name__}")
    frame = table.rename(columns=dict(columns or {})).copy()
    if len(frame) == 0:
        raise DataError("the table has no rows")
    missing = [c for c in REQUIRED if c not in frame]
    if missing:
        raise DataError(f"missing required column {missing[0]!r} (columns present: {', '.join(map(str, frame.columns))})")
    if "flops" not in frame and not {"params", "tokens"} <= set(frame.columns):
        raise DataError("missing required column 'flops' (or both 'params' and 'tokens' to derive it)")

    for column in ["run_id", "benchmark", "metric"]:
        _fail_rows(frame, frame[column].isna(), column, "missing value")
        frame[column] = frame[column].astype(str)
    frame["value"] = _numeric(frame, "value")
    _fail_rows(frame, ~np.isfinite(frame["value"]), "value", "must be a finite number")

    for column in ["params", "tokens", "flops", "tpr", "k", "n_items", "chance"]:
        if column in frame:
            frame[column] = _numeric(frame, column)
    for column in ["params", "tokens", "flops"]:
        if column in frame:
            values = frame[column]
            required_here = column == "flops" or "flops" not in frame
            if required_here:
                _fail_rows(frame, values.isna(), column, "missing value")
            _fail_rows(frame, values.notna() & ~np.isfinite(values), column, "must be finite")
            _fail_rows(frame, values.notna() & (values <= 0), column, "must be positive")
    if "flops" not in frame:
        # C = 6 N D, the usual estimate of training FLOPs for a dense transformer.
        frame["flops"] = 6.0 * frame["params"] * frame["tokens"]
    if "tpr" not in frame and {"params", "tokens"} <= set(frame.columns):
        frame["tpr"] = frame["tokens"] / frame["params"]
    if "group" not in frame:
        frame["group"] = "all"
    frame["group"] = frame["group"].fillna("all").astype(str)

    metric = frame["metric"]
    known = ACCURACY_METRICS | LOSS_METRICS
    _fail_rows(frame, ~metric.isin(known), "metric", f"unknown metric (known: {', '.join(sorted(known))})")
    is_acc = metric.isin(ACCURACY_METRICS).to_numpy()
    value = frame["value"]
    _fail_rows(frame, is_acc & ((value < 0) | (value > 1)), "value", "accuracy outside [0, 1]")
    _fail_rows(frame, ~is_acc & (value <= 0), "value", "a loss must be positive")
    if "k" not in frame:
        frame["k"] = np.nan
    is_pass = (metric == "pass_at_k").to_numpy()
    _fail_rows(frame, is_pass & ~(frame["k"] >= 1), "k", "pass_at_k rows need k >= 1")

    frame["chance"] = _chance_column(frame, is_acc, chance)
    _check_duplicates(frame)
    before = len(frame)
    frame = frame.drop_duplicates(subset=["run_id", "benchmark", "metric", "k", "value"])
    extras = [c for c in frame.columns if c not in COLUMNS]
    out = frame.reindex(columns=COLUMNS + extras)
    out.attrs["n_duplicate_rows"] = before - len(frame)
    return out


def _chance_column(frame, is_acc, overrides):
    table = {**CHANCE, **dict(overrides or {})}
    looked_up = frame["benchmark"].map(table)
    if "chance" in frame:
        given = frame["chance"]
        # An explicit override wins over the table's column, the column over CHANCE.
        chance = given.where(given.notna(), looked_up)
        if overrides:
            chance = frame["benchmark"].map(dict(overrides)).where(
                frame["benchmark"].isin(list(overrides)), chance
            )
    else:
        chance = looked_up
    chance = chance.astype(float)
    unknown = is_acc & chance.isna().to_numpy()
    if unknown.any():
        first = int(np.flatnonzero(unknown)[0])
        bench = frame["benchmark"].iloc[first]
        raise DataError(
            f"column 'benchmark', {_row_label(frame, first)}: unknown benchmark {bench!r} has no chance level; "
            f"add a 'chance' column or pass chance={{{bench!r}: ...}}"
        )
    frame = frame.assign(chance=chance)
    _fail_rows(frame, is_acc & ((chance >= 1) | (chance < 0)).to_numpy(), "chance", "chance level must be in [0, 1)")
    return chance


def _check_duplicates(frame: pd.DataFrame) -> None:
    """The same run must not carry two different values or two different sizes."""
    key = ["run_id", "benchmark", "metric", "k"]
    keyed = frame.groupby(key, sort=False, dropna=False).ngroup()
    for column in ["value", *[c for c in RUN_COLUMNS if c in frame]]:
        group_key = keyed if column == "value" else frame["run_id"]
        spread = frame.groupby(group_key, sort=False)[column].transform("nunique")
        bad = (spread > 1).to_numpy()
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            twin_mask = (group_key == group_key.iloc[first]).to_numpy()
            twins = frame.index[twin_mask]
            values = frame.loc[twin_mask, column].tolist()
            what = (
                f"run {frame['run_id'].iloc[first]!r}, benchmark {frame['benchmark'].iloc[first]!r}, "
                f"metric {frame['metric'].iloc[first]!r}"
                if column == "value"
                else f"run {frame['run_id'].iloc[first]!r}"
            )
            raise DataError(
                f"column {column!r}, rows {twins[0]} and {twins[1]}: {what} is listed twice with different values {values[:2]}"
            )
