r"""Which run to train next: Bayesian design of a ladder.

A team with a ladder of small runs and a target (a 7B model at 20 tokens per
parameter) asks: is the ladder enough to trust the prediction, and if not,
which extra run shrinks the uncertainty at the target most for its cost? The
posterior answers it by preposterior analysis (Raiffa and Schlaifer 1961;
Chaloner and Verdinelli 1995, section 2): for each candidate run ``c``,

.. math::

    \bar w(c) = \mathbb{E}_{y_c \sim p(y_c \mid \mathcal{D})}
    \bigl[\, w\bigl(p(y_\ast \mid \mathcal{D} \cup \{(c, y_c)\})\bigr) \bigr],

the expected width ``w`` of the target's predictive interval (90% by default)
once the run is trained, its outcome ``y_c`` drawn from the current posterior
predictive. The expectation is a Monte Carlo mean over ``n_outcomes``
simulated outcomes, each a full refit.

Choices, and why:

- **Refitted, not reweighted.** Reweighting the current draws by the new run's
  likelihood (importance sampling) is cheap, but a run beyond the ladder is
  exactly the informative case where the weights degenerate: on the DCLM
  ladder cut at 1e20 FLOPs, PSIS's Pareto k of those weights exceeds 0.7 for
  62-100% of simulated outcomes of a 2.9e21-FLOP candidate (median k 0.92-1.1
  over five benchmarks; ``python benchmarks/design_check.py``), while runs
  inside the ladder stay below 0.35. Every (candidate, outcome) pair is
  refitted with NUTS instead, all of them in one call of the batched engine
  (:func:`bayes_scaling.inference.fit_many`), with sampler settings lighter than
  a headline fit's (:data:`DESIGN_SETTINGS`).
- **Form error is part of what a run can or cannot reduce.** A candidate's
  simulated outcome includes the form-error term of
  :mod:`bayes_scaling.form_error` at its distance beyond the ladder, with the
  same bend ``b`` as the target (the law bends one way for a benchmark), and
  after the refit the target's distance is counted from the new largest run.
  A run near the target therefore removes most of the form error; a run inside
  the ladder removes none of it and only tightens the parameters. The scale of
  the form error (``tau``: the shipped prior, updated by the ladder's own
  backtests when the fit carries that update) is kept as it was: the refit does
  not rerun the ladder's internal backtests with the new run (three times the
  fits), so the information a new run carries about ``tau`` itself is not used.
- **Common random numbers.** Outcome ``m`` of every candidate comes from the
  same posterior draw and the same bend ``b``; differences between candidates
  are then much less noisy than each estimate (``width_se``).

The question a team asks of the target ("will the 7B beat 0.75 on ARC-Easy?")
gets an answer from the target's predictive probability ``P(y_* > threshold)``:
*yes* at or above ``confidence`` (0.9), *no* at or below ``1 - confidence``,
*unsure* between. ``p_answer_changes`` is the share of simulated outcomes
after which the answer differs from today's.

Candidates
----------
- Direct laws in compute: runs at the ladder's tokens per parameter, model sizes
  from the ladder's median run to half the target's compute (cost: training
  FLOPs ``6 N D``).
- ``additive_nd``: model sizes on the same range crossed with the ladder's
  token-to-parameter ratios and the target's (which TPR to add).
- ``pass_at_k``: a larger number of samples ``k`` drawn at every model of the
  ladder (which extra k to sample; cost: samples per problem summed over the
  models).
"""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr

from bayes_scaling.errors import DataError, SpecError
from bayes_scaling.fits import (
    chance_of,
    check_prob,
    fitted_compute_range,
    held_out_frame,
    law_of,
    posterior_draws,
)
from bayes_scaling.form_error import decades_beyond
from bayes_scaling.laws import raw_inputs, rescale_inputs
from bayes_scaling.logs import nested, progress_level
from bayes_scaling.predict import fit_form_error, fit_refusal, predictive_draws
from bayes_scaling.selection import ScalingData
from bayes_scaling.settings import SamplerSettings

logger = logging.getLogger(__name__)

#: Sampler settings of the refits: lighter than a headline fit's, since each refit's
#: sampling error in the target's width is averaged over the outcomes (``width_se``
#: reports what is left of it and of the outcomes' spread).
DESIGN_SETTINGS = SamplerSettings(num_warmup=500, num_samples=500, num_chains=2)
#: Predictive draws (noise and form-error bend) per posterior draw in a target's interval.
REPLICATES = 8
#: Simulated outcomes per candidate.
N_OUTCOMES = 16
#: Candidates of the default grid (model sizes; times the TPRs for additive_nd).
N_CANDIDATES = 6
#: Most pairs designed with all their combinations (beyond it, each candidate with its largest partner).
MAX_PAIRS = 15


