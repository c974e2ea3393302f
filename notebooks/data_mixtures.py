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
# # Which data mixture? Posterior probabilities along compute
#
# Two questions a team asks of a ladder trained on two data mixtures: at a given compute, how likely is
# mixture A to beat mixture B, and do their curves cross? `compare_groups` answers both from the posterior
# draws of two fits of the same law:
#
# - the posterior probability that A beats B at each compute, and the range of compute where that
#   probability is at least 90%;
# - the share of posterior draws whose curves cross, and where (median and 90% interval).
#
# Two data sets: the C4 and DCLM mixtures of Krajewski et al. (2025) at TPR 20 (the direct power law), and
# RedPajama, RefinedWeb and C4 in Gadre et al. (2024), whose runs span TPR 5 to 640 (the additive law in
# parameters and tokens, compared at TPR 20).

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
    BENCHMARKS = ["arc_easy"]
    GADRE_BENCHMARKS = ["arc_easy"]
else:
    SAMPLER = dict(num_warmup=1000, num_samples=1000, num_chains=4)
    RETRY = True   # refit, once, any fit that fails a sampling check
    BENCHMARKS = ["arc_easy", "hellaswag", "piqa", "sciq"]
    GADRE_BENCHMARKS = ["arc_easy", "piqa", "hellaswag"]

# Outside Jupyter (the tests, a script) nothing is displayed: figures only go to files.
INTERACTIVE = "ipykernel" in sys.modules
if not INTERACTIVE:
    matplotlib.use("Agg")
OUT = Path("notebook_outputs") / "data_mixtures"
OUT.mkdir(parents=True, exist_ok=True)
print(f"fast mode: {FAST}; sampler: {SAMPLER}, retry={RETRY}; files go to {OUT.resolve()}")

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import bayes_scaling as bs
from bayes_scaling.decisions import compare_groups
from bayes_scaling.pipeline import load_table
from bayes_scaling.specs import Spec

COMPUTE = [1e19, 1e20, 1e21, 1e22, 1e23]   # where to compare
GRID = np.geomspace(1e18, 1e24, 61)        # for the plots
# Where to look for a crossover: from the smallest runs (1e18 FLOPs) to two decades past the largest.
# Two power laws rising from chance often cross far below any run; such a crossover says nothing.
SEARCH = (1e18, 1e24)

# %% [markdown]
# ## C4 against DCLM (Krajewski et al.)
#
# A spec whose `dataset` names two bundled data sets joined by a comma loads both into one table (run ids
# are prefixed by the data set's name); the `group` column says which mixture a run was trained on.

# %%
spec = Spec(name="mixtures_c4_dclm", dataset="krajewski2025_dclm,krajewski2025_c4", benchmarks=tuple(BENCHMARKS),
            metric="acc", tpr=20, max_compute=1e21)
table = load_table(spec)
print(table.groupby("group")["run_id"].nunique().to_string())
mixture_data = {(b, g): bs.select(table, b, spec.metric, group=g, tpr=spec.tpr, max_compute=spec.max_compute,
                                  dataset=spec.dataset)
                for b in spec.benchmarks for g in ("dclm", "c4")}
for data in mixture_data.values():
    print(data.summary())

# %%
mixture_fits = dict(zip(mixture_data, bs.fit_many(list(mixture_data.values()), "power_law", seed=0,
                                                  retry=RETRY, **SAMPLER)))
bs.diagnose_fits(mixture_fits)

# %% [markdown]
# Per benchmark: the posterior probability that DCLM beats C4 at each compute, with the median accuracy of
# each and the difference (DCLM minus C4) with its 90% interval.

# %%
comparisons = {b: compare_groups(mixture_fits[b, "dclm"], mixture_fits[b, "c4"], COMPUTE, labels=("dclm", "c4"),
                                 search=SEARCH)
               for b in spec.benchmarks}
pd.concat({b: c.table for b, c in comparisons.items()}, names=["benchmark"]).round(4)

# %% [markdown]
# Where DCLM is better with probability at least 0.9 (`dclm_better_from` to `dclm_better_to`, among the
# compute values asked about), where C4 is, and whether the curves cross between 1e18 and 1e24 FLOPs
# (`p_crossover`: the share of posterior draws that do) and where (median and 90% interval among them):

