"""Simulation-based calibration (SBC) of every form (Talts et al. 2018), and PIT values of held-out runs.

If the sampler and the model are right, then for parameters drawn from the
prior and data simulated from them, the rank of each true value among its
posterior draws is uniform. :func:`sbc` does exactly that with the batched
engine: draw parameters and observations from the same NumPyro model that is
fitted (on the likelihood scale, so no simulated point is dropped), fit every
simulation, and rank the truths. :func:`rank_uniformity` tests the ranks with
ArviZ's ECDF-based uniformity test (:func:`pit_uniformity`),
:func:`contraction` says how much each posterior learned beyond its prior, and
:func:`calibration_failures` applies the README's rule to both.

Uniform ranks alone do not show a working sampler: one that returns prior
draws gives exactly uniform ranks. Hence the contraction check beside them
(Betancourt 2018: ``1 - var_posterior / var_prior``; 0 for prior draws).

The same idea checks predictions: :func:`held_out_pit` gives, per held-out
run, the share of posterior-predictive draws below its observed accuracy,
uniform when the predictive distribution is right.

A fast version runs in the test suite; ``benchmarks/calibration.py`` runs the
full one and prints the table summarised in the README.
"""

from __future__ import annotations

import logging

from collections.abc import Mapping
from dataclasses import dataclass, field

import arviz_stats  # noqa: F401  (registers the ``azstats`` accessor used below)
import jax
import numpy as np
import pandas as pd
import xarray as xr
from numpyro.infer import Predictive
from tqdm.auto import tqdm

from bayes_scaling.engine import MIN_BATCH, sample_batch
from bayes_scaling.laws import get_law, raw_inputs, rescale_inputs
from bayes_scaling.logs import bar_hidden

logger = logging.getLogger(__name__)

#: The simulated ladder: compute budgets from 1e18 to 1e22 FLOPs.
LADDER = (1e18, 1e22)
#: Token-to-parameter ratios of laws in N and D, and the k of pass@k laws.
SBC_TPRS = (10.0, 20.0, 40.0, 80.0, 160.0)
SBC_KS = (1.0, 4.0, 16.0, 64.0, 256.0)
#: ArviZ's uniformity test of PIT values (Tesso and Vehtari 2026): pointwise
#: order-statistic tests combined by a truncated Cauchy combination.
UNIFORMITY_TEST = "pot_c"


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
    chunks = range(0, n_sims, chunk)
    for start in tqdm(chunks, desc=f"sbc: {form}", disable=bar_hidden(logger), leave=False):
        block = list(range(start, min(start + chunk, n_sims)))
        batch = sampler(law, priors, [inputs] * len(block), [ys[i] for i in block], seed=seed + 1 + start,
                        **settings)
        for j, i in enumerate(block):
            posterior = {name: np.asarray(values[j]) for name, values in batch.posterior.items()}
            stats = {name: np.asarray(values[j]) for name, values in batch.sample_stats.items()}
            diagnostics = diagnose(from_dict({"posterior": posterior, "sample_stats": stats}),
                                   max_tree_depth=settings.get("max_tree_depth"))
            rhats.append(diagnostics.max_rhat)
            divergences.append(diagnostics.n_divergent)
            for name in priors:
                draws = posterior[name].reshape(-1)
                keep = draws[np.linspace(0, draws.size - 1, n_ranked).astype(int)]
                rows.append({"simulation": i, "parameter": name,
                             "rank": int(np.sum(keep < float(simulated[name][i]))), "n_ranked": n_ranked,
                             "posterior_sd": float(np.std(draws))})
    return SBCResult(law.name, pd.DataFrame(rows), np.asarray(rhats), np.asarray(divergences), prior_sd)


def rank_pit(ranks, n_ranked: int) -> np.ndarray:
    """SBC ranks ``0..n_ranked`` as PIT values in (0, 1): ``(rank + 0.5) / (n_ranked + 1)``, each rank's middle.

    Each of the ``n_ranked + 1`` ranks is equally likely under calibration,
    so these values are uniform up to the width of one rank (0.01 for 99
    draws); ArviZ's plots put ranks on the same scale.
    """
    return (np.asarray(ranks, dtype=float) + 0.5) / (n_ranked + 1)


