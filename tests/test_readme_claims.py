"""README claims that no other test checked, one focused test per claim.

Each test checks what the README says a command or function does, on values
that a broken implementation would get wrong. Fits use the suite's usual
sampler settings (``conftest.FAST``: 4 chains x 500 warm-up x 500 draws) and
data that pad to shapes other tests already compile (batches of 4 fits of 32
or 64 points; 8 fits of 64 points, as ``test_report``), so that this file
compiles no sampler program of its own.

Claims checked elsewhere are not repeated: the demo's spec file
(``test_specs``), the retry's settings function and its ``retry`` attribute
(``test_reliability``), exact LOO with a forced threshold (``test_compare_and_evaluate``).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import arviz_stats
import numpy as np
import numpyro.distributions as dist
import pandas as pd
import pytest
from scipy import stats
from scipy.special import logsumexp

import bayes_scaling as bs
import bayes_scaling.loo as loo_module
from bayes_scaling import pipeline
from bayes_scaling.cli import build_parser, main
from bayes_scaling.decisions import compare_groups
from bayes_scaling.evaluate import evaluate
from bayes_scaling.inference import fit_many
from bayes_scaling.loo import loo
from bayes_scaling.saving import load_fit

from conftest import FAST, simulate_power_law

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
PACKAGE_DATA = Path(bs.__file__).parent / "data"
# The suite's usual draws (conftest.FAST) on the command line.
DRAWS = ["--num-warmup", "500", "--num-samples", "500", "--num-chains", "4", "--quiet"]
#: An ESS threshold no fit of 4 x 500 draws reaches, so that a fit fails its checks
#: with the suite's usual draws (as in test_reliability).
UNREACHABLE_ESS = 100_000


def select_sim(table, **options):
    return bs.select(bs.normalise_table(table), "sim", **options)


def files_under(folder: Path) -> set[str]:
    return {path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file()}


# ------------------------------------------------------------------- 1. demo


def test_demo_prints_held_out_runs_and_writes_plots_fits_and_tables(dclm, tmp_path, capsys, monkeypatch):
    # Catches a demo that writes files elsewhere or misses one, misprints a held-out run,
    # miscounts the coverage line, or predicts (instead of refusing) MMLU's runs.
    # The whole demo (7 benchmarks, 14 figures) takes about 50 s; this one runs the
    # demo command on two of its benchmarks: ARC-Easy, and MMLU, which it refuses.
    assert build_parser().parse_args(["demo"]).out == Path("bayes_scaling_output/demo")
    monkeypatch.setattr(pipeline, "DEMO_SPEC", replace(pipeline.DEMO_SPEC, benchmarks=("arc_easy", "mmlu")))
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), *DRAWS, "--no-retry"]) == 0
    printed = capsys.readouterr().out

    expected = {"held_out.csv", "summary.csv"} | {
        f"{folder}/{b}.{suffix}" for b in ("arc_easy", "mmlu") for folder, suffix in
        (("plots", "png"), ("plots", "pdf"), ("fits", "nc"))}
    assert files_under(out) == expected
    assert (out / "plots" / "arc_easy.png").read_bytes().startswith(b"\x89PNG")
    assert (out / "plots" / "mmlu.pdf").read_bytes().startswith(b"%PDF")
    assert f"wrote {len(expected)} files to {out}/" in printed

    # Every larger run of each benchmark is listed, as the data say: those above 1e21 FLOPs
    # and not within 0.02 of chance (one MMLU run, which is counted as excluded instead).
    held = pd.read_csv(out / "held_out.csv", keep_default_na=False)
    for benchmark in ("arc_easy", "mmlu"):
        rows = dclm[(dclm["benchmark"] == benchmark) & (dclm["metric"] == "acc") & (dclm["tpr"] == 20)]
        larger = rows[(rows["flops"] > 1e21) & (rows["value"] >= rows["chance"] + 0.02)]
        assert set(held.loc[held["benchmark"] == benchmark, "run_id"]) == set(larger["run_id"]), benchmark
    arc, mmlu = held[held["benchmark"] == "arc_easy"], held[held["benchmark"] == "mmlu"]
    assert (arc["refused"] == "").all() and (mmlu["refused"] != "").all()
    # One printed line per held-out run: arc_easy with its interval, MMLU "refused".
    lines = printed.splitlines()
    assert sum(line.startswith("arc_easy ") and line.endswith(("yes", "no")) for line in lines) == len(arc)
    refused = "refused (too few runs above chance)"
    assert sum(line.startswith("mmlu ") and refused in line for line in lines) == len(mmlu)
    inside = int(arc["inside_90"].astype(str).eq("True").sum())
    assert (f"all benchmarks: {inside} of {len(arc)} held-out runs inside their 90% predictive interval "
            f"({inside / len(arc):.0%}); {len(mmlu)} run(s) of mmlu not predicted: refused") in printed
    # What the intervals include: the form-error term with its prior, said to be in-sample on DCLM.
    assert f"intervals: the law's parameters, run-to-run noise and its {bs.FormErrorPrior.default().describe()}" \
        in printed
    assert "krajewski2025_dclm is among the ladders that prior was learned on" in printed and "in-sample" in printed
    # Each fit's diagnostics, in the summary table.
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary["benchmark"]) == ["arc_easy", "mmlu"]
    assert summary[["max_rhat", "min_ess_bulk", "min_ess_tail", "n_divergent"]].notna().all().all()


# --------------------------------------------------- 2. several benchmarks


def test_fit_of_several_benchmarks_gives_each_its_own_outputs(dclm, tmp_path, capsys):
    # Catches a multi-benchmark fit that drops a benchmark, mixes their data, or gives
    # one benchmark's fit or held-out runs to another. The README's own command.
    out = tmp_path / "results"
    assert main(["fit", "--dataset", "krajewski2025_dclm", "--benchmark", "arc_easy,hellaswag", "--tpr", "20",
                 "--max-compute", "1e21", "--out", str(out), *DRAWS, "--no-retry"]) == 0
    printed = capsys.readouterr().out
    summary = pd.read_csv(out / "summary.csv").set_index("benchmark")
    held = pd.read_csv(out / "held_out.csv")
    assert list(summary.index) == ["arc_easy", "hellaswag"]
    for benchmark in ("arc_easy", "hellaswag"):
        data = bs.select(dclm, benchmark, tpr=20, max_compute=1e21)
        assert summary.loc[benchmark, "n_fitted"] == len(data.fitted)
        assert summary.loc[benchmark, "n_held_out"] == len(data.held_out)
        assert sorted(held.loc[held["benchmark"] == benchmark, "run_id"]) == sorted(data.held_out["run_id"])
        np.testing.assert_allclose(held.loc[held["benchmark"] == benchmark, "observed"].sort_values(),
                                   data.held_out["value"].sort_values())
        fit = load_fit(out / "fits" / f"{benchmark}.nc")
        np.testing.assert_array_equal(np.asarray(fit["constant_data"]["value"]), data.fitted["value"].to_numpy())
        for suffix in ("png", "pdf"):
            assert (out / "plots" / f"{benchmark}.{suffix}").stat().st_size > 0
        assert any(line.startswith(f"{benchmark} ") and "%" in line for line in printed.splitlines())
    # Two benchmarks with different curves: their fits differ (log_a -0.61 and 0.10, each +- 0.02).
    fits = [load_fit(out / "fits" / f"{b}.nc") for b in ("arc_easy", "hellaswag")]
    assert abs(float(fits[0]["posterior"]["log_a"].median()) - float(fits[1]["posterior"]["log_a"].median())) > 0.5


# -------------------------------------------------------------- 3. --chance


def test_chance_option_sets_the_chance_level_used(tmp_path, capsys):
    # Catches --chance being ignored or overridden: the level 0.3 (not the data's 0.25)
    # must decide the near-chance exclusions and the normalisation Q = (acc - 0.3) / 0.7.
    table = simulate_power_law(0.1, 0.15, 0.03, n=30, seed=4, benchmark="mytask")
    path = tmp_path / "runs.csv"
    table.drop(columns="chance").rename(columns={"flops": "FLOPs", "benchmark": "task"}).to_csv(path, index=False)
    near = table["value"] < 0.3 + 0.02
    assert near.sum() == 8 and (table["value"] >= 0.25 + 0.02).all()  # only the given level excludes runs
    out = tmp_path / "out"
    assert main(["fit", "--data", str(path), "--columns", "FLOPs=flops,task=benchmark", "--chance", "mytask=0.3",
                 "--benchmark", "mytask", "--out", str(out), *DRAWS, "--no-retry"]) == 0
    summary = pd.read_csv(out / "summary.csv").iloc[0]
    assert summary["n_fitted"] == (~near).sum() and summary["excluded"] == f"{near.sum()} near chance"
    fit = load_fit(out / "fits" / "mytask.nc")
    assert set(np.asarray(fit["constant_data"]["chance"])) == {0.3}
    kept = table.loc[~near, "value"].to_numpy()
    np.testing.assert_allclose(np.asarray(fit["observed_data"]["y"]), np.log(-np.log((kept - 0.3) / 0.7)))


# ------------------------------------------------------------------ 4. retry


@pytest.fixture
def sampler_calls(monkeypatch):
    """Record every batch the sampler runs; run it with the first batch's settings.

    A retry asks for twice the warm-up and draws and a target acceptance of 0.95; what it asks
    for is recorded, but it runs with the first attempt's settings, so that it reuses
    the compiled program (one of its own would cost more than the behaviour is worth).
    """
    calls = []
    real = bs.inference.sample_batch

    def spy(law, priors, inputs_list, y_list, settings, **options):
        calls.append({"fits": len(inputs_list), "num_warmup": settings.num_warmup,
                      "num_samples": settings.num_samples, "target_accept_prob": settings.target_accept_prob})
        first = {key: calls[0][key] for key in ("num_warmup", "num_samples", "target_accept_prob")}
        return real(law, priors, inputs_list, y_list, settings.replace(**first), **options)

    monkeypatch.setattr(bs.inference, "sample_batch", spy)
    monkeypatch.setattr(bs.diagnostics, "ESS_MIN", UNREACHABLE_ESS)
    return calls


def test_failed_fits_are_retried_in_one_batch_and_the_summary_says_so(sampler_calls, tmp_path, capsys):
    # Catches a retry that does not happen, keeps the first settings, refits the failed fits
    # one at a time, or goes unreported; and a --no-retry that still retries.
    path = tmp_path / "runs.csv"
    simulate_power_law(-0.5, 0.15, 0.03, n=30, seed=5).to_csv(path, index=False)
    args = ["fit", "--data", str(path), "--benchmark", "sim", *DRAWS]

    assert main([*args, "--out", str(tmp_path / "retried")]) == 0
    printed = capsys.readouterr().out
    # The benchmark and its ladder's own backtests all fail, and are refitted together.
    first, again = sampler_calls
    assert first["fits"] > 1 and again["fits"] == first["fits"]
    assert (first["num_warmup"], first["num_samples"], first["target_accept_prob"]) == (500, 500, 0.9)
    assert (again["num_warmup"], again["num_samples"], again["target_accept_prob"]) == (1000, 1000, 0.95)
    retry = json.loads(load_fit(tmp_path / "retried" / "fits" / "sim.nc").attrs["retry"])
    assert (retry["num_warmup"], retry["num_samples"], retry["target_accept_prob"]) == (1000, 1000, 0.95)
    assert any("ESS" in message for message in retry["first_attempt_warnings"])
    assert "WARNING sim: sampling checks failed after a retry with a longer warm-up and more draws: " in printed
    assert bool(pd.read_csv(tmp_path / "retried" / "summary.csv")["retried"].iloc[0])

    sampler_calls.clear()
    assert main([*args, "--out", str(tmp_path / "once"), "--no-retry"]) == 0
    printed = capsys.readouterr().out
    assert len(sampler_calls) == 1
    assert "WARNING sim: sampling checks failed: " in printed and "after a retry" not in printed
    assert "retry" not in load_fit(tmp_path / "once" / "fits" / "sim.nc").attrs
    assert not bool(pd.read_csv(tmp_path / "once" / "summary.csv")["retried"].iloc[0])


def test_an_emerging_benchmark_is_not_retried(sampler_calls, caplog):
    # A fit whose extrapolations are refused (runs near chance, fewer than 6 above) cannot be
    # mended by a longer warm-up: retrying it costs time (the demo's MMLU took 6.5 s) and
    # fails again. Catches a retry that ignores this, or a decline that is not said.
    clean = select_sim(simulate_power_law(-0.5, 0.15, 0.03, n=30, seed=5))
    emerging = simulate_power_law(-0.5, 0.15, 0.03, n=9, seed=6)
    emerging.loc[:4, "value"] = 0.25  # five runs at chance, four above it
    emerging = select_sim(emerging)
    caplog.set_level("INFO", logger="bayes_scaling")
    assert len(emerging.fitted) == 4 and (emerging.excluded["reason"] == "near_chance").sum() == 5
    first, second = fit_many([emerging, clean], "power_law", **FAST | {"retry": True}, seed=0)
    # Every fit fails (ESS threshold out of reach); only the clean one is refitted.
    assert [call["fits"] for call in sampler_calls] == [2, 1]
    assert "retry" not in first.attrs and "runs above chance" in first.attrs["retry_declined"]
    assert "retry" in second.attrs and "retry_declined" not in second.attrs
    assert "not retrying 1 fit(s) that cannot extrapolate" in caplog.text


# -------------------------------------------------------- 5. environment


def _device_setup(**env) -> tuple[str, str]:
    """(compilation cache folder, local device count) that a new process reports on import."""
    environment = {k: v for k, v in os.environ.items()
                   if k not in ("XLA_FLAGS", "BAYES_SCALING_COMPILATION_CACHE", "BAYES_SCALING_HOST_DEVICES")}
    code = "import bayes_scaling, jax; print(jax.config.jax_compilation_cache_dir, jax.local_device_count())"
    result = subprocess.run([sys.executable, "-c", code], env=environment | env, capture_output=True, text=True,
                            check=True)
    cache, devices = result.stdout.split()
    return cache, devices


def test_environment_switches_turn_off_the_cache_and_the_host_devices(tmp_path):
    # Catches a switch that is ignored: with it, no cache folder and one device; with other
    # values, the cache folder named and as many devices as asked for (even on a 1-core machine).
    assert _device_setup(BAYES_SCALING_COMPILATION_CACHE="0", BAYES_SCALING_HOST_DEVICES="1") == ("None", "1")
    folder = tmp_path / "cache"
    assert _device_setup(BAYES_SCALING_COMPILATION_CACHE=str(folder), BAYES_SCALING_HOST_DEVICES="2") == (
        str(folder), "2")
    assert folder.is_dir()


# -------------------------------------------------------------------- 6. LOO


@pytest.mark.filterwarnings("ignore:Estimated shape parameter of Pareto distribution")  # expected here
def test_runs_above_good_k_are_refitted_in_one_batch_and_scored_exactly(monkeypatch):
    # Catches runs with high Pareto k left with their PSIS value, refitted one batch each,
    # refitted with the run still in, or scored with another formula than
    # log mean_s p(y_i | theta_s without run i).
    table = simulate_power_law(-0.5, 0.15, 0.03, n=30, seed=11)
    for index, shift in ((8, -1.2), (20, 1.2)):  # two runs far off the curve in log(-log Q)
        q = (table.loc[index, "value"] - 0.25) / 0.75
        table.loc[index, "value"] = 0.25 + 0.75 * np.exp(-np.exp(np.log(-np.log(q)) + shift))
    # A (nearly) normal likelihood, which outliers pull on: their Pareto k is high (0.84-1.2
    # over seeds 0-4, against at most 0.33 for the other runs and a good_k of 0.70).
    normal = {"nu": dist.Gamma(2000.0, 10.0)}
    fit = bs.fit(select_sim(table), priors=normal, **FAST, seed=0)
    good_k = arviz_stats.loo(fit, pointwise=True, var_name="y").good_k
    psis = loo(fit, refit=False).pointwise
    high = psis.index[psis["pareto_k"] > good_k].tolist()
    assert high == [8, 20], psis["pareto_k"].round(2).tolist()

    batches = []

    def spy(datasets, *args, **options):
        # No retry of a refit: it would compile a program of its own (the retry is tested above).
        refits = fit_many(datasets, *args, **{**options, "retry": False})
        batches.append((datasets, refits))
        return refits

    monkeypatch.setattr(loo_module, "fit_many", spy)
    exact = loo(fit, priors=normal)
    assert len(batches) == 1
    datasets, refits = batches[0]
    left_out = [sorted(set(table["run_id"]) - set(data.fitted["run_id"])) for data in datasets]
    assert left_out == [["run008"], ["run020"]]
    assert exact.n_refits == 2
    assert exact.pointwise.index[exact.pointwise["method"] == "exact"].tolist() == high
    others = exact.pointwise["method"] == "psis"
    np.testing.assert_array_equal(exact.pointwise.loc[others, "elpd_i"], psis.loc[others, "elpd_i"])
    # Exact: the Student-t density of the left-out run under the refit's draws.
    for index, refit in zip(high, refits):
        draws = {name: np.asarray(refit["posterior"][name]).ravel() for name in ("log_a", "alpha", "sigma", "nu")}
        y = np.log(-np.log((table.loc[index, "value"] - 0.25) / 0.75))
        mean = draws["log_a"] - draws["alpha"] * np.log(table.loc[index, "flops"] / 1e21)
        density = stats.t.logpdf(y, draws["nu"], mean, draws["sigma"])
        assert exact.pointwise.loc[index, "elpd_i"] == pytest.approx(logsumexp(density) - np.log(density.size))
    assert exact.elpd == pytest.approx(exact.pointwise["elpd_i"].sum())
    assert not exact.elpd_data.warning


# ----------------------------------------------------------- 7. crossing groups


def test_groups_whose_curves_cross_flip_which_is_better():
    # Catches a comparison that reports one winner everywhere, mislabels the groups, or
    # misses the crossover: A is worse at small compute, better at large, crossing at 1e20.
    # In log(-log Q) (lower is better): A -0.8 - 0.25 x, B -0.455 - 0.10 x, x = log(C / 1e21).
    steep = simulate_power_law(-0.8, 0.25, 0.05, seed=1)
    shallow = simulate_power_law(-0.455, 0.10, 0.05, seed=2)
    fit_a, fit_b = fit_many([select_sim(steep), select_sim(shallow)], **FAST, seed=0)
    compute = [1e18, 1e19, 1e21, 1e22]
    result = compare_groups(fit_a, fit_b, compute, labels=("steep", "shallow"))
    table = result.table.set_index("compute")
    assert (table.loc[[1e18, 1e19], "p_steep_better"] < 0.05).all()
    assert (table.loc[[1e21, 1e22], "p_steep_better"] > 0.95).all()
    assert table.loc[1e18, "median_steep"] < table.loc[1e18, "median_shallow"]
    assert table.loc[1e22, "median_steep"] > table.loc[1e22, "median_shallow"]
    summary = result.summary.iloc[0]
    assert (summary["shallow_better_from"], summary["shallow_better_to"]) == (1e18, 1e19)
    assert (summary["steep_better_from"], summary["steep_better_to"]) == (1e21, 1e22)
    assert summary["p_crossover"] > 0.95
    assert summary["crossover_lower_90"] < 1e20 < summary["crossover_upper_90"]
    assert 3e19 < summary["crossover_median"] < 3e20


# ------------------------------------------------------- 8. rolling origin


def test_several_cutoffs_in_one_evaluation_hold_out_nested_runs():
    # Catches cut-offs that are dropped or share one split, held-out runs that are not
    # exactly those above each cut-off, or fitted runs above it.
    table = simulate_power_law(-0.5, 0.15, 0.05, n=32, lo=1e18, hi=1e22, seed=3)
    cutoffs = [1e20, 3e20, 1e21]
    fits = {}
    scores = evaluate(bs.normalise_table(table), ["sim"], ["power_law"], cutoffs, fits_out=fits, **FAST, seed=0)
    assert (scores["status"] == "ok").all()
    assert sorted(zip(scores["cutoff"], scores["method"])) == sorted(
        (c, m) for c in cutoffs for m in ("bayes", "paper"))
    held_sets = []
    for cutoff in cutoffs:
        rows = scores[scores["cutoff"] == cutoff]
        above = table["flops"] > cutoff
        assert (rows["n_held_out"] == above.sum()).all() and (rows["n_fitted"] == (~above).sum()).all()
        fit = fits["power_law", "sim", cutoff]
        assert set(np.asarray(fit["held_out_data"]["run_id"])) == set(table.loc[above, "run_id"])
        assert np.asarray(fit["constant_data"]["flops"]).max() <= cutoff
        held_sets.append(set(np.asarray(fit["held_out_data"]["run_id"])))
    counts = [len(held) for held in held_sets]
    assert counts == sorted(counts, reverse=True) and len(set(counts)) == len(counts)
    assert held_sets[0] > held_sets[1] > held_sets[2]


# ------------------------------------------------------------ 9. derived data


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared/data (the raw copies) not beside the repository")
def test_derive_rebuilds_the_bundled_files_byte_for_byte(tmp_path, monkeypatch, capsys):
    # Catches a derivation that no longer reproduces the shipped files (a changed step,
    # column order or compression). derive writes beside its module; here into tmp_path.
    from bayes_scaling.data import derive

    monkeypatch.setattr(derive, "HERE", tmp_path)
    derive.main([str(SHARED)])
    shipped = sorted(path.name for path in PACKAGE_DATA.glob("*.csv.gz"))
    assert sorted(path.name for path in tmp_path.iterdir()) == shipped
    for name in shipped:
        assert (tmp_path / name).read_bytes() == (PACKAGE_DATA / name).read_bytes(), name
    assert "krajewski2025_dclm.csv.gz: 6407 rows" in capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.parametrize("switch", [[], ["--no-form-error"]])
def test_the_full_demo_prints_the_readme_figures(switch, tmp_path, capsys):
    # The README quotes the demo's coverage line, with and without the form-error term; the
    # whole demo, with its own settings, must print exactly those counts. A change that moves
    # them (a new sampler, prior or rule) turns this red until the README says the new figure.
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    if switch:
        quoted = re.search(r"`bayes-scaling demo --no-form-error`: (\d+) of (\d+), (\d+)%", readme)
    else:
        quoted = re.search(r"`all benchmarks: (\d+) of (\d+) held-out runs inside their 90%\s+predictive interval "
                           r"\((\d+)%\)", readme)
    assert quoted, "the README no longer quotes the demo's coverage line"
    assert main(["demo", "--out", str(tmp_path), *switch]) == 0
    printed = re.search(r"all benchmarks: (\d+) of (\d+) held-out runs inside their 90% predictive interval "
                        r"\((\d+)%\)", capsys.readouterr().out)
    assert printed and printed.groups() == quoted.groups(), (printed and printed.groups(), quoted.groups())


def test_using_from_python_runs_with_top_level_names_only(tmp_path, monkeypatch):
    # The README's "Using from Python" block, run as written, in a folder of its own.
    import ast
    import re

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Using from Python", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    tree = ast.parse(code)
    imports = [node for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))]
    assert [ast.unparse(node) for node in imports] == ["import bayes_scaling as bs"]
    used = {node.attr for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "bs"}
    assert used <= set(bs.__all__), used - set(bs.__all__)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(tree, "README.md", "exec"), namespace)
    assert (tmp_path / "arc_easy.png").stat().st_size > 0
    scores = namespace["scores"]
    assert set(scores["method"]) == {"bayes", "paper"} and (scores["status"] == "ok").all()
