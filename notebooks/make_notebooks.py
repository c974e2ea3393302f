"""Write the worked-example notebooks of this folder, without outputs.

The notebooks are generated from the cells below, so that they stay small,
reviewable and free of outputs (``execution_count`` null, ``outputs`` empty).
Edit the cells here and run::

    python notebooks/make_notebooks.py

The JSON is nbformat 4.5, written directly (``nbformat`` is not a dependency).
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

HERE = Path(__file__).resolve().parent


def settings_cell(name: str, fast_extra: str = "", full_extra: str = "") -> str:
    """The first code cell of every notebook: sampler settings, fast mode, matplotlib backend, output folder."""
    return textwrap.dedent(
        '''\
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
        {fast_extra}else:
            SAMPLER = dict(num_warmup=1000, num_samples=1000, num_chains=4)
            RETRY = True   # refit, once, any fit that fails a sampling check
        {full_extra}
        # Outside Jupyter (the tests, a script) nothing is displayed: figures only go to files.
        INTERACTIVE = "ipykernel" in sys.modules
        if not INTERACTIVE:
            matplotlib.use("Agg")
        OUT = Path("notebook_outputs") / "{name}"
        OUT.mkdir(parents=True, exist_ok=True)
        print(f"fast mode: {{FAST}}; sampler: {{SAMPLER}}, retry={{RETRY}}; files go to {{OUT.resolve()}}")
        '''
    ).format(name=name, fast_extra=_indent(fast_extra), full_extra=_indent(full_extra))


def _indent(block: str) -> str:
    block = textwrap.dedent(block).strip("\n")
    return "".join(f"    {line}\n" if line else "\n" for line in block.splitlines()) if block else ""


#: Shown after fits: one row of sampler diagnostics per fit (used by several notebooks).
DIAGNOSTICS_HELPER = '''\
def diagnostics_table(fits):
    """One row per fit: R-hat, bulk and tail ESS, divergences, whether it was retried, its warnings."""
    rows = []
    for label, idata in fits.items():
        d = bs.diagnose(idata)
        warnings = json.loads(idata.attrs.get("warnings", "[]"))
        rows.append({
            "fit": label if isinstance(label, str) else " / ".join(map(str, label)),
            "max_rhat": round(d.max_rhat, 3), "min_ess_bulk": round(d.min_ess_bulk),
            "min_ess_tail": round(d.min_ess_tail), "divergences": d.n_divergent, "draws": d.n_draws,
            "ok": d.ok, "retried": "retry" in idata.attrs,
            "warnings": "; ".join(w["message"] for w in warnings),
        })
    return pd.DataFrame(rows).set_index("fit")
'''


# --------------------------------------------------------------------------- quickstart
QUICKSTART = [
    ("markdown", """\
# Quickstart: one benchmark, one law, with its uncertainty

Fit the direct power law of Krajewski et al. (2025) to ARC-Easy on the bundled DCLM ladder at a
token-to-parameter ratio (TPR) of 20, using only the runs up to 1e21 FLOPs, and predict larger runs with
credible intervals. Every result below comes with the sampler's diagnostics (R-hat, effective sample
size, divergences): a posterior that the sampler did not explore well is not a result.

The law, with `Q = (acc - chance) / (1 - chance)` the accuracy normalised by random guessing:

`-log Q = A C^-alpha`, fitted on `log(-log Q)` with a Student-t likelihood."""),
    ("code", settings_cell("quickstart")),
    ("markdown", """\
## Data

`load_dataset` returns a bundled table in the tidy schema (one row per run, benchmark and metric).
`select` picks one benchmark, metric and TPR, fits the runs at or below `max_compute` and holds out the
larger ones; rows too close to chance are excluded, and counted in the summary."""),
    ("code", """\
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
data.fitted[["run_id", "params", "tokens", "flops", "value", "chance"]].tail()"""),
    ("markdown", """\
## Fit with NUTS, and check the sampler

R-hat should be at most 1.01, bulk and tail ESS at least 400 (100 per chain), and there should be no
divergent transitions (Vehtari et al. 2021). With `retry=True` (the default, and full mode here) a fit
that fails a check is refitted once with a longer warm-up; its `warnings` attribute lists whatever still
fails. Fast mode skips the retry, so a fit there may carry a warning that full mode would cure."""),
    ("code", """\
