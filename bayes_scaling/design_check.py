"""Checks of :mod:`bayes_scaling.design`: simulated ladders with a known truth, and a backtest on a real ladder.

- :func:`simulated_study`: ladders drawn from a known power law (with a
  form-error bend drawn from the shipped prior beyond the ladder). For each
  ladder the design predicts the target's interval width after each candidate;
  then each candidate is really "trained" (its outcome drawn from the truth)
  and refitted. Two questions: does the suggested run narrow the interval at
  least as much as any fixed candidate, on average over ladders; and does the
  predicted width match the width obtained?
- :func:`ladder_backtest`: on a real ladder with larger runs (the bundled DCLM
  ladder), start from the runs up to a cut-off and add, one step at a time, the
  run the design suggests from those that exist, against the next run in order
  of compute (what teams do by default): the target's interval width and
  whether it covers the target's measured accuracy at each step.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bayes_scaling.design import (
    DESIGN_SETTINGS, NO_RUNS, Candidate, design_next_runs, fitted_runs, realised, refit_with, runs_at,
    target_prediction,
)
from bayes_scaling.fits import held_out_frame
from bayes_scaling.form_error import FormErrorPrior, decades_beyond
from bayes_scaling.laws import get_law, raw_inputs, rescale_inputs
from bayes_scaling.selection import ScalingData
from bayes_scaling.settings import SamplerSettings

logger = logging.getLogger(__name__)

#: The simulated truth: a power law on log(-log Q) from about 0.35 accuracy at 1e18 FLOPs to 0.8 at 1e22
#: (chance 0.25), with Student-t noise as on the DCLM multiple-choice benchmarks.
TRUTH = {"log_a": -0.70, "alpha": 0.20, "sigma": 0.04, "nu": 10.0}
CHANCE = 0.25
TPR = 20.0
#: The simulated ladder (FLOPs), its runs, the candidates and the target.
LADDER = (1e18, 1e20)
CANDIDATE_COMPUTE = (3e19, 3e20, 1e21, 3e21)
TARGET_COMPUTE = 1e22


def truth_values(compute, bend: float, largest: float, rng, truth=TRUTH) -> np.ndarray:
    """Accuracy of runs at ``compute`` under the truth: the law, plus ``bend`` per decade beyond ``largest``, plus noise."""
    law = get_law("power_law")
    mean = np.asarray(law.mean(truth, rescale_inputs({"compute": np.asarray(compute, dtype=float)})))
    z = mean + bend * decades_beyond(compute, largest) + truth["sigma"] * rng.standard_t(truth["nu"], len(mean))
    return np.asarray(law.transform.inverse(z, CHANCE))


def simulated_ladder(index: int, rng, n_runs: int = 20, truth=TRUTH) -> ScalingData:
    """One simulated ladder of ``n_runs`` runs over :data:`LADDER` at TPR 20, nothing held out."""
    runs = runs_at(np.geomspace(*LADDER, n_runs), TPR)
    runs = runs.assign(run_id=[f"sim{index}-{i}" for i in range(n_runs)], chance=CHANCE,
                       value=truth_values(runs["flops"], 0.0, LADDER[1], rng, truth))
    held = runs.iloc[:0]
    excluded = pd.DataFrame(columns=[*runs.columns, "reason", "role"])
    return ScalingData(runs, held, excluded, {"benchmark": f"sim{index}", "metric": "acc", "tpr": TPR})


@dataclass
class StudyResult:
    """Per simulated ladder and candidate: the predicted and the obtained width (and who was suggested)."""

    table: pd.DataFrame

    def by_candidate(self) -> pd.DataFrame:
        """Per candidate: mean predicted and obtained widths over ladders, their ratio, and the suggested design's."""
        rows = []
        for label, group in self.table.groupby("design", sort=False):
            rows.append({"design": label, "compute": group["compute"].iloc[0],
                         "predicted_width": group["predicted_width"].mean(),
                         "obtained_width": group["obtained_width"].mean(),
                         "obtained_se": group["obtained_width"].std(ddof=1) / np.sqrt(len(group)),
                         "ratio": group["predicted_width"].mean() / group["obtained_width"].mean(),
                         "times_suggested": int(group["suggested"].sum())})
        return pd.DataFrame(rows)

    def suggested_against_best(self) -> dict:
        """Mean obtained width of the suggested run and of the best fixed candidate, with the paired difference's s.e."""
        wide = self.table.pivot(index="ladder", columns="design", values="obtained_width")
        chosen = self.table[self.table["suggested"]].set_index("ladder")["obtained_width"].reindex(wide.index)
        best = wide.mean().idxmin()
        difference = chosen - wide[best]
        return {"suggested_width": chosen.mean(), "best_fixed": best, "best_fixed_width": wide[best].mean(),
                "difference": difference.mean(), "difference_se": difference.std(ddof=1) / np.sqrt(len(difference))}


