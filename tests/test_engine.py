"""The batched engine gives the posterior NumPyro's own MCMC gives, fit by fit.

For every registered law: the same simulated dataset fitted (a) inside a batch
by :func:`bayes_scaling.engine.sample_batch` and (b) alone by
:class:`numpyro.infer.MCMC` must agree in posterior means and 5%/95% quantiles
within Monte Carlo error. The check is a z-score against the combined Monte
Carlo standard errors of both runs with threshold 4: two correct samplers
exceed it with probability about 6e-5 per comparison, while a padding, masking
or batching bug shifts estimates by many standard errors.
"""


import arviz_stats
import jax
import numpy as np
import pytest
import xarray as xr
from numpyro import handlers
from numpyro.infer import MCMC, NUTS, Predictive

import bayes_scaling as bs
from bayes_scaling import engine
from bayes_scaling.engine import length_groups, sample_batch, stack_datasets
from bayes_scaling.laws import available_laws, get_law, rescale

from conftest import simulate_power_law

DRAWS = dict(num_warmup=500, num_samples=500, num_chains=4)
Z_MAX = 4.0


def example_inputs(law, n=24, offset=0.0):
    """Rescaled inputs over three decades of compute, TPRs 10-80 and k 1-64."""
    compute = np.geomspace(1e18, 1e21, n) * np.exp(offset)
    tpr = np.resize([10.0, 20.0, 40.0, 80.0], n)
    params = np.sqrt(compute / (6 * tpr))
    values = {"compute": compute, "params": params, "tokens": tpr * params, "k": np.resize([1.0, 4.0, 16.0, 64.0], n)}
    return {f"log_{name}": rescale(name, values[name]) for name in law.inputs}


def simulate(law, inputs, seed):
    """Observations from the law at its prior medians, with small noise, via its own model."""
    priors = law.priors()
    draws = Predictive(law.model, num_samples=2001, parallel=True)(jax.random.key(seed), priors, inputs)
    truth = {name: np.median(np.asarray(draws[name]), axis=0) for name in priors}
    noise = {name: value for name, value in truth.items() if name.startswith("sigma")}
    truth.update({name: 0.3 * value for name, value in noise.items()})  # informative data
    observed = handlers.condition(law.model, data=truth)
    sample = Predictive(observed, num_samples=1)(jax.random.key(seed + 1), priors, inputs)
    sites = [name for name in sample if name not in truth and np.ndim(sample[name]) == 2]
    y = {name: np.asarray(sample[name][0]) for name in sites}
    return y["y"] if list(y) == ["y"] else y


def z_scores(a: xr.Dataset, b: xr.Dataset):
    """Largest |difference| / combined MCSE over parameters, for the mean and two quantiles."""
    worst = 0.0
    for kind, prob in (("mean", None), ("quantile", 0.05), ("quantile", 0.95)):
        kwargs = {"method": kind} if prob is None else {"method": kind, "prob": prob}
        for name in a.data_vars:
            if prob is None:
                ea, eb = a[name].mean(("chain", "draw")), b[name].mean(("chain", "draw"))
            else:
                ea, eb = a[name].quantile(prob, ("chain", "draw")), b[name].quantile(prob, ("chain", "draw"))
            se = np.hypot(np.asarray(arviz_stats.mcse(a[[name]], **kwargs)[name]),
                          np.asarray(arviz_stats.mcse(b[[name]], **kwargs)[name]))
            worst = max(worst, float(np.max(np.abs(np.asarray(ea) - np.asarray(eb)) / se)))
    return worst


def as_dataset(draws: dict) -> xr.Dataset:
    return xr.Dataset({name: (("chain", "draw", *[f"{name}_dim{i}" for i in range(v.ndim - 2)]), v)
                       for name, v in draws.items()})


# Each law costs two compilations (the batched program and NumPyro's own), about
# 50 s on a 2-core machine: the default run checks the direct law, `-m slow`
# every registered law.
@pytest.mark.parametrize(
    "name", [name if name == "power_law" else pytest.param(name, marks=pytest.mark.slow) for name in available_laws()]
)
def test_batched_matches_numpyro_mcmc(name):
    law = available_laws()[name]
    priors = law.priors()
    inputs = example_inputs(law)
    y = simulate(law, inputs, seed=11)
    # A second, shorter dataset in the same batch exercises padding and masking.
    inputs2 = {k: v[:17] for k, v in example_inputs(law, offset=0.5).items()}
    y2 = jax.tree.map(lambda a: a[:17], simulate(law, example_inputs(law, offset=0.5), seed=12))
    batch = sample_batch(law, priors, [inputs2, inputs], [y2, y], seed=5, **DRAWS)
    batched = {k: v[1] for k, v in batch.posterior.items() if k in priors}

    mcmc = MCMC(NUTS(law.model, target_accept_prob=0.9), chain_method="vectorized", progress_bar=False, **DRAWS)
    mcmc.run(jax.random.key(6), priors, inputs, y=y)
    single = {k: np.asarray(v) for k, v in mcmc.get_samples(group_by_chain=True).items() if k in priors}

    assert batch.sample_stats["diverging"][1].mean() <= 0.01
    assert z_scores(as_dataset(batched), as_dataset(single)) < Z_MAX