idata = bs.fit(data, form="power_law", seed=0, quiet=True, retry=RETRY, **SAMPLER)
diagnostics = bs.diagnose(idata)
print(idata.attrs["formula"])
print("diagnostics:", diagnostics)
print("warnings:", [w["message"] for w in json.loads(idata.attrs.get("warnings", "[]"))] or "none")
diagnostics.table"""),
    ("markdown", """\
The posterior of the law's parameters (`log_a` is `log(-log Q)` at 1e21 FLOPs, `alpha` the slope per
e-fold of compute) and of the likelihood's scale `sigma` and degrees of freedom `nu`:"""),
    ("code", """\
posterior = idata["posterior"]
pd.DataFrame(
    {name: np.quantile(np.asarray(posterior[name]).ravel(), [0.05, 0.5, 0.95]) for name in posterior.data_vars},
    index=["5%", "median", "95%"],
).T"""),
    ("markdown", """\
## Predict larger runs

`predict` gives the posterior median and equal-tailed intervals of the mean curve (`lower_90`,
`upper_90`: where the law lies) and of a new run (`predictive_lower_90`, ...: the law plus the run-to-run
noise), in raw accuracy. `decades_beyond` says how far past the largest fitted run each prediction lies."""),
    ("code", """\
print("diagnostics:", diagnostics)
prediction = predict(idata, compute=[1e22, 1e23], prob=(0.5, 0.9))
prediction[["compute", "region", "decades_beyond", "median", "lower_90", "upper_90",
            "predictive_lower_90", "predictive_upper_90"]]"""),
    ("markdown", """\
The runs above 1e21 FLOPs were held out. How many fall inside their 90% predictive interval?"""),
    ("code", """\
held = predict_held_out(idata, prob=(0.5, 0.9))
print(f"{int(held['inside_90'].sum())} of {len(held)} held-out runs inside their 90% predictive interval, "
      f"{int(held['inside_50'].sum())} inside their 50% interval")
held[["run_id", "compute", "observed", "median", "predictive_lower_90", "predictive_upper_90", "inside_90"]]"""),
    ("markdown", """\
## Band plot

Fitted runs (dots), held-out runs (diamonds), the posterior median, the 50% and 90% bands of the mean
curve, and the 90% band of a new run (dotted). The grey area is extrapolation."""),
    ("code", """\
fig = plot_bands(idata, compute_range=(1e18, 2e23))
print("written:", *save_figure(fig, OUT / "arc_easy_power_law"))
fig"""),
    ("markdown", """\
## How much compute for a target accuracy?

`compute_for_accuracy` inverts every posterior draw of the mean curve. The direct power law has no
ceiling, so every target below 1 is reached at some compute; a law with a floor
(`saturating_power_law`) can say that a target is out of reach."""),
    ("code", """\
print("diagnostics:", diagnostics)
needed = compute_for_accuracy(idata, [0.75, 0.8, 0.85], prob=0.9)
for sentence in needed["answer"]:
    print(sentence)
needed.drop(columns="answer")"""),
]