def simulated_study(n_ladders: int = 8, *, n_outcomes: int = 8, n_runs: int = 20,
                    candidate_compute: Sequence[float] = CANDIDATE_COMPUTE, target: float = TARGET_COMPUTE,
                    settings: SamplerSettings | None = None, seed: int = 0, truth=TRUTH) -> StudyResult:
    """Design on ``n_ladders`` simulated ladders, then really add each candidate (drawn from the truth) and refit.

    Each ladder's truth bends beyond the ladder by ``b`` per decade, ``b ~
    Normal(0, tau^2)``, ``tau`` drawn from the shipped form-error prior: the
    world the design's predictive assumes. Three engine calls in all: the
    ladders, the designs, the obtained refits.
    """
    from bayes_scaling.inference import fit_many

    settings = settings or DESIGN_SETTINGS
    rng = np.random.default_rng(seed)
    ladders = [simulated_ladder(i, rng, n_runs, truth) for i in range(n_ladders)]
    prior = FormErrorPrior.default()
    bends = prior.tau_draws(n_ladders, rng) * rng.standard_normal(n_ladders)
    fits = fit_many(ladders, "power_law", settings=settings.replace(seed=seed))
    names = [d.description["benchmark"] for d in ladders]
    candidates = [Candidate(f"C={c:.0e}", runs_at(c, TPR), float(c)) for c in candidate_compute]
    design = design_next_runs(dict(zip(names, fits)), {"compute": target}, candidates, n_outcomes=n_outcomes,
                              pairs=False, settings=settings, seed=seed + 1)
    added, keys = [], []
    for name, fit, bend in zip(names, fits, bends):
        for candidate in candidates:
            runs = candidate.runs.assign(value=truth_values(candidate.runs["flops"], bend, LADDER[1], rng, truth))
            added.append(runs)
            keys.append((name, fit, candidate.label))
    obtained = realised([fit for _, fit, _ in keys], added, {"compute": target}, settings=settings, seed=seed + 2)
    table = design.designs.set_index(["benchmark", "design"])
    rows = []
    for (name, _, label), result in zip(keys, obtained):
        row = table.loc[(name, label)]
        rows.append({"ladder": name, "design": label, "compute": row["compute"], "bend": bends[names.index(name)],
                     "current_width": design.current.set_index("benchmark").loc[name, "width"],
                     "predicted_width": row["expected_width"], "predicted_se": row["width_se"],
                     "obtained_width": result["width"], "suggested": bool(row["suggested"])})
    return StudyResult(pd.DataFrame(rows))


def _held_out_coverage(fit, prob: float, seed: int, beyond: float) -> tuple[float, int]:
    """Share of the held-out runs above ``beyond`` FLOPs inside their ``prob`` predictive intervals."""
    from bayes_scaling.predict import predict_held_out

    held = predict_held_out(fit, prob=(prob,), seed=seed)
    held = held[(held["compute"] > beyond) & (held["refused"] == "")]
    return (float(held[f"inside_{100 * prob:g}"].mean()) if len(held) else float("nan")), len(held)