def pit_uniformity(pit, method: str = UNIFORMITY_TEST) -> float:
    """P-value of ArviZ's test that PIT values are uniform (``azstats.uniformity_test``).

    Parameters
    ----------
    pit : array-like
        PIT values in [0, 1]; NaN values are left out.
    method : {"pot_c", "prit_c", "piet_c"}
        ArviZ's test: ``pot_c`` (its default, beta tests of the order
        statistics), ``prit_c`` (binomial tests of the ECDF), ``piet_c``
        (tail-sensitive), each combined by a Cauchy combination.

    Returns
    -------
    float
        NaN when there is no finite value.
    """
    values = np.asarray(pit, dtype=float).ravel()
    values = values[np.isfinite(values)]
    if not values.size:
        return float("nan")
    p_value, _, _ = xr.DataArray(values, dims=["pit"]).azstats.uniformity_test(dim="pit", method=method)
    return float(p_value)


def rank_uniformity(result: SBCResult, *, method: str = UNIFORMITY_TEST, bins: int = 10) -> pd.DataFrame:
    """Per parameter, ArviZ's ECDF-based test that the ranks are uniform.

    The ranks become PIT values (:func:`rank_pit`) and are tested by
    :func:`pit_uniformity`, on their whole ECDF rather than in bins. ArviZ's
    other SBC check, the simultaneous band of Säilynoja et al. (2022) that
    :func:`bayes_scaling.plotting.plot_sbc_pit` draws, says only whether the
    ECDF leaves the band at one level (and ``arviz_plots`` is deprecating it
    as a test), where the Bonferroni rule of :func:`calibration_failures`
    needs a p-value. Measured when this test was adopted (20,000 sets of 60
    or 100 uniform ranks of 99 draws, seed 7), the ``pot_c`` p-value is at or
    below 0.05 in 6.5-6.7% of calibrated sets and at or below 0.0125 in
    1.4-1.6%: the Cauchy combination is approximate, slightly liberal here.

    Parameters
    ----------
    result : SBCResult
    method : str
        The test (:func:`pit_uniformity`).
    bins : int
        Bins of the ``counts`` shown beside the test, which do not enter it
        (``n_ranked + 1`` must be divisible by ``bins`` for the bins to be
        equally likely; 99 draws give 100 ranks).

    Returns
    -------
    pandas.DataFrame
        ``parameter``, ``n_sims``, ``p_value``, ``mean_rank`` (rank /
        n_ranked: 0.5 expected; above means the posterior sits below the
        truth) and ``counts`` of ranks per bin.
    """
    rows = []
    for name, group in result.ranks.groupby("parameter", sort=False):
        n_ranked = int(group["n_ranked"].iloc[0])
        if (n_ranked + 1) % bins:
            raise ValueError(f"{n_ranked + 1} ranks do not split into {bins} equal bins")
        ranks = group["rank"].to_numpy()
        counts = np.bincount(ranks * bins // (n_ranked + 1), minlength=bins)
        rows.append({"parameter": name, "n_sims": len(group),
                     "p_value": pit_uniformity(rank_pit(ranks, n_ranked), method),
                     "mean_rank": float(ranks.mean() / n_ranked), "counts": counts.tolist()})
    return pd.DataFrame(rows)


def contraction(result: SBCResult) -> pd.Series:
    """Median posterior contraction of each parameter, ``1 - var_posterior / var_prior``.

    Near 1: the data pin the parameter down; near 0: the posterior is the
    prior (a sampler that returns prior draws scores 0, up to noise).
    """
    ranks = result.ranks
    ratio = (ranks["posterior_sd"] / ranks["parameter"].map(result.prior_sd)) ** 2
    return (1.0 - ratio).groupby(ranks["parameter"], sort=False).median().rename("contraction")


def calibration_failures(result: SBCResult, *, family_alpha: float = 0.05, method: str = UNIFORMITY_TEST,
                         min_contraction: Mapping[str, float] | None = None) -> list[str]:
    """The README's calibration rule; an empty list means the form passes.

    A form fails when any of its m parameters has a rank-uniformity p-value
    (:func:`rank_uniformity`, ArviZ's ``method`` test) at or below
    ``family_alpha / m`` (Bonferroni), or when a parameter named in
    ``min_contraction`` contracts less than stated (:func:`contraction`),
    which a sampler that returns prior draws does. With exact p-values a
    calibrated form would fail with probability at most ``family_alpha``;
    ArviZ's ``pot_c`` p-values are slightly liberal (:func:`rank_uniformity`),
    and by simulation (independent uniform ranks: ``benchmarks/rank_test_rate.py``,
    4,000 sets per case) a calibrated form with 4 to 11 parameters fails
    5.3-6.3% of the time with 60 simulations, 5.9-7.3% with 100.

    Returns
    -------
    list of str
        One line per failed check, naming the parameter and the numbers.
    """
    table = rank_uniformity(result, method=method)
    threshold = family_alpha / len(table)
    failures = [f"{result.form}.{row.parameter}: ranks not uniform, p = {row.p_value:.2g} <= {threshold:.2g} "
                f"({method}; counts in tenths {row.counts})" for row in table.itertuples()
                if row.p_value <= threshold]
    contracted = contraction(result)
    for name, least in (min_contraction or {}).items():
        if not contracted[name] >= least:
            failures.append(f"{result.form}.{name}: posterior contraction {contracted[name]:.2f} < {least}")
    return failures


def held_out_pit(idata, *, seed: int = 0, form_error=None) -> pd.DataFrame:
    """PIT value of each held-out run: the share of posterior-predictive draws below its observed accuracy.

    The draws are those of :func:`bayes_scaling.predict.predict_held_out`
    with the same ``seed`` and ``form_error`` (a new run's accuracy: the mean
    curve, the form-error term where there is one, and run-to-run noise), so
    a run lies inside the P% predictive interval exactly when its PIT value
    lies in the central P%, up to one draw. If the predictive distribution is
    right, the PIT values are uniform on (0, 1); too narrow a distribution
    piles them near 0 and 1, a biased one on one side.

    With S draws the share is taken as the observation's mid-rank among the
    draws and itself, ``(below + equal / 2 + 1/2) / (S + 1)``, as SBC ranks
    are (:func:`rank_pit`): it differs from ``below / S`` by less than
    ``1 / S`` but never reaches 0 or 1. A run beyond every draw happens once
    in S + 1 calibrated runs, and at exactly 0 ArviZ's test for continuous
    PIT values would take it as infinitely improbable (by simulation, 300
    calibrated runs of 1000 draws: p = 6e-15 with ``below / S``, 0.24 with
    the mid-rank). ArviZ's Pareto-smoothed PIT (``pareto_pit=True``) clips
    such a run to 1e-7 and fails that simulation as well.

    Parameters
    ----------
    idata : xarray.DataTree
        A fit with held-out runs.
    seed, form_error
        As in :func:`bayes_scaling.predict.predict`.

    Returns
    -------
    pandas.DataFrame
        ``run_id``, ``flops``, ``observed``, ``pit`` and ``refused`` (why no
        prediction is given, where the fit's extrapolations are refused;
        ``pit`` is NaN there). Empty without held-out runs.
    """
    from bayes_scaling.fits import chance_of, fitted_compute_range, held_out_frame, law_of, posterior_draws
    from bayes_scaling.predict import fit_form_error, fit_refusal, form_error_shift

    columns = ["run_id", "flops", "observed", "pit", "refused"]
    held = held_out_frame(idata)
    if held.empty:
        return pd.DataFrame(columns=columns)
    law = law_of(idata)
    raw = raw_inputs(law, held)
    # As in predict: laws in (N, D) sit on the compute axis at C = 6 N D.
    compute = raw["compute"] if "compute" in raw else 6.0 * raw["params"] * raw["tokens"]
    draws = posterior_draws(idata)
    prior = fit_form_error(idata, form_error)
    _, largest = fitted_compute_range(idata)
    shift = form_error_shift(prior, compute, largest, len(draws["sigma"]), seed)
    _, new_run = law.accuracy_draws(draws, rescale_inputs(raw), chance_of(idata), np.random.default_rng(seed),
                                    shift=shift)
    observed = held["value"].to_numpy(float)
    rank = np.sum(new_run < observed, axis=0) + 0.5 * np.sum(new_run == observed, axis=0)
    pit = (rank + 0.5) / (new_run.shape[0] + 1)
    reason = fit_refusal(idata) if prior is not None else None
    refused = np.where(compute > largest, reason or "", "")
    return pd.DataFrame({"run_id": held["run_id"].to_numpy(), "flops": held["flops"].to_numpy(float),
                         "observed": observed,
                         "pit": np.where(refused == "", pit, np.nan), "refused": refused})


__all__ = ["MIN_BATCH", "UNIFORMITY_TEST", "SBCResult", "calibration_failures", "contraction", "held_out_pit",
           "pit_uniformity", "rank_pit", "rank_uniformity", "sbc", "sbc_inputs"]