# --------------------------------------------------------------------------- paper reproduction
PAPER = [
    ("markdown", """\
# The paper's headline comparison: direct against two-stage

Krajewski et al. (2025) report that predicting accuracy directly from compute is at least as good as the
two-stage route (compute to validation loss, then loss to accuracy). This notebook repeats the comparison
on their DCLM ladder at TPR 20 with the settings of `models/dclm_headline.toml`:

- each law is fitted on the runs up to a compute cut-off and scored on every larger run, at several
  cut-offs (a rolling origin);
- every Bayesian score is shown beside the paper's own point-estimate method on the same split;
- per benchmark, the posterior of the difference in mean absolute error, direct minus two-stage;
- and, separately, a leave-one-out (LOO) comparison of three direct forms, which measures
  **interpolation**, not extrapolation."""),
    ("code", settings_cell(
        "paper_reproduction",
        fast_extra=(
            'BENCHMARKS = ("arc_easy", "hellaswag")   # of the spec\'s six\n'
            'LOO_BENCHMARKS = ("arc_easy",)\n'
            "# BNSL takes minutes to compile and needs more than 500 warm-up steps: full mode only.\n"
            'LOO_FORMS = ("power_law", "saturating_power_law")\n'
        ),
        full_extra=(
            "BENCHMARKS = None   # all of the spec's\n"
            "LOO_BENCHMARKS = None\n"
            'LOO_FORMS = ("power_law", "saturating_power_law", "bnsl")\n'
        ),
    )),
    ("code", """\
import dataclasses
import json

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

""" + DIAGNOSTICS_HELPER),
    ("markdown", """\
## Extrapolation scores at a rolling origin

`run_evaluation` fits every form to every benchmark and cut-off (all fits of a form in one compiled
program), fits the paper's method on the same splits, and scores the runs beyond each cut-off: mean
absolute error (`mae`), mean relative error (`mre`) and R² of the posterior median (or of the point fit),
the coverage of the 50% and 90% predictive intervals, and the held-out log predictive density (`elpd`,
Bayesian only). Splits that cannot be fitted are listed with the reason, not dropped."""),
    ("code", """\
result = run_evaluation(spec, quiet=True)
diagnostics_table(result.fits)"""),
    ("code", """\
scores = result.scores
print("splits not fitted:", scores.loc[scores["status"] != "ok", ["form", "benchmark", "cutoff", "status"]]
      .to_dict("records") or "none")
ok = scores[scores["status"] == "ok"]
side_by_side = ok.pivot_table(index=["benchmark", "cutoff", "form"], columns="method",
                              values=["mae", "mre", "r2"])
side_by_side.columns = [f"{metric}_{method}" for metric, method in side_by_side.columns]
bayes = ok[ok["method"] == "bayes"].set_index(["benchmark", "cutoff", "form"])
side_by_side.join(bayes[["n_fitted", "n_held_out", "coverage_90", "elpd", "max_rhat", "n_divergent"]]).round(4)"""),
    ("markdown", """\
Pooled over benchmarks, per form, cut-off and method:"""),
    ("code", """\
result.summary.round(4)"""),
    ("markdown", """\
## Direct minus two-stage, per benchmark

For each benchmark and cut-off, over posterior draws of both mean curves:
`d = MAE(direct) - MAE(two-stage)` on the runs both fits hold out. Negative `d` means the direct law is
closer; `p_direct_closer = P(d < 0)`. The row `all` pools every held-out run."""),
    ("code", """\
comparison = result.direct_vs_two_stage
comparison.round(4)"""),
    ("code", """\
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
fig"""),
    ("markdown", """\
## LOO: power law, saturating power law, BNSL

PSIS-LOO estimates how well each form predicts a run left out of its own fit; runs whose Pareto k is
too high are refitted without them and scored exactly. The forms are fitted to the same runs (up to
the spec's hold-out, 1e21 FLOPs). In fast mode BNSL is left out: it takes minutes to compile, and with 500
warm-up steps its chains do not yet agree on where the break lies.

**LOO measures interpolation**: a left-out run lies inside the compute range of the others. It does not
say which form extrapolates best; the scores above (runs beyond a cut-off) do."""),
    ("code", """\
table = load_table(spec)
loo_benchmarks = LOO_BENCHMARKS or spec.benchmarks
loo_data = [bs.select(table, b, spec.metric, tpr=spec.tpr, max_compute=spec.max_compute) for b in loo_benchmarks]
loo_fits = {
    form: dict(zip(loo_benchmarks, bs.fit_many(loo_data, form, seed=0, quiet=True, retry=RETRY, **SAMPLER)))
    for form in LOO_FORMS
}
diagnostics_table({(form, b): fit for form, fits in loo_fits.items() for b, fit in fits.items()})"""),
    ("code", """\
loo_tables = {b: compare_forms({form: loo_fits[form][b] for form in LOO_FORMS}) for b in loo_benchmarks}
print(next(iter(loo_tables.values())).attrs["note"])
pd.concat(loo_tables, names=["benchmark"]).round(3)"""),
]


