# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.7
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Which run to train next: planning a 7B model from a ladder of small runs
#
# A team has trained the DCLM ladder at 20 tokens per parameter up to 1e20 FLOPs (models up to 0.9B) and
# plans a 7B model (the ladder's 6.8B run `dclm-046`, 5.6e21 FLOPs, the run nearest 7B). Two questions:
# is the ladder enough to trust the prediction, and if not, which extra run, at most a tenth of the
# target's compute, would shrink the uncertainty most?
#
# `bs.design_next_runs` answers by preposterior analysis: for each candidate run it draws the run's outcome
# from today's posterior predictive (the law, its noise, and the form error beyond the ladder, which bends
# the candidate and the target the same way), refits the law with it, and averages the target's 90%
# interval width over the outcomes. Every (candidate, outcome) refit goes through one call of the batched
# engine.
#
# The bundled data holds the larger runs the team had not trained yet, so the plan can be checked: add
# the suggested run with its measured accuracy, refit, and compare the interval with what the design
# predicted and with the 7B run's measured accuracy.

# %%
# Settings. BAYES_SCALING_FAST=1 (set by the tests) runs a smaller analysis: one benchmark,
# 4 chains of 500 draws for the ladder's fit, 4 simulated outcomes per candidate.
import os
import sys
from dataclasses import replace
from pathlib import Path

import matplotlib

FAST = os.environ.get("BAYES_SCALING_FAST", "0") == "1"
if FAST:
    SAMPLER = dict(num_warmup=500, num_samples=500, num_chains=4)
    RETRY = False  # a retry (longer warm-up) compiles another program: not in fast mode
    BENCHMARKS = ("arc_easy",)
    OUTCOMES = 4
else:
    SAMPLER = dict(num_warmup=1000, num_samples=1000, num_chains=4)
    RETRY = True   # refit, once, any fit that fails a sampling check
    BENCHMARKS = ("arc_easy", "hellaswag", "piqa")
    OUTCOMES = 16

INTERACTIVE = "ipykernel" in sys.modules
if not INTERACTIVE:
    matplotlib.use("Agg")
OUT = Path("notebook_outputs") / "next_run"
OUT.mkdir(parents=True, exist_ok=True)
print(f"fast mode: {FAST}; sampler: {SAMPLER}, retry={RETRY}; outcomes per candidate: {OUTCOMES}; files go to {OUT.resolve()}")

# %% [markdown]
# ## Today's ladder and today's answer
#
# The spec of the demo (`models/dclm_power_law.toml`: the direct power law at TPR 20) cut at 1e20 FLOPs.
# `run_spec` fits every benchmark in one program and attaches each fit's form error (the shipped prior
# updated by the ladder's own backtests). The sampler's diagnostics come first.

# %%
import pandas as pd

import bayes_scaling as bs
from bayes_scaling.design import realised
from bayes_scaling.fits import held_out_frame
from bayes_scaling.plotting import plot_design, save_figure

spec_file = Path(bs.__file__).resolve().parents[1] / "models" / "dclm_power_law.toml"
spec = replace(bs.load_spec(spec_file), benchmarks=BENCHMARKS, max_compute=1e20, retry=RETRY,
               **SAMPLER)
fits = bs.run_spec(spec).fits
bs.diagnose_fits(fits)

# %% [markdown]
# The target is the ladder's run `dclm-046` (held out, so unseen by the fits). The question asked of it:
# will the 7B beat 0.75 on ARC-Easy (0.6 on HellaSwag, 0.78 on PIQA)? The answer is *yes* when the
# predictive probability is at least 0.9, *no* when it is at most 0.1, *unsure* between.

# %%
held = {b: held_out_frame(f).set_index("run_id") for b, f in fits.items()}
target_run = held[BENCHMARKS[0]].loc["dclm-046"]
target = {"params": float(target_run["params"]), "tokens": float(target_run["tokens"])}
thresholds = {"arc_easy": 0.75, "hellaswag": 0.6, "piqa": 0.78}
budget = 6.0 * target["params"] * target["tokens"] / 10
print(f"target: N = {target['params']:.3g}, D = {target['tokens']:.3g}, "
      f"C = {6 * target['params'] * target['tokens']:.3g} FLOPs; budget of one run: {budget:.3g} FLOPs")