@dataclass(frozen=True)
class Candidate:
    """Runs that could be trained (or sampled) next, with their cost.

    Attributes
    ----------
    label : str
        How the candidate is named in tables (``N=1.2e9 D=2.4e10``, ``k=256``).
    runs : pandas.DataFrame
        One row per new measurement: ``params``, ``tokens``, ``flops``, ``k``.
    cost : float
        Training FLOPs (or samples per problem for pass@k).
    """

    label: str
    runs: pd.DataFrame
    cost: float

    @property
    def compute(self) -> float:
        """The largest training compute among the candidate's runs."""
        return float(self.runs["flops"].max())


@dataclass
class DesignResult:
    """What adding each candidate would do to the target's interval.

    Attributes
    ----------
    designs : pandas.DataFrame
        One row per fit and design (a single run, or a pair when the budget
        allows two): ``benchmark``, ``design``, ``runs`` (1 or 2), ``compute``
        (largest run's FLOPs), ``k`` (largest k), ``cost``,
        ``expected_width`` and its Monte Carlo standard error ``width_se``,
        ``width_low``/``width_high`` (10% and 90% of the widths over
        outcomes), ``reduction`` (``current.refit_width``, today's ladder
        refitted as the candidates are, minus the expected width) and its
        standard error ``reduction_se``, ``reduction_per_cost``,
        ``p_answer_changes`` and ``expected_p_above`` (with a threshold), the
        refits' diagnostics (largest R-hat, smallest bulk ESS, divergences
        summed, and ``n_failed``: refits that failed a sampling check after
        their retry), ``narrows`` (reduction above two of its standard
        errors), ``gap_to_best``, ``gap_se`` and ``as_good_as_best`` (paired
        comparison with the narrowest design), and ``suggested`` (per fit, the
        cheapest design as good as the best among those that narrow; none when
        no design narrows the interval).
    current : pandas.DataFrame
        One row per fit: the target's predictive median and interval today,
        ``width``, ``p_above`` and ``answer``, the fit's diagnostics, and
        ``refit_width`` (with ``refit_width_se``): the mean width over
        ``n_outcomes`` refits of today's ladder with the refits' sampler, the
        baseline of every reduction (a lighter sampler alone changes the width).
    target : dict
        The target's raw inputs, per fit.
    notes : list of str
        What was dropped (candidates over the budget, pairs not refitted) and how.
    thresholds : dict
        The question's threshold per fit (None: no question).
    ladders : dict
        The fitted runs of each fit (for the figure).
    refits : dict
        ``(benchmark, design) -> list of refits`` (one per outcome), kept when
        asked for (``keep_refits=True``).
    fits : dict
        Today's fits, ``{benchmark: fit}``.
    """

    designs: pd.DataFrame
    current: pd.DataFrame
    target: dict
    prob: float
    cost_unit: str
    notes: list[str] = field(default_factory=list)
    thresholds: dict = field(default_factory=dict)
    ladders: dict = field(default_factory=dict)
    refits: dict = field(default_factory=dict)
    fits: dict = field(default_factory=dict)

    def suggested(self) -> pd.DataFrame:
        """The suggested design of each fit."""
        return self.designs[self.designs["suggested"]].reset_index(drop=True)

    def summary(self) -> str:
        """One line per fit: today's interval, the suggested run and what it is expected to do."""
        lines = []
        tag = f"{100 * self.prob:g}%"
        for row in self.current.itertuples():
            best = self.designs[(self.designs["benchmark"] == row.benchmark) & self.designs["suggested"]]
            text = f"{row.benchmark}: target {tag} interval [{row.lower:.3f}, {row.upper:.3f}] (width {row.width:.3f})"
            if isinstance(getattr(row, "answer", None), str):
                text += f", P(above {self.thresholds[row.benchmark]:g}) {row.p_above:.2f}: {row.answer}"
            if len(best):
                b = best.iloc[0]
                text += (f"; suggested: {b['design']} ({b['cost']:.3g} {self.cost_unit}), expected width "
                         f"{b['expected_width']:.3f} +/- {b['width_se']:.3f}")
                if pd.notna(b.get("p_answer_changes", np.nan)):
                    text += f", answer changes with probability {b['p_answer_changes']:.2f}"
            elif len(self.designs[self.designs["benchmark"] == row.benchmark]):
                text += "; no candidate narrows the interval beyond Monte Carlo error"
            else:
                text += "; no candidate within the budget"
            lines.append(text)
        return "\n".join(lines)


