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


def _shown(value) -> str:
    """``repr`` on one line: a cell may hold an object whose repr spans lines (an array)."""
    text = repr(value.item() if isinstance(value, np.generic) else value)
    return text if len(text.splitlines()) <= 1 else " ".join(text.split())


def _row_label(frame: pd.DataFrame, position: int) -> str:
    """A row as a user can find it: its index label and, if present, its run."""
    label = frame.index[position]
    run = frame["run_id"].iloc[position] if "run_id" in frame else None
    return f"row {label}" + (f" (run {_shown(run)})" if run is not None else "")


def _fail_rows(frame: pd.DataFrame, bad: np.ndarray, column: str, what: str) -> None:
    bad = np.asarray(bad, dtype=bool)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        more = int(bad.sum()) - 1
        extra = f" ({more} more row{'s' if more != 1 else ''})" if more else ""
        raise DataError(
            f"column {column!r}, {_row_label(frame, first)}: {what}, got {_shown(frame[column].iloc[first])}{extra}"
        )


def _numeric(frame: pd.DataFrame, column: str) -> pd.Series:
    raw = frame[column]
    values = pd.to_numeric(raw, errors="coerce")
    if raw.dtype.kind in "mM" or isinstance(raw.dtype, pd.PeriodDtype):
        # to_numeric turns dates and durations into integers; they are not measurements.
        values = pd.Series(np.nan, index=raw.index)
    elif values.dtype.kind == "c":
        # ... and keeps complex numbers, whose imaginary part astype(float) would drop.
        values = pd.Series(np.where(np.imag(values) == 0, np.real(values), np.nan), index=raw.index)
    _fail_rows(frame, values.isna() & raw.notna(), column, "not a number")
    return values.astype(float)


def _mapping_option(name: str, value) -> dict:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise DataError(f"option {name}: expected a mapping, got {type(value).__name__} {_shown(value)}")
    return dict(value)


def _chance_overrides(chance) -> dict:
    """The ``chance=`` option, each level checked: a number in [0, 1)."""
    out = {}
    for benchmark, level in _mapping_option("chance", chance).items():
        try:
            number = float(level)
        except (TypeError, ValueError):
            number = float("nan")
        if not 0 <= number < 1:
            raise DataError(f"option chance: {_shown(benchmark)} = {_shown(level)} is not a number in [0, 1)")
        out[benchmark] = number
    return out


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
    renames = _mapping_option("columns", columns)
    for theirs, ours in renames.items():
        if not isinstance(ours, str):
            raise DataError(f"option columns: {_shown(theirs)} must map to a column name, got {_shown(ours)}")
    frame = table.rename(columns=renames).copy()
    chance = _chance_overrides(chance)
    if len(frame) == 0:
        raise DataError("the table has no rows")
    twice = frame.columns[frame.columns.duplicated()]
    if len(twice):
        raise DataError(f"column {_shown(twice[0])} appears more than once" + (" after renaming" if columns else ""))
    missing = [c for c in REQUIRED if c not in frame]
    if missing:
        raise DataError(
            f"missing required column {missing[0]!r} (columns present: {', '.join(map(_shown, frame.columns))})"
        )
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
        # Finite positive factors can still overflow (or underflow) in the product.
        flops = frame["flops"]
        _fail_rows(frame, ~(np.isfinite(flops) & (flops > 0)), "flops", "6 * params * tokens is not finite and positive")
    derived = "tpr" not in frame and {"params", "tokens"} <= set(frame.columns)
    if derived:
        frame["tpr"] = frame["tokens"] / frame["params"]
    if "tpr" in frame:
        tpr, how = frame["tpr"], " (tokens / params)" if derived else ""
        _fail_rows(frame, tpr.notna() & ~np.isfinite(tpr), "tpr", "must be finite" + how)
        _fail_rows(frame, tpr.notna() & (tpr <= 0), "tpr", "must be positive" + how)
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
    _fail_rows(frame, is_pass & ~((frame["k"] >= 1) & np.isfinite(frame["k"])), "k", "pass_at_k rows need a finite k >= 1")

    frame["chance"] = _chance_column(frame, is_acc, chance)
    _check_duplicates(frame)
    before = len(frame)
    frame = frame.drop_duplicates(subset=["run_id", "benchmark", "metric", "k", "value"])
    extras = [c for c in frame.columns if c not in COLUMNS]
    out = frame.reindex(columns=COLUMNS + extras)
    out.attrs["n_duplicate_rows"] = before - len(frame)
    return out


def _chance_column(frame, is_acc, overrides):
    table = {**CHANCE, **overrides}
    looked_up = frame["benchmark"].map(table)
    if "chance" in frame:
        given = frame["chance"]
        # An explicit override wins over the table's column, the column over CHANCE.
        chance = given.where(given.notna(), looked_up)
        if overrides:
            chance = frame["benchmark"].map(overrides).where(
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
    """The same run must not carry two different values, chance levels, sizes or groups.

    Rows that agree on all of these are exact duplicates (dropped and counted by
    :func:`normalise_table`); any disagreement is an error naming two rows that differ.
    """
    key = ["run_id", "benchmark", "metric", "k"]
    keyed = frame.groupby(key, sort=False, dropna=False).ngroup()
    per_key = ["value", "chance"]
    for column in [*per_key, *[c for c in RUN_COLUMNS if c in frame], "group"]:
        group_key = keyed if column in per_key else frame["run_id"]
        spread = frame.groupby(group_key, sort=False)[column].transform("nunique")
        bad = (spread > 1).to_numpy()
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            twin_mask = (group_key == group_key.iloc[first]).to_numpy() & frame[column].notna().to_numpy()
            members = np.flatnonzero(twin_mask)
            column_values = frame[column].to_numpy()[members]
            # Two rows that differ (the first two of the run may agree).
            pair = [members[0], members[np.flatnonzero(column_values != column_values[0])[0]]]
            twins = frame.index[pair]
            values = frame[column].iloc[pair].tolist()
            what = (
                f"run {frame['run_id'].iloc[first]!r}, benchmark {frame['benchmark'].iloc[first]!r}, "
                f"metric {frame['metric'].iloc[first]!r}"
                if column in per_key
                else f"run {frame['run_id'].iloc[first]!r}"
            )
            raise DataError(
                f"column {column!r}, rows {twins[0]} and {twins[1]}: {what} is listed twice with different values {values}"
            )
