"""One set of contract tests, run over every registered law."""

import jax
import numpy as np
import numpyro.distributions as dist
import pytest
from numpyro.infer import Predictive
from numpyro.infer.util import log_density

from bayes_scaling import SpecError
from bayes_scaling.laws import available_laws, get_law, inputs_along_compute, rescale
from bayes_scaling.prior_predictive import plot_prior_predictive, prior_predictive, rising_share
from bayes_scaling.transforms import SCALES

REQUIRED_NAMES = {"power_law", "saturating_power_law", "bnsl", "additive_nd", "pass_at_k", "two_stage"}
LAWS = list(available_laws())


def test_registry_has_every_form_of_the_paper():
    assert REQUIRED_NAMES <= set(LAWS)


def test_unknown_form_lists_the_known_ones():
    # The registry as it is now: other test modules register more BNSL break
    # counts at collection time.
    with pytest.raises(SpecError, match="known forms: " + ", ".join(sorted(available_laws())) + ", bnsl_<n>"):
        get_law("cubic")


def test_family_members_are_built_on_first_use(monkeypatch):
    from bayes_scaling.laws import base

    # Registration is a side effect: keep the registry as it was for other tests.
    monkeypatch.setattr(base, "_REGISTRY", dict(base._REGISTRY))
    monkeypatch.setattr(base, "_INSTANCES", dict(base._INSTANCES))
    law = get_law("bnsl_3")
    assert law.name == "bnsl_3" and law.n_breaks == 3 and "log_d3" in law.parameters
    with pytest.raises(SpecError, match="unknown form 'bnsl_0'"):
        get_law("bnsl_0")


def rescaled(law, compute, **kwargs):
    raw = inputs_along_compute(law, compute, **kwargs)
    return {f"log_{name}": rescale(name, values) for name, values in raw.items()}


@pytest.mark.parametrize("name", LAWS)
def test_declarations(name):
    law = get_law(name)
    assert law.name == name
    assert isinstance(law.formula, str) and law.formula
    assert set(law.inputs) <= {"compute", "params", "tokens", "k"} and law.inputs
    assert law.scale in SCALES
    assert tuple(law.default_priors())[: len(law.parameters)] == tuple(law.parameters)
    assert all(isinstance(p, dist.Distribution) for p in law.priors().values())
    # numpydoc: the class docstring (or that of the law it varies) states its priors.
    assert any("Priors" in (cls.__doc__ or "") for cls in type(law).__mro__[:-2])


@pytest.mark.parametrize("name", LAWS)
def test_mean_shape_and_finite_density_and_gradient_at_prior_draws(name):
    law = get_law(name)
    priors = law.priors()
    inputs = rescaled(law, np.geomspace(1e18, 1e22, 12))
    draws = Predictive(law.model, num_samples=5, parallel=True)(jax.random.key(0), priors, inputs)

    # Compiled once for the five draws: run op by op, the gradient of the
    # two-stage model alone took half a minute.
    @jax.jit
    def value_and_grad(params, y):
        return jax.value_and_grad(lambda p: log_density(law.model, (priors, inputs), {"y": y}, p)[0])(params)

    for i in range(5):
        theta = {p: draws[p][i] for p in priors if p in draws}
        mean = law.mean(theta, inputs)
        assert np.shape(jax.tree.leaves(mean)[0])[-1] == 12
        observed = {site: draws[site][i] for site in draws if site not in priors and np.ndim(draws[site][i]) == 1}
        y = observed["y"] if list(observed) == ["y"] else observed
        value, grads = value_and_grad(theta, y)
        assert np.isfinite(value)
        assert all(np.all(np.isfinite(g)) for g in jax.tree.leaves(grads))


@pytest.mark.parametrize("name", LAWS)
def test_priors_are_overridable_by_name(name):
    law = get_law(name)
    first = law.parameters[0]
    replaced = law.priors({first: dist.Normal(0.0, 0.123)})
    assert float(replaced[first].scale) == 0.123
    assert set(replaced) == set(law.priors())
    with pytest.raises(SpecError, match=f"law '{name}' has no parameter 'no_such_parameter'"):
        law.priors({"no_such_parameter": dist.Normal(0, 1)})


@pytest.mark.parametrize("chance", [0.25, 0.0])
@pytest.mark.parametrize("name", LAWS)
def test_prior_predictions_stay_within_chance_and_one(name, chance):
    result = prior_predictive(name, chance=chance, num_samples=300, seed=1)
    for key in ("curve", "new_run"):
        values = result[key]
        assert np.all(np.isfinite(values))
        assert values.min() >= chance - 1e-9 and values.max() <= 1 + 1e-9


@pytest.mark.parametrize("name", LAWS)
def test_default_priors_put_most_mass_on_rising_curves(name):
    # Over the DCLM ladder's compute range (1e18 to 4e22 FLOPs), most prior
    # curves should climb from near chance towards 1: "most" is 80% here.
    result = prior_predictive(name, chance=0.25, num_samples=500, seed=2)
    assert rising_share(result["curve"], 0.25) >= 0.8


def test_prior_predictive_plot(tmp_path):
    from bayes_scaling.plotting import save_figure

    paths = save_figure(plot_prior_predictive("power_law", num_samples=100), tmp_path / "prior")
    assert all(p.stat().st_size > 5_000 for p in paths)


def test_prior_command_plots_any_form(tmp_path, capsys):
    from bayes_scaling.cli import main

    assert main(["prior", "saturating_power_law", "--out", str(tmp_path / "prior")]) == 0
    assert "prior curves rise within [chance, 1]" in capsys.readouterr().out
    assert (tmp_path / "prior.png").stat().st_size > 5_000 and (tmp_path / "prior.pdf").exists()
    assert main(["prior", "cubic", "--out", str(tmp_path / "x")]) == 2
    assert capsys.readouterr().err.startswith("bayes-scaling: error: option form: unknown form 'cubic'")
