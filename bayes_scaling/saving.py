"""Saving fits and loading them back, with checks that they are what the user thinks.

Every fit carries what is needed to reproduce it (:func:`provenance`): the
package and dependency versions and a hash of the data it was fitted on;
:func:`bayes_scaling.pipeline.run_spec` adds the spec. :func:`load_fit` reads
a saved fit and, given the data or spec the user means, refuses a file that
was made from something else.
"""

from __future__ import annotations

import hashlib
import json
import platform
from dataclasses import asdict
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pandas as pd

from bayes_scaling.errors import DataError, SpecError

#: Distributions whose versions every fit records.
DEPENDENCIES = ("bayes_scaling", "jax", "jaxlib", "numpyro", "arviz-base", "arviz-stats", "numpy", "scipy",
                "pandas", "xarray")
#: Columns hashed: everything that decides a fit's data.
_HASHED = ["run_id", "flops", "params", "tokens", "k", "value", "chance", "loss"]


def versions() -> dict[str, str]:
    """Versions of Python and of :data:`DEPENDENCIES` (``"not installed"`` where absent)."""
    found = {"python": platform.python_version()}
    for name in DEPENDENCIES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def data_hash(data) -> str:
    """SHA-256 of the fitted and held-out runs of a :class:`~bayes_scaling.selection.ScalingData`.

    Only the columns that decide a fit enter (run, inputs, value, chance and,
    for two-stage data, loss), in a fixed order and text format, so the hash
    is the same on every machine for the same data.
    """
    digest = hashlib.sha256()
    for role, frame in (("fitted", data.fitted), ("held_out", data.held_out)):
        columns = [c for c in _HASHED if c in frame]
        digest.update(role.encode())
        digest.update(frame[columns].to_csv(index=False, float_format="%.17g").encode())
    return digest.hexdigest()


def spec_json(spec) -> str:
    """A spec as canonical JSON (sorted keys), for the ``spec`` attribute and comparisons."""
    return json.dumps(asdict(spec), sort_keys=True, default=list)


def save_fit(idata, path: str | Path) -> Path:
    """Write a fit to netCDF (one file, every group and attribute)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    idata.to_netcdf(path, engine="h5netcdf")
    return path


def load_fit(path: str | Path, *, data=None, spec=None):
    """Read a fit saved by :func:`save_fit` (or by ``bayes-scaling fit``), checking it against what the user means.

    Parameters
    ----------
    path : path
        A ``.nc`` file.
    data : ScalingData, optional
        If given, the fit's data hash must match :func:`data_hash` of it.
    spec : Spec, optional
        If given, the fit's recorded spec must equal it.

    Raises
    ------
    DataError
        If the file is missing or unreadable, is not a fit, or was made from other data.
    SpecError
        If it was made from another spec (or records none).
    """
    import xarray as xr

    path = Path(path)
    if not path.is_file():
        raise DataError(f"no such fit file: {path}")
    try:
        idata = xr.open_datatree(path, engine="h5netcdf").load()
    except (OSError, ValueError) as err:
        raise DataError(f"cannot read fit file {path}: {err}") from None
    if "law" not in idata.attrs:
        raise DataError(f"{path} is not a fit written by bayes_scaling")
    if data is not None:
        expected, recorded = data_hash(data), idata.attrs.get("data_hash")
        if recorded != expected:
            raise DataError(
                f"fit file {path} was made from other data (data hash {str(recorded)[:12]}, "
                f"the data given hash to {expected[:12]})"
            )
    if spec is not None:
        recorded = idata.attrs.get("spec")
        if recorded is None:
            raise SpecError(f"fit file {path} records no spec to check against")
        if json.loads(recorded) != json.loads(spec_json(spec)):
            differing = sorted(k for k, v in json.loads(spec_json(spec)).items() if json.loads(recorded).get(k) != v)
            raise SpecError(f"fit file {path} was made from another spec (differs in {', '.join(differing)})")
    return idata


def versions_of_fit(idata) -> pd.DataFrame:
    """The fit's recorded dependency versions as a two-column table."""
    return pd.DataFrame(sorted(json.loads(idata.attrs["versions"]).items()), columns=["package", "version"])
