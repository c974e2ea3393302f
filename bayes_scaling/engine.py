"""The batched NUTS engine: many independent fits of one law in one compiled program.

For models this small, one NUTS fit at a time costs loop overhead, not
arithmetic, so the way to be fast is to run many fits in one program. Every
(dataset, chain) pair is a chain of :mod:`bayes_scaling.nuts`, a NUTS that
steps each chain on a trajectory of its own, one leapfrog step per loop
iteration: each chain keeps its own step size, dense mass matrix and
diagnostics, exactly as separate fits would, and a device steps a few dozen
chains at once, each lane taking the next waiting chain when its own has all
its draws. Datasets of different sizes are padded to a common length and the
padding is masked out of the likelihood, so they share one compilation.
Compiled programs are cached by law, priors' structure, sampler settings and
shapes, and kept across processes by JAX's persistent compilation cache."""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from numpyro.distributions import Distribution
from numpyro.infer.util import initialize_model, log_likelihood

from tqdm.auto import tqdm

from bayes_scaling import nuts
from bayes_scaling.logs import bar_disabled
from bayes_scaling.settings import SamplerSettings

#: Datasets are padded to at least this many points (and to a power of two),
#: so that datasets of similar sizes reuse one compiled program.
PAD_MULTIPLE = 8
#: Smallest batch of fits a program is compiled for (see `_pad_count`).
MIN_BATCH = 4
#: Most leapfrog steps of every chain one program call runs, so that progress
#: can be reported between calls (a few hundred draws of a typical chain).
STEPS_PER_CALL = 2048
#: Fewest fits run as a group of their own length (see `length_groups`), by
#: JAX backend; a backend not listed (by default, every one) runs a batch as
#: one group. Groups would save padded arithmetic, but each costs a
#: compilation and ends with lanes waiting on its last chains: on
#: ``benchmarks/fit_many.py``'s 91 fits (8 to 54 points, 2-core CPU), one group
#: padded to 64 points ran in 4.9 s, groups of 16 or more in 5.7 s.
LENGTH_GROUP: dict = {}
#: Chains one device steps at once, by JAX backend (see :mod:`bayes_scaling.nuts`).
#: On a CPU every lane costs arithmetic while a loop step has a fixed cost too:
#: a few dozen lanes share that cost, more only lengthen the wait on a batch's
#: last chains (``benchmarks/fit_many.py``'s ablation rows compare 16, 32 and
#: 64). A backend not listed steps every chain of a batch at once.
LANES = {"cpu": 32}
#: Damped Newton steps for each dataset's posterior mode (``init="map"``).
MAP_STEPS = 40
#: Initial values are drawn uniformly in (-radius, radius) on the unconstrained
#: scale, as NumPyro's ``init_to_uniform`` and Stan do.
INIT_RADIUS = 2.0


def posterior_mode(potential, z0, steps: int = MAP_STEPS):
    """Minimise ``potential`` from ``z0`` by damped Newton (Levenberg-Marquardt) steps.

    Each step solves ``(H + lam I) d = -g`` and is kept only if the potential
    falls, halving ``lam`` then; otherwise ``lam`` grows fourfold, so an
    indefinite Hessian far from the mode turns the step into a short gradient
    step. For the few parameters of a scaling law the exact Hessian is cheap,
    and a fixed-length loop compiles in a fraction of the time of a
    line-searching quasi-Newton method, which matters more here than the
    handful of extra iterations (the start only needs to be near the mode).

    Returns
    -------
    mode, hessian : arrays
        The best point found (``z0`` if no step was finite) and the Hessian of
        ``potential`` there.
    """
    gradient, hessian = jax.grad(potential), jax.hessian(potential)
    eye = jnp.eye(z0.shape[-1])

    def step(_, carry):
        z, value, damping = carry
        proposal = z - jnp.linalg.solve(hessian(z) + damping * eye, gradient(z))
        proposed = potential(proposal)
        better = jnp.isfinite(proposed) & jnp.all(jnp.isfinite(proposal)) & (proposed < value)
        return (
            jnp.where(better, proposal, z),
            jnp.where(better, proposed, value),
            jnp.where(better, damping * 0.5, damping * 4.0),
        )

    mode, _, _ = jax.lax.fori_loop(0, steps, step, (z0, potential(z0), jnp.asarray(1e-3, z0.dtype)))
    return mode, hessian(mode)


