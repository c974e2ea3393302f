"""What ``import bayes_scaling`` does to the process, and how to opt out (bayes_scaling.runtime)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

PROBE = """
import json, os, sys
before = os.environ.get("XLA_FLAGS")
import bayes_scaling, jax, numpyro
print(json.dumps({"numpyro_factor": hasattr(numpyro.distributions, "distribution"), "x64": jax.config.jax_enable_x64, "devices": jax.local_device_count(),
                  "cache": jax.config.jax_compilation_cache_dir, "xla_flags": os.environ.get("XLA_FLAGS"),
                  "xla_flags_before": before, "matplotlib": "matplotlib" in sys.modules}))
"""


def probe(tmp_path, **env) -> dict:
    environment = {key: value for key, value in os.environ.items()
                   if not key.startswith(("BAYES_SCALING_", "XLA_FLAGS"))}
    environment.update(XDG_CACHE_HOME=str(tmp_path), **env)
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=environment,
                            check=True)
    return json.loads(result.stdout)


def test_import_sets_float64_cores_and_cache_and_nothing_else(tmp_path):
    found = probe(tmp_path)
    # numpyro.factor (in every model's potential) needs this; importing arviz_base before numpyro loses it.
    assert found["numpyro_factor"] is True
    assert found["x64"] is True
    assert found["devices"] == max(1, min(os.cpu_count() or 1, 16))
    assert found["cache"] == str(tmp_path / "bayes_scaling" / "jax")
    # The core split is a JAX setting, not an edit of the environment that child processes inherit.
    assert found["xla_flags"] is None
    # Plotting is imported where it is used, not by the package.
    assert found["matplotlib"] is False


def test_opting_out_leaves_jax_as_it_was(tmp_path):
    found = probe(tmp_path, BAYES_SCALING_CONFIGURE="0")
    assert (found["x64"], found["devices"], found["cache"]) == (False, 1, None)


def test_each_setting_has_its_own_switch(tmp_path):
    found = probe(tmp_path, BAYES_SCALING_HOST_DEVICES="1", BAYES_SCALING_COMPILATION_CACHE="0")
    assert (found["x64"], found["devices"], found["cache"]) == (True, 1, None)
    # A device count the user gave JAX is respected.
    found = probe(tmp_path, XLA_FLAGS="--xla_force_host_platform_device_count=3")
    assert found["devices"] == 3