def test_one_bad_dataset_does_not_spoil_the_others():
    good = [bs.normalise_table(simulate_power_law(0.2, 0.15, 0.05, n=30, seed=s)) for s in range(3)]
    # Three identical points: the noise scale runs to zero, a funnel NUTS cannot
    # explore without divergences.
    bad = bs.normalise_table(simulate_power_law(0.2, 0.15, 0.0, n=3, seed=9))
    bad["value"] = bad["value"].iloc[0]
    datasets = [bs.select(t, "sim") for t in (good[0], bad, good[1], good[2])]
    fits = bs.fit_many(datasets, num_warmup=500, num_samples=500, retry=False)
    alone = bs.fit(datasets[2], num_warmup=500, num_samples=500, seed=1, retry=False)
    for index in (0, 2, 3):
        diagnostics = bs.diagnose(fits[index])
        assert diagnostics.max_rhat <= 1.01 and diagnostics.n_divergent == 0, index
    assert not bs.diagnose(fits[1]).ok
    posterior = lambda idata: idata["posterior"].to_dataset()[["log_a", "alpha"]]  # noqa: E731
    assert z_scores(posterior(fits[2]), posterior(alone)) < Z_MAX


def test_padding_lengths_share_one_shape():
    law = available_laws()["power_law"]
    inputs, y, mask, sizes = stack_datasets(
        [example_inputs(law, n=5), example_inputs(law, n=13)], [np.zeros(5), np.ones(13)]
    )
    assert sizes == [5, 13]
    assert mask.shape == (2, 16) and mask.sum() == 18
    assert np.all(np.isfinite(inputs["log_compute"]))  # padding repeats the edge, never NaN


@pytest.mark.skipif(jax.local_device_count() < 2, reason="one local device: nothing to split fits across")
def test_fits_split_across_devices_match_one_device():
    # Same seeds, different compiled arithmetic: equal in distribution (same
    # z-score test), and each split gives the same draws every time.
    law = available_laws()["power_law"]
    priors = law.priors()
    inputs = [example_inputs(law, offset=0.1 * i) for i in range(3)]
    ys = [simulate(law, x, seed=20 + i) for i, x in enumerate(inputs)]
    one = sample_batch(law, priors, inputs, ys, seed=7, chain_method="vectorized", **DRAWS)
    split = sample_batch(law, priors, inputs, ys, seed=7, chain_method="parallel", **DRAWS)
    again = sample_batch(law, priors, inputs, ys, seed=7, chain_method="parallel", **DRAWS)
    for i in range(3):
        first = as_dataset({k: v[i] for k, v in one.posterior.items() if k in priors})
        second = as_dataset({k: v[i] for k, v in split.posterior.items() if k in priors})
        assert z_scores(first, second) < Z_MAX
    for name in priors:
        np.testing.assert_array_equal(split.posterior[name], again.posterior[name])


#: Run in a process of its own, with JAX's compilation cache in the folder given as its
#: argument: the priors' canonical order, the compiled programs in the folder before and
#: after, and the draws of the power-law program of the suite's usual shape (one 24-point
#: dataset, 4 x 500 x 500, split across the devices).
NEW_PROCESS = """
import json, os, pathlib, sys
os.environ['BAYES_SCALING_COMPILATION_CACHE'] = sys.argv[1]
import jax
import numpy as np
from bayes_scaling.engine import canonical_priors, restore_priors, sample_batch
from bayes_scaling.laws import get_law
priors = get_law('bnsl').priors()
leaves, key, names = canonical_priors(priors)
back = restore_priors(leaves, key)
assert jax.tree.structure(back) == jax.tree.structure(priors)
assert all(a is b for a, b in zip(jax.tree.leaves(back), jax.tree.leaves(priors)))
compiled = lambda: sorted(p.name for p in pathlib.Path(sys.argv[1]).glob('*-cache'))
before = compiled()
law = get_law('power_law')
x = np.linspace(-5.0, 0.0, 24)
out = sample_batch(law, law.priors(), [{'log_compute': x}], [-1.0 - 0.2 * x + 0.05 * np.sin(7 * x)],
                   num_warmup=500, num_samples=500, num_chains=4, chain_method='parallel')
print(json.dumps({'names': names, 'leaves': [np.ravel(v).tolist() for v in leaves], 'before': before,
                  'after': compiled(), 'alpha': out.posterior['alpha'].tolist()}))
"""


