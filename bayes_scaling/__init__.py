"""Bayesian scaling laws of language-model downstream metrics.

Fit the laws of Krajewski et al. (2025) with NUTS, predict accuracy of larger
runs with credible intervals, and plot uncertainty bands.
"""

__version__ = "0.1.0"

import numpyro

# Scaling-law fits span many decades of compute and evaluate exp(exp(.)) on the
# way back to accuracy; float32 loses the tails. Every fit runs in float64.
numpyro.enable_x64()

from bayes_scaling.runtime import enable_compilation_cache, use_host_cores  # noqa: E402

# Before any module below touches a device: JAX's CPU backend reads the core
# count once, when it starts.
use_host_cores()
enable_compilation_cache()

from bayes_scaling.datasets import DATASETS, load_dataset, read_table  # noqa: E402
from bayes_scaling.diagnostics import Diagnostics, diagnose  # noqa: E402
from bayes_scaling.inference import fit, fit_many  # noqa: E402
from bayes_scaling.settings import SamplerSettings  # noqa: E402
from bayes_scaling.laws import available_laws, get_law  # noqa: E402
from bayes_scaling.errors import BayesScalingError, DataError, SpecError  # noqa: E402
from bayes_scaling.form_error import FormErrorPrior  # noqa: E402
from bayes_scaling.schema import CHANCE, normalise_table  # noqa: E402
from bayes_scaling.selection import ScalingData, select  # noqa: E402

__all__ = [
    "BayesScalingError",
    "CHANCE",
    "DATASETS",
    "DataError",
    "Diagnostics",
    "FormErrorPrior",
    "SamplerSettings",
    "SpecError",
    "ScalingData",
    "available_laws",
    "diagnose",
    "fit",
    "fit_many",
    "get_law",
    "load_dataset",
    "normalise_table",
    "read_table",
    "select",
]
