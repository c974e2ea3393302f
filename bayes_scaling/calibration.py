"""Simulation-based calibration (SBC) of every form (Talts et al. 2018).

If the sampler and the model are right, then for parameters drawn from the
prior and data simulated from them, the rank of each true value among its
posterior draws is uniform. :func:`sbc` does exactly that with the batched
engine: draw parameters and observations from the same NumPyro model that is
fitted (on the likelihood scale, so no simulated point is dropped), fit every
simulation, and rank the truths. :func:`rank_uniformity` tests the ranks,
:func:`contraction` says how much each posterior learned beyond its prior, and
:func:`calibration_failures` applies the README's rule to both.

Uniform ranks alone do not show a working sampler: one that returns prior
draws gives exactly uniform ranks. Hence the contraction check beside them
(Betancourt 2018: ``1 - var_posterior / var_prior``; 0 for prior draws).

A fast version runs in the test suite; ``benchmarks/calibration.py`` runs the
full one and prints the table summarised in the README.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import jax
import numpy as np
import pandas as pd
from numpyro.infer import Predictive
from scipy.stats import chi2

from bayes_scaling.engine import MIN_BATCH, sample_batch
from bayes_scaling.laws import get_law, rescale_inputs

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
    return rescale_inputs({name: raw[name] for name in law.inputs})


@dataclass(frozen=True)
class SBCResult:
    """Ranks of the true parameters among their posterior draws.

    Attributes
    ----------
    ranks : pandas.DataFrame
        One row per (simulation, parameter): ``rank`` in ``0..n_ranked`` and
        ``n_ranked``, the number of (thinned) draws ranked against.
        and ``posterior_sd``, the standard deviation of all its draws.
    max_rhat : numpy.ndarray
        Largest R-hat of each simulation's fit, to tell calibration failures
        from sampling failures.
    n_divergent : numpy.ndarray
        Divergent transitions per simulation.
    prior_sd : dict
        Parameter -> standard deviation of its prior (from 4000 prior draws).
    """

    form: str
    ranks: pd.DataFrame
    max_rhat: np.ndarray
    n_divergent: np.ndarray
    prior_sd: dict = field(default_factory=dict)


def sbc(
    form: str,
    n_sims: int = 100,
    *,
    n_points: int = 40,
    n_ranked: int = 99,
    chunk: int | None = None,
    seed: int = 0,
    sampler=None,
    **settings,
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
    sampler : callable, optional
        What fits the simulations, with the signature and return value of
        :func:`bayes_scaling.engine.sample_batch` (the default). The tests pass
        deliberately broken samplers here to show that the checks fail them.
    **settings
        Options of the sampler; ``chain_method``
        defaults to what :func:`~bayes_scaling.inference.fit_many` picks, so
        the simulations run the programs that users' fits run.

    Returns
    -------
    SBCResult
    """
    from bayes_scaling.diagnostics import diagnose
    from bayes_scaling.settings import SamplerSettings
    from arviz_base import from_dict

    settings.setdefault("chain_method", SamplerSettings().resolved_chain_method())
    sampler = sampler or sample_batch

    law = get_law(form)
    priors = law.priors()
    inputs = sbc_inputs(law, n_points)
    simulated = Predictive(law.model, num_samples=n_sims, parallel=True)(jax.random.key(seed), priors, inputs)
    prior_draws = Predictive(law.model, num_samples=4000, parallel=True)(jax.random.key(seed + 10**6), priors, inputs)
    prior_sd = {name: float(np.std(prior_draws[name])) for name in priors}
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
        batch = sampler(law, priors, [inputs] * len(block), [ys[i] for i in block], seed=seed + 1 + start,
                        **settings)
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
                             "rank": int(np.sum(keep < float(simulated[name][i]))), "n_ranked": n_ranked,
                             "posterior_sd": float(np.std(draws))})
    return SBCResult(law.name, pd.DataFrame(rows), np.asarray(rhats), np.asarray(divergences), prior_sd)


def rank_uniformity(result: SBCResult, bins: int = 10) -> pd.DataFrame:
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


def contraction(result: SBCResult) -> pd.Series:
    """Median posterior contraction of each parameter, ``1 - var_posterior / var_prior``.

    Near 1: the data pin the parameter down; near 0: the posterior is the
    prior (a sampler that returns prior draws scores 0, up to noise).
    """
    ranks = result.ranks
    ratio = (ranks["posterior_sd"] / ranks["parameter"].map(result.prior_sd)) ** 2
    return (1.0 - ratio).groupby(ranks["parameter"], sort=False).median().rename("contraction")


def calibration_failures(result: SBCResult, *, bins: int = 10, family_alpha: float = 0.05,
                         min_contraction: Mapping[str, float] | None = None) -> list[str]:
    """The README's calibration rule; an empty list means the form passes.

    A form fails when any of its m parameters has a rank-uniformity p-value
    (:func:`rank_uniformity`, ``bins`` bins) at or below ``family_alpha / m``
    (Bonferroni: a calibrated form fails with probability at most
    ``family_alpha``), or when a parameter named in ``min_contraction``
    contracts less than stated (:func:`contraction`), which a sampler that
    returns prior draws does.

    Returns
    -------
    list of str
        One line per failed check, naming the parameter and the numbers.
    """
    table = rank_uniformity(result, bins=bins)
    threshold = family_alpha / len(table)
    failures = [f"{result.form}.{row.parameter}: ranks not uniform, p = {row.p_value:.2g} <= {threshold:.2g} "
                f"(counts {row.counts})" for row in table.itertuples() if row.p_value <= threshold]
    contracted = contraction(result)
    for name, least in (min_contraction or {}).items():
        if not contracted[name] >= least:
            failures.append(f"{result.form}.{name}: posterior contraction {contracted[name]:.2f} < {least}")
    return failures


__all__ = ["MIN_BATCH", "SBCResult", "calibration_failures", "contraction", "rank_uniformity", "sbc", "sbc_inputs"]