# %% [markdown]
# ## The candidates: runs the team could train next
#
# Every ladder run between 1e20 FLOPs and the budget (the bundled data has them, so each suggestion can be
# checked afterwards). Pairs of runs are left out here: the budget is for one run.

# %%
pool = held[BENCHMARKS[0]]
pool = pool[(pool["flops"] > 1e20) & (pool["flops"] <= budget)].sort_values("flops")
candidates = pd.DataFrame({"label": pool.index, "params": pool["params"], "tokens": pool["tokens"]})
result = bs.design_next_runs(fits, target, candidates, budget, threshold={b: thresholds[b] for b in fits},
                             n_outcomes=OUTCOMES, pairs=False)
print(result.summary())
result.current

# %%
result.designs[["benchmark", "design", "compute", "expected_width", "width_se", "width_low", "width_high",
                "reduction", "p_answer_changes", "n_failed", "as_good_as_best", "suggested"]]

# %% [markdown]
# Runs inside the ladder's range narrow nothing: they add a point where the law is already pinned down
# and leave the distance to the target, and so the form error, as it was. The larger the run, the closer
# the target, and the narrower its interval: the design suggests the cheapest run that Monte Carlo error
# cannot tell from the best (`as_good_as_best`).

# %%
fig = plot_design(result)
print("written:", *save_figure(fig, OUT / "design"))
fig

# %% [markdown]
# ## What the real runs showed
#
# The suggested run exists in the data: add it with its measured accuracy, refit, and compare the target's
# interval with the design's prediction (its expected width, and the 10-90% range of widths over the
# simulated outcomes). The same for the run a team adds by default, the next one in order of compute.

# %%
suggested = result.suggested().set_index("benchmark")["design"]
rows = []
for policy, pick in (("suggested", lambda b: suggested[b]), ("next in compute", lambda b: pool.index[0])):
    added = [held[b].loc[[pick(b)]].reset_index()[["run_id", "params", "tokens", "flops", "k", "value"]]
             for b in fits]
    after = realised(list(fits.values()), added, target, prob=0.9, seed=spec.seed)
    for (b, fit), run, obtained in zip(fits.items(), added, after):
        predicted = result.designs.query("benchmark == @b and design == @run.run_id.iloc[0]").iloc[0]
        truth = held[b].loc["dclm-046", "value"]
        rows.append({"benchmark": b, "policy": policy, "run": run["run_id"].iloc[0],
                     "run_compute": run["flops"].iloc[0],
                     "width_today": result.current.set_index("benchmark").loc[b, "width"],
                     "predicted_width": predicted["expected_width"], "predicted_low": predicted["width_low"],
                     "predicted_high": predicted["width_high"], "obtained_width": obtained["width"],
                     "lower": obtained["lower"], "upper": obtained["upper"], "target_measured": truth,
                     "covered": obtained["lower"] <= truth <= obtained["upper"],
                     "diagnostics": str(bs.diagnose(obtained["fit"]))})
check = pd.DataFrame(rows)
check.drop(columns="diagnostics")

# %%
for row in check.itertuples():
    print(f"{row.benchmark} / {row.policy}: {row.diagnostics}")
ratio = check["obtained_width"] / check["predicted_width"]
print(f"obtained / predicted width: {', '.join(f'{r:.2f}' for r in ratio)}; "
      f"target covered in {int(check['covered'].sum())} of {len(check)}")

# %% [markdown]
# The widths obtained with the real runs match the design's predictions closely: the predicted width is a
# property of the law, the ladder and the distance to the target more than of the outcome. Whether the
# narrower interval covers the 7B's real accuracy is a different question, answered by the leave-future-out
# coverage of the form-error term (README, "Honest extrapolation") and by the backtest of
# `benchmarks/design_check.py`, which adds runs step by step on every benchmark.