def _leaf_name(root, path) -> str:
    """A name for one leaf of a priors pytree that does not depend on the process.

    NumPyro flattens a distribution's parameters in the order of a ``set`` of
    field names, which changes with Python's per-process hash seed; naming each
    leaf by its field ("alpha/base_dist/scale") instead of its position gives an
    order every process agrees on.
    """
    node, parts = root, []
    for key in path:
        if isinstance(key, jax.tree_util.DictKey):
            node, part = node[key.key], str(key.key)
        elif isinstance(key, jax.tree_util.SequenceKey):
            node, part = node[key.idx], str(key.idx)
        elif isinstance(key, jax.tree_util.FlattenedIndexKey) and isinstance(node, Distribution):
            part = type(node).gather_pytree_data_fields()[key.key]
            node = node.tree_flatten()[0][key.key]
        else:
            node, part = None, str(key)
        parts.append(part)
    return "/".join(parts)


def canonical_priors(priors) -> tuple[list, tuple, tuple]:
    """Flatten ``priors`` into leaves sorted by name, for a compiled program's arguments.

    JAX's persistent compilation cache keys a program by its lowered code, and
    the order of its arguments is part of that code: with NumPyro's
    hash-ordered fields, two processes would compile the same sampler twice.

    Returns
    -------
    leaves : list
        The priors' arrays, sorted by leaf name.
    key : tuple
        ``(treedef, inverse)``: restore with :func:`restore_priors`; hashable,
        so it also keys cached programs.
    names : tuple of str
        The leaf names, in the order of ``leaves``.
    """
    with_path, treedef = jax.tree_util.tree_flatten_with_path(priors)
    names = [_leaf_name(priors, path) for path, _ in with_path]
    order = sorted(range(len(names)), key=names.__getitem__)
    inverse = tuple(int(i) for i in np.argsort(order))
    return [with_path[i][1] for i in order], (treedef, inverse), tuple(names[i] for i in order)


def restore_priors(leaves, key):
    """Inverse of :func:`canonical_priors`: rebuild the priors pytree (inside a traced program too)."""
    treedef, inverse = key
    return jax.tree.unflatten(treedef, [leaves[i] for i in inverse])


@dataclass(frozen=True)
class BatchSamples:
    """Raw draws of a batch, before they become DataTrees.

    Attributes
    ----------
    posterior : dict
        Name -> array of shape (fits, chains, draws, ...), constrained scale.
    sample_stats : dict
        ``diverging``, ``energy``, ``n_steps``, ``acceptance_rate``, ``step_size``,
        each of shape (fits, chains, draws).
    log_likelihood : dict
        Observed site -> array (fits, chains, draws, padded points).
    sizes : list of int
        Real (unpadded) points of each fit.
    leapfrog_steps : ndarray or None
        Leapfrog steps of each (fit, chain), warm-up included.
    executed_steps : int
        Leapfrog steps the devices executed for the batch (lanes x loop
        iterations): ``leapfrog_steps.sum() / executed_steps`` is the share of
        the work that chains needed, the rest lanes idle at a batch's end.
    """

    posterior: dict
    sample_stats: dict
    log_likelihood: dict
    sizes: list
    leapfrog_steps: np.ndarray | None = None
    executed_steps: int = 0


def _pad_length(n: int) -> int:
    """Points are padded to the next power of two (at least 8): few shapes, few compilations."""
    return max(PAD_MULTIPLE, 1 << max(0, math.ceil(math.log2(n))))


