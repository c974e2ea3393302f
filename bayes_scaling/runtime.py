"""Process set-up: CPU cores as JAX devices, and JAX's persistent compilation cache.

Both must happen before JAX starts its CPU backend, so
:mod:`bayes_scaling` calls them on import (:func:`use_host_cores`,
:func:`enable_compilation_cache`); each has an environment variable to switch
it off.
"""

from __future__ import annotations

import os
from pathlib import Path

import jax

#: Environment variable that switches the persistent compilation cache off ("0").
CACHE_ENV = "BAYES_SCALING_COMPILATION_CACHE"
#: Environment variable that sets how many CPU cores become devices (see `use_host_cores`).
HOST_DEVICES_ENV = "BAYES_SCALING_HOST_DEVICES"


def use_host_cores(count: int | None = None) -> int:
    """Expose CPU cores as separate JAX devices, so batches of fits split across cores.

    XLA runs one CPU program on one core; with several host devices,
    ``chain_method="parallel"`` runs a share of the fits on each. Must run
    before JAX starts its CPU backend (it is called on import of
    ``bayes_scaling``); afterwards, and where ``XLA_FLAGS`` already sets a
    device count, it changes nothing. ``BAYES_SCALING_HOST_DEVICES`` sets the
    count (``1`` switches it off); the default is every core, at most 16.

    Returns
    -------
    int
        The device count asked for (0 where nothing was changed).
    """
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" in flags:
        return 0
    setting = os.environ.get(HOST_DEVICES_ENV)
    count = count or (int(setting) if setting and setting.isdigit() else min(os.cpu_count() or 1, 16))
    if count > 1:
        os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={count}".strip()
    return count


def enable_compilation_cache(path: str | Path | None = None) -> Path | None:
    """Turn on JAX's persistent compilation cache, so compiled samplers outlive the process.

    Default folder: ``$XDG_CACHE_HOME/bayes_scaling/jax`` (``~/.cache/...``).
    Setting the environment variable ``BAYES_SCALING_COMPILATION_CACHE=0``
    switches it off; any other value is taken as the folder. Called on import.
    """
    setting = os.environ.get(CACHE_ENV)
    if setting == "0":
        return None
    if path is None:
        base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
        path = Path(setting) if setting else base / "bayes_scaling" / "jax"
    try:
        Path(path).mkdir(parents=True, exist_ok=True)
    except OSError:
        return None  # a read-only home must not stop fitting; it only costs compile time
    jax.config.update("jax_compilation_cache_dir", str(path))
    # Cache every program, small ones too: a fit also runs a hundred small
    # eager operations (model initialisation, key splitting), each compiled
    # once per process, and together they cost seconds.
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return Path(path)
