"""Choosing the points a law is fitted on, the points held out, and those excluded.

Nothing is dropped silently: every excluded row is kept in
:attr:`ScalingData.excluded` with its reason, and :meth:`ScalingData.summary`
counts them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from bayes_scaling.cleaning import ALL_ZERO_EVALUATION, BROKEN_EVALUATION, pass_at_k_problems
from bayes_scaling.errors import DataError
from bayes_scaling.schema import ACCURACY_METRICS

#: Default margin above chance (in raw accuracy) below which points are excluded.
#: The paper's code filters points with a minimum accuracy for the same reason:
#: near chance, log(-log Q) is dominated by evaluation noise.
CHANCE_MARGIN = 0.02
#: Options of :func:`select` besides the table, benchmark and metric (every law accepts them).
SELECT_OPTIONS = ("group", "tpr", "k", "max_compute", "chance_margin", "dataset")


@dataclass(frozen=True)
class ScalingData:
    """The points of one fit.

    Attributes
    ----------
    fitted : pandas.DataFrame
        Rows the law is fitted on (tidy schema).
    held_out : pandas.DataFrame
        Rows beyond the hold-out cut-off, kept for scoring extrapolation.
    excluded : pandas.DataFrame
        Rows left out, with columns ``reason`` and ``role`` (fitted or held_out).
    description : dict
        What was selected: data set, benchmark, metric, filters, cut-off, margin.
    """

    fitted: pd.DataFrame
    held_out: pd.DataFrame
    excluded: pd.DataFrame
    description: dict = field(default_factory=dict)

    @property
    def label(self) -> str:
        d = self.description
        parts = [d.get("benchmark", "?"), d.get("metric", "?")]
        if d.get("group") is not None:
            parts.append(f"group {d['group']}")
        if d.get("tpr") is not None:
            parts.append(f"TPR {d['tpr']:g}")
        return " / ".join(str(p) for p in parts)

    def summary(self) -> str:
        """One line: how many points are fitted, held out and excluded, and why."""
        text = f"{self.label}: {len(self.fitted)} fitted, {len(self.held_out)} held out"
        if len(self.excluded):
            reasons = self.excluded["reason"].value_counts()
            text += f", {len(self.excluded)} excluded (" + ", ".join(
                f"{n} {reason.replace('_', ' ')}" for reason, n in reasons.items()
            ) + ")"
        return text

    def exclude(self, fitted_mask, held_out_mask, reason: str) -> "ScalingData":
        """Move rows where the masks are True into :attr:`excluded`."""
        fitted_mask = np.asarray(fitted_mask, dtype=bool)
        held_out_mask = np.asarray(held_out_mask, dtype=bool)
        moved = [
            self.fitted[fitted_mask].assign(reason=reason, role="fitted"),
            self.held_out[held_out_mask].assign(reason=reason, role="held_out"),
        ]
        excluded = pd.concat([self.excluded, *[m for m in moved if len(m)]], ignore_index=True)
        return replace(
            self,
            fitted=self.fitted[~fitted_mask].reset_index(drop=True),
            held_out=self.held_out[~held_out_mask].reset_index(drop=True),
            excluded=excluded,
        )


def select(
    table: pd.DataFrame,
    benchmark: str,
    metric: str = "acc",
    *,
    group: str | None = None,
    tpr: float | None = None,
    k: float | None = None,
    max_compute: float | None = None,
    chance_margin: float = CHANCE_MARGIN,
    dataset: str | None = None,
) -> ScalingData:
    """Select one benchmark's points and split them at a compute cut-off.

    Parameters
    ----------
    table : pandas.DataFrame
        Tidy table from :func:`bayes_scaling.load_dataset` or
        :func:`bayes_scaling.read_table`.
    benchmark, metric : str
        Which measurement.
    group, tpr, k : optional
        Keep only this data mixture, token-to-parameter ratio (to 1%) or k.
    max_compute : float, optional
        Hold-out rule: runs with ``flops > max_compute`` are held out.
    chance_margin : float
        Accuracy rows with ``value < chance + chance_margin`` are excluded
        (reason ``near_chance``). Not applied to losses.
    dataset : str, optional
        Name recorded in the description.

    Raises
    ------
    DataError
        If nothing matches, naming the option at fault.
    """
    for name, value in (("tpr", tpr), ("k", k), ("max_compute", max_compute), ("chance_margin", chance_margin)):
        if (value is not None or name == "chance_margin") and not _is_number(value):
            raise DataError(f"option {name}: expected a number, got {value!r}")
    if not chance_margin >= 0:
        raise DataError(f"option chance_margin must be >= 0, got {chance_margin}")
    rows = table[(table["benchmark"] == benchmark)]
    if rows.empty:
        known = ", ".join(map(repr, sorted(table["benchmark"].unique())))
        raise DataError(f"option benchmark: no rows for {benchmark!r}; benchmarks present: {known}")
    rows = rows[rows["metric"] == metric]
    if rows.empty:
        known = ", ".join(sorted(table.loc[table["benchmark"] == benchmark, "metric"].unique()))
        raise DataError(f"option metric: benchmark {benchmark!r} has no {metric!r} rows; metrics present: {known}")
    if group is not None:
        rows = rows[rows["group"] == str(group)]
        if rows.empty:
            raise DataError(f"option group: no {benchmark!r} rows in group {group!r}")
    if tpr is not None:
        rows = rows[np.isclose(rows["tpr"], tpr, rtol=0.01)]
        if rows.empty:
            raise DataError(f"option tpr: no {benchmark!r} rows at TPR {tpr:g}")
    if k is not None:
        rows = rows[rows["k"] == k]
        if rows.empty:
            raise DataError(f"option k: no {benchmark!r} rows with k = {k:g}")
    rows = rows.sort_values(["flops", "run_id", "k"]).reset_index(drop=True)
    held = rows["flops"] > max_compute if max_compute is not None else np.zeros(len(rows), bool)
    data = ScalingData(
        fitted=rows[~held].reset_index(drop=True),
        held_out=rows[held].reset_index(drop=True),
        # A table with a "role" column of its own (the OLMo ladder's ladder/target)
        # has it replaced by the exclusion's role (fitted or held_out) here.
        excluded=pd.DataFrame(columns=[*[c for c in rows.columns if c not in ("reason", "role")], "reason", "role"]),
        description={
            "dataset": dataset,
            "benchmark": benchmark,
            "metric": metric,
            "group": group,
            "tpr": tpr,
            "k": k,
            "max_compute": max_compute,
            "chance_margin": chance_margin if metric in ACCURACY_METRICS else None,
        },
    )
    if metric == "pass_at_k":
        # Before the near-chance filter, so broken runs are counted as broken.
        data = _exclude_unfittable_pass_at_k(
            data, table[(table["benchmark"] == benchmark) & (table["metric"] == metric)]
        )
    if metric in ACCURACY_METRICS:
        data = data.exclude(
            data.fitted["value"] < data.fitted["chance"] + chance_margin,
            data.held_out["value"] < data.held_out["chance"] + chance_margin,
            "near_chance",
        )
    return data


def _is_number(value) -> bool:
    """A real number that is not NaN (infinities pass: they select nothing or everything)."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) and not np.isnan(value)


# ------------------------------------------------ broken pass@k evaluations
def _exclude_unfittable_pass_at_k(data: ScalingData, evaluations: pd.DataFrame) -> ScalingData:
    """Move every row of a broken or all-zero pass@k evaluation into ``excluded``.

    Each evaluation is judged on all its k (``evaluations``: every pass@k row
    of the benchmark), so that selecting one k or one TPR cannot hide an
    evaluation that is broken across k. Reasons are those of
    :func:`bayes_scaling.cleaning.pass_at_k_problems`.
    """
    reasons = pass_at_k_problems(evaluations)
    # One benchmark, so the run identifies the evaluation.
    by_run = dict(zip(evaluations["run_id"], reasons))
    for reason in (BROKEN_EVALUATION, ALL_ZERO_EVALUATION):
        data = data.exclude(
            data.fitted["run_id"].map(by_run).eq(reason),
            data.held_out["run_id"].map(by_run).eq(reason),
            reason,
        )
    return data