# %%
pd.concat({b: c.summary for b, c in comparisons.items()}, names=["benchmark"]).droplevel(1)

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), layout="constrained")
for benchmark, colour in zip(spec.benchmarks, ["#0072B2", "#D55E00", "#009E73", "#E69F00"]):
    dense = compare_groups(mixture_fits[benchmark, "dclm"], mixture_fits[benchmark, "c4"], GRID,
                           labels=("dclm", "c4")).table
    axes[0].plot(GRID, dense["p_dclm_better"], color=colour, label=benchmark)
    axes[1].fill_between(GRID, dense["difference_lower_90"], dense["difference_upper_90"], color=colour,
                         alpha=0.2, linewidth=0)
    axes[1].plot(GRID, dense["difference_median"], color=colour, label=benchmark)
axes[0].axhline(0.9, color="#999999", lw=0.8, ls="--")
axes[0].set_ylabel("P(DCLM beats C4)")
axes[1].axhline(0.0, color="#999999", lw=0.8, ls="--")
axes[1].set_ylabel("accuracy, DCLM - C4 (90% interval)")
for ax in axes:
    ax.set_xscale("log")
    ax.set_xlabel("training compute (FLOPs)")
    ax.axvspan(spec.max_compute, GRID[-1], color="#999999", alpha=0.12, linewidth=0)
    ax.legend(fontsize=8, frameon=False)
fig.savefig(OUT / "dclm_against_c4.png", dpi=150)
fig

# %% [markdown]
# ## RedPajama, RefinedWeb and C4 (Gadre et al.)
#
# Gadre et al. train each mixture at TPR 5 to 640 (only five or six runs per mixture at TPR 20), so the law
# is the additive one in parameters `N` and tokens `D` (paper eq. 4), fitted on every run of a mixture;
# `compare_groups(..., tpr=20)` compares the mixtures along compute spent at 20 tokens per parameter.
#
# In the summary of each pair, `A_better_from` to `A_better_to` is the range of the compute values asked
# about where `P(A beats B) >= 0.9` (and `B_better_...` the converse); `p_crossover` is the share of
# posterior draws whose curves cross between 1e18 and 1e24 FLOPs (`SEARCH`), and `crossover_median` with
# `crossover_lower_90` and `crossover_upper_90` says where, among those draws.

# %%
GROUPS = ["rpj", "rw_original", "c4_original"]
gadre = bs.load_dataset("gadre2024")
gadre_data = {(b, g): bs.select(gadre, b, group=g, dataset="gadre2024") for b in GADRE_BENCHMARKS for g in GROUPS}
for data in gadre_data.values():
    print(data.summary())
gadre_fits = dict(zip(gadre_data, bs.fit_many(list(gadre_data.values()), "additive_nd", seed=0,
                                              retry=RETRY, **SAMPLER)))
bs.diagnose_fits(gadre_fits)

# %%
PAIRS = [("rpj", "rw_original"), ("rpj", "c4_original"), ("rw_original", "c4_original")]
# Labelled "A" and "B", so that the summaries of different pairs share their column names.
gadre_comparisons = {
    (b, a, c): compare_groups(gadre_fits[b, a], gadre_fits[b, c], COMPUTE, tpr=20, labels=("A", "B"),
                              search=SEARCH)
    for b in GADRE_BENCHMARKS for a, c in PAIRS
}
pd.concat(
    [c.summary.drop(columns=["group_a", "group_b"]).assign(benchmark=b, A=a, B=other)
     for (b, a, other), c in gadre_comparisons.items()],
    ignore_index=True,
).set_index(["benchmark", "A", "B"])

# %%
fig, axes = plt.subplots(1, len(GADRE_BENCHMARKS), figsize=(5 * len(GADRE_BENCHMARKS), 3.6),
                         layout="constrained", squeeze=False)
for ax, benchmark in zip(axes[0], GADRE_BENCHMARKS):
    for (a, c), colour in zip(PAIRS, ["#0072B2", "#D55E00", "#009E73"]):
        dense = compare_groups(gadre_fits[benchmark, a], gadre_fits[benchmark, c], GRID, tpr=20,
                               labels=(a, c)).table
        ax.plot(GRID, dense[f"p_{a}_better"], color=colour, label=f"P({a} beats {c})")
    ax.axhline(0.9, color="#999999", lw=0.8, ls="--")
    ax.axhline(0.1, color="#999999", lw=0.8, ls="--")
    ax.set_xscale("log")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("training compute at TPR 20 (FLOPs)")
    ax.set_title(f"{benchmark} (Gadre et al.)", fontsize=10)
    ax.legend(fontsize=8, frameon=False)
fig.savefig(OUT / "gadre_mixtures.png", dpi=150)
fig
