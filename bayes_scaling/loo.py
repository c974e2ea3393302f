"""Leave-one-out cross-validation of fits (PSIS-LOO), with exact refits where it is unreliable.

PSIS-LOO (Vehtari, Gelman and Gabry 2017, through :func:`arviz_stats.loo`)
estimates each run's log predictive density had it been left out, from one
fit. Its Pareto k diagnostic says, per run, whether the estimate can be
trusted; runs above the threshold (ArviZ's ``good_k``, at most 0.7) are
refitted without that run, all in one batched program, and scored exactly.

LOO measures **interpolation**: how well a form predicts a run inside the
compute range it was fitted on. A scaling law is used to extrapolate; for that,
see :mod:`bayes_scaling.evaluate`, which scores runs beyond a compute cut-off.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping

import arviz_stats
import numpy as np
import pandas as pd
from numpyro.infer.util import log_likelihood
from scipy.special import logsumexp

from bayes_scaling.errors import SpecError
from bayes_scaling.fits import is_two_stage, law_of
from bayes_scaling.inference import fit_many, read_attrs, repr_prior
from bayes_scaling.laws import law_inputs
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
    elpd_data : arviz_stats.ELPDData
        What :func:`arviz_stats.compare` takes; ``elpd``, ``se`` and
        ``elpd_i`` include the exact refits.
    pointwise : pandas.DataFrame
        Per fitted run: ``run_id``, ``flops``, ``elpd_i``, ``pareto_k`` and
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

    Parameters
    ----------
    idata : xarray.DataTree
        A fit from :func:`bayes_scaling.fit`.
    refit : bool
        Refit without each run whose Pareto k exceeds ArviZ's ``good_k``
        threshold (0.7, or less for few draws). With ``False`` the PSIS values
        are kept and ``elpd_data.warning`` says whether any is unreliable.
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
    """
    law = law_of(idata)
    result = arviz_stats.loo(idata, pointwise=True, var_name="y")
    frame = fitted_frame(idata)
    elpd_i = np.asarray(result.elpd_i, dtype=float).copy()
    pareto_k = np.asarray(result.pareto_k, dtype=float)
    threshold = result.good_k if k_threshold is None else k_threshold
    bad = np.flatnonzero(~(pareto_k <= threshold))
    method = np.full(len(frame), "psis", dtype=object)
    if refit and bad.size:
        prior_set = _check_priors(idata, law, priors)
        elpd_i[bad] = _exact_loo(idata, law, prior_set, frame, bad, seed)
        method[bad] = "exact"
        n = elpd_i.size
        result = dataclasses.replace(
            result, elpd=float(elpd_i.sum()), se=float(np.sqrt(n * np.var(elpd_i))),
            elpd_i=result.elpd_i.copy(data=elpd_i), warning=False,
        )
    pointwise = pd.DataFrame({"run_id": frame["run_id"], "flops": frame["flops"], "elpd_i": elpd_i,
                              "pareto_k": pareto_k, "method": method})
    return LooResult(result, pointwise, int(bad.size) if refit else 0)


def _exact_loo(idata, law, priors, frame, points, seed) -> np.ndarray:
    """``log mean_s p(y_i | theta_s^(-i))`` for each of ``points``, refitted in one batch."""
    description = read_attrs(idata, "data")
    empty = frame.iloc[:0]
    datasets = [
        ScalingData(fitted=frame.drop(index=i).reset_index(drop=True), held_out=empty,
                    excluded=empty.assign(reason=pd.Series(dtype=str)), description=description)
        for i in points
    ]
    sampler = read_attrs(idata, "sampler")
    options = {key: sampler[key] for key in ("num_warmup", "num_samples", "num_chains", "target_accept_prob")}
    refits = fit_many(datasets, law.name, priors, seed=seed, quiet=True, **options)
    scores = []
    for i, fit in zip(points, refits):
        row = frame.iloc[[i]]
        draws = {name: np.asarray(fit["posterior"][name]).reshape(-1) for name in fit["posterior"].data_vars}
        observed = law.observations(row)
        site = log_likelihood(law.model, draws, priors, law_inputs(law, row), observed)["y"]
        values = np.asarray(site).reshape(-1)
        scores.append(float(logsumexp(values) - np.log(values.size)))
    return np.asarray(scores)


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
