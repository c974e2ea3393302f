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
# # Quickstart: one benchmark, one law, with its uncertainty
#
# Fit the direct power law of Krajewski et al. (2025) to ARC-Easy on the bundled DCLM ladder at a
# token-to-parameter ratio (TPR) of 20, using only the runs up to 1e21 FLOPs, and predict larger runs with
# credible intervals. Every result below comes with the sampler's diagnostics (R-hat, effective sample
# size, divergences): a posterior that the sampler did not explore well is not a result.
#
# The law, with `Q = (acc - chance) / (1 - chance)` the accuracy normalised by random guessing:
#
# `-log Q = A C^-alpha`, fitted on `log(-log Q)` with a Student-t likelihood.

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
else:
    SAMPLER = dict(num_warmup=1000, num_samples=1000, num_chains=4)
    RETRY = True   # refit, once, any fit that fails a sampling check

# Outside Jupyter (the tests, a script) nothing is displayed: figures only go to files.
INTERACTIVE = "ipykernel" in sys.modules
if not INTERACTIVE:
    matplotlib.use("Agg")
OUT = Path("notebook_outputs") / "quickstart"
OUT.mkdir(parents=True, exist_ok=True)
print(f"fast mode: {FAST}; sampler: {SAMPLER}, retry={RETRY}; files go to {OUT.resolve()}")

# %% [markdown]
# ## Data
#
# `load_dataset` returns a bundled table in the tidy schema (one row per run, benchmark and metric).
# `select` picks one benchmark, metric and TPR, fits the runs at or below `max_compute` and holds out the
# larger ones; rows too close to chance are excluded, and counted in the summary.

# %%
import json

import numpy as np
import pandas as pd

import bayes_scaling as bs
from bayes_scaling.decisions import compute_for_accuracy
from bayes_scaling.plotting import plot_bands, save_figure
from bayes_scaling.predict import predict, predict_held_out

table = bs.load_dataset("krajewski2025_dclm")
data = bs.select(table, "arc_easy", metric="acc", tpr=20, max_compute=1e21)
print(data.summary())
data.fitted[["run_id", "params", "tokens", "flops", "value", "chance"]].tail()

# %% [markdown]
# ## Fit with NUTS, and check the sampler
#
# R-hat should be at most 1.01, bulk and tail ESS at least 400 (100 per chain), and there should be no
# divergent transitions (Vehtari et al. 2021). With `retry=True` (the default, and full mode here) a fit
# that fails a check is refitted once with a longer warm-up; its `warnings` attribute lists whatever still
# fails. Fast mode skips the retry, so a fit there may carry a warning that full mode would cure.

# %%
idata = bs.fit(data, form="power_law", seed=0, retry=RETRY, **SAMPLER)
diagnostics = bs.diagnose(idata)
print(idata.attrs["formula"])
print("diagnostics:", diagnostics)
print("warnings:", [w["message"] for w in json.loads(idata.attrs.get("warnings", "[]"))] or "none")
diagnostics.table

# %% [markdown]
# The posterior of the law's parameters (`log_a` is `log(-log Q)` at 1e21 FLOPs, `alpha` the slope per
# e-fold of compute) and of the likelihood's scale `sigma` and degrees of freedom `nu`:

# %%
posterior = idata["posterior"]
pd.DataFrame(
    {name: np.quantile(np.asarray(posterior[name]).ravel(), [0.05, 0.5, 0.95]) for name in posterior.data_vars},
    index=["5%", "median", "95%"],
).T

# %% [markdown]
# ## Predict larger runs
#
# `predict` gives the posterior median and equal-tailed intervals of the mean curve (`lower_90`,
# `upper_90`: where the law lies) and of a new run (`predictive_lower_90`, ...: the law plus the run-to-run
# noise), in raw accuracy. `decades_beyond` says how far past the largest fitted run each prediction lies.

# %%
print("diagnostics:", diagnostics)
prediction = predict(idata, compute=[1e22, 1e23], prob=(0.5, 0.9))
prediction[["compute", "region", "decades_beyond", "median", "lower_90", "upper_90",
            "predictive_lower_90", "predictive_upper_90"]]

# %% [markdown]
# The runs above 1e21 FLOPs were held out. How many fall inside their 90% predictive interval?

# %%
held = predict_held_out(idata, prob=(0.5, 0.9))
print(f"{int(held['inside_90'].sum())} of {len(held)} held-out runs inside their 90% predictive interval, "
      f"{int(held['inside_50'].sum())} inside their 50% interval")
held[["run_id", "compute", "observed", "median", "predictive_lower_90", "predictive_upper_90", "inside_90"]]

# %% [markdown]
# ## Band plot
#
# Fitted runs (dots), held-out runs (diamonds), the posterior median, the 50% and 90% bands of the mean
# curve, and the 90% band of a new run (dotted). The grey area is extrapolation.

# %%
fig = plot_bands(idata, compute_range=(1e18, 2e23))
print("written:", *save_figure(fig, OUT / "arc_easy_power_law"))
fig

# %% [markdown]
# ## How much compute for a target accuracy?
#
# `compute_for_accuracy` inverts every posterior draw of the mean curve. The direct power law has no
# ceiling, so every target below 1 is reached at some compute; a law with a floor
# (`saturating_power_law`) can say that a target is out of reach.

# %%
print("diagnostics:", diagnostics)
needed = compute_for_accuracy(idata, [0.75, 0.8, 0.85], prob=0.9)
for sentence in needed["answer"]:
    print(sentence)
needed.drop(columns="answer")
