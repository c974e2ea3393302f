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
# # The paper's headline comparison: direct against two-stage
#
# Krajewski et al. (2025) report that predicting accuracy directly from compute is at least as good as the
# two-stage route (compute to validation loss, then loss to accuracy). This notebook repeats the comparison
# on their DCLM ladder at TPR 20 with the settings of `models/dclm_headline.toml`:
#
# - each law is fitted on the runs up to a compute cut-off and scored on every larger run, at several
#   cut-offs (a rolling origin);
# - every Bayesian score is shown beside the paper's own point-estimate method on the same split;
# - per benchmark, the posterior of the difference in mean absolute error, direct minus two-stage;
# - and, separately, a leave-one-out (LOO) comparison of three direct forms, which measures
#   **interpolation**, not extrapolation.

# %%
# Settings. BAYES_SCALING_FAST=1 (set by the tests) runs a smaller analysis:
# 4 chains of 500 draws after 500 warm-up steps (the test suite's settings, so
# that the fits share compiled programs with it) and fewer benchmarks.
import os
import sys
from pathlib import Path

import matplotlib

FAST = os.environ.get("BAYES_SCALING_FAST", "0") == "1"
if FAST:
    SAMPLER = dict(num_warmup=500, num_samples=500, num_chains=4)
    RETRY = False  # a retry (longer warm-up) compiles another program: not in fast mode
    BENCHMARKS = ("arc_easy", "hellaswag")   # of the spec's six
    LOO_BENCHMARKS = ("arc_easy",)
    # BNSL takes minutes to compile and needs more than 500 warm-up steps: full mode only.
    LOO_FORMS = ("power_law", "saturating_power_law")
else:
    SAMPLER = dict(num_warmup=1000, num_samples=1000, num_chains=4)
    RETRY = True   # refit, once, any fit that fails a sampling check
    BENCHMARKS = None   # all of the spec's
    LOO_BENCHMARKS = None
    LOO_FORMS = ("power_law", "saturating_power_law", "bnsl")

# Outside Jupyter (the tests, a script) nothing is displayed: figures only go to files.
INTERACTIVE = "ipykernel" in sys.modules
if not INTERACTIVE:
    matplotlib.use("Agg")
OUT = Path("notebook_outputs") / "paper_reproduction"
OUT.mkdir(parents=True, exist_ok=True)
print(f"fast mode: {FAST}; sampler: {SAMPLER}, retry={RETRY}; files go to {OUT.resolve()}")

# %%
import dataclasses

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import bayes_scaling as bs
from bayes_scaling.loo import compare_forms
from bayes_scaling.pipeline import load_table, run_evaluation
from bayes_scaling.specs import load_spec

# The spec lives in the repository's models/ folder, beside this notebooks/ folder.
spec = load_spec(Path(bs.__file__).resolve().parents[1] / "models" / "dclm_headline.toml")
spec = dataclasses.replace(spec, benchmarks=BENCHMARKS or spec.benchmarks, retry=RETRY, **SAMPLER)
print(f"benchmarks {', '.join(spec.benchmarks)}; forms {', '.join(spec.evaluated_forms)}; "
      f"cut-offs {', '.join(f'{c:.0e}' for c in spec.evaluated_cutoffs)} FLOPs; loss {spec.loss_benchmark}")

# %% [markdown]
# ## Extrapolation scores at a rolling origin
#
# `run_evaluation` fits every form to every benchmark and cut-off (all fits of a form in one compiled
# program), fits the paper's method on the same splits, and scores the runs beyond each cut-off: mean
# absolute error (`mae`), mean relative error (`mre`) and R² of the posterior median (or of the point fit),
# the coverage of the 50% and 90% predictive intervals, and the held-out log predictive density (`elpd`,
# Bayesian only). Splits that cannot be fitted are listed with the reason, not dropped.

# %%
result = run_evaluation(spec)
bs.diagnose_fits(result.fits)

# %%
scores = result.scores
print("splits not fitted:", scores.loc[scores["status"] != "ok", ["form", "benchmark", "cutoff", "status"]]
      .to_dict("records") or "none")
ok = scores[scores["status"] == "ok"]
side_by_side = ok.pivot_table(index=["benchmark", "cutoff", "form"], columns="method",
                              values=["mae", "mre", "r2"])
side_by_side.columns = [f"{metric}_{method}" for metric, method in side_by_side.columns]
bayes = ok[ok["method"] == "bayes"].set_index(["benchmark", "cutoff", "form"])
side_by_side.join(bayes[["n_fitted", "n_held_out", "coverage_90", "elpd", "max_rhat", "n_divergent"]]).round(4)

# %% [markdown]
# Pooled over benchmarks, per form, cut-off and method:

# %%
result.summary.round(4)

# %% [markdown]
# ## Direct minus two-stage, per benchmark
#
# For each benchmark and cut-off, over posterior draws of both mean curves:
# `d = MAE(direct) - MAE(two-stage)` on the runs both fits hold out. Negative `d` means the direct law is
# closer; `p_direct_closer = P(d < 0)`. The row `all` pools every held-out run.

# %%
comparison = result.direct_vs_two_stage
comparison.round(4)

# %%
fig, axes = plt.subplots(1, len(spec.evaluated_cutoffs), figsize=(5 * len(spec.evaluated_cutoffs), 3.2),
                         layout="constrained", sharex=True, squeeze=False)
for ax, cutoff in zip(axes[0], spec.evaluated_cutoffs):
    rows = comparison[comparison["cutoff"] == cutoff].reset_index(drop=True)
    y = np.arange(len(rows))
    ax.errorbar(rows["difference_median"], y, xerr=[rows["difference_median"] - rows["difference_lower_90"],
                rows["difference_upper_90"] - rows["difference_median"]], fmt="o", color="#0072B2", capsize=3)
    ax.axvline(0, color="#999999", lw=0.8, ls="--")
    ax.set_yticks(y, rows["benchmark"])
    ax.invert_yaxis()
    ax.set_title(f"fitted up to {cutoff:.0e} FLOPs", fontsize=10)
    ax.set_xlabel("MAE direct - MAE two-stage (90% interval)")
fig.savefig(OUT / "direct_minus_two_stage.png", dpi=150)
fig

# %% [markdown]
# ## LOO: power law, saturating power law, BNSL
#
# PSIS-LOO estimates how well each form predicts a run left out of its own fit; runs whose Pareto k is
# too high are refitted without them and scored exactly. The forms are fitted to the same runs (up to
# the spec's hold-out, 1e21 FLOPs). In fast mode BNSL is left out: it takes minutes to compile, and with 500
# warm-up steps its chains do not yet agree on where the break lies.
#
# **LOO measures interpolation**: a left-out run lies inside the compute range of the others. It does not
# say which form extrapolates best; the scores above (runs beyond a cut-off) do.

# %%
table = load_table(spec)
loo_benchmarks = LOO_BENCHMARKS or spec.benchmarks
loo_data = [bs.select(table, b, spec.metric, tpr=spec.tpr, max_compute=spec.max_compute) for b in loo_benchmarks]
loo_fits = {
    form: dict(zip(loo_benchmarks, bs.fit_many(loo_data, form, seed=0, retry=RETRY, **SAMPLER)))
    for form in LOO_FORMS
}
bs.diagnose_fits({(form, b): fit for form, fits in loo_fits.items() for b, fit in fits.items()})

# %%
loo_tables = {b: compare_forms({form: loo_fits[form][b] for form in LOO_FORMS}) for b in loo_benchmarks}
print(next(iter(loo_tables.values())).attrs["note"])
pd.concat(loo_tables, names=["benchmark"]).round(3)