def _pad_count(n_fits: int) -> int:
    """Batches are padded too: to at least 4 fits, a power of two up to 16, then a multiple of 16.

    Padding fits are copies of the first dataset that are never run (see
    :func:`_arrangement`), so they cost memory, not steps, while every
    distinct batch size costs a compilation: one to four fits share one program.
    """
    if n_fits <= MIN_BATCH:
        return MIN_BATCH
    return 1 << math.ceil(math.log2(n_fits)) if n_fits <= 16 else int(math.ceil(n_fits / 16)) * 16


def _pad(array, length: int, fill: str = "edge"):
    """Pad the last axis to ``length``; edge padding keeps the padded inputs finite."""
    array = np.asarray(array, dtype=float)
    extra = length - array.shape[-1]
    widths = [(0, 0)] * (array.ndim - 1) + [(0, extra)]
    return np.pad(array, widths, mode="edge") if fill == "edge" else np.pad(array, widths)


def stack_datasets(inputs_list: Sequence[Mapping], y_list: Sequence) -> tuple[dict, object, np.ndarray, list]:
    """Pad and stack per-dataset inputs and observations along a new leading axis.

    ``y`` may be an array or a dict of arrays (a law with several observed
    sites); every array has the dataset's points on its last axis.
    """
    sizes = [n_points(y) for y in y_list]
    length = _pad_length(max(sizes))
    inputs = {
        name: np.stack([_pad(inp[name], length) for inp in inputs_list]) for name in inputs_list[0]
    }
    y = jax.tree.map(lambda *leaves: np.stack([_pad(leaf, length) for leaf in leaves]), *y_list)
    mask = np.stack([np.arange(length) < n for n in sizes])
    return inputs, y, mask, sizes


@dataclass(frozen=True)
class ProgramKey:
    """What makes a compiled program: two batches with equal keys run the same program.

    Attributes
    ----------
    law : Law
        The law (one instance per registered name).
    priors : tuple
        The priors' structure and families (:func:`canonical_priors`); their
        numbers are arguments of the program, not part of it.
    settings : tuple
        :attr:`bayes_scaling.settings.SamplerSettings.program`.
    inputs : tuple of str
        The names of the rescaled inputs.
    n_devices, lanes : int
        Devices the batch is split over, and chains each steps at once.
    """

    law: object
    priors: tuple
    settings: tuple
    inputs: tuple
    n_devices: int
    lanes: int


