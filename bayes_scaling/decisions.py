"""The decisions users make with a fitted law: which data mixture, and how much compute.

- :func:`compare_groups`: two groups (data mixtures or another intervention)
  fitted with the same law on the same benchmark: the posterior probability
  that A beats B at each compute, where that holds, and where the curves cross.
- :func:`compute_for_accuracy`: the posterior of the compute needed to reach a
  target accuracy (inverse prediction), with a clear answer when the target
  lies above what the law can reach.

Both work on posterior draws of the mean accuracy curve, so every answer
carries the uncertainty of the fits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bayes_scaling.errors import SpecError
from bayes_scaling.laws import get_law, inputs_along_compute, rescale
from bayes_scaling.predict import _chance, posterior_draws

#: Compute range searched for crossovers and inverse predictions, in FLOPs.
SEARCH_RANGE = (1e15, 1e30)
#: Grid points per decade of compute in those searches.
GRID_PER_DECADE = 40


def curve_draws_along_compute(idata, compute, *, tpr: float = 20.0, k: float = 1.0) -> np.ndarray:
    """Posterior draws (draws, len(compute)) of a fit's mean accuracy curve along compute.

    Laws in parameters and tokens spend the compute at ``tpr`` tokens per
    parameter; pass@k laws are evaluated at ``k``.
    """
    law = get_law(idata.attrs["law"])
    raw = inputs_along_compute(law, np.asarray(compute, dtype=float), tpr=tpr, k=k)
    inputs = {f"log_{name}": rescale(name, values) for name, values in raw.items()}
    curve, _ = law.accuracy_draws(posterior_draws(idata), inputs, _chance(idata), np.random.default_rng(0))
    return np.asarray(curve)


def _grid(search=SEARCH_RANGE) -> np.ndarray:
    lo, hi = search
    if not (0 < lo < hi and np.isfinite(hi)):
        raise SpecError(f"option search: {search!r} is not an increasing pair of positive FLOPs")
    return np.geomspace(lo, hi, int(np.ceil(np.log10(hi / lo) * GRID_PER_DECADE)) + 1)


def _first_crossing(grid: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Per row of ``values`` (draws, grid): the compute where it first turns from <= 0 to > 0, NaN if never.

    Interpolated linearly in log compute between the two grid points around the sign change.
    """
    above = values > 0
    starts_below = ~above[:, 0]
    turns = above[:, 1:] & ~above[:, :-1]
    has = turns.any(axis=1) & starts_below
    index = np.argmax(turns, axis=1)
    rows = np.arange(values.shape[0])
    v0, v1 = values[rows, index], values[rows, index + 1]
    share = np.where(v1 != v0, -v0 / np.where(v1 != v0, v1 - v0, 1.0), 0.0)
    log_c = np.log(grid[index]) + share * (np.log(grid[index + 1]) - np.log(grid[index]))
    return np.where(has, np.exp(np.where(has, log_c, 0.0)), np.nan)


@dataclass(frozen=True)
class GroupComparison:
    """The answer of :func:`compare_groups`.

    Attributes
    ----------
    table : pandas.DataFrame
        Per compute: ``median_a``, ``median_b``, ``difference_median`` and its
        interval (A minus B, in accuracy), ``p_a_better``.
    summary : pandas.DataFrame
        One row: the compute range over which ``P(A better) >= prob`` and over
        which ``P(B better) >= prob`` (inside the requested compute), and the
        crossover: the share of draws whose curves cross inside the search
        range, and the median and interval of the crossover compute among them.
    """

    table: pd.DataFrame
    summary: pd.DataFrame


def compare_groups(
    fit_a, fit_b, compute: Sequence[float], *, prob: float = 0.9, tpr: float = 20.0, k: float = 1.0,
    labels: tuple[str, str] = ("a", "b"), search=SEARCH_RANGE,
) -> GroupComparison:
    """The posterior probability that group A beats group B, along compute, and where they cross.

    Parameters
    ----------
    fit_a, fit_b : xarray.DataTree
        Fits of the same law on the same benchmark, one per group.
    compute : sequence of float
        Training FLOPs at which to compare.
    prob : float
        Probability for the intervals and for "holds" in the summary.
    tpr, k : float
        As in :func:`curve_draws_along_compute`.
    labels : (str, str)
        Names of the groups in the summary.
    search : (float, float)
        Compute range searched for a crossover.

    Returns
    -------
    GroupComparison
    """
    if fit_a.attrs["law"] != fit_b.attrs["law"]:
        raise SpecError(f"compare_groups needs fits of one law, got {fit_a.attrs['law']!r} and {fit_b.attrs['law']!r}")
    if _chance(fit_a) != _chance(fit_b):
        raise SpecError("compare_groups needs fits of one benchmark (their chance levels differ)")
    if not 0 < prob < 1:
        raise SpecError(f"option prob: {prob} is not in (0, 1)")
    compute = np.asarray(compute, dtype=float)
    if compute.ndim != 1 or compute.size == 0 or np.any(~np.isfinite(compute)) or np.any(compute <= 0):
        raise SpecError("option compute: values must be positive and finite")
    a, b = (curve_draws_along_compute(fit, compute, tpr=tpr, k=k) for fit in (fit_a, fit_b))
    n = min(len(a), len(b))
    # Independent posteriors: pairing draws by index samples their joint.
    difference = a[:n] - b[:n]
    tag = f"{100 * prob:g}"
    lower, median, upper = np.quantile(difference, [(1 - prob) / 2, 0.5, (1 + prob) / 2], axis=0)
    p_a = np.mean(difference > 0, axis=0)
    table = pd.DataFrame({
        "compute": compute, f"median_{labels[0]}": np.median(a, axis=0), f"median_{labels[1]}": np.median(b, axis=0),
        "difference_median": median, f"difference_lower_{tag}": lower, f"difference_upper_{tag}": upper,
        f"p_{labels[0]}_better": p_a,
    })

    def holds(mask):
        return (float(compute[mask].min()), float(compute[mask].max())) if mask.any() else (np.nan, np.nan)

    grid = _grid(search)
    grid_a, grid_b = (curve_draws_along_compute(fit, grid, tpr=tpr, k=k)[:n] for fit in (fit_a, fit_b))
    gap = grid_a - grid_b
    # A crossing either way: where A overtakes B, or B overtakes A.
    crossing = np.where(np.isnan(c := _first_crossing(grid, gap)), _first_crossing(grid, -gap), c)
    crossed = crossing[np.isfinite(crossing)]
    a_lo, a_hi = holds(p_a >= prob)
    b_lo, b_hi = holds(1 - p_a >= prob)
    summary = pd.DataFrame([{
        "group_a": labels[0], "group_b": labels[1], "prob": prob,
        f"{labels[0]}_better_from": a_lo, f"{labels[0]}_better_to": a_hi,
        f"{labels[1]}_better_from": b_lo, f"{labels[1]}_better_to": b_hi,
        "p_crossover": crossed.size / n,
        "crossover_median": float(np.median(crossed)) if crossed.size else np.nan,
        f"crossover_lower_{tag}": float(np.quantile(crossed, (1 - prob) / 2)) if crossed.size else np.nan,
        f"crossover_upper_{tag}": float(np.quantile(crossed, (1 + prob) / 2)) if crossed.size else np.nan,
    }])
    return GroupComparison(table, summary)


