"""Simulation-based calibration (SBC) of every form (Talts et al. 2018).

If the sampler and the model are right, then for parameters drawn from the
prior and data simulated from them, the rank of each true value among its
posterior draws is uniform. :func:`sbc` does exactly that with the batched
engine: draw parameters and observations from the same NumPyro model that is
fitted (on the likelihood scale, so no simulated point is dropped), fit every
simulation, and rank the truths. :func:`rank_uniformity` tests the ranks.

A fast version runs in the test suite; ``benchmarks/calibration.py`` runs the
full one and prints the table summarised in the README.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import numpy as np
import pandas as pd
from numpyro.infer import Predictive
from scipy.stats import chi2

from bayes_scaling.engine import MIN_BATCH, sample_batch
from bayes_scaling.laws import get_law, rescale

#: The simulated ladder: compute budgets from 1e18 to 1e22 FLOPs.
LADDER = (1e18, 1e22)
#: Token-to-parameter ratios of laws in N and D, and the k of pass@k laws.
SBC_TPRS = (10.0, 20.0, 40.0, 80.0, 160.0)
SBC_KS = (1.0, 4.0, 16.0, 64.0, 256.0)


def sbc_inputs(law, n_points: int = 40) -> dict[str, np.ndarray]:
    """Rescaled inputs of a simulated ladder for ``law``: ``n_points`` runs.

    Laws in compute alone get a geometric grid over :data:`LADDER`; laws in
    N and D the same budgets spread over :data:`SBC_TPRS`; pass@k laws over
    :data:`SBC_KS`.
    """
    law = get_law(law)
    compute = np.geomspace(*LADDER, n_points)
    raw = {"compute": compute}
    if "params" in law.inputs:
        tpr = np.resize(np.asarray(SBC_TPRS), n_points)
        raw["params"] = np.sqrt(compute / (6.0 * tpr))
        raw["tokens"] = tpr * raw["params"]
    if "k" in law.inputs:
        raw["k"] = np.resize(np.asarray(SBC_KS), n_points)
    return {f"log_{name}": rescale(name, raw[name]) for name in law.inputs}


@dataclass(frozen=True)
class SBCResult:
    """Ranks of the true parameters among their posterior draws.

    Attributes
    ----------
    ranks : pandas.DataFrame
        One row per (simulation, parameter): ``rank`` in ``0..n_ranked`` and
        ``n_ranked``, the number of (thinned) draws ranked against.
    max_rhat : numpy.ndarray
        Largest R-hat of each simulation's fit, to tell calibration failures
        from sampling failures.
    n_divergent : numpy.ndarray
        Divergent transitions per simulation.
    """

    form: str
    ranks: pd.DataFrame
    max_rhat: np.ndarray
    n_divergent: np.ndarray


def sbc(
    form: str,
    n_sims: int = 100,
    *,
    n_points: int = 40,
    n_ranked: int = 99,
    chunk: int | None = None,
    seed: int = 0,
    **sampler,
) -> SBCResult:
    """Run simulation-based calibration of a form.

    Parameters
    ----------
    form : str
        A registered law, with its default priors.
    n_sims : int
        Simulations (prior draws), each fitted with NUTS.
    n_points : int
        Runs per simulated ladder (:func:`sbc_inputs`).
    n_ranked : int
        Posterior draws, evenly thinned, that each truth is ranked among;
        thinning makes them nearly independent, as SBC's uniformity needs.
    chunk : int, optional
        Fits per compiled batch (default all at once); the test suite uses
        :data:`~bayes_scaling.engine.MIN_BATCH` to share programs.
    seed : int
        Seed of the prior draws and of the sampler.
    **sampler
        Options of :func:`bayes_scaling.engine.sample_batch`; ``chain_method``
        defaults to what :func:`~bayes_scaling.inference.fit_many` picks, so
        the simulations run the programs that users' fits run.

    Returns
    -------
    SBCResult
    """
    from bayes_scaling.diagnostics import diagnose
    from bayes_scaling.inference import SamplerSettings
    from arviz_base import from_dict

    sampler.setdefault("chain_method", SamplerSettings().resolved_chain_method())

    law = get_law(form)
    priors = law.priors()
    inputs = sbc_inputs(law, n_points)
    simulated = Predictive(law.model, num_samples=n_sims, parallel=True)(jax.random.key(seed), priors, inputs)
    sites = [name for name in simulated if name not in priors and np.ndim(simulated[name]) == 2]
    ys = [
        {site: np.asarray(simulated[site][i]) for site in sites} if len(sites) > 1
        else np.asarray(simulated[sites[0]][i])
        for i in range(n_sims)
    ]
    chunk = chunk or n_sims
    rows, rhats, divergences = [], [], []
    for start in range(0, n_sims, chunk):
        block = list(range(start, min(start + chunk, n_sims)))
        batch = sample_batch(law, priors, [inputs] * len(block), [ys[i] for i in block], seed=seed + 1 + start,
                             **sampler)
        for j, i in enumerate(block):
            posterior = {name: np.asarray(values[j]) for name, values in batch.posterior.items()}
            stats = {name: np.asarray(values[j]) for name, values in batch.sample_stats.items()}
            diagnostics = diagnose(from_dict({"posterior": posterior, "sample_stats": stats}))
            rhats.append(diagnostics.max_rhat)
            divergences.append(diagnostics.n_divergent)
            for name in priors:
                draws = posterior[name].reshape(-1)
                keep = draws[np.linspace(0, draws.size - 1, n_ranked).astype(int)]
                rows.append({"simulation": i, "parameter": name,
                             "rank": int(np.sum(keep < float(simulated[name][i]))), "n_ranked": n_ranked})
    return SBCResult(law.name, pd.DataFrame(rows), np.asarray(rhats), np.asarray(divergences))


def rank_uniformity(result: SBCResult, bins: int = 4) -> pd.DataFrame:
    """Per parameter, a chi-square test that the ranks are uniform.

    The ranks ``0..n_ranked`` fall into ``bins`` equal bins (``n_ranked + 1``
    must be divisible by ``bins`` for them to be equally likely; 99 draws give
    100 ranks).

    Returns
    -------
    pandas.DataFrame
        ``parameter``, ``n_sims``, ``chi2``, ``p_value`` (``bins - 1`` degrees
        of freedom), ``mean_rank`` (rank / n_ranked: 0.5 expected; above means
        the posterior sits below the truth) and ``counts`` per bin.
    """
    rows = []
    for name, group in result.ranks.groupby("parameter", sort=False):
        n_ranked = int(group["n_ranked"].iloc[0])
        if (n_ranked + 1) % bins:
            raise ValueError(f"{n_ranked + 1} ranks do not split into {bins} equal bins")
        counts = np.bincount(group["rank"].to_numpy() * bins // (n_ranked + 1), minlength=bins)
        expected = len(group) / bins
        statistic = float(np.sum((counts - expected) ** 2 / expected))
        rows.append({"parameter": name, "n_sims": len(group), "chi2": statistic,
                     "p_value": float(chi2.sf(statistic, bins - 1)),
                     "mean_rank": float(group["rank"].mean() / n_ranked), "counts": counts.tolist()})
    return pd.DataFrame(rows)


__all__ = ["MIN_BATCH", "SBCResult", "rank_uniformity", "sbc", "sbc_inputs"]
