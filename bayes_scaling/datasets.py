"""Bundled data sets and user tables, all returned in the tidy schema.

The bundled files are small derived copies of public releases (see
``bayes_scaling/data/PROVENANCE.md``); :mod:`bayes_scaling.data.derive` rebuilds
them from the raw copies.

Examples
--------
>>> from bayes_scaling import load_dataset
>>> table = load_dataset("krajewski2025_dclm")
>>> sorted(table["tpr"].unique())
[10.0, 20.0, 40.0, 80.0, 160.0]
"""

from __future__ import annotations

import lzma
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from bayes_scaling.errors import DataError
from bayes_scaling.schema import normalise_table

#: Bundled data sets: name -> (file, one-line description).
DATASETS: dict[str, tuple[str, str]] = {
    "krajewski2025_dclm": (
        "krajewski2025_dclm.csv.gz",
        "Krajewski et al. 2025, DCLM-based mixture: 148 runs, TPR 10-160, 1e18-3.8e22 FLOPs",
    ),
    "krajewski2025_c4": (
        "krajewski2025_c4.csv.gz",
        "Krajewski et al. 2025, C4 mixture: 44 runs at TPR 20, 2e18-5.8e21 FLOPs",
    ),
    "gadre2024": (
        "gadre2024.csv.gz",
        "Gadre et al. 2024 over-training: 104 runs, C4/RedPajama/RefinedWeb, TPR 5-640",
    ),
    "olmo_ladder": (
        "olmo_ladder.csv.gz",
        "OLMo-2 model ladder final checkpoints (30 ladder runs) and the 7B/13B targets",
    ),
    "llmonkeys_pythia_math": (
        "llmonkeys_pythia_math_counts.csv.gz",
        "Large Language Monkeys: Pythia 70M-12B on 128 MATH problems, 10,000 samples each",
    ),
}

#: The k at which :func:`load_dataset` evaluates Large Language Monkeys pass@k.
LLMONKEYS_K = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 10000)


def _bundled(filename: str) -> pd.DataFrame:
    with resources.files("bayes_scaling.data").joinpath(filename).open("rb") as handle:
        return pd.read_csv(handle, compression="gzip")


def load_dataset(name: str, **options) -> pd.DataFrame:
    """Load a bundled data set in the tidy schema.

    Parameters
    ----------
    name : str
        One of :data:`DATASETS`.
    **options
        For ``llmonkeys_pythia_math``: ``k``, the sample counts at which to
        evaluate pass@k (default :data:`LLMONKEYS_K`).

    Returns
    -------
    pandas.DataFrame
        Validated by :func:`bayes_scaling.schema.normalise_table`.
    """
    if name not in DATASETS:
        raise DataError(f"unknown data set {name!r}; known: {', '.join(DATASETS)}")
    frame = _bundled(DATASETS[name][0])
    if name == "llmonkeys_pythia_math":
        frame = pass_at_k_from_counts(frame, options.pop("k", LLMONKEYS_K))
    if options:
        raise DataError(f"unknown option {next(iter(options))!r} for data set {name!r}")
    return normalise_table(frame)


def load_counts(name: str = "llmonkeys_pythia_math") -> pd.DataFrame:
    """Per-problem sample counts (``n_samples``, ``n_correct``) of a pass@k data set."""
    if name != "llmonkeys_pythia_math":
        raise DataError(f"data set {name!r} has no per-problem counts")
    return _bundled(DATASETS[name][0])


def unbiased_pass_at_k(n_samples, n_correct, k) -> np.ndarray:
    """Unbiased pass@k of each problem: 1 - C(n - c, k) / C(n, k) (Chen et al. 2021).

    Evaluated as ``1 - prod_{i = n - c + 1}^{n} (1 - k / i)``, the numerically
    stable form of the same ratio, summed in log space.
    """
    n, c, k = np.broadcast_arrays(
        np.asarray(n_samples, dtype=int), np.asarray(n_correct, dtype=int), np.asarray(k, dtype=int)
    )
    if np.any(k > n):
        raise DataError(f"k must not exceed the number of samples ({int(n.min())})")
    out = np.empty(n.shape, dtype=float)
    for index in np.ndindex(n.shape):
        nn, cc, kk = int(n[index]), int(c[index]), int(k[index])
        if nn - cc < kk:
            out[index] = 1.0
        else:
            out[index] = -np.expm1(np.sum(np.log1p(-kk / np.arange(nn - cc + 1, nn + 1))))
    return out


def pass_at_k_from_counts(counts: pd.DataFrame, k: Sequence[int]) -> pd.DataFrame:
    """Benchmark-level pass@k per run: the mean over problems of the unbiased estimate."""
    rows = []
    for kk in k:
        scores = unbiased_pass_at_k(counts["n_samples"], counts["n_correct"], kk)
        per_run = counts.assign(value=scores).groupby(
            ["run_id", "params", "tokens", "flops", "benchmark"], as_index=False
        ).agg(value=("value", "mean"), n_items=("problem_idx", "nunique"))
        rows.append(per_run.assign(metric="pass_at_k", k=float(kk)))
    frame = pd.concat(rows, ignore_index=True)
    frame["group"] = "pythia"
    return frame


def read_table(
    source: str | Path | pd.DataFrame,
    columns: Mapping[str, str] | None = None,
    chance: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """Read a user CSV file or DataFrame into the tidy schema.

    Parameters
    ----------
    source : path or DataFrame
        A CSV file (``.csv`` or ``.csv.gz``) or a DataFrame already in memory.
    columns : mapping, optional
        ``{their_name: our_name}``, e.g. ``{"FLOPs": "flops", "task": "benchmark"}``.
    chance : mapping, optional
        Chance levels per benchmark, overriding the built-in table.

    Raises
    ------
    DataError
        If the file cannot be read or the table breaks the schema.
    """
    if isinstance(source, pd.DataFrame):
        frame = source
    else:
        path = Path(source)
        if not path.is_file():
            raise DataError(f"no such file: {path}")
        # Identifiers are text: read as numbers, runs "007" and "7" would become one run.
        text = {"run_id", "group", "benchmark", "metric"}
        if isinstance(columns, Mapping):
            text |= {theirs for theirs, ours in columns.items() if isinstance(theirs, str) and ours in text}
        try:
            frame = pd.read_csv(path, dtype={name: str for name in text})
        except (
            pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError,
            # a .gz, .zip, .xz ... that is not one, or is cut short
            OSError, EOFError, zipfile.BadZipFile, zlib.error, lzma.LZMAError,
        ) as err:
            first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise DataError(f"cannot read {path} as CSV: {first_line}") from None
    return normalise_table(frame, columns=columns, chance=chance)
