"""Specs in models/ load, match the demo, and reject unknown keys by name."""

from pathlib import Path

import numpyro.distributions as dist
import pytest

from bayes_scaling.errors import SpecError
from bayes_scaling.pipeline import DEMO_SPEC
from bayes_scaling.specs import load_spec, parse_prior, spec_from_dict

MODELS = Path(__file__).resolve().parents[1] / "models"


@pytest.mark.parametrize("path", sorted(MODELS.glob("*.toml")), ids=lambda p: p.name)
def test_every_spec_in_models_loads(path):
    spec = load_spec(path)
    assert spec.benchmarks


def test_demo_spec_file_matches_the_demo():
    assert load_spec(MODELS / "dclm_power_law.toml") == DEMO_SPEC


def test_unknown_key_is_named():
    with pytest.raises(SpecError, match=r"unknown key data.benchmark \(did you mean data.benchmarks\?\) \(known"):
        spec_from_dict({"data": {"dataset": "x", "benchmark": ["a"]}})
    with pytest.raises(SpecError, match=r"unknown section \[fit\]"):
        spec_from_dict({"fit": {}})
    with pytest.raises(SpecError, match=r"unknown section \[samplr\] \(did you mean sampler\?\)"):
        spec_from_dict({"data": {"dataset": "x", "benchmarks": ["a"]}, "samplr": {}})


@pytest.mark.parametrize("section,key,value,message", [
    # The three specs that crashed with a traceback before the typed model.
    ("sampler", "num_warmup", "x", "sampler.num_warmup: input should be a valid integer, got 'x'"),
    ("evaluate", "cutoffs", 1e21, "evaluate.cutoffs: input should be a valid list, got 1e+21"),
    ("data", "benchmarks", "arc_easy", "data.benchmarks: input should be a valid list, got 'arc_easy'"),
    ("data", "tpr", -20, "data.tpr: input should be greater than 0"),
    ("sampler", "target_accept_prob", 1.2, "sampler.target_accept_prob: input should be less than 1"),
    ("sampler", "chain_method", "gpu", "sampler.chain_method: input should be 'parallel' or 'vectorized'"),
    ("law", "form_error", "yes", "law.form_error: input should be a valid boolean"),
    ("holdout", "max_compute", float("inf"), "holdout.max_compute: input should be a finite number"),
])
def test_wrong_types_and_ranges_name_the_section_and_key(section, key, value, message):
    raw = {"data": {"dataset": "x", "benchmarks": ["a"]}}
    raw.setdefault(section, {})[key] = value
    with pytest.raises(SpecError) as excinfo:
        spec_from_dict(raw)
    assert str(excinfo.value).startswith(f"spec 'analysis': {message}") and "\n" not in str(excinfo.value)


def test_a_spec_built_in_python_passes_the_same_checks():
    from bayes_scaling.specs import Spec

    with pytest.raises(SpecError, match="sampler.num_samples: input should be greater than or equal to 1"):
        Spec(dataset="krajewski2025_dclm", benchmarks=("arc_easy",), num_samples=0)


def test_prior_strings():
    prior = parse_prior("HalfNormal(0.3)")
    assert isinstance(prior, dist.HalfNormal) and float(prior.scale) == 0.3
    with pytest.raises(SpecError, match="'Bogus' is not a numpyro distribution"):
        parse_prior("Bogus(1)")
    with pytest.raises(SpecError, match="cannot parse"):
        parse_prior("__import__('os').system('true')")
    with pytest.raises(SpecError, match="law 'power_law' has no parameter 'beta'"):
        spec_from_dict({"data": {"dataset": "x", "benchmarks": ["a"]}, "law": {"priors": {"beta": "Normal(0, 1)"}}})
