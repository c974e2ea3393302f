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
# # Pass@k: compute and samples
#
# The pass@k law (Krajewski et al. 2025, eq. 5) describes pass@k jointly in training compute `C` and the
# number of samples `k`:
#
# `log(-log pass@k) = log A + alpha log C + beta log k + delta log C log k`
#
# It is fitted here to the code benchmarks of the DCLM ladder (TPR 20, runs up to 1e21 FLOPs; HumanEval,
# and MBPP and LBPP outside fast mode) and to Large Language Monkeys (Brown et al. 2024: Pythia models on
# MATH with 10,000 samples per problem), where it is fitted on `k <= 64` and checked at `k` up to 10,000.
# Then: pass@k against k at several compute budgets, and the trade-off between training compute and
# samples at inference for a target pass@k.

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
    CODE_BENCHMARKS = ["humaneval"]
else:
    SAMPLER = dict(num_warmup=1000, num_samples=1000, num_chains=4)
    RETRY = True   # refit, once, any fit that fails a sampling check
    CODE_BENCHMARKS = ["humaneval", "mbpp", "lbpp"]

# Outside Jupyter (the tests, a script) nothing is displayed: figures only go to files.
INTERACTIVE = "ipykernel" in sys.modules
if not INTERACTIVE:
    matplotlib.use("Agg")
OUT = Path("notebook_outputs") / "pass_at_k"
OUT.mkdir(parents=True, exist_ok=True)
print(f"fast mode: {FAST}; sampler: {SAMPLER}, retry={RETRY}; files go to {OUT.resolve()}")

# %% [markdown]
# ## Data
#
# Broken code evaluations in the Krajewski data (pass@1 near 0 with pass@k = 1 for k >= 2, or all-zero
# rows) are detected and excluded when pass@k is selected; the summaries count them.
#
# For Large Language Monkeys, pass@k is the unbiased estimate from 10,000 samples per problem. Pythia-70M
# is left out: 94 of its 128 problems are never solved, so its pass@k flattens below 1 along k, which the
# law cannot follow. The 6.9B and 12B models (1.2e22 and 2.1e22 FLOPs) are held out by the compute
# cut-off, and every `k > 64` by the filter below, so that predictions at unseen `k` can be checked.

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import bayes_scaling as bs
from bayes_scaling.decisions import compute_for_accuracy
from bayes_scaling.fits import posterior_draws
from bayes_scaling.plotting import plot_bands, save_figure
from bayes_scaling.predict import predict

dclm = bs.load_dataset("krajewski2025_dclm")
datasets = {b: bs.select(dclm, b, metric="pass_at_k", tpr=20, max_compute=1e21) for b in CODE_BENCHMARKS}

FIT_K = 64
monkeys = bs.load_dataset("llmonkeys_pythia_math")
monkeys = monkeys[monkeys["run_id"] != "pythia-70m"]
datasets["math"] = bs.select(monkeys[monkeys["k"] <= FIT_K], "math", metric="pass_at_k", max_compute=1e22,
                             chance_margin=0.0, dataset="llmonkeys_pythia_math")
for data in datasets.values():
    print(data.summary())

# %% [markdown]
# ## Fit, all benchmarks in one compiled program

# %%
fits = dict(zip(datasets, bs.fit_many(list(datasets.values()), "pass_at_k", seed=0, retry=RETRY,
                                      **SAMPLER)))
bs.diagnose_fits(fits)

# %% [markdown]
# The paper's coefficients (signed, natural logs, C in FLOPs), posterior median and 90% interval. A
# negative `delta` means that the benefit of more samples grows with compute.

# %%
rows = {}
for name, idata in fits.items():
    coefficients = bs.get_law("pass_at_k").paper_parameters(posterior_draws(idata))
    rows[name] = {key: f"{np.median(v):.3g} [{np.quantile(v, 0.05):.3g}, {np.quantile(v, 0.95):.3g}]"
                  for key, v in coefficients.items()}
pd.DataFrame(rows).T

# %%
for name, idata in fits.items():
    fig = plot_bands(idata, title=f"{name}: pass@k law")
    print("written:", *save_figure(fig, OUT / f"{name}_bands"))
fig

# %% [markdown]
# ## Predictions at unseen k
#
# On MATH the law was fitted on `k <= 64` of the four models below 1e22 FLOPs. Every other measurement
# (`k` from 128 to 10,000 for those models, and every `k` of the held-out 6.9B and 12B models) is
# predicted here with a 90% predictive interval and compared with what was measured. The law is a
# straight line in `log k` for each compute (on the `log(-log Q)` scale); where the measured curve bends
# away from that line, intervals fitted on small `k` miss at large `k`, and the table shows where.

