"""Leave-one-out cross-validation of fits (PSIS-LOO), with exact refits where it is unreliable.

PSIS-LOO (Vehtari, Gelman and Gabry 2017, through :func:`arviz_stats.loo`)
estimates each run's log predictive density had it been left out, from one
fit. Its Pareto k diagnostic says, per run, whether the estimate can be
trusted; runs above the threshold (ArviZ's ``good_k``, at most 0.7) are
refitted without that run, all in one batched program, and scored exactly by
:func:`arviz_stats.reloo`, so that elpd, its standard error and p_loo after
the refits are ArviZ's own.

LOO measures **interpolation**: how well a form predicts a run inside the
compute range it was fitted on. A scaling law is used to extrapolate; for that,
see :mod:`bayes_scaling.evaluate`, which scores runs beyond a compute cut-off.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping

import arviz_stats
import jax
import numpy as np
import pandas as pd
import xarray as xr
from numpyro.infer import Predictive
from numpyro.infer.util import log_likelihood

from bayes_scaling.errors import SpecError
from bayes_scaling.fits import is_two_stage, law_of, posterior_draws
from bayes_scaling.inference import fit_many, read_attrs, repr_prior
from bayes_scaling.laws import law_inputs
from bayes_scaling.logs import nested
from bayes_scaling.selection import ScalingData

#: Said with every LOO table, in the CLI and in reports.
INTERPOLATION_NOTE = (
    "LOO scores runs inside the fitted compute range (interpolation); "
    "use `evaluate` to score extrapolation to larger runs"
)


@dataclasses.dataclass(frozen=True)
class LooResult:
    """PSIS-LOO of one fit, with exact leave-one-out where Pareto k was too high.

    Attributes
    ----------
    elpd_data : arviz_stats.ELPDDataLOO
        What :func:`arviz_stats.compare` takes. Without refits it is
        :func:`arviz_stats.loo`'s result; with refits,
        :func:`arviz_stats.reloo`'s: ``elpd``, ``se``, ``p``, ``elpd_i`` and
        ``p_loo_i`` include the exact values, and ``pareto_k`` is 0 for the
        refitted runs.
    pointwise : pandas.DataFrame
        Per fitted run: ``run_id``, ``flops``, ``elpd_i``, ``pareto_k`` (PSIS's,
        also for refitted runs, as the reason they were refitted) and
        ``method`` (``psis`` or ``exact``).
    n_refits : int
        Runs scored by exact refits.
    """

    elpd_data: object
    pointwise: pd.DataFrame
    n_refits: int

    @property
    def elpd(self) -> float:
        return float(self.elpd_data.elpd)

    @property
    def se(self) -> float:
        return float(self.elpd_data.se)

    @property
    def p_loo(self) -> float:
        return float(self.elpd_data.p)


def fitted_frame(idata) -> pd.DataFrame:
    """The fitted runs of a fit, rebuilt as a tidy frame (with ``loss`` for two-stage fits)."""
    constant = idata["constant_data"]
    columns = ["run_id", "flops", "params", "tokens", "k", "value", "chance"]
    frame = pd.DataFrame({name: np.asarray(constant[name]) for name in columns})
    frame["run_id"] = frame["run_id"].astype(str)
    if is_two_stage(idata):
        frame["loss"] = np.exp(np.asarray(idata["observed_data"]["loss"]))  # observed on log L
    return frame


def _check_priors(idata, law, priors):
    prior_set = law.priors(priors)
    used = json.loads(idata.attrs["priors"])
    given = {name: repr_prior(prior) for name, prior in prior_set.items()}
    if used != given:
        differing = sorted(name for name in used if used[name] != given.get(name))
        raise SpecError(
            f"option priors: the fit used other priors for {', '.join(differing)}; "
            "pass the fit's priors to refit it"
        )
    return prior_set


def loo(
    idata, *, refit: bool = True, priors: Mapping | None = None, k_threshold: float | None = None, seed: int = 0
) -> LooResult:
    """PSIS-LOO of a fit; runs with Pareto k above ``good_k`` are refitted and scored exactly.

    The refits are :func:`arviz_stats.reloo`'s, with one difference in how
    they are made: reloo asks for one refit at a time, and here every refit
    is made beforehand in one batched program (:class:`_BatchedRefits` hands
    them to reloo by run). What reloo then computes is ArviZ's own: each
    refitted run's ``elpd_i = log mean_s p(y_i | theta_s^(-i))``, its
    ``p_loo_i = lppd_i - elpd_i`` (``lppd_i`` from the full fit), ``elpd``
    their sum, ``se = sqrt(n var(elpd_i, ddof=1))`` and ``p_loo`` the sum of
    ``p_loo_i``; its Pareto k is set to 0.

    Parameters
    ----------
    idata : xarray.DataTree
        A fit from :func:`bayes_scaling.fit`.
    refit : bool
        Refit without each run whose Pareto k exceeds ArviZ's ``good_k``
        threshold (0.7, or less for few draws). With ``False`` the result is
        :func:`arviz_stats.loo`'s, and ``elpd_data.warning`` says whether any
        estimate is unreliable.
    priors : mapping, optional
        The prior overrides the fit was made with (checked against the fit's
        record; needed to refit).
    k_threshold : float, optional
        Refit runs with Pareto k above this; default ArviZ's ``good_k``.
    seed : int
        Seed of the refits.

    Returns
    -------
    LooResult
        With no run to refit, ``elpd_data`` is exactly :func:`arviz_stats.loo`'s.
    """
    law = law_of(idata)
    result = arviz_stats.loo(idata, pointwise=True, var_name="y")
    frame = fitted_frame(idata)
    pareto_k = np.asarray(result.pareto_k, dtype=float)
    threshold = result.good_k if k_threshold is None else k_threshold
    # reloo's own rule (k > threshold), so that the batch holds exactly the refits it asks for.
    bad = np.flatnonzero(pareto_k > threshold) if refit else np.array([], int)
    method = np.full(len(frame), "psis", dtype=object)
    if bad.size:
        prior_set = _check_priors(idata, law, priors)
        wrapper = _BatchedRefits(idata, law, prior_set, frame, bad, seed)
        result = arviz_stats.reloo(wrapper, loo_orig=result, var_name="y", k_threshold=threshold, pointwise=True)
        method[bad] = "exact"
    pointwise = pd.DataFrame({"run_id": frame["run_id"], "flops": frame["flops"],
                              "elpd_i": np.asarray(result.elpd_i, dtype=float), "pareto_k": pareto_k,
                              "method": method})
    return LooResult(result, pointwise, int(bad.size))


class _BatchedRefits(arviz_stats.SamplingWrapper):
    """The refits :func:`arviz_stats.reloo` asks for, made beforehand in one batch.

    reloo refits one observation at a time through ``sel_observations``,
    ``sample``, ``get_inference_data`` and ``log_likelihood__i``. Sampling the
    refits one by one would compile and run a program per run; instead every
    run in ``points`` is left out of its own copy of the data and all copies
    are fitted together by :func:`bayes_scaling.inference.fit_many`, with the
    fit's sampler settings. ``sample`` then returns the refit made without the
    run asked for.
    """

    def __init__(self, idata, law, priors, frame, points, seed):
        super().__init__(model=law, idata_orig=idata)
        self.law, self.priors, self.frame = law, priors, frame
        description = read_attrs(idata, "data")
        empty = frame.iloc[:0]
        datasets = [
            ScalingData(fitted=frame.drop(index=i).reset_index(drop=True), held_out=empty,
                        excluded=empty.assign(reason=pd.Series(dtype=str)), description=description)
            for i in points
        ]
        sampler = read_attrs(idata, "sampler")
        options = {key: sampler[key] for key in ("num_warmup", "num_samples", "num_chains", "target_accept_prob")}
        with nested():
            fits = fit_many(datasets, law.name, priors, seed=seed, **options)
        self.refits = {int(i): fit for i, fit in zip(points, fits)}

    def sel_observations(self, idx):
        # The "data without run idx" is the refit's key; the excluded "data" is the run's position.
        return int(idx), int(idx)

    def sample(self, modified_observed_data):
        return self.refits[modified_observed_data]

    def get_inference_data(self, fitted_model):
        return fitted_model

    def log_likelihood__i(self, excluded_obs, idata__i):
        """``log p(y_i | theta_s^(-i))`` for every draw of the refit, as (chain, draw)."""
        row = self.frame.iloc[[excluded_obs]]
        site = log_likelihood(self.law.model, posterior_draws(idata__i), self.priors, law_inputs(self.law, row),
                              self.law.observations(row))["y"]
        sizes = idata__i["posterior"].sizes
        return xr.DataArray(np.asarray(site).reshape(sizes["chain"], sizes["draw"]), dims=("chain", "draw"))


def compare_forms(fits: Mapping[str, object], *, refit: bool = True, priors: Mapping | None = None) -> pd.DataFrame:
    """Compare forms fitted to the same runs by PSIS-LOO: elpd, its standard error, differences, stacking weights.

    Parameters
    ----------
    fits : mapping
        Label (usually the form's name) -> fit, all on the same fitted runs.
    refit, priors
        As in :func:`loo`.

    Returns
    -------
    pandas.DataFrame
        One row per fit, best first: ``rank``, ``elpd``, ``se``, ``elpd_diff``
        and ``dse`` (difference from the best and its standard error),
        ``p_worse`` (ArviZ's normal approximation of the probability that the
        form is worse than the best), ``p_loo``, ``weight`` (stacking),
        ``n_refits``, ``max_pareto_k`` and ``warning`` (ArviZ's diagnostics of
        the elpd and of the difference, e.g. too few runs or a difference
        too small to trust the normal approximation; empty when none). ``DataFrame.attrs["note"]`` says that LOO measures
        interpolation.

    Raises
    ------
    SpecError
        If the fits are not on the same runs, or mix two-stage and direct
        forms: a two-stage fit's accuracy likelihood is conditional on each
        run's measured loss, so its LOO is not comparable with a direct law's
        (compare them by :func:`bayes_scaling.evaluate.evaluate`).
    """
    if len(fits) < 2:
        raise SpecError("option forms: compare needs at least two fits")
    runs = {label: tuple(fitted_frame(fit)["run_id"]) for label, fit in fits.items()}
    first = next(iter(runs.values()))
    for label, ids in runs.items():
        if ids != first:
            raise SpecError(f"fit {label!r} is not on the same runs as the others; LOO compares fits of the same data")
    two_stage = {label for label, fit in fits.items() if is_two_stage(fit)}
    if two_stage and two_stage != set(fits):
        raise SpecError(
            f"fits {', '.join(sorted(two_stage))} condition accuracy on each run's loss, so their LOO is not "
            "comparable with direct forms; compare them by extrapolation (evaluate)"
        )
    results = {label: loo(fit, refit=refit, priors=priors) for label, fit in fits.items()}
    table = arviz_stats.compare({label: r.elpd_data for label, r in results.items()}, round_to="none")
    table = table.rename(columns={"p": "p_loo"})
    table["n_refits"] = [results[label].n_refits for label in table.index]
    table["max_pareto_k"] = [results[label].pointwise["pareto_k"].max() for label in table.index]
    table["warning"] = [
        "; ".join(filter(None, [
            str(table.loc[label, "diag_elpd"]).strip(), str(table.loc[label, "diag_diff"]).strip(),
            "high Pareto k left unrefitted" if results[label].elpd_data.warning else "",
        ]))
        for label in table.index
    ]
    table = table[["rank", "elpd", "se", "elpd_diff", "dse", "p_worse", "p_loo", "weight", "n_refits",
                   "max_pareto_k", "warning"]]
    table.index.name = "form"
    table.attrs["note"] = INTERPOLATION_NOTE
    return table.reset_index()


def loo_pit(idata, seed: int = 0) -> np.ndarray:
    r"""LOO-PIT of every fitted run: :math:`p(\tilde y_i \le y_i \mid y_{-i})`, by ArviZ's PSIS weights.

    The posterior predictive of each fitted run's observation (on the law's
    likelihood scale; a two-stage law's accuracy at the run's measured loss)
    is drawn from the model for every posterior draw, and
    :func:`arviz_stats.loo_pit` weighs the draws by their leave-one-out
    importance weights. For a calibrated model the values are close to
    uniform; piled at 0 and 1 the intervals are too narrow, at 0.5 too wide.

    Parameters
    ----------
    idata : xarray.DataTree
        A fit.
    seed : int
        Seed of the posterior predictive draws.

    Returns
    -------
    numpy.ndarray
        One value in [0, 1] per fitted run, in the fit's order.
    """
    law = law_of(idata)
    posterior = idata["posterior"]
    draws = posterior_draws(idata)
    frame = fitted_frame(idata)
    observed = law.observations(frame)
    # Condition on every observed site but the accuracy (a two-stage law keeps each run's loss).
    condition = {key: value for key, value in observed.items() if key != "y"} if isinstance(observed, dict) else None
    y = None if condition is None else {**condition, "y": None}
    predictive = Predictive(law.model, posterior_samples={name: draws[name] for name in law.priors()},
                            return_sites=["y"])
    sampled = np.asarray(predictive(jax.random.key(seed), law.priors(), law_inputs(law, frame), y)["y"])
    shape = (posterior.sizes["chain"], posterior.sizes["draw"], sampled.shape[-1])
    tree = xr.DataTree.from_dict({
        "posterior": posterior.to_dataset(),
        "posterior_predictive": xr.Dataset({"y": (("chain", "draw", "point"), sampled.reshape(shape))}),
        "log_likelihood": xr.Dataset({"y": idata["log_likelihood"]["y"]}),
        "observed_data": xr.Dataset({"y": idata["observed_data"]["y"]}),
    })
    return np.asarray(arviz_stats.loo_pit(tree, var_names="y")["y"], dtype=float)
