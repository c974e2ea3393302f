"""Reliability: edge cases with defined behaviour, sampling guardrails, save and load, reproducibility."""

import json
from pathlib import Path

import numpy as np
import numpyro.distributions as dist
import pandas as pd
import pytest

import bayes_scaling as bs
from bayes_scaling.cli import EXIT_SAMPLING, main
from bayes_scaling.inference import fit_many, fit_warnings, prepare, retry_settings
from bayes_scaling.pipeline import run_spec
from bayes_scaling.predict import predict
from bayes_scaling.saving import data_hash, load_fit, save_fit

from bayes_scaling.specs import load_spec

from conftest import FAST, simulate_power_law

MODELS = Path(__file__).resolve().parents[1] / "models"


def select(table, **options):
    return bs.select(bs.normalise_table(table), "sim", **options)


@pytest.fixture(scope="module")
def edge_fits():
    """Four power-law datasets in one batch: clean, one outlier, three points, falling accuracy."""
    clean = simulate_power_law(-0.5, 0.15, 0.03, n=30, seed=11)
    outlier = clean.copy()
    # Run 20 (of 30, at 1e20 FLOPs) scores as if log(-log Q) were 0.8 higher, 27
    # noise standard deviations: accuracy 0.36 where the curve is at 0.57.
    q = (outlier.loc[20, "value"] - 0.25) / 0.75
    outlier.loc[20, "value"] = 0.25 + 0.75 * np.exp(-np.exp(np.log(-np.log(q)) + 0.8))
    three = simulate_power_law(-0.5, 0.15, 0.03, n=3, seed=12)
    falling = simulate_power_law(-0.5, 0.15, 0.03, n=30, seed=13)
    falling["value"] = falling["value"].to_numpy()[::-1]  # accuracy falls as compute grows
    datasets = [select(t) for t in (clean, outlier, three, falling)]
    assert len(datasets[1].fitted) == 30  # the outlier is fitted, not excluded as near chance
    fits = fit_many(datasets, "power_law", **FAST, seed=0)
    # The same outlier data with a (nearly) normal likelihood: nu held near 200.
    normal = bs.fit(datasets[1], priors={"nu": dist.Gamma(2000.0, 10.0)}, **FAST, seed=0)
    return dict(zip(["clean", "outlier", "three", "falling"], fits)) | {"normal": normal}


def median(fit, name):
    return float(np.median(np.asarray(fit["posterior"][name])))


def test_one_outlying_run_does_not_drag_the_fit(edge_fits):
    clean, robust, normal = edge_fits["clean"], edge_fits["outlier"], edge_fits["normal"]
    at = [1e22]

    def median_accuracy(fit):
        # The parameters' band: its median is a function of the draws alone (the
        # form-error term adds zero-median noise that would only add Monte Carlo error).
        return predict(fit, at, form_error=False)["median"].iloc[0]

    shift_t = abs(median_accuracy(robust) - median_accuracy(clean))
    shift_normal = abs(median_accuracy(normal) - median_accuracy(clean))
    # The Student-t likelihood treats the run as an outlier (small nu) and its
    # extrapolation barely moves; a normal likelihood is pulled towards it.
    # The README's figures, pinned: nu 2.1 (19 without the outlier), shifts
    # 0.0003 and 0.0138 (seed 0). Tolerances are about 5 Monte Carlo standard
    # errors of a difference of medians (1e-4 per median for the Student-t fits,
    # 3e-4 for the normal one, from the spread of per-chain medians / 2).
    assert median(robust, "nu") < 5 < median(edge_fits["clean"], "nu")
    assert shift_t < 0.0008, shift_t
    assert 0.0123 <= shift_normal <= 0.0153, shift_normal
    assert abs(median(robust, "alpha") - median(clean, "alpha")) < 0.01


def test_three_points_fit_with_wide_intervals(edge_fits):
    fit, clean = edge_fits["three"], edge_fits["clean"]
    assert fit["observed_data"].sizes["point"] == 3
    # Parameter uncertainty alone: the form-error term widens both fits alike.
    table = predict(fit, [1e22], form_error=False)
    wide, narrow = (t["upper_90"].iloc[0] - t["lower_90"].iloc[0]
                    for t in (table, predict(clean, [1e22], form_error=False)))
    assert 0.25 <= table["lower_90"].iloc[0] and table["upper_90"].iloc[0] <= 1 and wide > 3 * narrow


def test_falling_accuracy_is_flagged(edge_fits):
    warnings = fit_warnings(edge_fits["falling"])
    assert any(w["check"] == "inverse_scaling" for w in warnings)
    assert not any(w["check"] == "inverse_scaling" for w in fit_warnings(edge_fits["clean"]))
    # The laws can only rise: the posterior slope is held near zero.
    assert median(edge_fits["falling"], "alpha") < 0.03


def test_every_point_at_chance_is_a_clear_error():
    table = simulate_power_law(-0.5, 0.15, 0.03, n=10).assign(value=0.25)
    data = select(table)
    assert len(data.fitted) == 0 and (data.excluded["reason"] == "near_chance").sum() == 10
    with pytest.raises(bs.DataError, match=r"0 usable points, but power_law needs at least 3") as err:
        bs.fit(data, **FAST)
    assert "10 excluded (10 near chance)" in str(err.value)


def test_accuracy_at_one_is_excluded_and_counted():
    table = simulate_power_law(-0.5, 0.15, 0.03, n=10)
    table.loc[9, "value"] = 1.0
    data, _, _ = prepare(select(table), "power_law")
    assert len(data.fitted) == 9
    assert data.excluded["reason"].tolist() == ["outside_log_neg_log_q"]