def fit_in_new_process(cache, hash_seed: str) -> dict:
    import json
    import os
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-c", NEW_PROCESS, str(cache)], capture_output=True, text=True,
                         env=os.environ | {"PYTHONHASHSEED": hash_seed})
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.splitlines()[-1])


def test_a_new_process_reuses_the_compiled_sampler_whatever_its_hash_seed(tmp_path):
    # NumPyro flattens a distribution's fields in hash order, which differs
    # between processes; the order the engine passes them in must not, or the
    # compiled program would differ and JAX's persistent cache would miss. A
    # first process compiles the sampler into an empty cache; a second, with
    # another hash seed, must compile nothing new and draw the same.
    first = fit_in_new_process(tmp_path, "1")
    second = fit_in_new_process(tmp_path, "2")
    new = set(first["after"]) - set(first["before"])
    assert any("begin" in name for name in new) and any("advance" in name for name in new)
    assert second["before"] == second["after"] == first["after"]
    leaves, _, names = engine.canonical_priors(get_law("bnsl").priors())
    for there in (first, second):
        assert there["names"] == list(names) == sorted(names) and "log_total/scale" in names
        assert there["leaves"] == [np.ravel(leaf).tolist() for leaf in leaves]
    np.testing.assert_array_equal(np.asarray(second["alpha"]), np.asarray(first["alpha"]))


def test_length_groups_split_large_batches_only(monkeypatch):
    # Grouping as on a CPU, whatever backend runs the test.
    monkeypatch.setattr(engine, "LENGTH_GROUP", {jax.default_backend(): 16})
    # A small batch is one program, whatever its lengths: each group costs a compilation.
    assert length_groups([3, 10, 40, 60]) == [[0, 1, 2, 3]]
    # 16 fits of 8 points or fewer, 20 of 20 (padded to 32), 4 of 50 (64): the
    # four long ones are too few for a group and join the 32-point one.
    sizes = [5] * 16 + [20] * 20 + [50] * 4
    groups = length_groups(sizes)
    assert groups == [list(range(16)), list(range(16, 40))]
    # Short leftovers join the next longer group, never a shorter one.
    assert length_groups([5] * 3 + [20] * 16 + [50] * 16) == [list(range(19)), list(range(19, 35))]


def test_one_length_group_on_a_backend_without_grouping(monkeypatch):
    # A GPU steps the whole batch at once: groups would only run one after another.
    sizes = [5] * 16 + [20] * 20 + [50] * 4
    monkeypatch.setattr(engine, "LENGTH_GROUP", {})  # a backend it does not list
    assert length_groups(sizes) == [list(range(40))]


def test_grouped_batch_returns_fits_in_the_order_given(monkeypatch):
    # The merge of groups, without sampling: each group is an ordinary batch
    # (tested above); here every fit's "draws" are its dataset's first value.
    def fake_group(law, priors, inputs_list, y_list, fit_keys, settings, progress):
        sizes = [len(y) for y in y_list]
        first = np.array([y[0] for y in y_list])[:, None, None] * np.ones((1, 2, 3))
        length = engine._pad_length(max(sizes))
        loglik = np.stack([np.broadcast_to(np.arange(length) < n, (2, 3, length)) for n in sizes]).astype(float)
        assert len(fit_keys) == len(y_list)
        return engine.BatchSamples({"log_a": first}, {"diverging": first > 1e9}, {"y": loglik}, sizes)

    monkeypatch.setattr(engine, "_sample_group", fake_group)
    monkeypatch.setattr(engine, "LENGTH_GROUP", {jax.default_backend(): 16})  # group as on a CPU
    law = available_laws()["power_law"]
    lengths = [6 if i % 2 else 24 for i in range(40)]
    ys = [np.full(n, float(i)) for i, n in enumerate(lengths)]
    inputs = [{"log_compute": np.zeros(n)} for n in lengths]
    assert len(length_groups(lengths)) == 2
    batch = sample_batch(law, law.priors(), inputs, ys)
    assert batch.sizes == lengths
    np.testing.assert_array_equal(batch.posterior["log_a"][:, 0, 0], np.arange(40))
    assert batch.sample_stats["diverging"].shape == (40, 2, 3)
    # Log likelihoods padded to the longest group's 32 points, the padding zero.
    loglik = batch.log_likelihood["y"]
    assert loglik.shape == (40, 2, 3, 32)
    np.testing.assert_array_equal(loglik.sum(axis=-1)[:, 0, 0], lengths)