# --------------------------------------------------------------------------- pass@k
PASS_AT_K = [
    ("markdown", """\
# Pass@k: compute and samples

The pass@k law (Krajewski et al. 2025, eq. 5) describes pass@k jointly in training compute `C` and the
number of samples `k`:

`log(-log pass@k) = log A + alpha log C + beta log k + delta log C log k`

It is fitted here to the code benchmarks of the DCLM ladder (TPR 20, runs up to 1e21 FLOPs; HumanEval,
and MBPP and LBPP outside fast mode) and to Large Language Monkeys (Brown et al. 2024: Pythia models on
MATH with 10,000 samples per problem), where it is fitted on `k <= 64` and checked at `k` up to 10,000.
Then: pass@k against k at several compute budgets, and the trade-off between training compute and
samples at inference for a target pass@k."""),
    ("code", settings_cell(
        "pass_at_k",
        fast_extra='CODE_BENCHMARKS = ["humaneval"]\n',
        full_extra='CODE_BENCHMARKS = ["humaneval", "mbpp", "lbpp"]\n',
    )),
    ("markdown", """\
## Data

Broken code evaluations in the Krajewski data (pass@1 near 0 with pass@k = 1 for k >= 2, or all-zero
rows) are detected and excluded when pass@k is selected; the summaries count them.

For Large Language Monkeys, pass@k is the unbiased estimate from 10,000 samples per problem. Pythia-70M
is left out: 94 of its 128 problems are never solved, so its pass@k flattens below 1 along k, which the
law cannot follow. The 6.9B and 12B models (1.2e22 and 2.1e22 FLOPs) are held out by the compute
cut-off, and every `k > 64` by the filter below, so that predictions at unseen `k` can be checked."""),
    ("code", """\
import json

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import bayes_scaling as bs
from bayes_scaling.decisions import compute_for_accuracy
from bayes_scaling.fits import posterior_draws
from bayes_scaling.plotting import plot_bands, save_figure
from bayes_scaling.predict import predict, predict_held_out

dclm = bs.load_dataset("krajewski2025_dclm")
datasets = {b: bs.select(dclm, b, metric="pass_at_k", tpr=20, max_compute=1e21) for b in CODE_BENCHMARKS}

FIT_K = 64
monkeys = bs.load_dataset("llmonkeys_pythia_math")
monkeys = monkeys[monkeys["run_id"] != "pythia-70m"]
datasets["math"] = bs.select(monkeys[monkeys["k"] <= FIT_K], "math", metric="pass_at_k", max_compute=1e22,
                             chance_margin=0.0, dataset="llmonkeys_pythia_math")
for data in datasets.values():
    print(data.summary())

""" + DIAGNOSTICS_HELPER),
    ("markdown", """\
## Fit, all benchmarks in one compiled program"""),
    ("code", """\
fits = dict(zip(datasets, bs.fit_many(list(datasets.values()), "pass_at_k", seed=0, quiet=True, retry=RETRY,
                                      **SAMPLER)))
diagnostics_table(fits)"""),
    ("markdown", """\
The paper's coefficients (signed, natural logs, C in FLOPs), posterior median and 90% interval. A
negative `delta` means that the benefit of more samples grows with compute."""),
    ("code", """\
rows = {}
for name, idata in fits.items():
    coefficients = bs.get_law("pass_at_k").paper_parameters(posterior_draws(idata))
    rows[name] = {key: f"{np.median(v):.3g} [{np.quantile(v, 0.05):.3g}, {np.quantile(v, 0.95):.3g}]"
                  for key, v in coefficients.items()}
pd.DataFrame(rows).T"""),
    ("code", """\
for name, idata in fits.items():
    fig = plot_bands(idata, title=f"{name}: pass@k law")
    print("written:", *save_figure(fig, OUT / f"{name}_bands"))
fig"""),
    ("markdown", """\
## Predictions at unseen k

On MATH the law was fitted on `k <= 64` of the four models below 1e22 FLOPs. Every other measurement
(`k` from 128 to 10,000 for those models, and every `k` of the held-out 6.9B and 12B models) is
predicted here with a 90% predictive interval and compared with what was measured. The law is a
straight line in `log k` for each compute (on the `log(-log Q)` scale); where the measured curve bends
away from that line, intervals fitted on small `k` miss at large `k`, and the table shows where."""),
    ("code", """\
math_fit = fits["math"]
print("diagnostics:", bs.diagnose(math_fit))
unseen = monkeys[(monkeys["k"] > FIT_K) | (monkeys["flops"] > 1e22)].reset_index(drop=True)
check = predict(math_fit, compute=unseen["flops"], k=unseen["k"], prob=(0.9,))
check.insert(0, "run_id", unseen["run_id"])
check["observed"] = unseen["value"]
check["inside_90"] = check["observed"].between(check["predictive_lower_90"], check["predictive_upper_90"])
print(f"{int(check['inside_90'].sum())} of {len(check)} unseen (run, k) inside their 90% predictive interval")
check.pivot_table(index="k", columns="run_id", values="inside_90", aggfunc="first")"""),
    ("code", """\
check[check["k"].isin([256, 1024, 10000])][["run_id", "k", "observed", "median", "predictive_lower_90",
                                           "predictive_upper_90", "inside_90"]].round(3)"""),
    ("markdown", """\
On the code benchmarks, `k` stops at 128 in the data; predictions at larger `k` for runs beyond the
fitted compute are extrapolations in both directions, and their intervals say so:"""),
    ("code", """\
code_fit = fits[CODE_BENCHMARKS[0]]
print("diagnostics:", bs.diagnose(code_fit))
grid = pd.MultiIndex.from_product([[1e21, 1e22], [1, 128, 1024]], names=["compute", "k"]).to_frame(index=False)
predict(code_fit, compute=grid["compute"], k=grid["k"], prob=(0.9,))[
    ["compute", "k", "region", "median", "lower_90", "upper_90", "predictive_lower_90", "predictive_upper_90"]
].round(4)"""),
    ("markdown", """\
## Pass@k against k at several compute budgets

Posterior median and 90% band of the mean curve at each budget; the dots are the measured runs within
a factor of two of that budget (fitted or held out, every k)."""),
    ("code", """\
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
fig"""),
    ("markdown", """\
## Training compute against samples: the inference-compute trade-off

For a target pass@k, the training compute needed at each `k` (posterior median and 90% interval, from
`compute_for_accuracy` with `k`). More samples at inference buy the same pass@k from a smaller model."""),
    ("code", """\
K_TRADE = [1, 4, 16, 64, 256, 1024]
TARGETS = {CODE_BENCHMARKS[0]: 0.3, "math": 0.5}
trade = pd.concat(
    [compute_for_accuracy(fits[name], target, k=k, prob=0.9).assign(benchmark=name, k=k)
     for name, target in TARGETS.items() for k in K_TRADE],
    ignore_index=True,
)
print("diagnostics:", *(f"{name}: {bs.diagnose(fits[name])}" for name in TARGETS), sep="\\n  ")
trade[["benchmark", "target", "k", "p_reached", "compute_median", "compute_lower_90", "compute_upper_90"]]"""),
    ("code", """\
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
fig"""),
]


