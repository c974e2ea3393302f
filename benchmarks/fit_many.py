"""Benchmark: many direct-law fits, one at a time with NumPyro, batched, with PyStan and with nutpie.

Run from the repository root (PyStan and nutpie are optional: ``pip install pystan nutpie pymc``)::

    python benchmarks/fit_many.py                 # everything
    python benchmarks/fit_many.py --no-stan --sizes 1,10,100

It fits the same batch of direct power-law datasets (every multiple-choice
benchmark of the bundled Krajewski and Gadre data at several token-to-parameter
ratios and hold-out cut-offs) with

(a) one NumPyro fit at a time (a new ``MCMC`` per dataset, as a user would),
(b) the batched engine (``bayes_scaling.engine.sample_batch``),
(c) PyStan, with the same priors, likelihood, data, warm-up and draws
    (and Stan's diagonal metric, the only one PyStan offers; the batched
    engine adapts a dense one, and the "diagonal metric" row shows what that
    is worth),
(d) nutpie (optional: ``pip install nutpie pymc``) on the same PyMC model,
    compiled once with the data swapped per fit, with its diagonal and
    low-rank metrics and at the engine's target acceptance,

and prints wall time, the median over fits of the minimum bulk ESS per second
per fit, and the ratios. Then it times the batched engine on 1, 10, 100 and
1000 fits, and ``bayes-scaling demo`` from a cold process. Every setting is
printed with the results.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import xarray as xr

import bayes_scaling as bs
from bayes_scaling import engine
from bayes_scaling.engine import sample_batch
from bayes_scaling.errors import DataError
from bayes_scaling.inference import prepare
from bayes_scaling.laws import get_law

PARAMETERS = ("log_a", "alpha", "sigma", "nu")
MULTIPLE_CHOICE = ("arc_challenge", "arc_easy", "hellaswag", "piqa", "sciq", "winogrande")

STAN_CODE = """
data { int<lower=1> N; vector[N] x; vector[N] y; }
parameters { real log_a; real<lower=0> alpha; real<lower=0> sigma; real<lower=0> nu; }
model {
  // The priors of bayes_scaling's power_law and of its Student-t likelihood.
  log_a ~ normal(0, 1.5);
  alpha ~ normal(0, 0.5);   // half-normal through the lower bound
  sigma ~ normal(0, 0.5);
  nu ~ gamma(2, 0.1);
  y ~ student_t(nu, log_a - alpha * x, sigma);
}
"""


def direct_law_datasets() -> list[tuple[str, dict, np.ndarray]]:
    """(label, inputs, y) for every usable direct-law dataset and hold-out split of the bundled data."""
    law = get_law("power_law")
    found = []
    sources = [
        ("krajewski2025_dclm", None, (10, 20, 40, 80, 160), (1e20, 1e21, None)),
        ("krajewski2025_c4", None, (20,), (1e20, 1e21, None)),
        ("gadre2024", ("c4_original", "rpj", "rw_original"), (20,), (6.5e20,)),
    ]
    for name, groups, tprs, cuts in sources:
        table = bs.load_dataset(name)
        for group in groups or (None,):
            for tpr in tprs:
                for benchmark in MULTIPLE_CHOICE:
                    for cut in cuts:
                        try:
                            data = bs.select(table, benchmark, group=group, tpr=tpr, max_compute=cut)
                            data, inputs, y = prepare(data, law)
                        except DataError:
                            continue
                        if len(y) >= 8:  # enough points for a meaningful fit
                            found.append((f"{name}/{group}/{tpr}/{benchmark}/{cut}", inputs, y))
    return found


def min_bulk_ess(draws: dict[str, np.ndarray]) -> np.ndarray:
    """Per fit, the smallest bulk ESS over the parameters; arrays are (fits, chains, draws)."""
    dataset = xr.Dataset({name: (("fit", "chain", "draw"), draws[name]) for name in PARAMETERS})
    import arviz_stats

    ess = arviz_stats.ess(dataset, sample_dims=["chain", "draw"], method="bulk")
    return np.min(np.stack([np.asarray(ess[name]) for name in PARAMETERS]), axis=0)


def lane_efficiency(samples) -> tuple[float, float]:
    """(mean leapfrog steps per chain and kept draw, share of the executed steps the chains needed).

    The engine steps ``engine.LANES`` chains per device at once, and a lane whose chain has
    its draws takes the next waiting one; what is not needed is lanes idling at the end of a
    batch, while the last chains finish (``BatchSamples.executed_steps``).
    """
    return float(samples.sample_stats["n_steps"].mean()), float(samples.leapfrog_steps.sum() / samples.executed_steps)


def run_single_numpyro(datasets, settings) -> tuple[float, np.ndarray]:
    """(a) A fresh NumPyro MCMC per dataset, 4 vectorised chains each."""
    import jax
    from numpyro.infer import MCMC, NUTS

    law = get_law("power_law")
    priors = law.priors()
    per_fit = {name: [] for name in PARAMETERS}
    start = time.perf_counter()
    for i, (_, inputs, y) in enumerate(datasets):
        # A new MCMC per dataset, as a user fitting one at a time writes it
        # (NumPyro's MCMC cannot rerun vectorised chains on new data).
        mcmc = MCMC(NUTS(law.model, target_accept_prob=settings["target_accept_prob"]),
                    num_warmup=settings["num_warmup"], num_samples=settings["num_samples"],
                    num_chains=settings["num_chains"], chain_method="vectorized", progress_bar=False)
        mcmc.run(jax.random.key(i), priors, inputs, y=y)
        samples = mcmc.get_samples(group_by_chain=True)
        for name in PARAMETERS:
            per_fit[name].append(np.asarray(samples[name]))
    elapsed = time.perf_counter() - start
    return elapsed, min_bulk_ess({k: np.stack(v) for k, v in per_fit.items()})


def run_batched(datasets, settings, seed=0, chain_method="parallel", **options) -> tuple[float, np.ndarray]:
    """(b) Every dataset in one compiled program, split across the local devices (as ``fit_many`` does).

    ``options`` go to ``sample_batch`` (``dense_mass=False``: the ablation with a diagonal metric).
    """
    law = get_law("power_law")
    start = time.perf_counter()
    samples = sample_batch(
        law, law.priors(), [d[1] for d in datasets], [d[2] for d in datasets], seed=seed,
        num_warmup=settings["num_warmup"], num_samples=settings["num_samples"],
        num_chains=settings["num_chains"], target_accept_prob=settings["target_accept_prob"],
        chain_method=chain_method, **options,
    )
    elapsed = time.perf_counter() - start
    run_batched.last = samples
    return elapsed, min_bulk_ess(samples.posterior)


def run_stan(datasets, settings) -> tuple[float, float, np.ndarray]:
    """(c) PyStan: compile once (timed apart), then build and sample each dataset."""
    import stan

    # PyStan writes a progress bar and sampler messages per fit to the terminal's own streams.
    with open(os.devnull, "w") as sink, contextlib.redirect_stderr(sink), contextlib.redirect_stdout(sink):
        saved = os.dup(2)
        os.dup2(sink.fileno(), 2)
        try:
            return _run_stan(stan, datasets, settings)
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _run_stan(stan, datasets, settings):
    first = datasets[0]
    start = time.perf_counter()
    stan.build(STAN_CODE, data=_stan_data(first), random_seed=0)
    compile_time = time.perf_counter() - start
    per_fit = {name: [] for name in PARAMETERS}
    start = time.perf_counter()
    for i, dataset in enumerate(datasets):
        posterior = stan.build(STAN_CODE, data=_stan_data(dataset), random_seed=i)
        fit = posterior.sample(num_chains=settings["num_chains"], num_samples=settings["num_samples"],
                               num_warmup=settings["num_warmup"], delta=settings["target_accept_prob"])
        for name in PARAMETERS:
            index = len(fit.sample_and_sampler_param_names) + fit.param_names.index(name)
            # _draws is (parameters, draws, chains); ESS wants (chains, draws).
            per_fit[name].append(np.asarray(fit._draws[index]).T)
    elapsed = time.perf_counter() - start
    return compile_time, elapsed, min_bulk_ess({k: np.stack(v) for k, v in per_fit.items()})


def run_nutpie(datasets, settings, **options) -> tuple[float, float, np.ndarray]:
    """(d) nutpie on a PyMC model: compile once (timed apart), then swap each dataset in and sample.

    The same priors and Student-t likelihood as the engine's power law; ``options`` go to
    ``nutpie.sample`` (``adaptation="low_rank"``: its low-rank metric).
    """
    import nutpie
    import pymc as pm

    _, inputs, y = datasets[0]
    with pm.Model() as model:
        x_data = pm.Data("x", np.asarray(inputs["log_compute"]))
        y_data = pm.Data("y", np.asarray(y))
        log_a = pm.Normal("log_a", 0.0, 1.5)
        alpha = pm.HalfNormal("alpha", 0.5)
        sigma = pm.HalfNormal("sigma", 0.5)
        nu = pm.Gamma("nu", alpha=2.0, beta=0.1)
        pm.StudentT("obs", nu=nu, mu=log_a - alpha * x_data, sigma=sigma, observed=y_data, shape=x_data.shape)
    start = time.perf_counter()
    compiled = nutpie.compile_pymc_model(model)
    compile_time = time.perf_counter() - start
    per_fit = {name: [] for name in PARAMETERS}
    start = time.perf_counter()
    for i, (_, inputs, y) in enumerate(datasets):
        fit = nutpie.sample(compiled.with_data(x=np.asarray(inputs["log_compute"]), y=np.asarray(y)),
                            draws=settings["num_samples"], tune=settings["num_warmup"], chains=settings["num_chains"],
                            seed=i, progress_bar=False, **options)
        for name in PARAMETERS:
            per_fit[name].append(np.asarray(fit.posterior[name]))
    elapsed = time.perf_counter() - start
    return compile_time, elapsed, min_bulk_ess({k: np.stack(v) for k, v in per_fit.items()})


def _stan_data(dataset):
    _, inputs, y = dataset
    return {"N": len(y), "x": np.asarray(inputs["log_compute"]), "y": np.asarray(y)}


def _quiet_stan():
    """PyStan logs through httpstan; its progress bar and sampler messages go to stderr (see `run_stan`)."""
    import logging

    logging.getLogger("httpstan").setLevel(logging.ERROR)


def report(label, elapsed, ess, n_fits):
    per_fit_seconds = elapsed / n_fits
    ess_per_second = ess / per_fit_seconds
    print(f"{label:<28} {n_fits:>6} {elapsed:>10.1f} {per_fit_seconds:>10.3f} {np.median(ess):>10.0f} "
          f"{np.median(ess_per_second):>12.0f}")
    return np.median(ess_per_second)


def time_cold_batch(cache_dir: str) -> float:
    """Seconds a new process with an empty compilation cache takes to the 91 results (imports excluded, as for nutpie)."""
    env = dict(os.environ, BAYES_SCALING_COMPILATION_CACHE=cache_dir)
    done = subprocess.run([sys.executable, __file__, "--cold-batch-only"], check=True, env=env,
                          capture_output=True, text=True)
    return float(done.stdout.split()[-1])


def profile_demo(cache_dir: str, top: int = 14) -> None:
    """Where a cold ``bayes-scaling demo`` spends its time: cProfile in a new process with empty caches.

    Prints the wall time, imports, XLA compilation, and the package's functions
    with the most cumulative time (nested: a caller's time includes its callees').
    """
    import pstats

    with tempfile.TemporaryDirectory() as out:
        stats_path = os.path.join(out, "demo.prof")
        env = dict(os.environ, BAYES_SCALING_COMPILATION_CACHE=cache_dir)
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "cProfile", "-o", stats_path, "-m", "bayes_scaling.cli", "demo",
                        "--quiet", "--out", os.path.join(out, "demo")], check=True, env=env, capture_output=True)
        wall = time.perf_counter() - start
        stats = pstats.Stats(stats_path).stats
    def total(match):
        # Cumulative time of the outermost calls only: a recursive or nested match is not counted twice.
        keys = [key for key in stats if match(key)]
        return sum(stats[key][3] for key in keys
                   if not any(caller in keys for caller in stats[key][4]))
    print(f"\nprofile of bayes-scaling demo, new process, empty caches (cProfile adds overhead): {wall:.1f} s")
    print(f"  {'imports':<56} {total(lambda k: k[2] == '_find_and_load'):6.1f} s")
    print(f"  {'XLA compilation (jax backend_compile*)':<56} "
          f"{total(lambda k: k[2].startswith('backend_compile')):6.1f} s")
    package = [(key, value[3]) for key, value in stats.items()
               if f"{os.sep}bayes_scaling{os.sep}" in key[0] and key[2] != "<module>"]
    for (path, line, name), seconds in sorted(package, key=lambda item: -item[1])[:top]:
        label = f"{Path(path).name}:{line} {name}"
        print(f"  {label:<56} {seconds:6.1f} s")


def time_demo(cache_dir: str | None) -> float:
    env = dict(os.environ)
    if cache_dir is not None:
        env["BAYES_SCALING_COMPILATION_CACHE"] = cache_dir
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "bayes_scaling.cli", "demo", "--quiet", "--out", out],
                       check=True, env=env, capture_output=True)
        return time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,10,100,1000", help="batch sizes for the scaling table")
    parser.add_argument("--no-stan", action="store_true", help="skip PyStan")
    parser.add_argument("--no-nutpie", action="store_true", help="skip nutpie (the CPU anchor; pip install nutpie pymc)")
    parser.add_argument("--no-single", action="store_true", help="skip one-at-a-time NumPyro")
    parser.add_argument("--no-demo", action="store_true", help="skip timing the demo")
    parser.add_argument("--single-limit", type=int, default=20,
                        help="fit only the first N datasets one at a time with NumPyro (each compiles; default 20)")
    parser.add_argument("--no-first-call", action="store_true", help="time the batch only once it is compiled")
    parser.add_argument("--no-one-device", action="store_true",
                        help="skip the batched engine on one device (run where there are several)")
    parser.add_argument("--no-ablations", action="store_true",
                        help="skip the batched engine with a diagonal metric, other lane counts and length groups")
    parser.add_argument("--warm-limit", type=int, default=100,
                        help="in the size table, time a second (compiled) call only up to this many fits")
    parser.add_argument("--cold-batch-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--num-warmup", type=int, default=1000)
    parser.add_argument("--num-samples", type=int, default=1000)
    parser.add_argument("--num-chains", type=int, default=4)
    args = parser.parse_args(argv)
    settings = {"num_warmup": args.num_warmup, "num_samples": args.num_samples, "num_chains": args.num_chains,
                "target_accept_prob": 0.9}

    import jax

    datasets = direct_law_datasets()
    if args.cold_batch_only:  # the child process of time_cold_batch
        print(run_batched(datasets, settings)[0])
        return
    print(f"machine: {os.cpu_count()} CPUs, JAX {jax.__version__} on {jax.devices()[0].platform}, "
          f"{jax.local_device_count()} device(s)")
    print(f"settings: {settings}; {len(datasets)} direct-law datasets "
          f"({min(len(d[2]) for d in datasets)}-{max(len(d[2]) for d in datasets)} points each)")
    print()
    header = f"{'method':<28} {'fits':>6} {'wall (s)':>10} {'s / fit':>10} {'min ESS':>10} {'ESS/s/fit':>12}"
    print(header)
    rates = {}
    cold, ess = run_batched(datasets, settings)
    if not args.no_first_call:
        rates["batched (first call)"] = report("batched, first call", cold, ess, len(datasets))
    warm, ess = run_batched(datasets, settings, seed=1)
    rates["batched"] = report("batched, compiled", warm, ess, len(datasets))
    if not args.no_first_call:
        with tempfile.TemporaryDirectory() as empty_cache:
            print(f"  (from a cold process with empty caches: {time_cold_batch(empty_cache):.1f} s for all "
                  f"{len(datasets)} fits, compiling included, imports not)")
    mean_steps, efficiency = lane_efficiency(run_batched.last)
    per_chain = float(run_batched.last.leapfrog_steps.mean())
    kept = mean_steps * settings["num_samples"]
    print(f"  (sampling: {mean_steps:.1f} leapfrog steps per chain and draw; {per_chain:.0f} per chain in all, "
          f"{1 - kept / per_chain:.0%} of them in warm-up; {engine.LANES.get(jax.default_backend())} lanes per "
          f"device; {efficiency:.0%} of the executed steps were needed, the rest lanes waiting on a batch's "
          f"last chains)")
    if jax.local_device_count() > 1 and not args.no_one_device:
        run_batched(datasets, settings, seed=1, chain_method="vectorized")  # compile
        warm, ess = run_batched(datasets, settings, seed=1, chain_method="vectorized")
        report("batched, one device", warm, ess, len(datasets))
    if not args.no_ablations:
        # What each part of the engine is worth, on the same batch, compiled.
        run_batched(datasets, settings, seed=1, dense_mass=False)
        warm, ess = run_batched(datasets, settings, seed=1, dense_mass=False)
        report("batched, diagonal metric", warm, ess, len(datasets))
        # Other lane counts per device (engine.LANES; 32 on a CPU).
        lanes = dict(engine.LANES)
        for count in (16, 64):
            engine.LANES = {**lanes, jax.default_backend(): count}
            try:
                run_batched(datasets, settings, seed=1)
                warm, ess = run_batched(datasets, settings, seed=1)
                report(f"batched, {count} lanes per device", warm, ess, len(datasets))
            finally:
                engine.LANES = lanes
        # Groups of similar length (engine.LENGTH_GROUP; by default a batch is one group).
        grouping = dict(engine.LENGTH_GROUP)
        engine.LENGTH_GROUP = {jax.default_backend(): 16}
        try:
            run_batched(datasets, settings, seed=1)
            warm, ess = run_batched(datasets, settings, seed=1)
            report("batched, length groups >= 16", warm, ess, len(datasets))
        finally:
            engine.LENGTH_GROUP = grouping
    if not args.no_single:
        subset = datasets[: args.single_limit]
        elapsed, ess = run_single_numpyro(subset, settings)
        rates["numpyro"] = report("numpyro, one at a time", elapsed, ess, len(subset))
    if not args.no_stan:
        try:
            _quiet_stan()
            compile_time, elapsed, ess = run_stan(datasets, settings)
        except ImportError:
            print("pystan not installed: skipped (pip install pystan)")
        else:
            rates["stan"] = report("pystan, one at a time", elapsed, ess, len(datasets))
            print(f"  (pystan compile, once: {compile_time:.1f} s, not included above)")
    if not args.no_nutpie:
        variants = {"nutpie, diagonal": {}, "nutpie, low-rank": {"adaptation": "low_rank"},
                    "nutpie, diagonal, accept 0.9": {"target_accept": settings["target_accept_prob"]}}
        try:
            for label, options in variants.items():
                compile_time, elapsed, ess = run_nutpie(datasets, settings, **options)
                rates[label] = report(label, elapsed, ess, len(datasets))
                print(f"  ({label} compile, once: {compile_time:.1f} s, not included above; "
                      f"from a cold start: {compile_time + elapsed:.1f} s for all {len(datasets)} fits)")
        except ImportError:
            print("nutpie not installed: skipped (pip install nutpie pymc)")
    print()
    for name in [key for key in rates if key.startswith("nutpie")] + ["numpyro", "stan"]:
        if name in rates:
            first = rates.get("batched (first call)")
            print(f"ESS/s per fit, batched (compiled) / {name}: {rates['batched'] / rates[name]:.2f}x"
                  + (f"; batched (first call) / {name}: {first / rates[name]:.2f}x" if first else ""))

    print("\nbatched engine, cost against number of fits (each size its own compiled shape):")
    print(header)
    for size in [int(s) for s in args.sizes.split(",")]:
        batch = [datasets[i % len(datasets)] for i in range(size)]
        cold, ess = run_batched(batch, settings, seed=2)
        report("batched, first call", cold, ess, size)
        if size <= args.warm_limit:  # beyond it, compiling (seconds) is a small part of the first call
            warm, ess = run_batched(batch, settings, seed=3)
            report("batched, compiled", warm, ess, size)

    if not args.no_demo:
        with tempfile.TemporaryDirectory() as empty_cache:
            print(f"\nbayes-scaling demo, cold process, empty compilation cache: {time_demo(empty_cache):.1f} s")
            print(f"bayes-scaling demo, cold process, warm compilation cache: {time_demo(empty_cache):.1f} s")
        with tempfile.TemporaryDirectory() as empty_cache:
            profile_demo(empty_cache)


if __name__ == "__main__":
    main()
