"""Detecting pass@k evaluations that cannot be fitted: broken ones and all-zero ones.

An *evaluation* is every ``pass_at_k`` row of one (run, benchmark): pass@k at
each k from the same set of samples. Two properties hold for any such set,
whether pass@k is the unbiased estimate ``1 - C(n-c, k) / C(n, k)`` averaged
over problems (Chen et al. 2021) or the population value ``1 - E[(1-p)^k]``:

- **monotone**: pass@k never falls as k grows;
- **sub-additive**: for ``k < k'``, ``pass@k' <= ceil(k'/k) * pass@k``. A
  random subset of ``k'`` samples is covered by ``ceil(k'/k)`` random subsets
  of ``k``, each with a correct sample with probability pass@k, so the union
  bound applies (exactly, for the unbiased estimate too, because it *is* the
  probability that a random k-subset of the n samples holds a correct one).

An evaluation that breaks either beyond rounding is **broken**
(:data:`BROKEN_EVALUATION`). The broken code evaluations of Krajewski et al.
(2025) have pass@1 between 0 and 0.17 and pass@2 ... pass@128 all exactly 1:
pass@2 = 1 would need pass@1 >= 1/2, so sub-additivity catches every one of
them, including the few whose pass@1 is not near zero.

An evaluation whose every k is exactly zero is flagged too, under its own
reason (:data:`ALL_ZERO_EVALUATION`), because it is not *known* to be broken:
the source reports all-zero code scores from runs whose generations were mostly
syntax errors, but a tiny model (1e18 FLOPs) can also solve nothing. Without
the error counts the two cannot be told apart, and neither can be fitted on
``log(-log Q)`` (Q = 0 has no value there); counting them under their own
reason shows how many there are without calling them errors.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Reason of evaluations that break monotonicity or sub-additivity in k.
BROKEN_EVALUATION = "broken_evaluation"
#: Reason of evaluations that are exactly zero at every k.
ALL_ZERO_EVALUATION = "all_zero_evaluation"
#: Default slack for rounding, in pass@k (absolute). Published tables round to
#: 3-4 decimals; the broken evaluations break the bounds by 0.5 or more.
TOLERANCE = 1e-3

#: Columns that identify one evaluation.
EVALUATION_KEY = ["run_id", "benchmark"]


def _evaluation_problem(values: np.ndarray, ks: np.ndarray, tolerance: float) -> str:
    """The reason one evaluation (values sorted by k) cannot be fitted, or ''."""
    if np.all(values == 0.0):
        return ALL_ZERO_EVALUATION
    if len(values) < 2:
        return ""
    falls = np.diff(values) < -tolerance
    bound = np.ceil(ks[1:] / ks[:-1]) * values[:-1]
    # Consecutive pairs suffice: the bound composes along the chain of k.
    jumps = values[1:] > bound + tolerance
    return BROKEN_EVALUATION if (falls.any() or jumps.any()) else ""


def pass_at_k_problems(frame: pd.DataFrame, tolerance: float = TOLERANCE) -> pd.Series:
    """Why each row's pass@k evaluation cannot be fitted.

    Parameters
    ----------
    frame : pandas.DataFrame
        Tidy table (see :mod:`bayes_scaling.schema`); rows of other metrics are
        ignored.
    tolerance : float
        Slack for rounding in the monotonicity and sub-additivity checks.

    Returns
    -------
    pandas.Series of str
        Aligned with ``frame``: :data:`BROKEN_EVALUATION`,
        :data:`ALL_ZERO_EVALUATION`, or ``""`` for rows that are fine (and for
        rows that are not ``pass_at_k``). Every row of one evaluation gets the
        same reason.
    """
    reasons = np.full(len(frame), "", dtype=object)
    # By position, not index label: a table's labels need not be unique (pd.concat).
    rows = frame.reset_index(drop=True)
    rows = rows[rows["metric"] == "pass_at_k"]
    for _, evaluation in rows.groupby(EVALUATION_KEY, sort=False):
        ordered = evaluation.sort_values("k")
        reason = _evaluation_problem(
            ordered["value"].to_numpy(float), ordered["k"].to_numpy(float), tolerance
        )
        if reason:
            reasons[evaluation.index] = reason
    return pd.Series(reasons, index=frame.index, dtype=object)


def flag_broken_pass_at_k(frame: pd.DataFrame, tolerance: float = TOLERANCE) -> pd.Series:
    """Flag every ``pass_at_k`` row of an evaluation that must not be fitted.

    An evaluation (all k of one run and benchmark) is flagged when pass@k falls
    as k grows, when it rises faster than the union bound
    ``pass@k' <= ceil(k'/k) pass@k`` allows (pass@1 near 0 with pass@2.. = 1),
    or when it is exactly zero at every k. :func:`pass_at_k_problems` says
    which.

    Parameters
    ----------
    frame : pandas.DataFrame
        Tidy table; rows of other metrics are never flagged.
    tolerance : float
        Slack for rounding, in pass@k.

    Returns
    -------
    pandas.Series of bool
        Aligned with ``frame``.

    Examples
    --------
    >>> import bayes_scaling as bs
    >>> table = bs.load_dataset("krajewski2025_dclm")
    >>> flags = flag_broken_pass_at_k(table)
    >>> sorted(table.loc[flags & (table["benchmark"] == "humaneval"), "run_id"].unique())[:2]
    ['dclm-001', 'dclm-056']
    """
    return pass_at_k_problems(frame, tolerance) != ""
