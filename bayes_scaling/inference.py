"""Fitting a law with NUTS and returning an ArviZ DataTree.

Defaults live in :class:`bayes_scaling.settings.SamplerSettings`. The DataTree carries the posterior,
sample stats, pointwise log likelihood, observed and constant data, the
held-out points, and attributes that say which law, priors, sampler settings
and data produced it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence

import numpy as np
import xarray as xr
from arviz_base import from_dict

from bayes_scaling import __version__
from bayes_scaling.diagnostics import diagnose
from bayes_scaling.logs import is_nested, nested, progress_level, show_progress
from bayes_scaling.engine import length_groups, n_points, sample_batch
from bayes_scaling.laws import get_law, law_inputs
from bayes_scaling.errors import DataError
from bayes_scaling.saving import data_hash, versions
from bayes_scaling.selection import ScalingData
from bayes_scaling.settings import SamplerSettings

logger = logging.getLogger(__name__)


def prepare(data: ScalingData, law):
    """Exclude points the law's scale cannot represent; return data, inputs and y."""
    law = get_law(law)
    data = data.exclude(
        ~_finite(law.observations(data.fitted)), ~_finite(law.observations(data.held_out)), f"outside_{law.scale}"
    )
    if len(data.fitted) < law.min_points:
        raise DataError(
            f"{data.summary()}: {len(data.fitted)} usable points, but {law.name} needs at least {law.min_points}"
        )
    return data, law_inputs(law, data.fitted), law.observations(data.fitted)


def _finite(observations) -> np.ndarray:
    """Rows whose every observation (one array, or a dict of them) is finite."""
    arrays = observations.values() if isinstance(observations, dict) else [observations]
    return np.logical_and.reduce([np.isfinite(np.asarray(a, dtype=float)) for a in arrays])


def fit(data: ScalingData, form: str = "power_law", priors: Mapping | None = None, **options):
    """Fit a scaling law to one benchmark's points with NUTS.

    Parameters
    ----------
    data : ScalingData
        From :func:`bayes_scaling.select`.
    form : str
        A registered law (see :func:`bayes_scaling.laws.available_laws`).
    priors : mapping, optional
        ``{parameter: numpyro Distribution}`` overriding the law's defaults.
    **options
        Options of :func:`fit_many`: ``settings``, ``progress_bar``, and
        sampler settings by name (``num_warmup``, ``num_samples``,
        ``num_chains``, ``chain_method``, ``target_accept_prob``, ``seed``, ...).

    Returns
    -------
    xarray.DataTree
        Groups ``posterior``, ``sample_stats``, ``log_likelihood``,
        ``observed_data``, ``constant_data`` and ``held_out_data``; attributes
        ``law``, ``formula``, ``scale``, ``priors``, ``sampler``, ``data``,
        ``excluded``, ``diagnostics`` and ``bayes_scaling_version``.

    Examples
    --------
    >>> from bayes_scaling import load_dataset, select, fit
    >>> table = load_dataset("krajewski2025_dclm")
    >>> data = select(table, "arc_easy", tpr=20, max_compute=1e21)
    >>> idata = fit(data, num_samples=500)  # doctest: +SKIP
    """
    return fit_many([data], form, priors, **options)[0]


