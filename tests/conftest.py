"""Shared fixtures: small simulated tables and one real fit reused across tests."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import bayes_scaling as bs
import jax.monitoring as jax_monitoring

#: Small sampler settings for tests: enough for stable intervals, quick to run.
# No automatic retry: a test that checks R-hat or ESS checks this sampler run,
# not a second one (test_reliability tests the retry itself).
FAST = dict(num_warmup=500, num_samples=500, num_chains=4, retry=False)


def simulate_power_law(log_a, alpha, sigma, *, n=30, chance=0.25, seed=0, lo=1e18, hi=1e21, benchmark="sim"):
    """A tidy table of one benchmark whose log(-log Q) follows the power law plus normal noise."""
    rng = np.random.default_rng(seed)
    flops = np.geomspace(lo, hi, n)
    x = np.log(flops / 1e21)
    y = log_a - alpha * x + sigma * rng.standard_normal(n)
    acc = chance + (1 - chance) * np.exp(-np.exp(y))
    return pd.DataFrame(
        {
            "run_id": [f"run{i:03d}" for i in range(n)],
            "flops": flops,
            "benchmark": benchmark,
            "metric": "acc",
            "value": acc,
            "chance": chance,
        }
    )


def conjugate_split_record(rng, dataset, tau, power, n_fit=20, n_held=8, sigma=0.05):
    """A split whose posterior is exact: a line with known noise and a flat prior, bent by b d^power beyond."""
    x_fit = np.linspace(-4.0, 0.0, n_fit)
    x_held = np.sort(rng.uniform(0.1, 3.5, n_held))  # up to 1.5 decades beyond (x is a natural log)
    intercept, slope, bend = -0.5, 0.2, tau * rng.standard_normal()
    distance = x_held / np.log(10)
    z_fit = intercept - slope * x_fit + sigma * rng.standard_normal(n_fit)
    z_held = intercept - slope * x_held + bend * distance**power + sigma * rng.standard_normal(n_held)
    design = np.stack([np.ones(n_fit), -x_fit], axis=1)
    mean, *_ = np.linalg.lstsq(design, z_fit, rcond=None)
    covariance = sigma**2 * np.linalg.inv(design.T @ design)
    theta = rng.multivariate_normal(mean, covariance, size=400)
    held = pd.DataFrame({"run_id": [f"r{i}" for i in range(n_held)], "flops": 1e21 * np.exp(x_held), "k": np.nan,
                         "value": np.nan, "chance": 0.25, "distance": distance, "z": z_held})
    from bayes_scaling.backtest import SplitRecord

    return SplitRecord(dataset=dataset, ladder="sim", benchmark="b", form="power_law", cutoff=1e21,
                       largest_fitted=1e21, held=held, mean_draws=theta[:, :1] - theta[:, 1:] * x_held[None, :],
                       sigma=np.full(400, sigma), nu=np.full(400, 1e6), fitted_inputs={"log_compute": x_fit},
                       fitted_z=z_fit, held_inputs={"log_compute": x_held})


@pytest.fixture(autouse=True)
def _package_logger_as_a_library_has_it():
    """Each test starts with the ``bayes_scaling`` logger unconfigured (a CLI test configures it for
    its process: level, its own handler, no propagation, which would hide records from ``caplog``)."""
    import logging

    logger = logging.getLogger("bayes_scaling")
    logger.setLevel(logging.NOTSET)
    logger.propagate = True
    for handler in [h for h in logger.handlers if getattr(h, "bayes_scaling_cli", False)]:
        logger.removeHandler(handler)
    yield


@pytest.fixture(scope="session")
def dclm():
    return bs.load_dataset("krajewski2025_dclm")


@pytest.fixture(scope="session")
def arc_easy_fit(dclm):
    """The direct law on ARC-Easy, DCLM TPR 20, fitted up to 1e21 FLOPs."""
    data = bs.select(dclm, "arc_easy", tpr=20, max_compute=1e21)
    return bs.fit(data, **FAST, seed=1)


# ---------------------------------------------------------------- schedule
# pytest-xdist hands whole files to its processes in collection order: the
# longest files go first, so that none of them starts last and runs alone.
LONGEST_FIRST = ["test_notebooks.py", "test_additive_and_pass_at_k.py", "test_compare_and_evaluate.py", "test_design.py",
                 "test_two_stage.py", "test_engine.py", "test_cli.py", "test_report.py"]


def pytest_collection_modifyitems(config, items):
    _keep_slow_share(config, items)
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


# ------------------------------------------------------------ slow shares
# `--slow-share=I/N` keeps, of the tests marked slow, share I of a partition into N
# shares of about equal time: longest first, each test to the share with the least
# time so far, by the seconds each took (SLOW_SECONDS; a test not listed counts as
# DEFAULT_SLOW_SECONDS). The same in every process and on every machine. CI
# (.ci/run) runs `-m slow` with one share, I from the commit hash. Tests not
# marked slow are kept.

#: Seconds per slow test: `pytest -m slow --durations=0` on 2 cores with warm caches, 2026-12-07.
SLOW_SECONDS: dict[str, float] = {
    "tests/test_calibration.py::test_form_is_calibrated_and_learns_from_data[two_stage]": 212,
    "tests/test_report.py::test_dclm_report_end_to_end": 138,
    "tests/test_calibration.py::test_form_is_calibrated_and_learns_from_data[bnsl]": 124,
    "tests/test_compare_cli.py::test_evaluate_works_for_every_registered_form": 89,
    "tests/test_saturating_and_bnsl.py::test_bnsl_parameter_recovery": 47,
    "tests/test_calibration.py::test_form_is_calibrated_and_learns_from_data[saturating_power_law]": 37,
    "tests/test_compare_cli.py::test_evaluate_headline_spec": 29,
    "tests/test_design.py::test_design_of_the_additive_law_and_of_pass_at_k": 23,
    "tests/test_calibration.py::test_form_is_calibrated_and_learns_from_data[additive_nd]": 23,
    "tests/test_engine.py::test_batched_matches_numpyro_mcmc[two_stage_no_irreducible]": 21,
    "tests/test_readme_claims.py::test_the_full_demo_prints_the_readme_figures[switch0]": 19,
    "tests/test_forms_cli.py::test_fit_spec_of_each_form[dclm_two_stage]": 19,
    "tests/test_engine.py::test_batched_matches_numpyro_mcmc[two_stage_linear]": 16,
    "tests/test_forms_cli.py::test_fit_spec_of_each_form[dclm_pass_at_k]": 14,
    "tests/test_readme_claims.py::test_the_full_demo_prints_the_readme_figures[switch1]": 14,
    "tests/test_engine.py::test_batched_matches_numpyro_mcmc[two_stage]": 13,
    "tests/test_engine.py::test_batched_matches_numpyro_mcmc[bnsl]": 12,
    "tests/test_forms_cli.py::test_fit_spec_of_each_form[dclm_bnsl]": 12,
    "tests/test_engine.py::test_batched_matches_numpyro_mcmc[additive_nd]": 9,
    "tests/test_engine.py::test_batched_matches_numpyro_mcmc[saturating_power_law]": 7,
    "tests/test_forms_cli.py::test_fit_spec_of_each_form[dclm_additive_nd]": 7,
    "tests/test_engine.py::test_batched_matches_numpyro_mcmc[pass_at_k]": 6,
    "tests/test_forms_cli.py::test_fit_spec_of_each_form[gadre_additive_nd]": 5,
    "tests/test_forms_cli.py::test_fit_spec_of_each_form[llmonkeys_pass_at_k]": 4,
    "tests/test_saturating_and_bnsl.py::test_real_fits_converge[bnsl-hellaswag]": 1,
    "tests/test_saturating_and_bnsl.py::test_real_fits_converge[bnsl-arc_easy]": 1,
    "tests/test_saturating_and_bnsl.py::test_max_accuracy_is_the_limit_of_the_curve[bnsl]": 1,
}
#: What a slow test missing from SLOW_SECONDS counts as.
DEFAULT_SLOW_SECONDS = 60.0


def pytest_addoption(parser):
    parser.addoption("--slow-share", metavar="I/N", default=None,
                     help="of the tests marked slow, run share I of N (0 <= I < N) of a partition into "
                          "shares of about equal time")


def _slow_share(config) -> tuple[int, int] | None:
    value = config.getoption("slow_share")
    if value is None:
        return None
    try:
        index, count = (int(part) for part in value.split("/"))
    except ValueError:
        raise pytest.UsageError(f"--slow-share={value}: expected I/N, e.g. 0/2") from None
    if not 0 <= index < count:
        raise pytest.UsageError(f"--slow-share={value}: needs 0 <= I < N")
    return index, count


def slow_shares(nodeids, count: int) -> dict[str, int]:
    """The share of ``count`` each slow test falls in: longest first, to the share with the least time."""
    totals = [0.0] * count
    shares = {}
    for nodeid in sorted(nodeids, key=lambda n: (-SLOW_SECONDS.get(n, DEFAULT_SLOW_SECONDS), n)):
        share = min(range(count), key=lambda i: (totals[i], i))
        shares[nodeid] = share
        totals[share] += SLOW_SECONDS.get(nodeid, DEFAULT_SLOW_SECONDS)
    return shares


def _keep_slow_share(config, items):
    share = _slow_share(config)
    if share is None:
        return
    index, count = share
    shares = slow_shares([item.nodeid for item in items if item.get_closest_marker("slow")], count)
    kept, dropped = [], []
    for item in items:
        outside = item.nodeid in shares and shares[item.nodeid] != index
        (dropped if outside else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def pytest_report_header(config):
    if (share := _slow_share(config)) is not None:
        index, count = share
        return [f"slow share {index}/{count}: share {index} of the slow tests split into {count} of about equal time"]
    return []


# ------------------------------------------------------------ compile time
# The suite's time is mostly JAX tracing and compiling the batched sampler, once
# per law, settings and padded shape. Tests are grouped to share programs; this
# tally (printed at the end of a run) shows where the rest goes.
_COMPILE_SECONDS: dict[str, float] = {}
_CURRENT_TEST = ["(collection)"]


def _tally(event: str, duration: float, **_):
    if event.startswith("/jax/core/compile/") and duration > 0.5:
        _COMPILE_SECONDS[_CURRENT_TEST[0]] = _COMPILE_SECONDS.get(_CURRENT_TEST[0], 0.0) + duration


jax_monitoring.register_event_duration_secs_listener(_tally)


def pytest_runtest_logstart(nodeid):
    # Before set-up, so a module fixture's compilation counts for its first test.
    _CURRENT_TEST[0] = nodeid


def pytest_sessionfinish(session):
    # A pytest-xdist worker sends its tally to the controlling process.
    if hasattr(session.config, "workeroutput"):
        session.config.workeroutput["compile_seconds"] = json.dumps(_COMPILE_SECONDS)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    worker_tally = json.loads(getattr(node, "workeroutput", {}).get("compile_seconds", "{}"))
    for test, seconds in worker_tally.items():
        _COMPILE_SECONDS[test] = _COMPILE_SECONDS.get(test, 0.0) + seconds


def pytest_terminal_summary(terminalreporter):
    if not _COMPILE_SECONDS:
        return
    total = sum(_COMPILE_SECONDS.values())
    terminalreporter.write_sep("-", f"JAX tracing and compilation: {total:.0f} s (steps over 0.5 s)")
    for test, seconds in sorted(_COMPILE_SECONDS.items(), key=lambda item: -item[1])[:15]:
        terminalreporter.write_line(f"{seconds:6.1f} s  {test}")