def target_inputs(law, target) -> dict[str, float]:
    """The target's raw inputs for ``law``: a compute (float) or a mapping of inputs.

    Laws in compute accept ``compute`` or ``params`` and ``tokens`` (``C = 6 N D``).
    """
    if isinstance(target, (int, float, np.floating, np.integer)):
        target = {"compute": float(target)}
    if not isinstance(target, Mapping):
        raise SpecError(f"option target: expected a compute or a mapping of inputs, got {target!r}")
    values = {name: float(value) for name, value in target.items()}
    if "compute" in law.inputs and "compute" not in values and {"params", "tokens"} <= set(values):
        values["compute"] = 6.0 * values["params"] * values["tokens"]
    missing = [name for name in law.inputs if name not in values]
    if missing:
        raise SpecError(f"option target: law {law.name!r} needs {', '.join(missing)}")
    for name, value in values.items():
        if not (np.isfinite(value) and value > 0):
            raise SpecError(f"option target: {name} must be positive and finite, got {value!r}")
    if "compute" not in values:
        values["compute"] = 6.0 * values["params"] * values["tokens"]
    return values


def fitted_runs(idata) -> pd.DataFrame:
    """A fit's fitted runs as a tidy frame (``run_id``, ``params``, ``tokens``, ``flops``, ``k``, ``value``, ``chance``)."""
    constant = idata["constant_data"]
    frame = pd.DataFrame({name: np.asarray(constant[name]) for name in
                          ("run_id", "params", "tokens", "flops", "k", "value", "chance")})
    frame["run_id"] = frame["run_id"].astype(str)
    return frame


def ladder_tpr(idata) -> float:
    """The fit's tokens per parameter: its selection's ``tpr``, else the median of its runs'."""
    described = json.loads(idata.attrs.get("data", "{}")).get("tpr")
    return float(described) if described is not None else ladder_tpr_of(fitted_runs(idata))


def ladder_tpr_of(runs: pd.DataFrame) -> float:
    """The median tokens per parameter of a ladder's runs."""
    return float(np.median(runs["tokens"] / runs["params"]))


def candidate_grid(idata, target, n: int = N_CANDIDATES, *, tprs: Sequence[float] | None = None,
                   ks: Sequence[float] | None = None) -> list[Candidate]:
    """The default candidates for a fit and target (see the module's docstring).

    Parameters
    ----------
    idata : xarray.DataTree
        The current fit.
    target : float or mapping
        As in :func:`design_next_runs`.
    n : int
        Model sizes on the grid (log-spaced from the ladder's median run to half
        the target's compute), or values of k for pass@k.
    tprs : sequence of float, optional
        Token-to-parameter ratios crossed with the sizes (laws in params and
        tokens; default: the ladder's and the target's).
    ks : sequence of float, optional
        Numbers of samples to consider (pass@k; default: ``n`` doublings of the
        ladder's largest k).
    """
    law = law_of(idata)
    goal = target_inputs(law, target)
    runs = fitted_runs(idata)
    if "k" in law.inputs:
        return _k_candidates(runs, goal, n, ks)
    low = float(np.median(runs["flops"]))
    high = goal["compute"] / 2.0
    if not high > low:
        raise SpecError(f"option target: compute {goal['compute']:.3g} is not above twice the ladder's median run "
                        f"({low:.3g} FLOPs); nothing to design")
    computes = np.geomspace(low, high, n)
    if "params" in law.inputs:
        ladder = np.unique(np.round(runs["tokens"] / runs["params"], 1))
        chosen = sorted(set(tprs if tprs is not None else [*ladder, round(goal["tokens"] / goal["params"], 1)]))
    else:
        chosen = [ladder_tpr(idata)]
    return [_run_candidate(compute, tpr) for tpr in chosen for compute in computes]


def runs_at(compute, tpr: float) -> pd.DataFrame:
    """Runs (``params``, ``tokens``, ``flops``, ``k`` = 1) spending ``compute`` FLOPs at ``tpr`` tokens per parameter.

    ``C = 6 N D`` with ``D = tpr N``, so ``N = sqrt(C / (6 tpr))``.
    """
    compute = np.atleast_1d(np.asarray(compute, dtype=float))
    params = np.sqrt(compute / (6.0 * tpr))
    return pd.DataFrame({"params": params, "tokens": tpr * params, "flops": compute, "k": np.ones_like(compute)})


def _run_candidate(compute: float, tpr: float) -> Candidate:
    runs = runs_at(compute, tpr)
    params, tokens = runs["params"].iloc[0], runs["tokens"].iloc[0]
    return Candidate(f"N={params:.3g} D={tokens:.3g} (TPR {tpr:g})", runs, float(compute))


def _k_candidates(runs: pd.DataFrame, goal: dict, n: int, ks) -> list[Candidate]:
    models = runs.drop_duplicates("flops")[["params", "tokens", "flops"]].reset_index(drop=True)
    largest = float(runs["k"].max())
    if ks is None:
        # Doublings of the ladder's largest k, and the target's k when the ladder has not reached it.
        ks = largest * 2.0 ** np.arange(1, n + 1)
        if goal.get("k", 0.0) > largest:
            ks = np.unique(np.append(ks[ks != goal["k"]], goal["k"]))
    chosen = np.asarray(ks, dtype=float)
    return [Candidate(f"k={k:g} at {len(models)} models", models.assign(k=float(k)), float(k) * len(models))
            for k in chosen]