def compute_for_accuracy(
    idata, target: float | Sequence[float], *, prob: float = 0.9, tpr: float = 20.0, k: float = 1.0,
    search=SEARCH_RANGE,
) -> pd.DataFrame:
    """The posterior of the training compute needed to reach a target accuracy.

    For every posterior draw, the smallest compute in the search range at
    which the mean accuracy curve reaches the target (linear interpolation in
    log compute on a grid of 40 points per decade). Draws that never reach it
    (a law with a ceiling below the target, or a curve still below it at the
    end of the range) count as "not reached": their compute is taken as
    infinite, so the quantiles say "beyond the range" rather than leaving
    those draws out.

    Parameters
    ----------
    idata : xarray.DataTree
        A fit.
    target : float or sequence of float
        Accuracies (raw, between the benchmark's chance level and 1).
    prob : float
        Probability of the interval.
    tpr, k : float
        As in :func:`curve_draws_along_compute`.
    search : (float, float)
        Compute range searched, in FLOPs.

    Returns
    -------
    pandas.DataFrame
        One row per target: ``p_reached`` (share of draws that reach it in the
        range), ``compute_median``, ``compute_lower_P``, ``compute_upper_P``
        (``inf`` where more than the corresponding share of draws never reach
        it), ``p_above_ceiling`` (for laws with a floor, the share of draws whose
        maximum accuracy is below the target; NaN otherwise), and ``answer``, a
        sentence.
    """
    targets = np.atleast_1d(np.asarray(target, dtype=float))
    chance = _chance(idata)
    for value in targets:
        if not chance < value < 1:
            raise SpecError(f"option target: {value:g} is not an accuracy between chance ({chance:g}) and 1")
    if not 0 < prob < 1:
        raise SpecError(f"option prob: {prob} is not in (0, 1)")
    grid = _grid(search)
    curves = curve_draws_along_compute(idata, grid, tpr=tpr, k=k)
    ceiling = None
    if "floor_share" in idata["posterior"]:
        from bayes_scaling.laws.saturating_power_law import max_accuracy_draws

        ceiling = max_accuracy_draws(idata)
    tag = f"{100 * prob:g}"
    rows = []
    for value in targets:
        gap = curves - value
        needed = np.where(gap[:, 0] > 0, grid[0], _first_crossing(grid, gap))
        needed = np.where(np.isnan(needed), np.inf, needed)
        # Quantiles without interpolation, so that "never reached" (inf) stays inf.
        lower, median, upper = np.quantile(needed, [(1 - prob) / 2, 0.5, (1 + prob) / 2], method="inverted_cdf")
        reached = float(np.mean(np.isfinite(needed)))
        above = float(np.mean(ceiling < value)) if ceiling is not None else np.nan
        rows.append({
            "target": value, "p_reached": reached, "compute_median": median,
            f"compute_lower_{tag}": lower, f"compute_upper_{tag}": upper, "p_above_ceiling": above,
            "answer": _answer(value, reached, median, lower, upper, above, search, tag),
        })
    return pd.DataFrame(rows)


def _answer(target, reached, median, lower, upper, above, search, tag) -> str:
    if reached < 0.5:
        why = (f"above the law's ceiling in {above:.0%} of draws" if np.isfinite(above) and above >= 0.5
               else f"not reached by {search[1]:.0e} FLOPs in {1 - reached:.0%} of draws")
        return f"accuracy {target:g} is out of reach: {why}"
    upper_text = f"{upper:.2e}" if np.isfinite(upper) else f"beyond {search[1]:.0e}"
    return f"accuracy {target:g} needs {median:.2e} FLOPs ({tag}% interval {lower:.2e} to {upper_text})"