def test_chains_queued_for_fewer_lanes_sample_the_same_posteriors(monkeypatch):
    # With fewer lanes than chains, each lane that finishes a chain takes the next waiting
    # one (bayes_scaling.nuts.run). A chain's random numbers come from its own key and its
    # count of steps, whichever lane runs it; only the compiled arithmetic differs with the
    # number of lanes (vectorised code paths, in the last bits), so the posteriors agree in
    # distribution, and a queued run repeats itself exactly.
    # The suite's usual shape (24 points, 4 x 500 x 500, split over the devices): all 16
    # chains at once is the program other tests compile anyway; 3 lanes is one more.
    law = available_laws()["power_law"]
    rng = np.random.default_rng(5)
    x = np.linspace(-3, 1, 24)
    ys = [0.5 - 0.2 * x + 0.05 * rng.standard_normal(24) for _ in range(3)]
    inputs = [{"log_compute": x}] * 3
    settings = dict(num_warmup=500, num_samples=500, num_chains=4, seed=2, chain_method="parallel")
    together = sample_batch(law, law.priors(), inputs, ys, **settings)
    monkeypatch.setattr(engine, "LANES", {jax.default_backend(): 3})
    queued = sample_batch(law, law.priors(), inputs, ys, **settings)
    again = sample_batch(law, law.priors(), inputs, ys, **settings)
    parameters = ("log_a", "alpha", "sigma", "nu")
    for i in range(3):
        first = as_dataset({name: together.posterior[name][i] for name in parameters})
        second = as_dataset({name: queued.posterior[name][i] for name in parameters})
        assert z_scores(first, second) < Z_MAX
    for name in parameters:
        np.testing.assert_array_equal(queued.posterior[name], again.posterior[name])
    # 12 chains on 3 lanes per device: the lanes ran at least the chains' steps, and each
    # waited at most one chain's steps at the end.
    lanes = 3 * engine._device_split(4)
    assert queued.leapfrog_steps.sum() <= queued.executed_steps
    assert queued.executed_steps <= queued.leapfrog_steps.sum() + lanes * queued.leapfrog_steps.max()


def test_sampler_settings_are_one_frozen_hashable_object():
    settings = bs.SamplerSettings(num_samples=500)
    assert settings == bs.SamplerSettings(num_samples=500) and hash(settings) == hash(bs.SamplerSettings(num_samples=500))
    with pytest.raises(AttributeError):
        settings.num_samples = 3
    # The program is shaped by warm-up, draws, chains and the kernel's settings, not by the seed.
    assert settings.replace(seed=9, retry=False).program == settings.program
    assert settings.replace(num_samples=400).program != settings.program
    for options, option in [({"num_warmup": "x"}, "num_warmup"), ({"target_accept_prob": 1.5}, "target_accept_prob"),
                            ({"chain_method": "gpu"}, "chain_method"), ({"init": "zero"}, "init")]:
        with pytest.raises(bs.SpecError, match=f"option {option}:") as excinfo:
            bs.SamplerSettings(**options)
        assert "\n" not in str(excinfo.value)
    with pytest.raises(bs.SpecError, match="option num_draws: not a sampler setting"):
        bs.SamplerSettings.from_options(num_draws=10)


def test_programs_are_cached_by_their_key_not_by_the_seed():
    law = get_law("power_law")
    x = rescale("compute", np.geomspace(1e18, 1e21, 12))
    inputs, ys = [{"log_compute": x}] * 4, [-1.0 - 0.2 * x + 0.01 * np.cos(3 * x + i) for i in range(4)]
    # The suite's usual draws, so the program is one the other tests compile too.
    settings = bs.SamplerSettings(**DRAWS)
    sample_batch(law, law.priors(), inputs, ys, settings)
    before = engine._program.cache_info()
    sample_batch(law, law.priors(), inputs, ys, settings.replace(seed=5))
    after = engine._program.cache_info()
    assert (after.hits - before.hits, after.misses - before.misses) == (1, 0)