@functools.lru_cache(maxsize=64)
def _program(key: ProgramKey) -> "Program":
    """Build (once per :class:`ProgramKey`) the jitted functions that run a whole batch.

    The program takes the priors as :func:`canonical_priors` leaves, so its
    compiled form is the same in every process and the persistent cache hits.
    Each fit draws its initial values and chain keys from its own key (the
    seed split once per fit), whatever the batch's size or split.
    """
    law, priors_key, n_devices, lanes = key.law, key.priors, key.n_devices, key.lanes
    num_warmup, num_samples, num_chains, target_accept_prob, max_tree_depth, dense_mass, init = key.settings
    info = _MODEL_INFO[id(law)]
    potential_gen = info["potential_gen"]
    _, unravel = ravel_pytree(info["latent_zeros"])
    dim = ravel_pytree(info["latent_zeros"])[0].size
    settings = nuts.Settings(num_warmup, num_samples, target_accept_prob, max_tree_depth, dense_mass)
    total = settings.total

    def value_and_grad(z, priors, inp, obs, msk):
        return jax.value_and_grad(lambda v: potential_gen(priors, inp, obs, msk)(unravel(v)))(z)

    def per_chain(prior_leaves, inputs, y, mask):
        """The priors, and each fit's data repeated for its chains: (fits x chains, ...)."""
        repeat = lambda a: jnp.repeat(a, num_chains, axis=0)  # noqa: E731
        return (restore_priors(prior_leaves, priors_key), *jax.tree.map(repeat, (inputs, y, mask)))

    def begin(fit_keys, prior_leaves, inputs, y, mask):
        """Initial states of every (fit, chain), queued for the lanes, and empty draw buffers."""
        priors, *chain_data = per_chain(prior_leaves, inputs, y, mask)
        split = jax.vmap(jax.random.split)(fit_keys)
        z0, inverse_mass, fallback = _chain_starts(split[:, 0], priors, inputs, y, mask, potential_gen, unravel, dim,
                                                   num_chains, init, dense_mass)
        flat = lambda a: a.reshape(-1, *a.shape[2:])  # noqa: E731  (fits, chains, ...) -> (fits x chains, ...)
        z0, inverse_mass, fallback = flat(z0), flat(inverse_mass), flat(fallback)
        keys = flat(jax.vmap(lambda k: jax.random.split(k, num_chains))(split[:, 1]))

        def init_one(z, imm, backup, key, inp, obs, msk):
            gradient = lambda v: value_and_grad(v, priors, inp, obs, msk)  # noqa: E731
            # A start where the density is not finite is replaced by the mode.
            z = jnp.where(jnp.isfinite(gradient(z)[0]), z, backup)
            return nuts.initial_chain(gradient, z, imm, key, settings)

        pending = jax.vmap(init_one)(z0, inverse_mass, fallback, keys, *chain_data)
        # Padding fits (no observed point) are never run.
        queued = jnp.repeat(jnp.any(mask, axis=-1), num_chains)
        return nuts.start_queue(pending, settings, min(lanes, z0.shape[0]), queued)

    def advance(queue, budget, prior_leaves, inputs, y, mask):
        """Up to ``budget`` leapfrog steps of every lane (fewer where all chains have their draws)."""
        priors = restore_priors(prior_leaves, priors_key)
        gradient = lambda z, *data: value_and_grad(z, priors, *data)  # noqa: E731
        return nuts.run(queue, budget, gradient, (inputs, y, mask), num_chains, settings)

    if n_devices == 1:
        return Program(jax.jit(begin), jax.jit(advance, donate_argnums=0), total)
    # Several devices (CPU cores exposed as host devices, or GPUs): each runs
    # its share of the fits, with its own lanes and queue, in a loop of its own.
    mesh = _mesh(n_devices)
    specs = _partition_specs()
    sharded = lambda f, kind, **options: jax.jit(jax.shard_map(  # noqa: E731
        f, mesh=mesh, in_specs=specs[kind][0], out_specs=specs[kind][1], check_vma=False), **options)
    # The queue (its draw buffers most of all) is updated in place, call after call.
    return Program(sharded(begin, "begin"), sharded(advance, "advance", donate_argnums=0), total)


