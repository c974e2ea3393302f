"""Fitting a law with NUTS and returning an ArviZ DataTree.

Defaults live in :class:`SamplerSettings`. The DataTree carries the posterior,
sample stats, pointwise log likelihood, observed and constant data, the
held-out points, and attributes that say which law, priors, sampler settings
and data produced it.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass
from collections.abc import Mapping, Sequence

import jax
import numpy as np
import xarray as xr
from arviz_base import from_dict

from bayes_scaling import __version__
from bayes_scaling.diagnostics import diagnose
from bayes_scaling.engine import sample_batch
from bayes_scaling.laws import get_law, law_inputs
from bayes_scaling.errors import DataError, SpecError
from bayes_scaling.selection import ScalingData


@dataclass(frozen=True)
class SamplerSettings:
    """NUTS settings, with NumPyro's own names.

    ``chain_method=None`` picks ``"parallel"`` (the batch of chains split
    across devices) when there are several local devices and ``"vectorized"``
    (every chain in one vectorised program) otherwise.
    """

    num_warmup: int = 1000
    num_samples: int = 1000
    num_chains: int = 4
    chain_method: str | None = None
    target_accept_prob: float = 0.9
    seed: int = 0

    def resolved_chain_method(self) -> str:
        if self.chain_method is not None:
            if self.chain_method not in ("parallel", "vectorized"):
                raise SpecError(f"option chain_method must be parallel or vectorized, got {self.chain_method!r}")
            return self.chain_method
        return "parallel" if jax.local_device_count() > 1 else "vectorized"


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
        Sampler options of :func:`fit_many`: ``num_warmup``, ``num_samples``,
        ``num_chains``, ``chain_method``, ``target_accept_prob``, ``seed``,
        ``progress_bar``, ``quiet``.

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
    >>> idata = fit(data, num_samples=500, quiet=True)  # doctest: +SKIP
    """
    return fit_many([data], form, priors, **options)[0]


def fit_many(
    datasets: Sequence[ScalingData],
    form: str = "power_law",
    priors: Mapping | None = None,
    *,
    num_warmup: int = SamplerSettings.num_warmup,
    num_samples: int = SamplerSettings.num_samples,
    num_chains: int = SamplerSettings.num_chains,
    chain_method: str | None = None,
    target_accept_prob: float = SamplerSettings.target_accept_prob,
    seed: int = 0,
    progress_bar: bool | None = None,
    quiet: bool = False,
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
    num_warmup, num_samples, num_chains, target_accept_prob
        As in :class:`numpyro.infer.MCMC` and :class:`numpyro.infer.NUTS`.
    chain_method : {None, "vectorized", "parallel"}
        ``None`` picks ``"parallel"`` (the batch split across devices) when
        there is more than one local device, ``"vectorized"`` otherwise.
    seed : int
        Seed of the initial values and the sampler; the same seed and batch
        give the same draws.
    progress_bar : bool, optional
        Iteration progress on standard error; default on when it is a
        terminal and ``quiet`` is False.
    quiet : bool
        Do not print data summaries and diagnostics to standard error.

    Returns
    -------
    list of xarray.DataTree
        One per dataset, in order, as :func:`fit` returns.
    """
    law = get_law(form)
    prior_set = law.priors(priors)
    settings = SamplerSettings(num_warmup, num_samples, num_chains, chain_method, target_accept_prob, seed)
    prepared = [prepare(data, law) for data in datasets]
    if progress_bar is None:
        progress_bar = (not quiet) and sys.stderr.isatty()
    if not quiet:
        for data, _, _ in prepared:
            print(f"fitting {law.name} to {data.summary()}", file=sys.stderr)
        if len(prepared) > 1:
            print(f"  sampling {len(prepared)} fits x {num_chains} chains in one program", file=sys.stderr)
    samples = sample_batch(
        law, prior_set, [inputs for _, inputs, _ in prepared], [y for _, _, y in prepared],
        num_warmup=num_warmup, num_samples=num_samples, num_chains=num_chains,
        target_accept_prob=target_accept_prob, seed=seed, progress=progress_bar,
        chain_method=settings.resolved_chain_method(),
    )
    results = []
    for index, (data, inputs, y) in enumerate(prepared):
        idata = _to_datatree(samples, index, law, prior_set, settings, data, inputs, y)
        diagnostics = diagnose(idata)
        idata.attrs["diagnostics"] = diagnostics.to_json()
        if not quiet:
            print(f"  {data.label} diagnostics: {diagnostics}", file=sys.stderr)
        results.append(idata)
    return results


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
        sampler=json.dumps(asdict(settings) | {"chain_method": settings.resolved_chain_method()}),
        data=json.dumps(data.description),
        excluded=json.dumps(data.excluded["reason"].value_counts().to_dict() if len(data.excluded) else {}),
        data_summary=data.summary(),
        bayes_scaling_version=__version__,
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
