"""Bayesian scaling laws of language-model downstream metrics.

Fit the laws of Krajewski et al. (2025) with NUTS, predict accuracy of larger
runs with credible intervals, and plot uncertainty bands.
"""

__version__ = "0.1.0"

# numpyro before anything that imports arviz_base: imported the other way round,
# numpyro.distributions lacks its `distribution` attribute, and numpyro.factor
# (used to build every model's potential) fails.
import numpyro  # noqa: F401

from bayes_scaling.runtime import configure_on_import  # noqa: E402

# float64, CPU cores as devices and the compilation cache, before any module
# below touches a device (JAX's CPU backend reads the core count once, when it
# starts); BAYES_SCALING_CONFIGURE=0 opts out (bayes_scaling.runtime).
configure_on_import()

from bayes_scaling.datasets import DATASETS, load_dataset, read_table  # noqa: E402
from bayes_scaling.diagnostics import Diagnostics, diagnose, diagnose_fits  # noqa: E402
from bayes_scaling.inference import fit, fit_many  # noqa: E402
from bayes_scaling.settings import SamplerSettings  # noqa: E402
from bayes_scaling.laws import available_laws, get_law  # noqa: E402
from bayes_scaling.errors import BayesScalingError, DataError, SpecError  # noqa: E402
from bayes_scaling.form_error import FormErrorPrior  # noqa: E402
from bayes_scaling.schema import CHANCE, normalise_table  # noqa: E402
from bayes_scaling.selection import ScalingData, select  # noqa: E402

# Functions named as their modules are bound eagerly: importing a submodule sets
# the package attribute of its name to the module, which would shadow a lazily
# bound function of the same name.
from bayes_scaling.evaluate import direct_vs_two_stage, evaluate  # noqa: E402
from bayes_scaling.predict import predict, predict_held_out  # noqa: E402

#: The rest of the public API, imported on first use (PEP 562): plotting, reports
#: and evaluation pull in matplotlib and scipy's optimisers, which a fit does not need.
_LAZY = {
    "compare_forms": "bayes_scaling.loo",
    "compute_for_accuracy": "bayes_scaling.decisions",
    "compare_groups": "bayes_scaling.decisions",
    "design_next_runs": "bayes_scaling.design",
    "plot_design": "bayes_scaling.plotting",
    "best_tpr": "bayes_scaling.decisions",
    "iso_flop": "bayes_scaling.decisions",
    "max_accuracy": "bayes_scaling.fits",
    "posterior_draws": "bayes_scaling.fits",
    "paper_fit": "bayes_scaling.paper_method",
    "sbc": "bayes_scaling.calibration",
    "plot_bands": "bayes_scaling.plotting",
    "save_figure": "bayes_scaling.plotting",
    "build_report": "bayes_scaling.report",
    "load_fit": "bayes_scaling.saving",
    "save_fit": "bayes_scaling.saving",
    "Spec": "bayes_scaling.specs",
    "load_spec": "bayes_scaling.specs",
    "run_spec": "bayes_scaling.pipeline",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'bayes_scaling' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


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
    "diagnose_fits",
    "direct_vs_two_stage",
    "evaluate",
    "fit",
    "fit_many",
    "get_law",
    "load_dataset",
    "normalise_table",
    "predict",
    "predict_held_out",
    "read_table",
    "select",
    *_LAZY,
]