def _chain_starts(keys, priors, inputs, y, mask, potential_gen, unravel, dim: int, num_chains: int, init: str,
                  dense_mass: bool):
    """Initial values, inverse mass matrices and fallback starts of every (fit, chain).

    Shapes: (fits, chains, dim); the inverse mass matrices (fits, chains, dim, dim) when dense.
    ``init`` and ``dense_mass`` as in :class:`bayes_scaling.settings.SamplerSettings`.
    """
    shape = (num_chains, dim)
    if init == "uniform":
        z0 = jax.vmap(lambda k: jax.random.uniform(k, shape, minval=-INIT_RADIUS, maxval=INIT_RADIUS))(keys)
        unit = jnp.broadcast_to(jnp.eye(dim), (*z0.shape, dim)) if dense_mass else jnp.ones_like(z0)
        return z0, unit, z0

    def mode_and_covariance(inp, obs, msk):
        potential = lambda v: potential_gen(priors, inp, obs, msk)(unravel(v))  # noqa: E731
        mode, hessian = posterior_mode(potential, jnp.zeros(dim))
        covariance = jnp.linalg.inv(hessian)
        covariance = 0.5 * (covariance + covariance.T)
        root = jnp.linalg.cholesky(covariance)
        # A Hessian that is not positive definite at the optimum gives no
        # usable curvature (the Cholesky factor is NaN): fall back to unit
        # variances, as uniform init would.
        usable = jnp.all(jnp.isfinite(root)) & jnp.all(jnp.diag(covariance) > 0)
        variance = jnp.clip(jnp.where(usable, jnp.diag(covariance), 1.0), 1e-4, 1e2)
        if not dense_mass:
            return mode, variance, jnp.sqrt(variance)[:, None] * jnp.eye(dim)
        # Clip the scales as the diagonal is clipped, keeping the correlations.
        scale = jnp.sqrt(variance / jnp.where(usable, jnp.diag(covariance), 1.0))
        covariance = jnp.where(usable, scale[:, None] * covariance * scale, jnp.eye(dim))
        return mode, covariance, jnp.where(usable, scale[:, None] * root, jnp.eye(dim))

    mode, inverse_mass, root = jax.vmap(mode_and_covariance)(inputs, y, mask)
    noise = jax.vmap(lambda k: jax.random.normal(k, shape))(keys)
    # Over-dispersed around the mode (twice the curvature scale, along the
    # posterior's correlations), so that R-hat still compares chains that started apart.
    z0 = mode[:, None] + 2.0 * jnp.einsum("fij,fcj->fci", root, noise)
    inverse_mass = jnp.broadcast_to(inverse_mass[:, None], (inverse_mass.shape[0], num_chains, *inverse_mass.shape[1:]))
    return z0, inverse_mass, jnp.broadcast_to(mode[:, None], z0.shape)


@dataclass(frozen=True)
class Program:
    """A batch's sampler as two jitted functions: ``begin`` (initial states) and ``advance`` (leapfrog steps).

    Running the steps in calls of at most :data:`STEPS_PER_CALL` lets the
    host report progress between them without a callback inside the
    program, so the same compiled program runs with and without a progress report.
    """

    begin: object
    advance: object
    total: int


def _partition_specs() -> dict:
    """How ``begin`` and ``advance`` split their arguments and results across devices: (inputs, outputs).

    Chain states and draw buffers split along their first axis (chains); the
    priors and the step budget are whole.
    """
    lanes, whole = jax.sharding.PartitionSpec("fits"), jax.sharding.PartitionSpec()
    return {
        "begin": ((lanes, whole, lanes, lanes, lanes), lanes),
        "advance": ((lanes, whole, whole, lanes, lanes, lanes), lanes),
    }


# Model information (potential and postprocess generators, latent shapes) per
# law instance; filled by `_model_info`.
_MODEL_INFO: dict = {}


def _model_info(law, priors, inputs, y, mask):
    key = id(law)
    if key not in _MODEL_INFO:
        example = (priors, jax.tree.map(lambda a: a[0], inputs), jax.tree.map(lambda a: a[0], y), mask[0])
        info = initialize_model(jax.random.key(0), law.model, model_args=example, dynamic_args=True)
        _MODEL_INFO[key] = {
            "potential_gen": info.potential_fn,
            "postprocess_gen": info.postprocess_fn,
            "latent_zeros": jax.tree.map(jnp.zeros_like, info.param_info.z),
        }
    return _MODEL_INFO[key]