def candidates_from_table(law, table: pd.DataFrame, runs: pd.DataFrame) -> list[Candidate]:
    """Candidates from a user's table, one per row: ``params`` and ``tokens`` (or ``flops`` for laws in compute).

    For pass@k each row is a ``k``, sampled at every model of the ladder. An
    optional ``label`` column names the rows.
    """
    def given(row, name) -> float:
        value = row.get(name, np.nan)
        return float(value) if pd.notna(value) else np.nan

    out = []
    for index, row in table.reset_index(drop=True).iterrows():
        if "k" in law.inputs:
            k = given(row, "k")
            if not (np.isfinite(k) and k >= 1):
                raise SpecError(f"candidates row {index}: pass@k candidates need k >= 1, got {row.get('k')!r}")
            out += _k_candidates(runs, {}, 1, [k])
            continue
        params, tokens, flops = given(row, "params"), given(row, "tokens"), given(row, "flops")
        if np.isfinite(params) and np.isfinite(tokens):
            flops = 6.0 * params * tokens
        elif "params" in law.inputs or not np.isfinite(flops):
            raise SpecError(f"candidates row {index}: law {law.name!r} needs params and tokens"
                            + ("" if "params" in law.inputs else ", or flops"))
        else:
            params, tokens = runs_at(flops, ladder_tpr_of(runs)).loc[0, ["params", "tokens"]]
        if not (flops > 0 and params > 0 and tokens > 0 and np.isfinite(flops)):
            raise SpecError(f"candidates row {index}: params, tokens and flops must be positive and finite")
        label = str(row["label"]) if pd.notna(row.get("label", np.nan)) else f"N={params:.3g} D={tokens:.3g}"
        out.append(Candidate(label, pd.DataFrame({"params": [params], "tokens": [tokens], "flops": [flops],
                                                  "k": [1.0]}), flops))
    return out


#: Columns a table of candidates may have.
CANDIDATE_COLUMNS = ("label", "params", "tokens", "flops", "k")


