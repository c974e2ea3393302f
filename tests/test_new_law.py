"""A new law, defined in this file alone, goes through everything the package does with a law.

The law: accuracy as a logistic curve in log compute,

    Q(C) = sigmoid(rate (log(C / 1e21) - midpoint)),

fitted on ``log(-log Q) = log softplus(-rate (x - midpoint))``. Nothing outside this
file knows it: registering the class is all it takes for the package to fit it,
predict with it, score its extrapolations beside the paper method's point fit
(derived from the mean function, with JAX's derivatives), compare it by PSIS-LOO,
draw its prior predictive, calibrate it by SBC and write a report with it.
"""

from __future__ import annotations

import re
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import pytest

import bayes_scaling as bs
from bayes_scaling.calibration import calibration_failures, sbc
from bayes_scaling.engine import MIN_BATCH
from bayes_scaling.evaluate import evaluate
from bayes_scaling.laws.base import Law, is_registered, register, unregister
from bayes_scaling.loo import compare_forms
from bayes_scaling.predict import predict
from bayes_scaling.prior_predictive import prior_predictive, rising_share
from bayes_scaling.report import build_report
from bayes_scaling.specs import Spec

FAST = dict(num_warmup=500, num_samples=500, num_chains=4)


class LogisticInLogCompute(Law):
    r"""Logistic in log compute: ``Q = sigmoid(rate (x - midpoint))``, ``x = log(C / 1e21)``.

    On the likelihood scale, ``log(-log Q) = log softplus(-rate (x - midpoint))``.

    Priors
    ------
    ``midpoint ~ Normal(0, 3)``
        Where half the gap to perfect accuracy is closed, within about 6
        e-folds of 1e21 FLOPs.
    ``rate ~ HalfNormal(1)``
        Accuracy rises with compute.
    """

    name = "logistic_log_compute"
    formula = "Q = 1 / (1 + exp(-rate (log C - midpoint)))"
    inputs = ("compute",)
    parameters = ("midpoint", "rate")

    def default_priors(self):
        return {"midpoint": dist.Normal(0.0, 3.0), "rate": dist.HalfNormal(1.0)}

    def mean(self, theta, inputs):
        z = theta["rate"] * (inputs["log_compute"] - theta["midpoint"])
        return jnp.log(jnp.logaddexp(0.0, -z))


@pytest.fixture(scope="module")
def law():
    register(LogisticInLogCompute)
    yield bs.get_law(LogisticInLogCompute.name)
    unregister(LogisticInLogCompute.name)


@pytest.fixture(scope="module")
def fits(law, dclm):
    data = bs.select(dclm, "arc_easy", tpr=20, max_compute=1e21)
    return {form: bs.fit(data, form, seed=2, **FAST) for form in (law.name, "power_law")}


def test_the_readme_shows_this_law():
    # The README's "Adding a law" example is this law: same name, parameters and curve.
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Adding a law", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    was_registered = is_registered(LogisticInLogCompute.name)
    namespace: dict = {}
    exec(code, namespace)  # registers the README's class
    try:
        shown = namespace["LogisticInLogCompute"]()
        assert (shown.name, shown.parameters, shown.inputs) == (
            LogisticInLogCompute.name, LogisticInLogCompute.parameters, LogisticInLogCompute.inputs)
        theta, inputs = {"midpoint": 0.3, "rate": 0.8}, {"log_compute": np.linspace(-6.0, 4.0, 9)}
        np.testing.assert_allclose(shown.mean(theta, inputs), LogisticInLogCompute().mean(theta, inputs), rtol=1e-12)
    finally:
        unregister(LogisticInLogCompute.name)
        if was_registered:
            register(LogisticInLogCompute)


def test_contract_is_checked_at_registration():
    class NoPriorForRate(LogisticInLogCompute):
        name = "logistic_without_rate_prior"

        def default_priors(self):
            return {"midpoint": dist.Normal(0.0, 3.0)}

    with pytest.raises(TypeError, match="no default prior for parameter.*rate"):
        register(NoPriorForRate)
    assert NoPriorForRate.name not in bs.available_laws()


def test_fits_and_predicts(law, fits):
    idata = fits[law.name]
    diagnostics = bs.diagnose(idata)
    assert diagnostics.max_rhat < 1.01 and diagnostics.n_divergent == 0, str(diagnostics)
    assert set(law.parameters) <= set(idata["posterior"].data_vars)
    table = predict(idata, [1e20, 1e21, 1e22, 1e23])
    assert table["median"].is_monotonic_increasing
    assert (table["predictive_lower_90"] <= table["median"]).all() and (table["median"] <= table["predictive_upper_90"]).all()
    assert ((table["predictive_lower_90"] >= 0.25) & (table["predictive_upper_90"] <= 1.0)).all()
    # Beyond the fitted runs a direct law's interval includes the form-error term, so it is wider.
    parametric = predict(idata, [1e23], form_error=False)
    assert (table["predictive_upper_90"] - table["predictive_lower_90"]).iloc[-1] > (
        parametric["predictive_upper_90"] - parametric["predictive_lower_90"]).iloc[0]


def test_evaluated_with_the_paper_method_beside_it(law, dclm):
    scores = evaluate(dclm, ["arc_easy"], forms=[law.name], cutoffs=[1e21], seed=2, **FAST)
    assert list(scores["method"]) == ["bayes", "paper"] and (scores["status"] == "ok").all()
    bayes, paper = scores.set_index("method").loc[["bayes", "paper"], "mae"]
    # Both fit the same curve family to the same runs: their medians' errors on the
    # larger runs are close (both about 0.01-0.02 of accuracy on ARC-Easy).
    assert bayes < 0.05 and paper < 0.05 and abs(bayes - paper) < 0.02
    assert np.isfinite(scores["elpd"].iloc[0])


def test_compared_by_loo(law, fits):
    table = compare_forms(fits, refit=False)
    assert set(table["form"]) == {law.name, "power_law"}
    assert table["weight"].sum() == pytest.approx(1.0)


def test_prior_predictive(law):
    draws = prior_predictive(law.name, chance=0.25, num_samples=300)
    assert draws["curve"].shape == (300, 50)
    assert np.all((draws["curve"] >= 0.25) & (draws["curve"] <= 1.0))
    # A positive rate makes every prior curve rise with compute.
    assert rising_share(draws["curve"], 0.25) > 0.95


def test_fast_calibration(law):
    result = sbc(law.name, 60, chunk=MIN_BATCH, seed=3, num_chains=4, num_warmup=500, num_samples=500)
    assert calibration_failures(result, min_contraction={"midpoint": 0.5, "rate": 0.5}) == []


def test_report(law, dclm, tmp_path):
    spec = Spec(name="new_law", dataset="krajewski2025_dclm", benchmarks=("arc_easy",), metric="acc", tpr=20,
                max_compute=1e21, forms=(law.name, "power_law"), seed=2, **FAST)
    result = build_report(spec, tmp_path, table=dclm)
    html = (tmp_path / "report.html").read_text()
    assert law.name in html
    scores = result.tables["scores"]
    assert set(scores.loc[scores["form"] == law.name, "method"]) == {"bayes", "paper"}
    assert law.name in set(result.tables["loo"]["form"])
    assert any(form == law.name for form, _, _ in result.fits)