def fit_many(
    datasets: Sequence[ScalingData],
    form: str = "power_law",
    priors: Mapping | None = None,
    settings: SamplerSettings | None = None,
    *,
    progress_bar: bool | None = None,
    **options,
) -> list:
    """Fit one law to many datasets in one compiled program (see :mod:`bayes_scaling.engine`).

    Each dataset gets its own chains, step sizes, mass matrices and
    diagnostics, as if fitted alone; the batch only shares compilation and
    loop overhead. Fit ``i`` is seeded by ``seed`` and its position in the
    batch, so a dataset's draws depend on both.

    Parameters
    ----------
    datasets : sequence of ScalingData
        From :func:`bayes_scaling.select`.
    form, priors
        As in :func:`fit`; shared by every dataset.
    settings : SamplerSettings, optional
        The sampler's settings (default: :class:`~bayes_scaling.settings.SamplerSettings`'s
        defaults). The same seed and batch give the same draws.
    progress_bar : bool, optional
        A tqdm progress bar of the sampling; by default shown on a terminal
        when the ``bayes_scaling`` logger shows progress (:mod:`bayes_scaling.logs`).
    **options
        Sampler settings by name, overriding ``settings`` (``num_warmup=500``, ...).

    Notes
    -----
    With ``settings.retry`` (the default), every fit that fails a sampling check (R-hat, ESS,
        divergences, E-BFMI; see :mod:`bayes_scaling.diagnostics`) with twice
        the warm-up and the draws and a higher target acceptance (:func:`retry_settings`),
        all such fits in one batch. The retried fit replaces the first and
        says so in its ``retry`` attribute; if it still fails, its
        ``warnings`` attribute lists what. A fit whose extrapolations are
        refused for lack of data (:func:`bayes_scaling.form_error.refusal`:
        an emerging benchmark with too few runs above chance) is not retried:
        more sampling cannot add runs. Its ``retry_declined`` attribute says why.

    Returns
    -------
    list of xarray.DataTree
        One per dataset, in order, as :func:`fit` returns. Every fit carries
        ``attrs["warnings"]``: a JSON list of the failed checks (empty when
        all pass).
    """
    law = get_law(form)
    prior_set = law.priors(priors)
    settings = SamplerSettings.from_options(settings, **options)
    prepared = [prepare(data, law) for data in datasets]
    if progress_bar is None:
        progress_bar = show_progress(logger)
    level = progress_level()
    for data, _, _ in prepared:
        logger.log(level, "fitting %s to %s", law.name, data.summary())
    if len(prepared) > 1:
        programs = len(length_groups([n_points(y) for _, _, y in prepared]))
        logger.log(level, "  sampling %d fits x %d chains in %s", len(prepared), settings.num_chains,
                   "one program" if programs == 1 else f"{programs} programs (by data length)")
    samples = sample_batch(
        law, prior_set, [inputs for _, inputs, _ in prepared], [y for _, _, y in prepared],
        settings.replace(chain_method=settings.resolved_chain_method()), progress=progress_bar,
    )
    results, failing, found = [], [], []
    for index, (data, inputs, y) in enumerate(prepared):
        idata = _to_datatree(samples, index, law, prior_set, settings, data, inputs, y)
        diagnostics = diagnose(idata)
        found.append(diagnostics)
        idata.attrs["diagnostics"] = diagnostics.to_json()
        idata.attrs["warnings"] = json.dumps(diagnostics.warnings() + data_warnings(law, data))
        if not diagnostics.ok:
            failing.append(index)
        results.append(idata)
    refused = {i: _data_refusal(*prepared[i]) for i in failing} if settings.retry else {}
    declined = [i for i, reason in refused.items() if reason]
    for index in declined:
        results[index].attrs["retry_declined"] = refused[index]
    failing = [i for i in failing if i not in declined]
    if declined:
        logger.log(level, "  not retrying %d fit(s) that cannot extrapolate: %s", len(declined),
                   ", ".join(prepared[i][0].label for i in declined))
    if settings.retry and failing:
        stronger = retry_settings(settings.num_warmup, settings.num_samples, settings.target_accept_prob)
        logger.log(level, "  retrying %d fit(s) that failed sampling checks, with num_warmup=%d, num_samples=%d, "
                   "target_accept_prob=%s", len(failing), stronger["num_warmup"], stronger["num_samples"],
                   stronger["target_accept_prob"])
        with nested():
            again = fit_many([prepared[i][0] for i in failing], law, priors,
                             settings.replace(seed=settings.seed + 1, retry=False, **stronger),
                             progress_bar=progress_bar)
        for index, idata in zip(failing, again):
            first = json.loads(results[index].attrs["warnings"])
            idata.attrs["retry"] = json.dumps({"first_attempt_warnings": [w["message"] for w in first], **stronger})
            results[index], found[index] = idata, diagnose(idata)
    for (data, _, _), idata, diagnostics in zip(prepared, results, found):
        note = " (after a retry)" if "retry" in idata.attrs else ""
        # A fit that still fails a check is a warning, unless an outer job reports on it.
        warn = not diagnostics.ok and not is_nested()
        logger.log(logging.WARNING if warn else level, "  %s diagnostics%s: %s", data.label, note, diagnostics)
    return results


def _data_refusal(data: ScalingData, inputs, y) -> str | None:
    """Why a prepared dataset cannot support extrapolation, or None.

    The counts :func:`bayes_scaling.predict.fit_refusal` reads off the finished
    fit (observed points, runs excluded near chance), taken before sampling.
    """
    from bayes_scaling.form_error import refusal

    near_chance = int((data.excluded["reason"] == "near_chance").sum()) if len(data.excluded) else 0
    return refusal(n_points(y), near_chance)


