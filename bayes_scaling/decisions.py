"""The decisions users make with a fitted law: which data mixture, how much compute, which TPR.

- :func:`compare_groups`: two groups (data mixtures or another intervention)
  fitted with the same law on the same benchmark: the posterior probability
  that A beats B at each compute, where that holds, and where the curves cross.
- :func:`compute_for_accuracy`: the posterior of the compute needed to reach a
  target accuracy (inverse prediction), with a clear answer when the target
  lies above what the law can reach.
- :func:`best_tpr` and :func:`iso_flop` (fits of ``additive_nd``): at a given
  compute budget, which token-to-parameter ratio (TPR) gives the best accuracy,
  and how sure are we?

All work on posterior draws of the mean accuracy curve, so every answer
carries the uncertainty of the fits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bayes_scaling.errors import SpecError
from bayes_scaling.fits import (
    ceiling_draws, chance_of, check_prob, curve_draws, interval, law_of, posterior_draws, summary_columns,
)
from bayes_scaling.laws import REFERENCE, inputs_along_compute, rescale_inputs
from bayes_scaling.laws.additive_nd import AdditiveND, term_logs
from bayes_scaling.predict import predict

#: Compute range searched for crossovers and inverse predictions, in FLOPs.
SEARCH_RANGE = (1e15, 1e30)
#: Grid points per decade of compute in those searches.
GRID_PER_DECADE = 40


def curve_draws_along_compute(idata, compute, *, tpr: float = 20.0, k: float = 1.0) -> np.ndarray:
    """Posterior draws (draws, len(compute)) of a fit's mean accuracy curve along compute.

    Laws in parameters and tokens spend the compute at ``tpr`` tokens per
    parameter; pass@k laws are evaluated at ``k``.
    """
    return curve_draws(idata, inputs_along_compute(law_of(idata), np.asarray(compute, dtype=float), tpr=tpr, k=k))


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
    if chance_of(fit_a) != chance_of(fit_b):
        raise SpecError("compare_groups needs fits of one benchmark (their chance levels differ)")
    check_prob(prob)
    compute = np.asarray(compute, dtype=float)
    if compute.ndim != 1 or compute.size == 0 or np.any(~np.isfinite(compute)) or np.any(compute <= 0):
        raise SpecError("option compute: values must be positive and finite")
    a, b = (curve_draws_along_compute(fit, compute, tpr=tpr, k=k) for fit in (fit_a, fit_b))
    n = min(len(a), len(b))
    # Independent posteriors: pairing draws by index samples their joint.
    difference = a[:n] - b[:n]
    tag = f"{100 * prob:g}"
    p_a = np.mean(difference > 0, axis=0)
    table = pd.DataFrame({
        "compute": compute, f"median_{labels[0]}": np.median(a, axis=0), f"median_{labels[1]}": np.median(b, axis=0),
        **summary_columns(difference, prob, prefix="difference_"), f"p_{labels[0]}_better": p_a,
    })

    def holds(mask):
        return (float(compute[mask].min()), float(compute[mask].max())) if mask.any() else (np.nan, np.nan)

    grid = _grid(search)
    grid_a, grid_b = (curve_draws_along_compute(fit, grid, tpr=tpr, k=k)[:n] for fit in (fit_a, fit_b))
    gap = grid_a - grid_b
    # A crossing either way: where A overtakes B, or B overtakes A.
    crossing = np.where(np.isnan(c := _first_crossing(grid, gap)), _first_crossing(grid, -gap), c)
    crossed = crossing[np.isfinite(crossing)]
    crossing_lower, crossing_upper = (float(v) for v in interval(crossed, prob)) if crossed.size else (np.nan, np.nan)
    a_lo, a_hi = holds(p_a >= prob)
    b_lo, b_hi = holds(1 - p_a >= prob)
    summary = pd.DataFrame([{
        "group_a": labels[0], "group_b": labels[1], "prob": prob,
        f"{labels[0]}_better_from": a_lo, f"{labels[0]}_better_to": a_hi,
        f"{labels[1]}_better_from": b_lo, f"{labels[1]}_better_to": b_hi,
        "p_crossover": crossed.size / n,
        "crossover_median": float(np.median(crossed)) if crossed.size else np.nan,
        f"crossover_lower_{tag}": crossing_lower, f"crossover_upper_{tag}": crossing_upper,
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
    chance = chance_of(idata)
    for value in targets:
        if not chance < value < 1:
            raise SpecError(f"option target: {value:g} is not an accuracy between chance ({chance:g}) and 1")
    check_prob(prob)
    grid = _grid(search)
    curves = curve_draws_along_compute(idata, grid, tpr=tpr, k=k)
    ceiling = ceiling_draws(idata)
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


# --------------------------------------------------------------------------- the best TPR (additive_nd)
#: Default probabilities of the credible intervals of :func:`iso_flop`.
PROBS = (0.5, 0.9)
#: Default TPR grid of :func:`iso_flop` and of the grid search in :func:`best_tpr_draws`.
TPR_GRID = np.geomspace(1.0, 1000.0, 301)

# log(N_ref * D_ref * 6): with n = log(N / N_ref) and d = log(D / D_ref), a
# budget C = 6 N D fixes n + d = log(C / (6 N_ref D_ref)).
_LOG_C_REF = float(np.log(6.0 * REFERENCE["params"] * REFERENCE["tokens"]))
# log(D_ref / N_ref) = log 20: the TPR of a run at n = d = 0.
_LOG_TPR_REF = float(np.log(REFERENCE["tokens"] / REFERENCE["params"]))


def _check_additive(idata) -> None:
    if idata.attrs.get("law") != AdditiveND.name:
        raise SpecError(f"expected a fit of {AdditiveND.name!r}, got one of {idata.attrs.get('law')!r}")


def _compute_array(compute) -> np.ndarray:
    compute = np.atleast_1d(np.asarray(compute, dtype=float))
    if compute.ndim != 1 or np.any(~np.isfinite(compute)) or np.any(compute <= 0):
        raise SpecError("option compute: values must be positive and finite")
    return compute


def iso_flop_point(compute, tpr) -> tuple[np.ndarray, np.ndarray]:
    """Parameters and tokens of the run with ``C = 6 N D`` and ``D = TPR N``.

    ``N = sqrt(C / (6 TPR))`` and ``D = TPR N``; arrays broadcast.
    """
    compute = np.asarray(compute, dtype=float)
    tpr = np.asarray(tpr, dtype=float)
    params = np.sqrt(compute / (6.0 * tpr))
    return params, tpr * params


def iso_flop(idata, compute, tpr_grid: Sequence[float] | None = None, prob: Sequence[float] = PROBS) -> pd.DataFrame:
    """Accuracy along the iso-FLOP curve of each compute budget.

    For each budget ``C`` and each ``TPR`` of the grid the run has
    ``N = sqrt(C / (6 TPR))`` and ``D = TPR N``; the table gives the posterior
    median and equal-tailed intervals of the mean curve there (and the
    predictive band of a new run, as :func:`bayes_scaling.predict.predict` does).

    Parameters
    ----------
    idata : xarray.DataTree
        A fit of ``additive_nd``.
    compute : float or array-like
        Compute budgets in FLOPs.
    tpr_grid : array-like, optional
        Token-to-parameter ratios; default 301 points log-spaced from 1 to 1000.
    prob : sequence of float
        Interval probabilities.

    Returns
    -------
    pandas.DataFrame
        Tidy: one row per (budget, TPR), columns ``compute``, ``tpr``,
        ``params``, ``tokens``, ``median``, ``lower_P``, ``upper_P``, the
        predictive columns, ``region`` and ``decades_beyond``.
    """
    _check_additive(idata)
    compute = _compute_array(compute)
    tpr = np.asarray(TPR_GRID if tpr_grid is None else tpr_grid, dtype=float)
    if tpr.ndim != 1 or np.any(~np.isfinite(tpr)) or np.any(tpr <= 0):
        raise SpecError("option tpr_grid: values must be positive and finite")
    budget, ratio = (a.ravel() for a in np.meshgrid(compute, tpr, indexing="ij"))
    params, tokens = iso_flop_point(budget, ratio)
    table = predict(idata, params=params, tokens=tokens, prob=prob)
    # Exact budgets and ratios as given, not 6 N D recomputed with rounding.
    table["compute"] = budget
    table.insert(0, "tpr", ratio)
    return table[["compute", *[c for c in table.columns if c != "compute"]]]


def best_tpr_draws(idata, compute, *, method: str = "closed_form", tpr_grid: Sequence[float] | None = None) -> dict:
    r"""Per posterior draw, the TPR that maximises accuracy at each compute budget.

    With ``n = log(N / 1e9)``, ``d = log(D / 2e10)`` and the budget fixing
    ``n + d = c = log(C / 1.2e20)``, ``-log Q`` along the iso-FLOP curve is
    ``f(n) = exp(log_a - alpha n) + exp(log_b - beta (c - n))``, a sum of two
    exponentials of lines in ``n`` and so convex. Setting ``f'(n) = 0``:

    .. math::

        n^* = \frac{\log\alpha + \mathrm{log\_a} - \log\beta - \mathrm{log\_b} + \beta c}{\alpha + \beta},
        \qquad \log \mathrm{TPR}^* = \log 20 + c - 2 n^*,

    i.e. the paper's ``N* = (alpha A / (beta B))^(1/(alpha+beta)) (C/6)^(beta/(alpha+beta))``.

    Parameters
    ----------
    idata : xarray.DataTree
        A fit of ``additive_nd``.
    compute : float or array-like
        Compute budgets in FLOPs.
    method : {"closed_form", "grid"}
        ``closed_form`` uses ``n*`` above (any TPR); ``grid`` takes the best TPR
        of ``tpr_grid`` (default 301 points from 1 to 1000), a check on the
        closed form that cannot leave the grid.

    Returns
    -------
    dict
        ``tpr``, ``params``, ``tokens``, ``accuracy``: arrays of shape
        ``(draws, budgets)``.
    """
    _check_additive(idata)
    compute = _compute_array(compute)
    draws = posterior_draws(idata)
    theta = {name: draws[name][:, None] for name in AdditiveND.parameters}
    log_a, log_b = (np.asarray(v) for v in term_logs(theta))
    alpha, beta = theta["alpha"], theta["beta"]
    c = np.log(compute)[None, :] - _LOG_C_REF
    if method == "closed_form":
        with np.errstate(divide="ignore", invalid="ignore"):
            n = (np.log(alpha) + log_a - np.log(beta) - log_b + beta * c) / (alpha + beta)
        log_tpr = _LOG_TPR_REF + c - 2.0 * n
    elif method == "grid":
        grid = np.log(np.asarray(TPR_GRID if tpr_grid is None else tpr_grid, dtype=float))
        # n on the grid: log TPR = log 20 + c - 2 n.
        n_grid = (_LOG_TPR_REF + c[..., None] - grid) / 2.0  # (1, budgets, grid)
        f = np.exp(log_a[..., None] - alpha[..., None] * n_grid) + np.exp(
            log_b[..., None] - beta[..., None] * (c[..., None] - n_grid)
        )
        log_tpr = grid[np.argmin(f, axis=-1)]
    else:
        raise SpecError(f"option method must be closed_form or grid, got {method!r}")
    tpr = np.exp(log_tpr)
    params, tokens = iso_flop_point(compute[None, :], tpr)
    law = law_of(idata)
    inputs = rescale_inputs({"params": params, "tokens": tokens})
    accuracy = np.asarray(law.transform.inverse(np.asarray(law.mean(theta, inputs)), chance_of(idata)))
    return {"tpr": tpr, "params": params, "tokens": tokens, "accuracy": accuracy}


def best_tpr(idata, compute, prob: float = 0.9, *, method: str = "closed_form") -> pd.DataFrame:
    """Posterior of the compute-optimal TPR and of the accuracy it reaches.

    Parameters
    ----------
    idata : xarray.DataTree
        A fit of ``additive_nd``.
    compute : float or array-like
        Compute budgets in FLOPs.
    prob : float
        Probability of the equal-tailed intervals.
    method : {"closed_form", "grid"}
        See :func:`best_tpr_draws`.

    Returns
    -------
    pandas.DataFrame
        One row per budget: ``compute``; ``tpr_median``, ``tpr_lower``,
        ``tpr_upper``; the same for ``params``, ``tokens`` and ``accuracy``
        (the mean curve at each draw's own optimum); ``prob``; and
        ``inside_fitted_tpr``, whether the median TPR lies within the TPRs of
        the fitted runs (if not, the optimum is an extrapolation in TPR).

    Examples
    --------
    >>> import bayes_scaling as bs
    >>> from bayes_scaling.decisions import best_tpr
    >>> data = bs.select(bs.load_dataset("krajewski2025_dclm"), "arc_easy")
    >>> idata = bs.fit(data, form="additive_nd")  # doctest: +SKIP
    >>> best_tpr(idata, 1e22)  # doctest: +SKIP
    """
    check_prob(prob)
    compute = _compute_array(compute)
    draws = best_tpr_draws(idata, compute, method=method)
    out = pd.DataFrame({"compute": compute})
    for name in ["tpr", "params", "tokens", "accuracy"]:
        (lower, upper), median = interval(draws[name], prob), np.median(draws[name], axis=0)
        out[f"{name}_median"], out[f"{name}_lower"], out[f"{name}_upper"] = median, lower, upper
    out["prob"] = prob
    constant = idata["constant_data"]
    fitted_tpr = np.asarray(constant["tokens"]) / np.asarray(constant["params"])
    out["inside_fitted_tpr"] = out["tpr_median"].between(fitted_tpr.min(), fitted_tpr.max())
    return out