def ladder_backtest(fits: dict, target_runs: dict, *, steps: int = 3, step_budget: float | None = None,
                    n_outcomes: int = 8, prob: float = 0.9, settings: SamplerSettings | None = None,
                    seed: int = 0) -> pd.DataFrame:
    """Add existing larger runs to fits one at a time, as the design suggests and in order of compute.

    Parameters
    ----------
    fits : dict
        ``{benchmark: fit}`` on a ladder cut at some compute, the larger runs held out.
    target_runs : dict
        ``{benchmark: run_id}`` of the held-out run playing the target.
    steps : int
        Runs added per policy.
    step_budget : float, optional
        Most FLOPs of one added run (default: a tenth of the target's compute):
        a team plans a target with runs much cheaper than it.
    n_outcomes : int
        Simulated outcomes per candidate in each design.

    Returns
    -------
    pandas.DataFrame
        One row per (policy, step, benchmark): the run added at that step (none
        when no candidate narrows the interval, or none is left) and its compute,
        compute spent so far, the largest fitted run, the width the design
        predicted for the run it suggested, the target's interval and width, whether it covers the target's measured accuracy, and the
        coverage of the held-out runs beyond the largest fitted one.
    """
    settings = settings or DESIGN_SETTINGS
    # Every step's interval from fits with the same sampler: today's ladder refitted as the added runs will be.
    start = dict(zip(fits, refit_with(list(fits.values()), [NO_RUNS] * len(fits), settings.replace(seed=seed))))
    rows = []
    for policy in ("design", "compute_order"):
        current = dict(start)
        pools = {b: held_out_frame(f) for b, f in fits.items()}
        targets = {b: pools[b].set_index("run_id").loc[target_runs[b]] for b in fits}
        spent = dict.fromkeys(fits, 0.0)
        added = dict.fromkeys(fits, None)
        for step in range(steps + 1):
            for b, fit in current.items():
                target = targets[b]
                today = target_prediction(fit, {"compute": target["flops"]}, prob, seed=seed)
                largest = float(fitted_runs(fit)["flops"].max())
                later, n_later = _held_out_coverage(fit, prob, seed, largest)
                rows.append({"policy": policy, "step": step, "benchmark": b,
                             "added": "" if added[b] is None else added[b]["run_id"],
                             "added_compute": np.nan if added[b] is None else float(added[b]["flops"]),
                             "spent": spent[b], "largest_fitted": largest,
                             "predicted_width": np.nan if added[b] is None else added[b].get("predicted_width", np.nan),
                             "width": today["width"],
                             "lower": today["lower"], "upper": today["upper"], "target_value": target["value"],
                             "covered": bool(today["lower"] <= target["value"] <= today["upper"]),
                             "later_coverage": later, "n_later": n_later})
            if step == steps:
                break
            choice = _next_runs(policy, current, pools, targets, step_budget, n_outcomes, settings, seed + step)
            if not choice:
                added = dict.fromkeys(fits, None)
                continue
            refits = refit_with([current[b] for b in choice],
                                [pd.DataFrame([choice[b]])[["run_id", "params", "tokens", "flops", "k", "value"]]
                                 for b in choice], settings.replace(seed=seed))
            added = dict.fromkeys(fits, None)
            for b, new in zip(choice, refits):
                current[b], added[b] = new, choice[b]
                spent[b] += float(choice[b]["flops"])
                pools[b] = pools[b][pools[b]["run_id"] != choice[b]["run_id"]]
    return pd.DataFrame(rows)


def _next_runs(policy, current, pools, targets, step_budget, n_outcomes, settings, seed) -> dict:
    """The run each benchmark adds next: the design's suggestion, or the smallest remaining run."""
    options = {}
    for b, pool in pools.items():
        budget = step_budget if step_budget is not None else targets[b]["flops"] / 10.0
        pool = pool[(pool["flops"] < targets[b]["flops"]) & (pool["flops"] <= budget)].sort_values("flops")
        if len(pool):
            options[b] = pool.reset_index(drop=True)
    if policy == "compute_order":
        return {b: pool.iloc[0].to_dict() for b, pool in options.items()}
    candidates = {b: [Candidate(row["run_id"], pool.iloc[[i]][["params", "tokens", "flops", "k"]].reset_index(drop=True),
                                float(row["flops"])) for i, row in pool.iterrows()]
                  for b, pool in options.items()}
    targets_of = {b: {"compute": targets[b]["flops"]} for b in options}
    result = design_next_runs({b: current[b] for b in options}, targets_of, candidates, n_outcomes=n_outcomes,
                              pairs=False, settings=settings, seed=seed)
    suggested = result.suggested().set_index("benchmark")
    # A benchmark where no run narrows the target's interval beyond Monte Carlo error adds none.
    return {b: pool.set_index("run_id", drop=False).loc[suggested.loc[b, "design"]].to_dict()
            | {"predicted_width": suggested.loc[b, "expected_width"]}
            for b, pool in options.items() if b in suggested.index}


def reweighting_khat(fit, candidates: Sequence[Candidate], n_outcomes: int = 16, seed: int = 0) -> pd.DataFrame:
    """Why the design refits: PSIS's Pareto k of reweighting today's draws by each candidate's simulated outcome.

    Importance reweighting would weight draw ``s`` by ``p(y_c | theta_s)``, the
    likelihood the refit gives the new run (inside the new fitted range, no
    form-error term). Pareto k above 0.7 means the weights cannot be trusted
    (Vehtari et al. 2024). Returns per candidate the median k over outcomes and
    the share of outcomes above 0.7.
    """
    from arviz_stats.base import array_stats

    from bayes_scaling.design import simulate_outcomes
    from bayes_scaling.fits import chance_of, law_of, posterior_draws

    law = law_of(fit)
    draws = posterior_draws(fit)
    rows = []
    for candidate in candidates:
        outcomes = simulate_outcomes(fit, candidate.runs, n_outcomes, seed)
        inputs = rescale_inputs(raw_inputs(law, candidate.runs))
        khat = []
        for outcome in outcomes:
            z = law.transform.forward(outcome, chance_of(fit))
            log_weights = law.predictive_log_density(draws, inputs, z, None).sum(axis=1)
            khat.append(float(array_stats.psislw(log_weights)[1]))
        rows.append({"design": candidate.label, "compute": candidate.compute, "median_khat": np.median(khat),
                     "share_above_0.7": float(np.mean(np.asarray(khat) > 0.7))})
    return pd.DataFrame(rows)
