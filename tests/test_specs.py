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
    with pytest.raises(SpecError, match=r"unknown key data.benchmark \(known"):
        spec_from_dict({"data": {"dataset": "x", "benchmark": ["a"]}})
    with pytest.raises(SpecError, match=r"unknown section \[fit\]"):
        spec_from_dict({"fit": {}})


def test_prior_strings():
    prior = parse_prior("HalfNormal(0.3)")
    assert isinstance(prior, dist.HalfNormal) and float(prior.scale) == 0.3
    with pytest.raises(SpecError, match="'Bogus' is not a numpyro distribution"):
        parse_prior("Bogus(1)")
    with pytest.raises(SpecError, match="cannot parse"):
        parse_prior("__import__('os').system('true')")
    with pytest.raises(SpecError, match="law 'power_law' has no parameter 'beta'"):
        spec_from_dict({"data": {"dataset": "x", "benchmarks": ["a"]}, "law": {"priors": {"beta": "Normal(0, 1)"}}})
