"""The additive law in parameters and tokens (Krajewski et al. 2025, eq. 4).

Besides the law, this module answers the question the law exists for: at a
given compute budget, which token-to-parameter ratio (TPR) gives the best
accuracy, and how sure are we? See :func:`iso_flop` and :func:`best_tpr`.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import pandas as pd

from bayes_scaling.errors import SpecError
from bayes_scaling.laws.base import REFERENCE, Law, get_law, register

#: Default probabilities of the credible intervals of :func:`iso_flop`.
PROBS = (0.5, 0.9)
#: Default TPR grid of :func:`iso_flop` and of the grid search in :func:`best_tpr_draws`.
TPR_GRID = np.geomspace(1.0, 1000.0, 301)

# log(N_ref * D_ref * 6): with n = log(N / N_ref) and d = log(D / D_ref), a
# budget C = 6 N D fixes n + d = log(C / (6 N_ref D_ref)).
_LOG_C_REF = float(np.log(6.0 * REFERENCE["params"] * REFERENCE["tokens"]))
# log(D_ref / N_ref) = log 20: the TPR of a run at n = d = 0.
_LOG_TPR_REF = float(np.log(REFERENCE["tokens"] / REFERENCE["params"]))


@register
class AdditiveND(Law):
    r"""Additive law in parameters and tokens: ``-log Q = A N^(-alpha) + B D^(-beta)``.

    Fitted on all token-to-parameter ratios together, on the transformed scale.
    With ``n = log(N / 1e9)`` and ``d = log(D / 2e10)``,

    .. math::

        \log(-\log Q) = \log\left(e^{\mathrm{log\_a} - \alpha n}
                                  + e^{\mathrm{log\_b} - \beta d}\right),

    where ``log_a`` and ``log_b`` are the logs of the two terms of ``-log Q``
    for the reference run of 1e9 parameters trained on 2e10 tokens (TPR 20,
    1.2e20 FLOPs, the middle of the DCLM ladder). The paper's
    ``log A = log_a + alpha log(1e9)`` and ``log B = log_b + beta log(2e10)``
    (:func:`paper_coefficients`). ``-log Q`` falls towards 0 as N or D grows and
    never goes below 0, so predictions stay in ``[chance, 1]``.

    Parameterisation
    ----------------
    The law samples ``log_total``, ``log_ratio``, ``alpha``, ``beta`` with

    .. math::

        \mathrm{log\_total} = \log(e^{\mathrm{log\_a}} + e^{\mathrm{log\_b}}),
        \qquad \mathrm{log\_ratio} = \mathrm{log\_a} - \mathrm{log\_b},

    i.e. ``log(-log Q)`` of the reference run and the log of how much more its
    N-term weighs than its D-term; back, ``log_a = log_total +
    log_sigmoid(log_ratio)`` and ``log_b = log_total + log_sigmoid(-log_ratio)``.
    The data pin down the total well and the split less well, so ``log_a`` and
    ``log_b`` come out almost perfectly anti-correlated (-0.98 on DCLM
    ARC-Easy), which NUTS with a diagonal mass matrix samples slowly; the total
    and the ratio are nearly uncorrelated (bulk ESS per draw up by a third
    to a half on DCLM and Gadre et al. fits).

    Priors
    ------
    ``log_total ~ Normal(0, 1.5)``
        ``log(-log Q)`` of the reference run: 95% of the mass on Q between 1e-8
        and 0.95, from indistinguishable from chance to nearly solved, as the
        power law's ``log_a``.
    ``log_ratio ~ Normal(0, 1.5)``
        No preference for a parameter- or data-limited reference run; 95% of the
        mass on one term between 1/20 and 20 times the other.
    ``alpha ~ HalfNormal(0.5)``, ``beta ~ HalfNormal(0.5)``
        Accuracy rises with N and with D. Along one TPR, N and D each grow as
        the square root of compute, so the exponents are about twice the direct
        law's compute slope (0.05-0.3 per e-fold): 0.1-0.6. The half-normal
        keeps mass near 0 for a term that is nearly flat, where the data say
        little and the prior keeps the exponent bounded.

    Notes
    -----
    When one term dominates over the whole data range the other is weakly
    identified; the posterior says so with wide intervals rather than the
    single point a least-squares fit returns. Runs at several TPRs per compute
    (DCLM's 10-160, Gadre et al.'s 5-640) separate the two terms.
    """

    name = "additive_nd"
    formula = "-log Q = A N^-alpha + B D^-beta"
    inputs = ("params", "tokens")
    scale = "log_neg_log_q"
    parameters = ("log_total", "log_ratio", "alpha", "beta")

    def default_priors(self):
        return {
            "log_total": dist.Normal(0.0, 1.5),
            "log_ratio": dist.Normal(0.0, 1.5),
            "alpha": dist.HalfNormal(0.5),
            "beta": dist.HalfNormal(0.5),
        }

    def mean(self, theta, inputs):
        log_a, log_b = term_logs(theta)
        # logaddexp keeps log(A N^-alpha + B D^-beta) finite when one term
        # underflows, which log(exp + exp) would not.
        return jnp.logaddexp(
            log_a - theta["alpha"] * inputs["log_params"],
            log_b - theta["beta"] * inputs["log_tokens"],
        )


def term_logs(theta):
    """``(log_a, log_b)``: logs of the N- and D-terms of ``-log Q`` at the reference run."""
    log_total, log_ratio = theta["log_total"], theta["log_ratio"]
    return log_total + jax.nn.log_sigmoid(log_ratio), log_total + jax.nn.log_sigmoid(-log_ratio)


def paper_coefficients(theta) -> dict:
    """The paper's ``log A``, ``alpha``, ``log B``, ``beta`` (N and D unscaled) from ours.

    Works on scalars or arrays of posterior draws (e.g. from
    :func:`bayes_scaling.predict.posterior_draws`).
    """
    theta = {name: np.asarray(theta[name], dtype=float) for name in AdditiveND.parameters}
    log_a, log_b = (np.asarray(v) for v in term_logs(theta))
    return {
        "log_A": log_a + theta["alpha"] * np.log(REFERENCE["params"]),
        "alpha": theta["alpha"],
        "log_B": log_b + theta["beta"] * np.log(REFERENCE["tokens"]),
        "beta": theta["beta"],
    }


# --------------------------------------------------------------------------- helpers
def _check_fit(idata) -> None:
    if idata.attrs.get("law") != AdditiveND.name:
        raise SpecError(f"expected a fit of {AdditiveND.name!r}, got one of {idata.attrs.get('law')!r}")


def _compute_array(compute) -> np.ndarray:
    compute = np.atleast_1d(np.asarray(compute, dtype=float))
    if compute.ndim != 1 or np.any(~np.isfinite(compute)) or np.any(compute <= 0):
        raise SpecError("option compute: values must be positive and finite")
    return compute


def _check_prob(prob: float) -> None:
    if not 0 < prob < 1:
        raise SpecError(f"option prob: {prob} is not in (0, 1)")


def iso_flop_point(compute, tpr) -> tuple[np.ndarray, np.ndarray]:
    """Parameters and tokens of the run with ``C = 6 N D`` and ``D = TPR N``.

    ``N = sqrt(C / (6 TPR))`` and ``D = TPR N``; arrays broadcast.
    """
    compute = np.asarray(compute, dtype=float)
    tpr = np.asarray(tpr, dtype=float)
    params = np.sqrt(compute / (6.0 * tpr))
    return params, tpr * params


def predict_nd(idata, params, tokens, *, prob: Sequence[float] = PROBS, seed: int = 0) -> pd.DataFrame:
    """Predict accuracy at ``(N, D)`` pairs from an additive fit.

    The same as :func:`bayes_scaling.predict.predict` with ``params`` and
    ``tokens``; the ``compute`` column is ``6 N D``.
    """
    from bayes_scaling.predict import predict

    _check_fit(idata)
    return predict(idata, params=params, tokens=tokens, prob=prob, seed=seed)


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
    from bayes_scaling.predict import predict

    _check_fit(idata)
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
    from bayes_scaling.predict import _chance, posterior_draws

    _check_fit(idata)
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
    inputs = {"log_params": np.log(params / REFERENCE["params"]), "log_tokens": np.log(tokens / REFERENCE["tokens"])}
    law = get_law(AdditiveND.name)
    accuracy = np.asarray(law.transform.inverse(np.asarray(law.mean(theta, inputs)), _chance(idata)))
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
    >>> from bayes_scaling.laws.additive_nd import best_tpr
    >>> data = bs.select(bs.load_dataset("krajewski2025_dclm"), "arc_easy")
    >>> idata = bs.fit(data, form="additive_nd", quiet=True)  # doctest: +SKIP
    >>> best_tpr(idata, 1e22)  # doctest: +SKIP
    """
    _check_prob(prob)
    compute = _compute_array(compute)
    draws = best_tpr_draws(idata, compute, method=method)
    out = pd.DataFrame({"compute": compute})
    quantiles = [(1 - prob) / 2, 0.5, (1 + prob) / 2]
    for name in ["tpr", "params", "tokens", "accuracy"]:
        lower, median, upper = np.quantile(draws[name], quantiles, axis=0)
        out[f"{name}_median"], out[f"{name}_lower"], out[f"{name}_upper"] = median, lower, upper
    out["prob"] = prob
    constant = idata["constant_data"]
    fitted_tpr = np.asarray(constant["tokens"]) / np.asarray(constant["params"])
    out["inside_fitted_tpr"] = out["tpr_median"].between(fitted_tpr.min(), fitted_tpr.max())
    return out
