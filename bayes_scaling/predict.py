"""Predicted accuracy with credible intervals, from the posterior of a fit.

Two bands answer two questions:

- the band of the **mean curve**: where the law itself lies, given the data;
- the **predictive** band for a new run: the mean curve plus the Student-t
  noise of one more run, ``y_new ~ StudentT(nu, mean, sigma)``.

For a direct law both bands include, by default, the form-error term of
:mod:`bayes_scaling.form_error`: beyond the largest fitted run the law itself
may bend away from its form, with a standard deviation on the likelihood scale
that grows with the distance in decades of compute (zero inside the fitted
range). ``form_error=False`` gives the purely parametric bands.

Both are computed on the likelihood scale for every posterior draw and mapped
back to raw accuracy, ``acc = chance + (1 - chance) Q``. Quantiles commute with
that monotone map, so the bands are equal-tailed in accuracy too.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
import pandas as pd

from bayes_scaling.errors import SpecError
from bayes_scaling.fits import (
    chance_of, check_prob, fitted_compute_range, held_out_frame, law_of, posterior_draws, summary_columns,
)
from bayes_scaling.form_error import decades_beyond, refusal, resolve
from bayes_scaling.laws import raw_inputs, rescale_inputs

#: Default credible-interval probabilities.
PROBS = (0.5, 0.9)


def predict(
    idata,
    compute: Sequence[float] | None = None,
    *,
    params: Sequence[float] | None = None,
    tokens: Sequence[float] | None = None,
    k: Sequence[float] | None = None,
    prob: Sequence[float] = PROBS,
    seed: int = 0,
    form_error=None,
) -> pd.DataFrame:
    """Predict accuracy at new inputs with credible intervals.

    Parameters
    ----------
    idata : xarray.DataTree
        A fit from :func:`bayes_scaling.fit`.
    compute, params, tokens, k : array-like
        The inputs the law needs (compute for the direct laws).
    prob : sequence of float
        Probabilities of the equal-tailed intervals, each in (0, 1).
    seed : int
        Seed of the predictive noise draws.
    form_error : None, bool, FormErrorPrior or dict
        The form-error term (:mod:`bayes_scaling.form_error`): ``None`` (the
        default) uses the fit's own (``attrs["form_error"]``: the shipped prior
        updated by the ladder's own backtests, written by
        :func:`bayes_scaling.pipeline.run_spec`) or else the shipped prior for
        direct laws, and none for two-stage laws; ``False`` gives the purely parametric law; a
        :class:`~bayes_scaling.form_error.FormErrorPrior` uses that prior.

    Returns
    -------
    pandas.DataFrame
        One row per input: the inputs; ``median``, ``lower_P``, ``upper_P`` of
        the mean curve; ``predictive_median``, ``predictive_lower_P``,
        ``predictive_upper_P`` for a new run (P in percent); ``region``
        (``interpolation`` or ``extrapolation``) and ``decades_beyond``, how many
        decades of compute past the largest fitted run (0 inside the range);
        ``refused``: empty, or why no prediction is given beyond the data (an
        emerging benchmark fitted on too few runs, :func:`bayes_scaling.form_error.refusal`),
        in which case that row's medians and intervals are NaN.
        ``attrs["form_error"]`` says which form-error prior was used.
    """
    law = law_of(idata)
    given = {"compute": compute, "params": params, "tokens": tokens, "k": k}
    missing = [name for name in law.inputs if given[name] is None]
    if missing:
        raise SpecError(f"law {law.name!r} needs {', '.join(missing)} to predict")
    columns = {name: np.atleast_1d(np.asarray(given[name], dtype=float)) for name in law.inputs}
    lengths = {len(v) for v in columns.values()}
    if len(lengths) != 1:
        raise SpecError(f"inputs {', '.join(columns)} must have the same length")
    for name, values in columns.items():
        if np.any(~np.isfinite(values)) or np.any(values <= 0):
            raise SpecError(f"option {name}: values must be positive and finite")
    for p in prob:
        check_prob(p)
    compute = compute_of(columns)
    prior = fit_form_error(idata, form_error)
    curve, new_run = predictive_draws(idata, columns, prior, seed)
    beyond = np.log10(compute / fitted_compute_range(idata)[1])

    out = pd.DataFrame({name: values for name, values in columns.items()})
    if "compute" not in out:
        out["compute"] = compute
    out = out.assign(**summary_columns(curve, prob), **summary_columns(new_run, prob, prefix="predictive_"))
    out["region"] = np.where(beyond > 0, "extrapolation", "interpolation")
    out["decades_beyond"] = np.clip(beyond, 0, None)
    reason = fit_refusal(idata) if prior is not None else None
    out["refused"] = np.where(beyond > 0, reason or "", "")
    if reason:
        # No narrow band where the data cannot know: the numbers are withheld, the reason given.
        estimates = [c for c in out.columns if c.endswith("median") or c.startswith(("lower_", "upper_", "predictive_"))]
        out.loc[beyond > 0, estimates] = np.nan
    out.attrs["form_error"] = prior.describe() if prior is not None else "off (parametric law)"
    return out


def compute_of(columns) -> np.ndarray:
    """Training compute of raw inputs: ``compute`` itself, or ``C = 6 N D`` for laws in (N, D)."""
    if "compute" in columns:
        return np.asarray(columns["compute"], dtype=float)
    return 6.0 * np.asarray(columns["params"], dtype=float) * np.asarray(columns["tokens"], dtype=float)


def predictive_draws(idata, columns, prior, seed: int | Sequence[int] = 0) -> tuple[np.ndarray, np.ndarray]:
    """Draws (draws, points) in raw accuracy of the mean curve and of a new run at raw inputs ``columns``.

    ``prior`` is the form-error term (:func:`fit_form_error`; None for the
    parametric law); its distance is counted from the fit's largest run.
    """
    law = law_of(idata)
    draws = posterior_draws(idata)
    compute = compute_of(columns)
    shift = form_error_shift(prior, compute, fitted_compute_range(idata)[1], len(draws["sigma"]), seed)
    return law.accuracy_draws(draws, rescale_inputs({name: columns[name] for name in law.inputs}),
                              chance_of(idata), np.random.default_rng(seed), shift=shift)


def fit_form_error(idata, form_error=None):
    """The form-error term a prediction from ``idata`` uses (``form_error`` as in :func:`predict`)."""
    # A fit whose ladder was backtested on itself carries its updated form error.
    stored = idata.attrs.get("form_error")
    return resolve(json.loads(stored) if form_error is None and stored else form_error, law_of(idata))


def fit_refusal(idata) -> str | None:
    """Why a fit's extrapolations are refused (:func:`bayes_scaling.form_error.refusal`), or None."""
    excluded = json.loads(idata.attrs.get("excluded", "{}"))
    return refusal(int(idata["observed_data"].sizes["point"]), int(excluded.get("near_chance", 0)))


