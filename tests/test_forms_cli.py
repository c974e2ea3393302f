"""`bayes-scaling fit --spec models/<spec>.toml` works for one spec of every form on main."""

import json

from pathlib import Path

import pandas as pd
import pytest
import xarray as xr

from bayes_scaling.cli import main
from bayes_scaling.specs import load_spec

MODELS = Path(__file__).resolve().parents[1] / "models"
# One spec per form; a few draws are enough to exercise selection, fitting,
# prediction of held-out runs, the band plot and saving.
SPECS = [
    "dclm_power_law", "dclm_saturating_power_law", "dclm_bnsl", "dclm_additive_nd", "gadre_additive_nd",
    "dclm_pass_at_k", "llmonkeys_pass_at_k", "dclm_two_stage",
]
# The suite's usual draws (conftest.FAST): these fits then share compiled
# programs with the law tests, which costs less than compiling tiny ones.
TINY = ["--num-warmup", "500", "--num-samples", "500", "--num-chains", "4", "--quiet", "--no-retry"]


# The benchmark fitted: the spec's first, except where another shares a program
# the law tests compile anyway (HellaSwag's 32 runs pad as the power-law tests'
# data do; ARC-Challenge's 10 would need a program of their own).
BENCHMARK = {"dclm_power_law": "hellaswag"}


# The CLI path is the same for every form and each form's own tests fit it on
# real data; these specs compile programs no other default test shares, so
# they run with `-m slow`.
SLOW_SPECS = {"dclm_bnsl", "gadre_additive_nd", "dclm_two_stage", "llmonkeys_pass_at_k", "dclm_additive_nd",
              "dclm_pass_at_k"}


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW_SPECS else n for n in SPECS])
def test_fit_spec_of_each_form(name, tmp_path, capsys):
    spec = load_spec(MODELS / f"{name}.toml")
    benchmark = BENCHMARK.get(name, spec.benchmarks[0])
    code = main(["fit", "--spec", str(MODELS / f"{name}.toml"), "--benchmark", benchmark,
                 "--out", str(tmp_path), *TINY])
    assert code == 0
    printed = capsys.readouterr().out
    assert benchmark in printed and "R-hat" in printed
    for path in [f"fits/{benchmark}.nc", f"plots/{benchmark}.png", f"plots/{benchmark}.pdf", "summary.csv"]:
        assert (tmp_path / path).stat().st_size > 0, path
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert summary["benchmark"].tolist() == [benchmark]
    held = pd.read_csv(tmp_path / "held_out.csv")
    # The held-out runs are those beyond the spec's cut-off, each predicted with nested bands,
    # and inside_90 says whether its observed value lies in the new-run band.
    assert len(held) > 0 and (held["compute"] > spec.max_compute).all() and (held["region"] == "extrapolation").all()
    assert ((held["lower_90"] <= held["median"]) & (held["median"] <= held["upper_90"])).all()
    inside = (held["predictive_lower_90"] <= held["observed"]) & (held["observed"] <= held["predictive_upper_90"])
    assert (inside == held["inside_90"]).all()
    # Laws with a floor report the accuracy they saturate at, with its interval.
    has_floor = spec.form in ("saturating_power_law", "bnsl")
    assert ("implied maximum accuracy" in printed) == has_floor
    assert ("max_accuracy_lower_90" in summary) == has_floor


def test_every_form_has_a_spec():
    from bayes_scaling.laws.base import _REGISTRY

    forms = {load_spec(MODELS / f"{name}.toml").form for name in SPECS}
    assert {"power_law", "saturating_power_law", "bnsl", "additive_nd", "pass_at_k", "two_stage"} <= forms
    assert forms <= set(_REGISTRY)


def test_form_option_overrides_spec(tmp_path, capsys):
    code = main(["fit", "--spec", str(MODELS / "dclm_additive_nd.toml"), "--benchmark", "sciq", "--tpr", "20",
                 "--form", "power_law", "--out", str(tmp_path), *TINY])
    assert code == 0
    saved = xr.open_datatree(tmp_path / "fits" / "sciq.nc", engine="h5netcdf")
    assert saved.attrs["law"] == "power_law"
    assert json.loads(saved.attrs["data"])["tpr"] == 20