def sample_batch(
    law,
    priors: Mapping,
    inputs_list: Sequence[Mapping],
    y_list: Sequence,
    settings: SamplerSettings | None = None,
    *,
    progress: bool | None = False,
    **options,
) -> BatchSamples:
    """Run NUTS on many datasets of one law at once.

    Parameters
    ----------
    law : Law
        The law; ``law.model(priors, inputs, y, mask)`` is the NumPyro model.
    priors : mapping
        Shared by every dataset of the batch.
    inputs_list, y_list : sequences
        Per dataset: rescaled inputs (dict of arrays) and observations.
    settings : SamplerSettings, optional
        The sampler's settings (default: its defaults); ``options`` override
        them by name (``num_warmup=500``, ...). ``chain_method=None`` runs
        every fit on one device here (``"vectorized"``); the settings' other
        fields are read as follows.
    progress : bool or None
        A tqdm progress bar of the iterations (on a terminal only); ``False``
        (default) shows none.

    Notes on the settings
    ---------------------
    num_warmup, num_samples, num_chains, target_accept_prob, max_tree_depth
        As in :class:`numpyro.infer.NUTS` and :class:`numpyro.infer.MCMC`.
    dense_mass : bool
        Adapt a dense mass matrix (default), started from the inverse Hessian
        at the mode, rather than a diagonal one. A law's parameters are
        correlated (an intercept and a slope fitted far from the reference
        compute), and a diagonal metric pays for that in leapfrog steps:
        on the bundled direct-law fits a dense one needs half the steps per
        draw and gives twice the bulk ESS (``benchmarks/fit_many.py``).
    seed : int
        Seeds both the initial values and the sampler.
    init : {"map", "uniform"}
        ``"map"`` (default): find each dataset's posterior mode on the
        unconstrained scale by damped Newton steps (:func:`posterior_mode`),
        start the chains around it over-dispersed by twice the curvature
        scale, and start the mass matrix from the inverse Hessian there (its
        diagonal when ``dense_mass=False``). ``"uniform"``: start uniformly in
        (-2, 2) with a unit mass matrix, as NumPyro and Stan do.
    chain_method : {"vectorized", "parallel"}
        ``"parallel"`` splits the fits across local devices (GPUs, or CPU
        cores exposed as devices by :func:`use_host_cores`), each running
        its share in a loop of its own; ``"vectorized"`` runs every fit on
        one device. Both follow the same seeds, but the compiled arithmetic
        differs in its last bits, so the draws agree in distribution, not
        bit for bit; a given device count always gives the same draws.

    Returns
    -------
    BatchSamples
        Fits in the order given.

    Notes
    -----
    A device steps :data:`LANES` chains at once; a lane whose chain has all
    its draws takes the next waiting one. A chain's random numbers come from
    its own key and its count of steps, whichever lane runs it and whatever
    the other fits of the batch; the compiled arithmetic can differ in its
    last bits with the number of lanes, so such draws agree in distribution.
    """
    settings = SamplerSettings.from_options(settings, **options)
    # One key per fit, split off the seed in order (a prefix of the split is
    # the same whatever its length), so a fit's draws do not depend on its group.
    fit_keys = jax.random.split(jax.random.key(settings.seed), len(inputs_list))
    groups = length_groups([n_points(y) for y in y_list])
    parts = [
        _sample_group(law, priors, [inputs_list[i] for i in group], [y_list[i] for i in group],
                      fit_keys[np.asarray(group)], settings, bar_disabled(progress))
        for group in groups
    ]
    return parts[0] if len(parts) == 1 else _merge_groups(parts, groups)


def n_points(y) -> int:
    """Points of one dataset's observations (an array, or a dict of arrays for several sites)."""
    return int(np.shape(jax.tree.leaves(y)[0])[-1])


def length_groups(sizes: Sequence[int], min_group: int | None = None) -> list[list[int]]:
    """Split a batch into groups of similar length, each compiled and run on its own.

    A vectorised leapfrog step costs about in proportion to the padded
    points of the whole batch, so padding a 10-point dataset to the 54 points
    of the longest one wastes most of its arithmetic. Datasets go into groups
    by padded length (:func:`_pad_length`); a group of fewer than
    ``min_group`` fits (default: :data:`LENGTH_GROUP` of the JAX backend in
    use; one group on a backend it does not list) joins the next longer
    one, because every group costs a compilation, which only pays for itself
    on a large batch.

    Returns
    -------
    list of list of int
        Indices into ``sizes``, each group in increasing order.
    """
    if min_group is None:
        min_group = LENGTH_GROUP.get(jax.default_backend(), len(sizes) + 1)
    by_length: dict[int, list[int]] = {}
    for i, n in enumerate(sizes):
        by_length.setdefault(_pad_length(n), []).append(i)
    groups, waiting = [], []
    for length in sorted(by_length):
        waiting += by_length[length]
        if len(waiting) >= min_group:
            groups.append(sorted(waiting))
            waiting = []
    if waiting:  # too few left for a group of their own: pad them with the longest group
        groups = groups[:-1] + [sorted((groups[-1] if groups else []) + waiting)]
    return groups