# ------------------------------------------------------------------ guardrails


#: An ESS threshold no fit of 4 x 500 draws reaches: the retry and --strict tests
#: need fits that fail a check, and raising the bar lets them run the suite's usual
#: draws (conftest.FAST) and so its compiled program, instead of compiling one for
#: draws too few to pass.
UNREACHABLE_ESS = 100_000


@pytest.fixture(scope="module")
def short_fit():
    # Bulk ESS cannot reach the raised threshold, so the fit is retried once.
    # The retry runs with the first attempt's settings here (retry_settings is
    # replaced), so that it reuses the compiled program: a program per setting
    # costs more test time than the behaviour is worth; the real settings are
    # tested on their own below.
    data = select(simulate_power_law(-0.5, 0.15, 0.03, n=30, seed=5))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(bs.inference, "retry_settings",
                      lambda warmup, draws, accept: {"num_warmup": warmup, "num_samples": draws,
                                                     "target_accept_prob": accept})
        patch.setattr(bs.diagnostics, "ESS_MIN", UNREACHABLE_ESS)
        return bs.fit(data, num_warmup=500, num_samples=500, num_chains=4, seed=0)


def test_retry_settings_lengthen_warmup_and_raise_acceptance():
    assert retry_settings(1000, 1000, 0.9) == {"num_warmup": 2000, "num_samples": 2000, "target_accept_prob": 0.95}
    assert retry_settings(500, 300, 0.97) == {"num_warmup": 1000, "num_samples": 600, "target_accept_prob": 0.99}


def test_failed_checks_are_retried_once_and_reported(short_fit):
    retry = json.loads(short_fit.attrs["retry"])
    assert retry["num_warmup"] == 500 and retry["target_accept_prob"] == 0.9
    assert any("ESS" in message for message in retry["first_attempt_warnings"])
    # The retry cannot reach the threshold either: the warning stays, structured.
    warnings = fit_warnings(short_fit)
    assert {"check", "value", "threshold", "parameter", "message"} <= set(warnings[0])
    assert any(w["check"] == "ess_bulk" and w["threshold"] == UNREACHABLE_ESS for w in warnings)
    # The retry is seeded apart from the first attempt.
    assert json.loads(short_fit.attrs["sampler"])["seed"] == 1


def test_strict_turns_warnings_into_exit_status(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(bs.diagnostics, "ESS_MIN", UNREACHABLE_ESS)
    path = tmp_path / "runs.csv"
    simulate_power_law(-0.5, 0.15, 0.03, n=30, seed=5).to_csv(path, index=False)
    args = ["fit", "--data", str(path), "--benchmark", "sim", "--out", str(tmp_path / "out"),
            "--num-warmup", "500", "--num-samples", "500", "--num-chains", "4", "--quiet", "--no-retry"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "WARNING sim: sampling checks failed" in out and "ESS" in out
    assert main([*args, "--strict"]) == EXIT_SAMPLING
    *warnings, last = capsys.readouterr().err.splitlines()
    # --quiet keeps warnings: the failing fits' diagnostics lines (the benchmark's and its ladder's own
    # backtest fits, one batch), then the one-line error.
    assert last.startswith("bayes-scaling: error: --strict: 1 fit(s) failed sampling checks")
    assert warnings and all("sim / acc diagnostics: R-hat max" in line for line in warnings)


# ------------------------------------------------------ save, load, reproduce


def test_saved_fit_predicts_identically_and_checks_its_data(edge_fits, tmp_path):
    fit = edge_fits["clean"]
    path = save_fit(fit, tmp_path / "fit.nc")
    clean = select(simulate_power_law(-0.5, 0.15, 0.03, n=30, seed=11))
    loaded = load_fit(path, data=clean)
    pd.testing.assert_frame_equal(predict(loaded, [1e20, 1e23], seed=4), predict(fit, [1e20, 1e23], seed=4))
    assert json.loads(loaded.attrs["versions"])["numpyro"] == json.loads(fit.attrs["versions"])["numpyro"]
    other = select(simulate_power_law(-0.5, 0.15, 0.03, n=30, seed=12))
    assert data_hash(other) != data_hash(clean)
    with pytest.raises(bs.DataError, match="was made from other data"):
        load_fit(path, data=other)
    with pytest.raises(bs.SpecError, match="records no spec"):
        load_fit(path, spec=load_spec(MODELS / "dclm_power_law.toml"))
    with pytest.raises(bs.DataError, match="no such fit file"):
        load_fit(tmp_path / "missing.nc")


def test_spec_recorded_by_the_cli_is_checked(tmp_path):
    from dataclasses import replace

    spec = load_spec(MODELS / "dclm_power_law.toml")
    spec = replace(spec, benchmarks=("arc_easy",), num_warmup=500, num_samples=500, retry=False)
    result = run_spec(spec, tmp_path)
    path = tmp_path / "fits" / "arc_easy.nc"
    assert load_fit(path, spec=spec).attrs["law"] == "power_law"
    with pytest.raises(bs.SpecError, match=r"another spec \(differs in seed\)"):
        load_fit(path, spec=replace(spec, seed=1))
    # The same spec, data and seed give identical draws.
    again = run_spec(spec)
    np.testing.assert_array_equal(again.fits["arc_easy"]["posterior"]["alpha"].values,
                                  result.fits["arc_easy"]["posterior"]["alpha"].values)