# %%
math_fit = fits["math"]
print("diagnostics:", bs.diagnose(math_fit))
unseen = monkeys[(monkeys["k"] > FIT_K) | (monkeys["flops"] > 1e22)].reset_index(drop=True)
check = predict(math_fit, compute=unseen["flops"], k=unseen["k"], prob=(0.9,))
check.insert(0, "run_id", unseen["run_id"])
check["observed"] = unseen["value"]
check["inside_90"] = check["observed"].between(check["predictive_lower_90"], check["predictive_upper_90"])
print(f"{int(check['inside_90'].sum())} of {len(check)} unseen (run, k) inside their 90% predictive interval")
check.pivot_table(index="k", columns="run_id", values="inside_90", aggfunc="first")

# %%
check[check["k"].isin([256, 1024, 10000])][["run_id", "k", "observed", "median", "predictive_lower_90",
                                           "predictive_upper_90", "inside_90"]].round(3)

# %% [markdown]
# On the code benchmarks, `k` stops at 128 in the data; predictions at larger `k` for runs beyond the
# fitted compute are extrapolations in both directions, and their intervals say so:

# %%
code_fit = fits[CODE_BENCHMARKS[0]]
print("diagnostics:", bs.diagnose(code_fit))
grid = pd.MultiIndex.from_product([[1e21, 1e22], [1, 128, 1024]], names=["compute", "k"]).to_frame(index=False)
predict(code_fit, compute=grid["compute"], k=grid["k"], prob=(0.9,))[
    ["compute", "k", "region", "median", "lower_90", "upper_90", "predictive_lower_90", "predictive_upper_90"]
].round(4)

# %% [markdown]
# ## Pass@k against k at several compute budgets
#
# Posterior median and 90% band of the mean curve at each budget; the dots are the measured runs within
# a factor of two of that budget (fitted or held out, every k).

# %%
K_GRID = np.geomspace(1, 10_000, 60)
BUDGETS = {CODE_BENCHMARKS[0]: [1e20, 1e21, 1e22], "math": [1e21, 1e22, 1e23]}
colours = ["#0072B2", "#D55E00", "#009E73"]
fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
for ax, (name, budgets) in zip(axes, BUDGETS.items()):
    idata = fits[name]
    source = monkeys if name == "math" else dclm[(dclm["benchmark"] == name) & (dclm["metric"] == "pass_at_k")
                                                  & np.isclose(dclm["tpr"], 20)]
    for budget, colour in zip(budgets, colours):
        band = predict(idata, compute=np.full_like(K_GRID, budget), k=K_GRID, prob=(0.9,))
        ax.fill_between(K_GRID, band["lower_90"], band["upper_90"], color=colour, alpha=0.2, linewidth=0)
        ax.plot(K_GRID, band["median"], color=colour, label=f"{budget:.0e} FLOPs")
        near = source[(source["flops"] > budget / 2) & (source["flops"] < budget * 2)]
        ax.scatter(near["k"], near["value"], color=colour, s=10)
    ax.set_xscale("log")
    ax.set_xlabel("samples k")
    ax.set_ylabel("pass@k")
    ax.set_title(f"{name}: pass@k law, 90% band", fontsize=10)
    ax.legend(fontsize=8, frameon=False)
fig.savefig(OUT / "pass_at_k_against_k.png", dpi=150)
fig

# %% [markdown]
# ## Training compute against samples: the inference-compute trade-off
#
# For a target pass@k, the training compute needed at each `k` (posterior median and 90% interval, from
# `compute_for_accuracy` with `k`). More samples at inference buy the same pass@k from a smaller model.

# %%
K_TRADE = [1, 4, 16, 64, 256, 1024]
TARGETS = {CODE_BENCHMARKS[0]: 0.3, "math": 0.5}
trade = pd.concat(
    [compute_for_accuracy(fits[name], target, k=k, prob=0.9).assign(benchmark=name, k=k)
     for name, target in TARGETS.items() for k in K_TRADE],
    ignore_index=True,
)
print("diagnostics:", *(f"{name}: {bs.diagnose(fits[name])}" for name in TARGETS), sep="\n  ")
trade[["benchmark", "target", "k", "p_reached", "compute_median", "compute_lower_90", "compute_upper_90"]]

# %%
fig, ax = plt.subplots(figsize=(5.5, 3.8), layout="constrained")
for (name, rows), colour in zip(trade.groupby("benchmark", sort=False), colours):
    reached = rows[np.isfinite(rows["compute_upper_90"])]
    ax.errorbar(reached["k"], reached["compute_median"],
                yerr=[reached["compute_median"] - reached["compute_lower_90"],
                      reached["compute_upper_90"] - reached["compute_median"]],
                fmt="o-", color=colour, capsize=3, label=f"{name}: pass@k = {TARGETS[name]}")
ax.set_xscale("log")
ax.set_yscale("log")
ax.set_xlabel("samples k at inference")
ax.set_ylabel("training compute needed (FLOPs)")
ax.legend(fontsize=8, frameon=False)
fig.savefig(OUT / "compute_against_k.png", dpi=150)
fig
