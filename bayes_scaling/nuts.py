"""NUTS one leapfrog step at a time, each chain of a batch on a trajectory of its own.

A vectorised NUTS transition (``jax.vmap`` over a NUTS kernel) is a loop that
runs until the longest trajectory among its lanes ends: on a CPU, where every
lane costs arithmetic, the lanes whose trajectories ended early wait, and most
of a wide batch's work is waiting. Here the loop body is one leapfrog step of
every lane, and a lane whose trajectory ends takes its draw and starts the
next one at the following step; the work executed is the work each chain
needs, until the batch's last chain finishes. The body has no inner loop, so
a batch of many chains pays the per-step overhead of a compiled loop once.

The algorithm is NumPyro's (:mod:`numpyro.infer.hmc_util`): multinomial NUTS
with iteratively built subtrees and checkpointed U-turn checks [1]_ [2]_ [3]_,
dual averaging of the step size, and Stan's windowed adaptation of a dense or
diagonal metric, regularised as Stan does. One difference: at the end of a
metric window the step size is kept (its dual averaging restarts around ten
times it) rather than searched again, since that search is a loop of its own.

References
----------
.. [1] M. D. Hoffman and A. Gelman, "The No-U-Turn Sampler", JMLR 15 (2014).
.. [2] M. Betancourt, "A Conceptual Introduction to Hamiltonian Monte Carlo",
       arXiv:1701.02434 (2017), appendix A.
.. [3] D. Phan, N. Pradhan and M. Jankowiak, "Composable Effects for Flexible
       and Accelerated Probabilistic Programming in NumPyro", arXiv:1912.11554 (2019).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.scipy.special import expit
from numpyro.infer.hmc_util import build_adaptation_schedule

#: Energy error beyond which a leapfrog step counts as divergent (NumPyro's and Stan's).
MAX_DELTA_ENERGY = 1000.0
# Dual averaging's constants (Hoffman and Gelman 2014, section 3.2; NumPyro's defaults).
_T0, _KAPPA, _GAMMA = 10.0, 0.75, 0.05


class Settings(NamedTuple):
    """What the compiled sampler is specialised to (hashable: it keys the program)."""

    num_warmup: int
    num_samples: int
    target_accept_prob: float
    max_tree_depth: int
    dense_mass: bool

    @property
    def total(self) -> int:
        return self.num_warmup + self.num_samples

    @property
    def window_ends(self) -> tuple[int, ...]:
        """Last warm-up iteration of each adaptation window (Stan's schedule, as NumPyro builds it)."""
        if self.num_warmup == 0:
            return (-1,)
        return tuple(int(window.end) for window in build_adaptation_schedule(self.num_warmup))


def metric_times(inverse_mass, r):
    """``M^-1 r`` for a dense (d, d) or diagonal (d,) inverse mass matrix."""
    return inverse_mass @ r if inverse_mass.ndim == 2 else inverse_mass * r


def kinetic_energy(inverse_mass, r):
    return 0.5 * jnp.dot(metric_times(inverse_mass, r), r)


def momentum_root(inverse_mass):
    """``R`` with ``R R^T = M`` (the mass matrix), so that ``R n`` with ``n ~ N(0, I)`` is a momentum draw.

    With ``M^-1 = L L^T`` (Cholesky), ``R = L^-T``.
    """
    if inverse_mass.ndim == 1:
        return 1.0 / jnp.sqrt(inverse_mass)
    lower = jnp.linalg.cholesky(inverse_mass)
    identity = jnp.eye(inverse_mass.shape[-1], dtype=inverse_mass.dtype)
    return jax.scipy.linalg.solve_triangular(lower, identity, lower=True).T


def _draw_momentum(root, noise):
    return root @ noise if root.ndim == 2 else root * noise


def leapfrog(value_and_grad, inverse_mass, z, r, grad, step_size):
    """One velocity Verlet step: the new position, momentum, potential and its gradient."""
    r_half = r - 0.5 * step_size * grad
    z_new = z + step_size * metric_times(inverse_mass, r_half)
    potential_new, grad_new = value_and_grad(z_new)
    return z_new, r_half - 0.5 * step_size * grad_new, potential_new, grad_new


def _is_turning(inverse_mass, r_left, r_right, r_sum):
    """The generalised U-turn criterion (Betancourt 2017, appendix A.4.2), as NumPyro writes it."""
    centred = r_sum - 0.5 * (r_left + r_right)
    return (jnp.dot(metric_times(inverse_mass, r_left), centred) <= 0) | (
        jnp.dot(metric_times(inverse_mass, r_right), centred) <= 0)


def _checkpoint_range(n):
    """Checkpoints whose subtrees end at leaf ``n`` of a subtree: (first, last) index (NumPyro's rule)."""
    last = jax.lax.population_count(n >> 1)
    ending = jax.lax.population_count((~n & (n + 1)) - 1)
    return last - ending + 1, last


def _pick(condition, new, old):
    return jax.tree.map(lambda a, b: jnp.where(condition, a, b), new, old)


def find_step_size(value_and_grad, z, potential, grad, inverse_mass, root, key, start=1.0):
    """A step size whose one leapfrog step from ``z`` is accepted with probability near 0.8.

    NumPyro's ``find_reasonable_step_size``: double or halve from ``start``
    until the acceptance probability of one step crosses 0.8.
    """
    tiny, huge = jnp.finfo(jnp.result_type(float)).tiny, jnp.finfo(jnp.result_type(float)).max

    def body(state):
        step_size, _, direction, key = state
        key, sub = jax.random.split(key)
        step_size = (2.0 ** direction) * step_size
        r = _draw_momentum(root, jax.random.normal(sub, z.shape, z.dtype))
        _, r_new, potential_new, _ = leapfrog(value_and_grad, inverse_mass, z, r, grad, step_size)
        delta = potential_new + kinetic_energy(inverse_mass, r_new) - potential - kinetic_energy(inverse_mass, r)
        return step_size, direction, jnp.where(jnp.log(0.8) < -delta, 1, -1), key

    def cond(state):
        step_size, last, direction, _ = state
        not_extreme = ((step_size > tiny) | (direction >= 0)) & ((step_size < huge) | (direction <= 0))
        return not_extreme & ((last == 0) | (direction == last))

    step_size, *_ = jax.lax.while_loop(cond, body, (jnp.asarray(start, z.dtype), 0, 0, key))
    return step_size


def initial_chain(value_and_grad, z, inverse_mass, key, settings: Settings) -> dict:
    """The state of one chain before its first step: at ``z``, with the metric ``inverse_mass``.

    Every field of a chain's state is an array, so a batch of chains is the
    same dict with a leading axis (``jax.vmap`` over this function).
    """
    dim = z.shape[-1]
    potential, grad = value_and_grad(z)
    root = momentum_root(inverse_mass)
    key, search_key = jax.random.split(key)
    step_size = find_step_size(value_and_grad, z, potential, grad, inverse_mass, root, search_key)
    zero, vector = jnp.zeros((), z.dtype), jnp.zeros(dim, z.dtype)
    metric_shape = (dim, dim) if settings.dense_mass else (dim,)
    checkpoints = jnp.zeros((settings.max_tree_depth, dim), z.dtype)
    return {
        # The chain: its position, metric, adaptation and counters.
        "z": z, "potential": potential, "grad": grad,
        "inverse_mass": inverse_mass, "root": root, "step_size": step_size,
        # Dual averaging: (log step, its weighted average, the averaged statistic, count, centre).
        "log_step": zero, "log_step_avg": zero, "statistic_avg": zero, "averaging_count": jnp.zeros((), jnp.int32),
        "centre": jnp.log(10.0 * step_size),
        # Welford's running mean and (co)variance of the window's draws.
        "window_mean": vector, "window_m2": jnp.zeros(metric_shape, z.dtype), "window_count": jnp.zeros((), jnp.int32),
        "window": jnp.zeros((), jnp.int32),
        "draw": jnp.zeros((), jnp.int32), "steps": jnp.zeros((), jnp.int32), "key": key,
        "fresh": jnp.array(True),
        # The trajectory of the current draw.
        "energy0": zero, "z_left": z, "r_left": vector, "grad_left": grad,
        "z_right": z, "r_right": vector, "grad_right": grad,
        "proposal_z": z, "proposal_potential": potential, "proposal_grad": grad, "proposal_energy": zero,
        "weight": zero, "r_sum": vector, "depth": jnp.zeros((), jnp.int32), "sum_accept": zero,
        "leaves": jnp.zeros((), jnp.int32),
        # The subtree being built.
        "going_right": jnp.array(True), "sub_count": jnp.zeros((), jnp.int32), "sub_weight": zero,
        "sub_r_sum": vector, "sub_z": z, "sub_potential": potential, "sub_grad": grad, "sub_energy": zero,
        "r_checkpoints": checkpoints, "v_checkpoints": checkpoints, "r_sum_checkpoints": checkpoints,
    }


def step(chain: dict, value_and_grad, settings: Settings) -> tuple[dict, dict, jax.Array]:
    """One leapfrog step of one chain; where it ends a trajectory, the draw is taken and adaptation done.

    Returns the new state, the draw's record (``"slot"``: its index among the
    kept draws, or ``num_samples`` where no draw was kept) and whether the
    chain's metric is due for an update (the end of a metric window).
    """
    c = dict(chain)
    active = c["draw"] < settings.total
    dim = c["z"].shape[-1]
    key = jax.random.fold_in(c["key"], c["steps"])
    noise_key, uniform_key = jax.random.split(key)
    noise = jax.random.normal(noise_key, (dim,), c["z"].dtype)
    direction_u, leaf_u, tree_u = jax.random.uniform(uniform_key, (3,), c["z"].dtype)
    inverse_mass = c["inverse_mass"]

    # A new draw: fresh momentum, and the one-point trajectory at the current position.
    r0 = _draw_momentum(c["root"], noise)
    energy0 = c["potential"] + kinetic_energy(inverse_mass, r0)
    zero = jnp.zeros((), c["z"].dtype)
    started = {
        "energy0": energy0, "z_left": c["z"], "r_left": r0, "grad_left": c["grad"],
        "z_right": c["z"], "r_right": r0, "grad_right": c["grad"],
        "proposal_z": c["z"], "proposal_potential": c["potential"], "proposal_grad": c["grad"],
        "proposal_energy": energy0, "weight": zero, "r_sum": r0, "depth": jnp.zeros((), jnp.int32),
        "sum_accept": zero, "leaves": jnp.zeros((), jnp.int32), "sub_count": jnp.zeros((), jnp.int32),
    }
    c.update(_pick(c["fresh"], started, {name: c[name] for name in started}))

    # A new subtree: its direction.
    first_leaf = c["sub_count"] == 0
    going_right = jnp.where(first_leaf, direction_u < 0.5, c["going_right"])

    # One leapfrog step outward from the trajectory's edge in that direction.
    z, r, grad = _pick(going_right, (c["z_right"], c["r_right"], c["grad_right"]),
                       (c["z_left"], c["r_left"], c["grad_left"]))
    step_size = jnp.where(going_right, c["step_size"], -c["step_size"])
    z_new, r_new, potential_new, grad_new = leapfrog(value_and_grad, inverse_mass, z, r, grad, step_size)
    v_new = metric_times(inverse_mass, r_new)
    energy_new = potential_new + 0.5 * jnp.dot(v_new, r_new)
    delta = energy_new - c["energy0"]
    delta = jnp.where(jnp.isnan(delta), jnp.inf, delta)
    leaf_weight, diverging = -delta, delta > MAX_DELTA_ENERGY
    c["sum_accept"] = c["sum_accept"] + jnp.minimum(jnp.exp(-delta), 1.0)
    c["leaves"] = c["leaves"] + 1
    # The new leaf is the trajectory's new edge (if its subtree is rejected the trajectory ends, edges unused).
    left, right = (c["z_left"], c["r_left"], c["grad_left"]), (c["z_right"], c["r_right"], c["grad_right"])
    leaf = (z_new, r_new, grad_new)
    (c["z_right"], c["r_right"], c["grad_right"]) = _pick(going_right, leaf, right)
    (c["z_left"], c["r_left"], c["grad_left"]) = _pick(going_right, left, leaf)

    # Within the subtree, each leaf is the subtree's proposal with probability
    # in proportion to its weight (progressive uniform sampling).
    take = first_leaf | (leaf_u < expit(leaf_weight - c["sub_weight"]))
    c["sub_weight"] = jnp.where(first_leaf, leaf_weight, jnp.logaddexp(c["sub_weight"], leaf_weight))
    c["sub_r_sum"] = jnp.where(first_leaf, r_new, c["sub_r_sum"] + r_new)
    proposal = (z_new, potential_new, grad_new, energy_new)
    (c["sub_z"], c["sub_potential"], c["sub_grad"], c["sub_energy"]) = _pick(
        take, proposal, (c["sub_z"], c["sub_potential"], c["sub_grad"], c["sub_energy"]))

    # U-turns of the subtree's own subtrees that end at this leaf, against checkpoints
    # kept at even leaves (NumPyro's iterative scheme, all candidate checks at once).
    n = c["sub_count"]
    first, last = _checkpoint_range(n)
    index = jnp.arange(settings.max_tree_depth)
    store = ((n % 2) == 0) & (index == last)
    c["r_checkpoints"] = jnp.where(store[:, None], r_new, c["r_checkpoints"])
    c["v_checkpoints"] = jnp.where(store[:, None], v_new, c["v_checkpoints"])
    c["r_sum_checkpoints"] = jnp.where(store[:, None], c["sub_r_sum"], c["r_sum_checkpoints"])
    centred = c["sub_r_sum"] - c["r_sum_checkpoints"] + 0.5 * (c["r_checkpoints"] - r_new)
    turned = (jnp.sum(c["v_checkpoints"] * centred, axis=-1) <= 0) | (centred @ v_new <= 0)
    sub_turning = jnp.any(turned & (index >= first) & (index <= last))
    c["sub_count"] = n + 1

    # A finished subtree joins the trajectory: its proposal replaces the
    # trajectory's with probability min(1, its weight / the trajectory's)
    # (biased progressive sampling), unless it turned or diverged.
    sub_done = (c["sub_count"] == jnp.left_shift(1, c["depth"])) | sub_turning | diverging
    usable = ~(sub_turning | diverging)
    move = sub_done & usable & (tree_u < jnp.minimum(jnp.exp(c["sub_weight"] - c["weight"]), 1.0))
    (c["proposal_z"], c["proposal_potential"], c["proposal_grad"], c["proposal_energy"]) = _pick(
        move, (c["sub_z"], c["sub_potential"], c["sub_grad"], c["sub_energy"]),
        (c["proposal_z"], c["proposal_potential"], c["proposal_grad"], c["proposal_energy"]))
    c["weight"] = jnp.where(sub_done, jnp.logaddexp(c["weight"], c["sub_weight"]), c["weight"])
    c["r_sum"] = jnp.where(sub_done, c["r_sum"] + c["sub_r_sum"], c["r_sum"])
    c["depth"] = jnp.where(sub_done, c["depth"] + 1, c["depth"])
    turning = sub_turning | _is_turning(inverse_mass, c["r_left"], c["r_right"], c["r_sum"])
    end = sub_done & (turning | diverging | (c["depth"] >= settings.max_tree_depth))
    c["sub_count"] = jnp.where(sub_done, 0, c["sub_count"])
    c["going_right"] = going_right

    # The trajectory's end: its proposal is the draw.
    accept_prob = c["sum_accept"] / c["leaves"]
    (c["z"], c["potential"], c["grad"]) = _pick(end, (c["proposal_z"], c["proposal_potential"], c["proposal_grad"]),
                                              (c["z"], c["potential"], c["grad"]))
    c, refresh = _adapt(c, end & (c["draw"] < settings.num_warmup), accept_prob, settings)
    record = {
        "z": c["z"], "diverging": diverging, "energy": c["proposal_energy"], "n_steps": c["leaves"],
        "acceptance_rate": accept_prob, "step_size": c["step_size"],
        "slot": jnp.where(end & active & (c["draw"] >= settings.num_warmup), c["draw"] - settings.num_warmup,
                          settings.num_samples),
    }
    c["draw"] = c["draw"] + end
    c["fresh"] = end
    c["steps"] = c["steps"] + 1
    # A chain that has all its draws stays as it is.
    return _pick(active, c, chain), record, refresh & active


def _adapt(c: dict, adapting, accept_prob, settings: Settings) -> tuple[dict, jax.Array]:
    """Warm-up after a draw: dual averaging of the step size, the window's running (co)variance.

    Returns the state and whether a metric window ended at this draw (the
    metric itself is updated by :func:`refresh_metric`, outside the per-chain step).
    """
    t = c["draw"]
    count = c["averaging_count"] + 1
    statistic = (1 - 1 / (count + _T0)) * c["statistic_avg"] + (settings.target_accept_prob - accept_prob) / (count + _T0)
    log_step = c["centre"] - jnp.sqrt(count) / _GAMMA * statistic
    weight = count ** (-_KAPPA)
    log_step_avg = (1 - weight) * c["log_step_avg"] + weight * log_step
    finfo = jnp.finfo(jnp.result_type(c["step_size"]))
    step_size = jnp.clip(jnp.exp(jnp.where(t == settings.num_warmup - 1, log_step_avg, log_step)),
                         finfo.tiny, finfo.max)

    ends = jnp.asarray(settings.window_ends)
    middle = (c["window"] > 0) & (c["window"] < len(settings.window_ends) - 1)
    n = c["window_count"] + 1
    delta_pre = c["z"] - c["window_mean"]
    mean = c["window_mean"] + delta_pre / n
    delta_post = c["z"] - mean
    m2 = c["window_m2"] + (jnp.outer(delta_post, delta_pre) if settings.dense_mass else delta_pre * delta_post)
    welford = adapting & middle
    window_end = adapting & (t == ends[c["window"]])
    updated = {
        "averaging_count": jnp.where(adapting, count, c["averaging_count"]),
        "statistic_avg": jnp.where(adapting, statistic, c["statistic_avg"]),
        "log_step": jnp.where(adapting, log_step, c["log_step"]),
        "log_step_avg": jnp.where(adapting, log_step_avg, c["log_step_avg"]),
        "step_size": jnp.where(adapting, step_size, c["step_size"]),
        "window_mean": jnp.where(welford, mean, c["window_mean"]),
        "window_m2": jnp.where(welford, m2, c["window_m2"]),
        "window_count": jnp.where(welford, n, c["window_count"]),
        "window": jnp.where(window_end, c["window"] + 1, c["window"]),
    }
    return {**c, **updated}, window_end & middle


def refresh_metric(chains: dict, due, dense_mass: bool) -> dict:
    """At the end of a metric window: the window's regularised (co)variance becomes the inverse mass matrix.

    Stan's regularisation, ``n / (n + 5) * cov + 1e-3 * 5 / (n + 5)``; the
    running estimate restarts, and so does the dual averaging, centred on ten
    times the current step size. ``chains`` has a leading axis of chains;
    ``due`` says which.
    """
    n = chains["window_count"].astype(chains["z"].dtype)
    covariance = chains["window_m2"] / jnp.expand_dims(n - 1, tuple(range(1, chains["window_m2"].ndim)))
    scale = n / (n + 5)
    shrinkage = 1e-3 * 5 / (n + 5)
    if dense_mass:
        dim = covariance.shape[-1]
        inverse_mass = scale[:, None, None] * covariance + shrinkage[:, None, None] * jnp.eye(dim)
    else:
        inverse_mass = scale[:, None] * covariance + shrinkage[:, None]
    # Lanes not due keep their metric (and may hold a window too short for a covariance).
    inverse_mass = _pick_lanes(due, inverse_mass, chains["inverse_mass"])
    updated = {
        "inverse_mass": inverse_mass,
        "root": jax.vmap(momentum_root)(inverse_mass),
        "window_mean": jnp.zeros_like(chains["window_mean"]),
        "window_m2": jnp.zeros_like(chains["window_m2"]),
        "window_count": jnp.zeros_like(chains["window_count"]),
        "log_step": jnp.zeros_like(chains["log_step"]),
        "log_step_avg": jnp.zeros_like(chains["log_step_avg"]),
        "statistic_avg": jnp.zeros_like(chains["statistic_avg"]),
        "averaging_count": jnp.zeros_like(chains["averaging_count"]),
        "centre": jnp.log(10.0) + jnp.log(chains["step_size"]),
    }
    return {**chains, **_pick_lanes(due, updated, {name: chains[name] for name in updated})}


def _lane_mask(due, array):
    return due.reshape(due.shape + (1,) * (jnp.ndim(array) - 1))


def _pick_lanes(mask, new, old):
    """``new`` in the lanes where ``mask`` (one flag per lane, the arrays' leading axis), ``old`` elsewhere."""
    return jax.tree.map(lambda a, b: jnp.where(_lane_mask(mask, a), a, b), new, old)


def empty_record(chains: int, dim: int, num_samples: int, dtype) -> dict:
    """Buffers for every chain's kept draws: (chains, draws, ...)."""
    shape = (chains, num_samples)
    return {
        "z": jnp.zeros((*shape, dim), dtype), "diverging": jnp.zeros(shape, bool), "energy": jnp.zeros(shape, dtype),
        "n_steps": jnp.zeros(shape, jnp.int32), "acceptance_rate": jnp.zeros(shape, dtype),
        "step_size": jnp.zeros(shape, dtype),
    }


def start_queue(pending: dict, settings: Settings, lanes: int, queued=None) -> dict:
    """A queue of chains (``pending``: initial states, leading axis of chains) for ``lanes`` lanes to work off.

    The first ``lanes`` chains start at once; each lane that finishes a chain
    takes the next waiting one (:func:`run`), so lanes do not wait on the
    longest chain of the batch but only, at the very end, on the last ones.
    ``queued`` (default: all) flags the chains to run; they must come first
    (the others, padding, are never run and count as finished).
    """
    n_chains, dim = pending["z"].shape
    queued = jnp.ones(n_chains, bool) if queued is None else queued
    limit = jnp.sum(queued, dtype=jnp.int32)
    first = jnp.arange(lanes, dtype=jnp.int32)
    return {
        "pending": pending,
        "lanes": jax.tree.map(lambda a: a[:lanes], pending),
        "chain": jnp.where(first < limit, first, n_chains),
        "next": jnp.minimum(limit, lanes)[None],
        "limit": limit[None],
        "draws": jnp.where(queued, 0, settings.total).astype(jnp.int32),
        # Leapfrog steps of each chain, warm-up included, and loop steps of the device.
        "steps": jnp.zeros(n_chains, jnp.int32),
        "loop_steps": jnp.zeros((1,), jnp.int32),
        "record": empty_record(n_chains, dim, settings.num_samples, pending["z"].dtype),
    }


def run(queue: dict, budget, value_and_grad, data, chains_per_fit: int, settings: Settings) -> dict:
    """Step every lane of a queue (:func:`start_queue`) until all chains have their draws or ``budget`` steps ran.

    Parameters
    ----------
    queue : dict
        The lanes, the chains waiting, the draw buffers.
    budget : int
        Most loop steps this call runs (so the host can report progress between calls).
    value_and_grad : callable
        ``value_and_grad(z, *data_of_one_fit)``: the potential and its gradient.
    data : tuple of arrays
        Each fit's data, with a leading axis of fits; chain ``i`` belongs to fit ``i // chains_per_fit``.
    """
    n_chains = queue["draws"].shape[0]
    lane_data = lambda chain: jax.tree.map(lambda a: a[jnp.minimum(chain, n_chains - 1) // chains_per_fit], data)  # noqa: E731

    def one(chain, *chain_data):
        return step(chain, lambda z: value_and_grad(z, *chain_data), settings)

    def body(carry):
        queue, data_of_lanes, count = carry
        lanes, new, refresh = jax.vmap(one)(queue["lanes"], *data_of_lanes)
        # Metric updates are rare (a few per chain in warm-up): outside the per-chain step, only when due.
        lanes = jax.lax.cond(jnp.any(refresh), lambda c: refresh_metric(c, refresh, settings.dense_mass),
                             lambda c: c, lanes)
        chain, slot = queue["chain"], new.pop("slot")
        # Idle lanes (chain == n_chains) and steps without a kept draw (slot == num_samples) write nowhere.
        record = {name: buffer.at[chain, slot].set(new[name], mode="drop")
                  for name, buffer in queue["record"].items()}
        draws = queue["draws"].at[chain].set(lanes["draw"], mode="drop")
        steps = queue["steps"].at[chain].set(lanes["steps"], mode="drop")
        # Lanes whose chain has all its draws take the next waiting chains, in order.
        limit = queue["limit"][0]
        finished = (lanes["draw"] >= settings.total) & (chain < n_chains)
        following = queue["next"][0] + jnp.cumsum(finished, dtype=jnp.int32) - 1
        chain = jnp.where(finished, jnp.where(following < limit, following, n_chains), chain).astype(jnp.int32)
        starting = finished & (chain < n_chains)

        def refill(lanes_and_data):
            lanes, data_of_lanes = lanes_and_data
            waiting = jax.tree.map(lambda a: a[jnp.minimum(chain, n_chains - 1)], queue["pending"])
            return _pick_lanes(starting, waiting, lanes), _pick_lanes(starting, lane_data(chain), data_of_lanes)

        lanes, data_of_lanes = jax.lax.cond(jnp.any(starting), refill, lambda x: x, (lanes, data_of_lanes))
        queue = {**queue, "lanes": lanes, "chain": chain, "draws": draws, "steps": steps, "record": record,
                 "next": jnp.minimum(queue["next"] + jnp.sum(finished, dtype=jnp.int32), limit),
                 "loop_steps": queue["loop_steps"] + 1}
        return queue, data_of_lanes, count + 1

    def going(carry):
        queue, _, count = carry
        return (count < budget) & jnp.any(queue["chain"] < n_chains)

    queue, _, _ = jax.lax.while_loop(going, body, (queue, lane_data(queue["chain"]), jnp.zeros((), jnp.int32)))
    return queue
