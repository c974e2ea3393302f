"""The registry of scaling laws. Importing this package registers every form."""

from bayes_scaling.laws import power_law  # noqa: F401  (registers the law)
from bayes_scaling.laws import two_stage  # noqa: F401  (registers the two-stage laws)
from bayes_scaling.laws import additive_nd  # noqa: F401  (registers the law)
from bayes_scaling.laws import pass_at_k  # noqa: F401  (registers the law)
from bayes_scaling.laws import saturating_power_law  # noqa: F401  (registers the law)
from bayes_scaling.laws import bnsl  # noqa: F401  (registers the law)
from bayes_scaling.laws.base import (
    REFERENCE,
    Law,
    available_laws,
    get_law,
    inputs_along_compute,
    law_inputs,
    noise_priors,
    raw_inputs,
    register,
    rescale,
    rescale_inputs,
)

__all__ = [
    "REFERENCE",
    "Law",
    "available_laws",
    "get_law",
    "inputs_along_compute",
    "law_inputs",
    "noise_priors",
    "raw_inputs",
    "register",
    "rescale",
    "rescale_inputs",
]
