"""Process set-up: float64, CPU cores as JAX devices, and JAX's persistent compilation cache.

``import bayes_scaling`` calls :func:`configure`, which changes three JAX
settings of the process, and nothing else:

- ``jax_enable_x64``: every fit runs in float64 (scaling-law fits span many
  decades of compute and evaluate ``exp(exp(.))`` on the way back to accuracy;
  float32 loses the tails);
- ``jax_num_cpu_devices``: every CPU core (at most 16) becomes a JAX device, so
  a batch of fits splits across cores (XLA runs one CPU program on one core);
- ``jax_compilation_cache_dir`` (and the cache's size thresholds): compiled
  samplers are kept on disk, in ``$XDG_CACHE_HOME/bayes_scaling/jax``.

The core split must happen before JAX starts its CPU backend, hence on import.
Opting out: ``BAYES_SCALING_CONFIGURE=0`` before the import leaves JAX exactly
as it was (then call :func:`configure` yourself, or set float64 at least:
the laws assume it); ``BAYES_SCALING_HOST_DEVICES=1`` keeps one device;
``BAYES_SCALING_COMPILATION_CACHE=0`` leaves the cache off, any other value is
its folder. A device count in ``XLA_FLAGS`` is respected.
"""

from __future__ import annotations

import os
from pathlib import Path

import jax

#: Environment variable that, set to "0", keeps ``import bayes_scaling`` from configuring JAX at all.
CONFIGURE_ENV = "BAYES_SCALING_CONFIGURE"
#: Environment variable that switches the persistent compilation cache off ("0").
CACHE_ENV = "BAYES_SCALING_COMPILATION_CACHE"
#: Environment variable that sets how many CPU cores become devices (see `use_host_cores`).
HOST_DEVICES_ENV = "BAYES_SCALING_HOST_DEVICES"


def use_host_cores(count: int | None = None) -> int:
    """Expose CPU cores as separate JAX devices, so batches of fits split across cores.

    XLA runs one CPU program on one core; with several host devices,
    ``chain_method="parallel"`` runs a share of the fits on each. Sets JAX's
    ``jax_num_cpu_devices``, which must happen before JAX starts its CPU
    backend (it is called on import of ``bayes_scaling``); afterwards, and
    where ``XLA_FLAGS`` already sets a device count, it changes nothing. ``BAYES_SCALING_HOST_DEVICES`` sets the
    count (``1`` switches it off); the default is every core, at most 16.

    Returns
    -------
    int
        The device count asked for (0 where nothing was changed).
    """
    if "xla_force_host_platform_device_count" in os.environ.get("XLA_FLAGS", ""):
        return 0
    setting = os.environ.get(HOST_DEVICES_ENV)
    count = count or (int(setting) if setting and setting.isdigit() else min(os.cpu_count() or 1, 16))
    if count <= 1:
        return 0
    try:
        jax.config.update("jax_num_cpu_devices", count)
    except RuntimeError:
        return 0  # JAX's backend already started: its device count stands
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


def configure() -> dict:
    """Set float64, the CPU device count and the compilation cache (see the module docstring).

    Returns
    -------
    dict
        What was set: ``x64``, ``cpu_devices`` (0 where unchanged) and
        ``compilation_cache`` (the folder, or None).
    """
    jax.config.update("jax_enable_x64", True)
    return {"x64": True, "cpu_devices": use_host_cores(), "compilation_cache": enable_compilation_cache()}


def configure_on_import() -> dict | None:
    """:func:`configure`, unless ``BAYES_SCALING_CONFIGURE=0``."""
    return None if os.environ.get(CONFIGURE_ENV) == "0" else configure()