def form_error_shift(prior, compute, largest_fitted: float, n_draws: int, seed: int | Sequence[int]):
    """Form-error draws (draws, points) at ``compute``, or None without a prior.

    Drawn from a generator of their own, so that switching the term on or off
    leaves the parametric draws as they were.
    """
    if prior is None:
        return None
    return prior.shift_draws(decades_beyond(compute, largest_fitted), n_draws,
                             np.random.default_rng([*np.ravel(seed), 1]))


def predict_held_out(idata, prob: Sequence[float] = PROBS, seed: int = 0, form_error=None) -> pd.DataFrame:
    """Predict every held-out run of a fit and say whether it falls inside each interval.

    Returns the columns of :func:`predict` plus ``run_id``, ``observed`` and,
    per probability, ``inside_P`` (observed inside the predictive interval).
    """
    held = held_out_frame(idata)
    if held.empty:
        return pd.DataFrame()
    table = predict(idata, prob=prob, seed=seed, form_error=form_error, **raw_inputs(law_of(idata), held))
    table.insert(0, "run_id", held["run_id"].to_numpy())
    table["observed"] = held["value"].to_numpy(float)
    # A refused prediction is not an interval that missed: inside is False, and
    # callers count refused runs apart (column ``refused``).
    for p in prob:
        tag = f"{100 * p:g}"
        table[f"inside_{tag}"] = (table["observed"] >= table[f"predictive_lower_{tag}"]) & (
            table["observed"] <= table[f"predictive_upper_{tag}"]
        )
    return table