def data_warnings(law, data: ScalingData) -> list[dict]:
    """Warnings about the data a fit could not fix: accuracy that falls with compute (inverse scaling).

    Every law here rises with compute; on a benchmark whose accuracy falls
    (Kendall's tau between compute and accuracy below 0 with p < 0.05) the
    posterior holds the slope near zero and the fit says little. Checked for
    laws in compute alone.
    """
    from scipy.stats import kendalltau

    fitted = data.fitted
    if tuple(law.inputs) != ("compute",) or len(fitted) < 4:
        return []
    tau, p_value = kendalltau(fitted["flops"], fitted["value"])
    if not (tau < 0 and p_value < 0.05):
        return []
    return [{"check": "inverse_scaling", "value": float(tau), "threshold": 0.0, "parameter": None,
             "message": f"accuracy falls with compute (Kendall tau {tau:.2f}, p = {p_value:.1g}); "
                        f"{law.name} can only rise, so its slope is held near zero"}]


def retry_settings(num_warmup: int, num_samples: int, target_accept_prob: float) -> dict:
    """The settings of a retry: twice the warm-up and the draws, target acceptance at least 0.95 (at most 0.99).

    Smaller steps cure most divergences; a longer warm-up gives step size and
    mass matrix adaptation the time they may lack; and where chains mix
    slowly (a posterior with a minor mode, as BNSL's on HellaSwag, whose
    chains visit it unevenly), only more draws raise the ESS and bring R-hat
    down: twice the draws, twice the ESS.
    """
    accept = min(0.99, max(0.95, target_accept_prob + 0.05))
    return {"num_warmup": 2 * num_warmup, "num_samples": 2 * num_samples, "target_accept_prob": round(accept, 4)}


def fit_warnings(idata) -> list[dict]:
    """The structured sampling warnings a fit carries (empty when every check passed)."""
    return json.loads(idata.attrs.get("warnings", "[]"))


def _to_datatree(samples, index, law, priors, settings, data: ScalingData, inputs, y):
    fitted = data.fitted
    n = len(fitted)
    constant = {name: values for name, values in inputs.items()}
    constant.update(
        flops=fitted["flops"].to_numpy(float),
        params=fitted["params"].to_numpy(float),
        tokens=fitted["tokens"].to_numpy(float),
        k=fitted["k"].to_numpy(float),
        value=fitted["value"].to_numpy(float),
        chance=fitted["chance"].to_numpy(float),
        run_id=np.asarray(fitted["run_id"].tolist(), dtype=str),
    )
    observed = dict(y) if isinstance(y, dict) else {"y": y}
    loglik = {name: values[index][..., :n] for name, values in samples.log_likelihood.items()}
    point_dims = {name: ["point"] for name in [*constant, *observed, *loglik]}
    idata = from_dict(
        {
            "posterior": {name: values[index] for name, values in samples.posterior.items()},
            "sample_stats": {name: values[index] for name, values in samples.sample_stats.items()},
            "log_likelihood": loglik,
            "observed_data": {name: np.asarray(values, dtype=float) for name, values in observed.items()},
            "constant_data": constant,
        },
        dims=point_dims,
        coords={"point": np.arange(n)},
    )
    held = data.held_out
    idata["held_out_data"] = xr.Dataset(
        {
            column: (
                "held_out_point",
                np.asarray(held[column].tolist(), dtype=str) if column == "run_id" else held[column].to_numpy(float),
            )
            for column in ["run_id", "flops", "params", "tokens", "k", "value", "chance"]
        }
    )
    idata.attrs.update(
        law=law.name,
        formula=law.formula,
        scale=law.scale,
        priors=json.dumps({name: repr_prior(prior) for name, prior in priors.items()}),
        sampler=json.dumps(settings.to_dict() | {"chain_method": settings.resolved_chain_method()}),
        data=json.dumps(data.description),
        excluded=json.dumps(data.excluded["reason"].value_counts().to_dict() if len(data.excluded) else {}),
        data_summary=data.summary(),
        bayes_scaling_version=__version__,
        data_hash=data_hash(data),
        versions=json.dumps(versions()),
    )
    return idata


def repr_prior(prior) -> str:
    """A distribution as ``Name(arg=value, ...)``, for attributes and reports."""
    args = []
    for name in prior.arg_constraints:
        value = getattr(prior, name, None)
        if value is not None:
            args.append(f"{name}={np.asarray(value).tolist():g}" if np.ndim(value) == 0 else f"{name}={np.asarray(value).tolist()}")
    return f"{type(prior).__name__}({', '.join(args)})"


def read_attrs(idata, key: str):
    """A JSON attribute of a fit, decoded."""
    return json.loads(idata.attrs[key])