def read_candidates(path) -> pd.DataFrame:
    """A CSV file of candidate runs (columns among :data:`CANDIDATE_COLUMNS`), checked."""
    from pathlib import Path

    path = Path(path)
    if not path.is_file():
        raise DataError(f"option --candidates: no such file: {path}")
    try:
        table = pd.read_csv(path, dtype={"label": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DataError(f"option --candidates: cannot read {path} as CSV: {first_line}") from None
    unknown = [c for c in table.columns if c not in CANDIDATE_COLUMNS]
    if unknown:
        raise DataError(f"option --candidates: unknown column {unknown[0]!r} (expected {', '.join(CANDIDATE_COLUMNS)})")
    if table.empty:
        raise DataError(f"option --candidates: {path} has no rows")
    for column in set(table.columns) - {"label"}:
        values = pd.to_numeric(table[column], errors="coerce")
        bad = np.flatnonzero(values.isna() & table[column].notna())
        if len(bad):
            raise DataError(f"option --candidates: row {bad[0]}, column {column!r}: {table[column].iloc[bad[0]]!r} "
                            "is not a number")
        table[column] = values
    return table


def add_runs(idata, runs: pd.DataFrame) -> ScalingData:
    """A fit's data with ``runs`` (with their ``value``) added to the fitted runs.

    The held-out runs stay held out; the selection's description is kept.
    """
    fitted = fitted_runs(idata)
    new = runs.assign(chance=chance_of(idata))
    if "run_id" not in new:
        new = new.assign(run_id=[f"new-{i}" for i in range(len(new))])
    frame = pd.concat([fitted, new[fitted.columns]], ignore_index=True)
    excluded = pd.DataFrame(columns=[*frame.columns, "reason", "role"])
    return ScalingData(frame, held_out_frame(idata), excluded, json.loads(idata.attrs.get("data", "{}")))


def refit(fits: Sequence, datasets: Sequence[ScalingData], settings: SamplerSettings, priors=None) -> list:
    """Refit ``datasets[i]`` with the law of ``fits[i]``, every one in one call of the engine.

    Each refit keeps its original's form error (``attrs["form_error"]``) and
    exclusion counts, so that its predictions use the same term and refusals.
    """
    from bayes_scaling.inference import fit_many

    laws = {law_of(fit).name for fit in fits}
    if len(laws) != 1:
        raise SpecError(f"option fits: one law at a time, got {', '.join(sorted(laws))}")
    # The refits are part of a design (or a check): their own lines are details (DEBUG), and a refit that
    # fails a check is counted by the caller rather than warned about one by one.
    with nested():
        refits = fit_many(list(datasets), laws.pop(), priors, settings)
    for original, new in zip(fits, refits):
        for key in ("form_error", "excluded"):
            if key in original.attrs:
                new.attrs[key] = original.attrs[key]
    return refits


def target_prediction(idata, goal: dict, prob: float, *, threshold: float | None = None, form_error=None,
                      seed: int = 0) -> dict[str, float]:
    """The target's predictive median, equal-tailed ``prob`` interval, its width and ``P(y > threshold)``."""
    prior = fit_form_error(idata, form_error)
    columns = {name: np.atleast_1d(goal[name]) for name in law_of(idata).inputs}
    # Several noise and bend draws per posterior draw: the interval's ends are then
    # limited by the posterior's draws, not by the predictive noise drawn on top.
    draws = np.concatenate([predictive_draws(idata, columns, prior, [seed, r])[1][:, 0] for r in range(REPLICATES)])
    lower, median, upper = np.quantile(draws, [(1 - prob) / 2, 0.5, (1 + prob) / 2])
    out = {"median": median, "lower": lower, "upper": upper, "width": upper - lower}
    if threshold is not None:
        out["p_above"] = float(np.mean(draws > threshold))
    return out


def answer(p_above: float, confidence: float) -> str:
    """``yes`` when ``P(above) >= confidence``, ``no`` when ``<= 1 - confidence``, else ``unsure``."""
    if p_above >= confidence:
        return "yes"
    if p_above <= 1.0 - confidence:
        return "no"
    return "unsure"


def simulate_outcomes(idata, runs: pd.DataFrame, n_outcomes: int, seed: int, form_error=None) -> np.ndarray:
    """Outcomes (n_outcomes, len(runs)) in raw accuracy of new runs, drawn from the posterior predictive.

    Outcome ``m`` of every run comes from one posterior draw and one form-error
    bend (shared, as the form bends one way for a benchmark), each run with its
    own Student-t noise.
    """
    law = law_of(idata)
    draws = posterior_draws(idata)
    rng = np.random.default_rng([seed, 2])
    picked = rng.choice(len(draws["sigma"]), size=n_outcomes, replace=False)
    draws = {name: values[picked] for name, values in draws.items()}
    prior = fit_form_error(idata, form_error)
    columns = raw_inputs(law, runs)
    shift = None
    if prior is not None:
        shift = prior.shift_draws(decades_beyond(runs["flops"].to_numpy(float), fitted_compute_range(idata)[1]),
                                  n_outcomes, np.random.default_rng([seed, 3]))
    _, new_run = law.accuracy_draws(draws, rescale_inputs(columns), chance_of(idata), rng, shift=shift)
    return new_run


#: The runs of the "no new run" design.
NO_RUNS = pd.DataFrame({"params": [], "tokens": [], "flops": [], "k": [], "value": []})


def _outcomes_by_candidate(idata, candidates: Sequence[Candidate], n_outcomes: int, seed: int, form_error) -> dict:
    """Simulated outcomes of every candidate's runs, drawn jointly: ``{id(candidate): (n_outcomes, runs)}``.

    Jointly, so that the runs of a pair get their own noise but the same posterior draw and bend.
    """
    if not candidates:
        return {}
    runs = pd.concat([c.runs for c in candidates], ignore_index=True)
    outcomes = simulate_outcomes(idata, runs, n_outcomes, seed, form_error)
    ends = np.cumsum([len(c.runs) for c in candidates])
    return {id(c): outcomes[:, end - len(c.runs):end] for c, end in zip(candidates, ends)}


def design_next_runs(
    fit_or_spec,
    target,
    candidates: Sequence[Candidate] | pd.DataFrame | None = None,
    budget: float | None = None,
    *,
    threshold: float | None = None,
    prob: float = 0.9,
    confidence: float = 0.9,
    n_outcomes: int = N_OUTCOMES,
    pairs: bool | None = None,
    settings: SamplerSettings | None = None,
    priors=None,
    form_error=None,
    seed: int = 0,
    keep_refits: bool = False,
) -> DesignResult:
    """Which run (or pair of runs) to add to a ladder to narrow the target's interval most.

    Parameters
    ----------
    fit_or_spec : DataTree, mapping of DataTrees, Spec or path to a spec
        The current fit(s): one fit, ``{benchmark: fit}``, or a spec whose fits
        are made first (:func:`bayes_scaling.pipeline.run_spec`).
    target : float or mapping
        The run to predict: a compute, or its inputs (``{"params": 7e9,
        "tokens": 1.4e11}``; ``{"compute": ..., "k": 100}`` for pass@k); or
        ``{benchmark: target}`` with one per fit.
    candidates : list of Candidate or DataFrame, optional
        Runs that could be trained next (a table: one run per row, ``params``
        and ``tokens`` or ``flops``, ``k``, an optional ``label``), or
        ``{benchmark: candidates}``; default :func:`candidate_grid`.
    budget : float, optional
        Most cost (training FLOPs; samples per problem for pass@k) to spend:
        candidates above it are dropped (and counted in ``notes``); pairs whose
        total fits in it are designed too.
    threshold : float or mapping, optional
        The question asked of the target: will its accuracy exceed this? (Or
        ``{benchmark: threshold}``.)
    prob : float
        Probability of the target's predictive interval (0.9).
    confidence : float
        Probability at which the answer is *yes* (or, at ``1 - confidence``, *no*).
    n_outcomes : int
        Simulated outcomes per design (the Monte Carlo size of the expectation).
    pairs : bool, optional
        Design pairs of runs; default: when the budget allows two.
    settings : SamplerSettings, optional
        Settings of the refits (default :data:`DESIGN_SETTINGS`, seeded by ``seed``).
    priors : mapping, optional
        The priors the fits used, when not the law's defaults (a spec's own
        priors are used for its fits).
    form_error : None, bool or FormErrorPrior
        As in :func:`bayes_scaling.predict.predict`.
    seed : int
        Seed of the outcomes, the refits and the predictive draws.
    keep_refits : bool
        Keep every refit in ``result.refits`` (memory: one posterior per refit).

    Returns
    -------
    DesignResult
    """
    check_prob(prob)
    check_prob(confidence)
    if confidence <= 0.5:
        raise SpecError(f"option confidence: must be above 0.5, got {confidence!r}")
    if not (isinstance(n_outcomes, (int, np.integer)) and n_outcomes >= 2):
        raise SpecError(f"option n_outcomes: must be an integer >= 2, got {n_outcomes!r}")
    if budget is not None and not (np.isfinite(budget) and budget > 0):
        raise SpecError(f"option budget: must be positive and finite, got {budget!r}")
    fits, spec_priors = _fits_of(fit_or_spec)
    priors = spec_priors if priors is None else priors
    law = law_of(next(iter(fits.values())))
    _check_direct(law)
    goals = {b: target_inputs(law, t) for b, t in _per_fit(target, fits, "target").items()}
    thresholds = _per_fit(threshold, fits, "threshold")
    listed = _per_fit(candidates, fits, "candidates")
    settings = (settings or DESIGN_SETTINGS).replace(seed=seed)
    notes: list[str] = []
    plans, datasets, owners, current_rows, ladders = [], [], [], [], {}
    for benchmark, idata in fits.items():
        goal = goals[benchmark]
        reason = fit_refusal(idata)
        if reason and goal["compute"] > fitted_compute_range(idata)[1]:
            raise SpecError(f"{benchmark}: extrapolation {reason}")
        _check_priors(idata, priors)
        ladders[benchmark] = fitted_runs(idata)
        today = target_prediction(idata, goal, prob, threshold=thresholds[benchmark], form_error=form_error,
                                  seed=seed)
        if thresholds[benchmark] is not None:
            today["answer"] = answer(today["p_above"], confidence)
        checks = json.loads(idata.attrs["diagnostics"]) if "diagnostics" in idata.attrs else {}
        current_rows.append({"benchmark": benchmark, **{f"target_{k}": v for k, v in goal.items()}, **today,
                             **{key: checks.get(key, np.nan) for key in ("max_rhat", "min_ess_bulk", "n_divergent")}})
        options = _candidates(idata, law, goal, listed[benchmark])
        affordable = [c for c in options if budget is None or c.cost <= budget]
        if len(affordable) < len(options):
            notes.append(f"{benchmark}: {len(options) - len(affordable)} of {len(options)} candidates cost more "
                         f"than the budget {budget:.3g} and were dropped")
        designs = [(c.label, [c]) for c in affordable]
        designs += _pairs(affordable, budget, pairs, notes, benchmark)
        outcomes = _outcomes_by_candidate(idata, affordable, n_outcomes, seed, form_error)
        # No new run: today's ladder refitted as the candidates are, the baseline of their reductions (the
        # refits' lighter sampler alone widened DCLM ARC-Easy's by 1.4%: benchmarks/design_check.py).
        for label, chosen in [(None, []), *designs]:
            plans.append((benchmark, label, chosen))
            for m in range(n_outcomes):
                added = pd.concat([c.runs.assign(value=outcomes[id(c)][m]) for c in chosen] or [NO_RUNS],
                                  ignore_index=True)
                datasets.append(add_runs(idata, added))
                owners.append(idata)
    logger.log(progress_level(), "design: %d designs (and today's ladder) x %d outcomes = %d refits",
               len(plans) - len(fits), n_outcomes, len(datasets))
    refits = refit(owners, datasets, settings, priors) if datasets else []
    rows, kept, widths_of = [], {}, []
    for i, (benchmark, label, chosen) in enumerate(plans):
        batch = refits[i * n_outcomes:(i + 1) * n_outcomes]
        predictions = [target_prediction(r, goals[benchmark], prob, threshold=thresholds[benchmark],
                                         form_error=form_error, seed=seed) for r in batch]
        widths = np.array([p["width"] for p in predictions])
        today = next(r for r in current_rows if r["benchmark"] == benchmark)
        if not chosen:
            today.update(refit_width=widths.mean(), refit_width_se=widths.std(ddof=1) / np.sqrt(len(widths)))
            continue
        widths_of.append(widths)
        cost = float(sum(c.cost for c in chosen))
        row = {
            "benchmark": benchmark, "design": label, "runs": len(chosen),
            "compute": max(c.compute for c in chosen), "k": max(float(c.runs["k"].max()) for c in chosen),
            "cost": cost,
            "expected_width": widths.mean(), "width_se": widths.std(ddof=1) / np.sqrt(len(widths)),
            "width_low": np.quantile(widths, 0.1), "width_high": np.quantile(widths, 0.9),
            "reduction": today["refit_width"] - widths.mean(),
        }
        row["reduction_se"] = float(np.hypot(row["width_se"], today["refit_width_se"]))
        row["reduction_per_cost"] = row["reduction"] / cost
        if thresholds[benchmark] is not None:
            above = np.array([p["p_above"] for p in predictions])
            row["expected_p_above"] = above.mean()
            row["p_answer_changes"] = float(np.mean([answer(p, confidence) != today["answer"] for p in above]))
        checks = [json.loads(r.attrs["diagnostics"]) for r in batch]
        row.update(max_rhat=max(c["max_rhat"] for c in checks), min_ess_bulk=min(c["min_ess_bulk"] for c in checks),
                   n_divergent=sum(c["n_divergent"] for c in checks),
                   n_failed=sum(bool(json.loads(r.attrs.get("warnings", "[]"))) for r in batch))
        rows.append(row)
        if keep_refits:
            kept[(benchmark, label)] = batch
    table = pd.DataFrame(rows)
    if len(table):
        table = _suggest(table, np.array(widths_of))
    unit = "samples per problem" if "k" in law.inputs else "FLOPs"
    return DesignResult(table, pd.DataFrame(current_rows), goals, prob, unit, notes, thresholds, ladders, kept, fits)


def _suggest(table: pd.DataFrame, widths: np.ndarray) -> pd.DataFrame:
    """Mark each fit's suggested design: the cheapest of those that Monte Carlo error cannot tell from the best.

    ``widths`` (designs, outcomes) share their outcomes' posterior draws and
    bends (common random numbers), so a design is compared with the narrowest
    one by the paired differences of their widths: within two standard errors
    of that difference it is as good, and the cheapest such design is
    suggested, among those that narrow today's interval by more than two
    standard errors of the reduction (``narrows``); a fit none of
    whose designs narrows it gets no suggestion. ``gap_to_best`` and
    ``gap_se`` are the paired differences.
    """
    table = table.assign(gap_to_best=np.nan, gap_se=np.nan, as_good_as_best=False, suggested=False,
                         narrows=table["reduction"] > 2.0 * table["reduction_se"])
    for _, group in table.groupby("benchmark"):
        if not group["narrows"].any():
            continue  # no candidate narrows the target's interval beyond Monte Carlo error: none is suggested
        best = group["expected_width"].idxmin()
        gaps = widths[group.index] - widths[best]
        gap = gaps.mean(axis=1)
        se = gaps.std(axis=1, ddof=1) / np.sqrt(gaps.shape[1])
        table.loc[group.index, "gap_to_best"] = gap
        table.loc[group.index, "gap_se"] = se
        table.loc[group.index, "as_good_as_best"] = gap <= 2.0 * se
        rows = table.loc[group.index]
        tied = rows[rows["as_good_as_best"] & rows["narrows"]]
        # Cheapest first; equal costs (up to rounding: a grid spends the same FLOPs at every TPR) go to the narrower.
        order = tied.assign(rounded=np.round(np.log10(tied["cost"]), 9)).sort_values(["rounded", "expected_width"])
        table.loc[order.index[0], "suggested"] = True
    return table


def _fits_of(fit_or_spec) -> tuple[dict, dict | None]:
    """``{benchmark: fit}`` from a fit, a mapping of fits, a Spec or a spec's path; and a spec's priors."""
    from pathlib import Path

    from bayes_scaling.specs import Spec, load_spec

    if isinstance(fit_or_spec, (str, Path)):
        fit_or_spec = load_spec(fit_or_spec)
    if isinstance(fit_or_spec, Spec):
        from bayes_scaling.laws import get_law
        from bayes_scaling.pipeline import run_spec

        _check_direct(get_law(fit_or_spec.form))
        fits = run_spec(fit_or_spec).fits
        if not fits:
            raise SpecError(f"spec {fit_or_spec.name!r}: no benchmark could be fitted")
        return fits, fit_or_spec.prior_distributions() or None
    if isinstance(fit_or_spec, Mapping) and not isinstance(fit_or_spec, xr.DataTree):
        return dict(fit_or_spec), None
    benchmark = json.loads(fit_or_spec.attrs.get("data", "{}")).get("benchmark", "target")
    return {str(benchmark): fit_or_spec}, None


def _check_direct(law) -> None:
    if law.kind != "direct":
        raise SpecError(f"option form: design needs a direct law, not {law.name!r} (a two-stage law predicts "
                        "accuracy through a loss the candidate runs do not have yet)")


def _per_fit(value, fits: Mapping, option: str) -> dict:
    """``{benchmark: value}``: a mapping keyed by every fit's benchmark is per fit, anything else is shared."""
    if isinstance(value, Mapping) and value and set(value) == set(fits):
        return dict(value)
    if isinstance(value, Mapping) and len(fits) > 1 and set(value) & set(fits):
        missing = ", ".join(sorted(set(fits) - set(value)))
        raise SpecError(f"option {option}: given per benchmark but missing {missing}")
    return dict.fromkeys(fits, value)


def _check_priors(idata, priors) -> None:
    """A refit must use the fit's priors: refuse when the fit's differ from the ones given (or the defaults)."""
    from bayes_scaling.inference import repr_prior

    law = law_of(idata)
    used = json.loads(idata.attrs.get("priors", "{}"))
    given = {name: repr_prior(prior) for name, prior in law.priors(priors).items()}
    if used and used != given:
        differing = ", ".join(sorted(name for name in used if used[name] != given.get(name)))
        raise SpecError(f"option priors: the fit used other priors for {differing}; pass them as priors=")


def _candidates(idata, law, goal, candidates) -> list[Candidate]:
    if candidates is None:
        return candidate_grid(idata, goal)
    if isinstance(candidates, pd.DataFrame):
        return candidates_from_table(law, candidates, fitted_runs(idata))
    return list(candidates)


def _pairs(affordable: list[Candidate], budget, pairs, notes: list[str], benchmark: str) -> list:
    """Pairs of distinct candidates whose total cost fits in the budget.

    All of them when there are at most :data:`MAX_PAIRS`; otherwise each
    candidate with the largest other candidate that fits beside it (a pair's
    form error is set by its larger run, and a run inside the range adds
    little, so these are the pairs that can compete).
    """
    if pairs is False or (pairs is None and budget is None):
        return []
    options = [(a, b) for a, b in itertools.combinations(affordable, 2) if budget is None or a.cost + b.cost <= budget]
    if len(options) > MAX_PAIRS:
        best = {}
        for a, b in options:
            for run, partner in ((a, b), (b, a)):
                if id(run) not in best or partner.compute > best[id(run)][1].compute:
                    best[id(run)] = (run, partner)
        kept = {frozenset((id(a), id(b))): (a, b) for a, b in best.values()}
        notes.append(f"{benchmark}: {len(options)} pairs fit in the budget; {len(kept)} were designed (each "
                     "candidate with the largest one that fits beside it)")
        options = list(kept.values())
    options.sort(key=lambda pair: pair[0].cost + pair[1].cost)
    return [(f"{a.label} + {b.label}", [a, b]) for a, b in options]


def refit_with(fits: Sequence, added: Sequence[pd.DataFrame], settings: SamplerSettings | None = None,
               priors=None) -> list:
    """``fits[i]`` refitted with the runs ``added[i]`` (with their measured ``value``), every one in one engine call."""
    return refit(list(fits), [add_runs(fit, runs) for fit, runs in zip(fits, added)],
                 settings or DESIGN_SETTINGS, priors)


def realised(fits: Sequence, added: Sequence[pd.DataFrame], target, *, prob: float = 0.9,
             threshold: float | None = None, settings: SamplerSettings | None = None, priors=None,
             form_error=None, seed: int = 0) -> list[dict]:
    """The target's prediction after really adding runs (with their measured ``value``) to fits, in one engine call.

    ``added[i]`` is a frame of runs (``params``, ``tokens``, ``flops``, ``k``,
    ``value``) added to ``fits[i]``. Returns one :func:`target_prediction` per
    fit, with the refit under ``"fit"``: one real outcome of what
    :func:`design_next_runs` predicts the expectation of.
    """
    goal = target_inputs(law_of(fits[0]), target)
    refits = refit_with(fits, added, (settings or DESIGN_SETTINGS).replace(seed=seed), priors)
    return [target_prediction(r, goal, prob, threshold=threshold, form_error=form_error, seed=seed) | {"fit": r}
            for r in refits]