def _merge_groups(parts: Sequence[BatchSamples], groups: Sequence[Sequence[int]]) -> BatchSamples:
    """Put the groups' draws back in the batch's order; log likelihoods padded to the longest group."""
    order = np.argsort(np.concatenate(groups))
    length = max(next(iter(part.log_likelihood.values())).shape[-1] for part in parts)

    def join(*arrays):
        return np.concatenate(arrays)[order]

    def join_padded(*arrays):
        return join(*(_pad(a, length, fill="zero") for a in arrays))

    sizes = np.concatenate([part.sizes for part in parts])[order]
    return BatchSamples(
        posterior=jax.tree.map(join, *(part.posterior for part in parts)),
        sample_stats=jax.tree.map(join, *(part.sample_stats for part in parts)),
        log_likelihood=jax.tree.map(join_padded, *(part.log_likelihood for part in parts)),
        sizes=[int(n) for n in sizes],
        leapfrog_steps=(None if any(part.leapfrog_steps is None for part in parts)
                        else join(*(part.leapfrog_steps for part in parts))),
        executed_steps=sum(part.executed_steps for part in parts),
    )


def _sample_group(law, priors, inputs_list, y_list, fit_keys, settings: SamplerSettings,
                  hide_progress: bool | None) -> BatchSamples:
    """Run one compiled program on a group of fits (see :func:`sample_batch`)."""
    num_chains, num_samples = settings.num_chains, settings.num_samples
    n_fits = len(inputs_list)
    padded = _pad_count(n_fits)
    n_devices = _device_split(padded) if settings.chain_method == "parallel" else 1
    slots = _arrangement(n_fits, padded, n_devices)
    real = slots >= 0
    # Padding fits repeat the first fit's data and key, have no observed point, and are not run.
    inputs_list = [inputs_list[i] for i in np.where(real, slots, 0)]
    y_list = [y_list[i] for i in np.where(real, slots, 0)]
    fit_keys = fit_keys[np.where(real, slots, 0)]
    inputs, y, mask, sizes = stack_datasets(inputs_list, y_list)
    mask[~real] = False
    info = _model_info(law, priors, inputs, y, mask)
    prior_leaves, priors_key, _ = canonical_priors(priors)
    lanes = LANES.get(jax.default_backend(), padded * num_chains)
    program = _program(ProgramKey(law, priors_key, settings.program, tuple(sorted(inputs)), n_devices, lanes))
    data = (prior_leaves, inputs, y, mask)
    queue = program.begin(fit_keys, *data)
    budget = jnp.asarray(STEPS_PER_CALL, jnp.int32)
    # Percent of every chain's iterations done, reported between program calls.
    with tqdm(total=100, desc="sampling", unit="%", disable=hide_progress, leave=False) as bar:
        while True:
            queue = program.advance(queue, budget, *data)
            draws = np.asarray(queue["draws"])
            bar.update(int(100 * draws.sum() / draws.size / program.total) - bar.n)
            if draws.min() == program.total:
                break
    record = {name: np.asarray(values) for name, values in queue["record"].items()}
    unravel = ravel_pytree(info["latent_zeros"])[1]
    z = jax.tree.map(np.asarray, jax.vmap(jax.vmap(unravel))(record.pop("z")))
    posterior, loglik = _constrain_and_score(law, info, prior_leaves, priors_key, z, inputs, y, mask, padded,
                                             num_chains)
    # The fits in the order given, without the padding.
    order = np.empty(n_fits, int)
    order[slots[real]] = np.flatnonzero(real)
    keep = lambda a: a[order]  # noqa: E731
    posterior, loglik, sizes = jax.tree.map(keep, posterior), jax.tree.map(keep, loglik), [sizes[i] for i in order]
    # The rest of the record: diverging, energy, n_steps, acceptance_rate, step_size.
    stats = {name: keep(values.reshape(padded, num_chains, num_samples)) for name, values in record.items()}
    lanes_per_device = queue["chain"].shape[0] // n_devices
    return BatchSamples(posterior=posterior, sample_stats=stats, log_likelihood=loglik, sizes=sizes,
                        leapfrog_steps=keep(np.asarray(queue["steps"]).reshape(padded, num_chains)),
                        executed_steps=int(np.asarray(queue["loop_steps"]).sum()) * lanes_per_device)