# --------------------------------------------------------------------------- data mixtures
MIXTURES = [
    ("markdown", """\
# Which data mixture? Posterior probabilities along compute

Two questions a team asks of a ladder trained on two data mixtures: at a given compute, how likely is
mixture A to beat mixture B, and do their curves cross? `compare_groups` answers both from the posterior
draws of two fits of the same law:

- the posterior probability that A beats B at each compute, and the range of compute where that
  probability is at least 90%;
- the share of posterior draws whose curves cross, and where (median and 90% interval).

Two data sets: the C4 and DCLM mixtures of Krajewski et al. (2025) at TPR 20 (the direct power law), and
RedPajama, RefinedWeb and C4 in Gadre et al. (2024), whose runs span TPR 5 to 640 (the additive law in
parameters and tokens, compared at TPR 20)."""),
    ("code", settings_cell(
        "data_mixtures",
        fast_extra='BENCHMARKS = ["arc_easy"]\nGADRE_BENCHMARKS = ["arc_easy"]\n',
        full_extra=(
            'BENCHMARKS = ["arc_easy", "hellaswag", "piqa", "sciq"]\n'
            'GADRE_BENCHMARKS = ["arc_easy", "piqa", "hellaswag"]\n'
        ),
    )),
    ("code", """\
import json

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import bayes_scaling as bs
from bayes_scaling.decisions import compare_groups
from bayes_scaling.pipeline import load_table
from bayes_scaling.plotting import plot_bands, save_figure
from bayes_scaling.specs import Spec

COMPUTE = [1e19, 1e20, 1e21, 1e22, 1e23]   # where to compare
GRID = np.geomspace(1e18, 1e24, 61)        # for the plots
# Where to look for a crossover: from the smallest runs (1e18 FLOPs) to two decades past the largest.
# Two power laws rising from chance often cross far below any run; such a crossover says nothing.
SEARCH = (1e18, 1e24)

""" + DIAGNOSTICS_HELPER),
    ("markdown", """\
## C4 against DCLM (Krajewski et al.)

A spec whose `dataset` names two bundled data sets joined by a comma loads both into one table (run ids
are prefixed by the data set's name); the `group` column says which mixture a run was trained on."""),
    ("code", """\
spec = Spec(name="mixtures_c4_dclm", dataset="krajewski2025_dclm,krajewski2025_c4", benchmarks=tuple(BENCHMARKS),
            metric="acc", tpr=20, max_compute=1e21)
table = load_table(spec)
print(table.groupby("group")["run_id"].nunique().to_string())
mixture_data = {(b, g): bs.select(table, b, spec.metric, group=g, tpr=spec.tpr, max_compute=spec.max_compute,
                                  dataset=spec.dataset)
                for b in spec.benchmarks for g in ("dclm", "c4")}
for data in mixture_data.values():
    print(data.summary())"""),
    ("code", """\
mixture_fits = dict(zip(mixture_data, bs.fit_many(list(mixture_data.values()), "power_law", seed=0, quiet=True,
                                                  retry=RETRY, **SAMPLER)))
diagnostics_table(mixture_fits)"""),
    ("markdown", """\
Per benchmark: the posterior probability that DCLM beats C4 at each compute, with the median accuracy of
each and the difference (DCLM minus C4) with its 90% interval."""),
    ("code", """\
comparisons = {b: compare_groups(mixture_fits[b, "dclm"], mixture_fits[b, "c4"], COMPUTE, labels=("dclm", "c4"),
                                 search=SEARCH)
               for b in spec.benchmarks}
pd.concat({b: c.table for b, c in comparisons.items()}, names=["benchmark"]).round(4)"""),
    ("markdown", """\
Where DCLM is better with probability at least 0.9 (`dclm_better_from` to `dclm_better_to`, among the
compute values asked about), where C4 is, and whether the curves cross between 1e18 and 1e24 FLOPs
(`p_crossover`: the share of posterior draws that do) and where (median and 90% interval among them):"""),
    ("code", """\
pd.concat({b: c.summary for b, c in comparisons.items()}, names=["benchmark"]).droplevel(1)"""),
    ("code", """\
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
fig"""),
    ("markdown", """\
## RedPajama, RefinedWeb and C4 (Gadre et al.)

Gadre et al. train each mixture at TPR 5 to 640 (only five or six runs per mixture at TPR 20), so the law
is the additive one in parameters `N` and tokens `D` (paper eq. 4), fitted on every run of a mixture;
`compare_groups(..., tpr=20)` compares the mixtures along compute spent at 20 tokens per parameter.

In the summary of each pair, `A_better_from` to `A_better_to` is the range of the compute values asked
about where `P(A beats B) >= 0.9` (and `B_better_...` the converse); `p_crossover` is the share of
posterior draws whose curves cross between 1e18 and 1e24 FLOPs (`SEARCH`), and `crossover_median` with
`crossover_lower_90` and `crossover_upper_90` says where, among those draws."""),
    ("code", """\
GROUPS = ["rpj", "rw_original", "c4_original"]
gadre = bs.load_dataset("gadre2024")
gadre_data = {(b, g): bs.select(gadre, b, group=g, dataset="gadre2024") for b in GADRE_BENCHMARKS for g in GROUPS}
for data in gadre_data.values():
    print(data.summary())
gadre_fits = dict(zip(gadre_data, bs.fit_many(list(gadre_data.values()), "additive_nd", seed=0, quiet=True,
                                              retry=RETRY, **SAMPLER)))
diagnostics_table(gadre_fits)"""),
    ("code", """\
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
).set_index(["benchmark", "A", "B"])"""),
    ("code", """\
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
fig"""),
]


NOTEBOOKS = {
    "quickstart": QUICKSTART,
    "paper_reproduction": PAPER,
    "pass_at_k": PASS_AT_K,
    "data_mixtures": MIXTURES,
}


def notebook(name: str, cells) -> dict:
    out = []
    for index, (kind, source) in enumerate(cells):
        lines = source.rstrip("\n").splitlines(keepends=True)
        cell = {"cell_type": kind, "id": f"{name}-{index:02d}", "metadata": {}, "source": lines}
        if kind == "code":
            cell.update(execution_count=None, outputs=[])
        out.append(cell)
    return {
        "cells": out,
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python", "pygments_lexer": "ipython3"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def main() -> None:
    for name, cells in NOTEBOOKS.items():
        path = HERE / f"{name}.ipynb"
        path.write_text(json.dumps(notebook(name, cells), indent=1, ensure_ascii=False) + "\n")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