def _arrangement(n_fits: int, padded: int, n_devices: int) -> np.ndarray:
    """Which fit each of ``padded`` places holds (-1: padding), the real fits shared evenly over the devices.

    Each device runs a contiguous block of places; its real fits come first
    in its block (the queue of :func:`bayes_scaling.nuts.start_queue` stops
    at the first padding fit), and no device gets more than one real fit more
    than another.
    """
    block = padded // n_devices
    shares = np.diff(np.linspace(0, n_fits, n_devices + 1).round().astype(int))
    slots = np.full(padded, -1)
    start = 0
    for device, share in enumerate(shares):
        slots[device * block:device * block + share] = np.arange(start, start + share)
        start += share
    return slots


def _mesh(n_devices: int) -> jax.sharding.Mesh:
    """The first ``n_devices`` local devices, along one axis of fits."""
    return jax.sharding.Mesh(np.array(jax.local_devices()[:n_devices]), ("fits",))


def _device_split(n_fits: int) -> int:
    """How many local devices share a batch of ``n_fits``: the most that divide it evenly."""
    available = jax.local_device_count()
    return max(d for d in range(1, available + 1) if n_fits % d == 0)


def _constrain_and_score(law, info, prior_leaves, priors_key, z, inputs, y, mask, n_fits, num_chains):
    """Map unconstrained draws to the constrained scale and compute pointwise log likelihood.

    The priors come as :func:`canonical_priors` leaves and key, as the sampler took them.
    """
    z = jax.tree.map(lambda a: np.reshape(a, (n_fits, num_chains, *a.shape[1:])), z)
    constrained, loglik = _scorer(law, priors_key)(prior_leaves, z, inputs, y, mask)
    unflatten = lambda a: np.asarray(a).reshape(n_fits, num_chains, -1, *a.shape[2:])  # noqa: E731
    return jax.tree.map(unflatten, constrained), jax.tree.map(unflatten, loglik)


@functools.lru_cache(maxsize=64)
def _scorer(law, priors_key):
    """The jitted (once per law) map from unconstrained draws to constrained draws and log likelihood."""

    def per_fit(prior_leaves, z_fit, inputs_fit, y_fit, mask_fit):
        priors = restore_priors(prior_leaves, priors_key)
        # z_fit: (chains, draws, ...) of one dataset.
        postprocess = _MODEL_INFO[id(law)]["postprocess_gen"](priors, inputs_fit, y_fit, mask_fit)
        flat = jax.tree.map(lambda a: a.reshape(-1, *a.shape[2:]), z_fit)
        constrained = jax.vmap(postprocess)(flat)
        return constrained, log_likelihood(law.model, constrained, priors, inputs_fit, y_fit, mask_fit)

    return jax.jit(jax.vmap(per_fit, in_axes=(None, 0, 0, 0, 0)))
