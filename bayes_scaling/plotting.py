"""Uncertainty-band plots of accuracy against training compute.

Drawn with matplotlib directly. Colours are from the Okabe-Ito palette, which
stays distinguishable under the common forms of colour blindness.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # figures are written to files; no display is needed
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from bayes_scaling.laws import get_law, inputs_along_compute  # noqa: E402
from bayes_scaling.predict import fitted_compute_range, predict  # noqa: E402

OKABE_ITO = {
    "blue": "#0072B2",
    "orange": "#E69F00",
    "vermillion": "#D55E00",
    "green": "#009E73",
    "sky": "#56B4E9",
    "grey": "#999999",
    "black": "#000000",
}


SERIES_COLOURS = [OKABE_ITO[c] for c in ("blue", "vermillion", "green", "orange", "sky")]


def _pick(values: np.ndarray, most: int) -> np.ndarray:
    """Up to ``most`` of the distinct values, spread evenly on a log scale."""
    distinct = np.unique(values[np.isfinite(values)])
    if len(distinct) <= most:
        return distinct
    index = np.unique(np.round(np.linspace(0, len(distinct) - 1, most)).astype(int))
    return distinct[index]


def _series(idata, law):
    """What to draw one band for: (label, grid inputs as a function of compute, point selector).

    A law in compute alone has one series; a pass@k law one per k; a law in
    parameters and tokens one per token-to-parameter ratio.
    """
    const = idata["constant_data"]
    if "k" in law.inputs:
        return [
            (f"k = {k:g}", lambda grid, k=k: inputs_along_compute(law, grid, k=k),
             lambda frame, k=k: np.isclose(frame["k"], k))
            for k in _pick(np.asarray(const["k"]), 4)
        ]
    if "params" in law.inputs:
        tprs = _pick(np.round(np.asarray(const["tokens"]) / np.asarray(const["params"]), 1), 5)
        return [
            (f"TPR {tpr:g}", lambda grid, tpr=tpr: inputs_along_compute(law, grid, tpr=tpr),
             lambda frame, tpr=tpr: np.isclose(frame["tokens"] / frame["params"], tpr, rtol=0.05))
            for tpr in tprs
        ]
    return [(None, lambda grid: inputs_along_compute(law, grid), lambda frame: np.ones(len(frame["flops"]), bool))]


def plot_bands(
    idata,
    ax=None,
    *,
    prob: Sequence[float] = (0.5, 0.9),
    compute_range: tuple[float, float] | None = None,
    title: str | None = None,
    n_grid: int = 200,
):
    """Plot observed points, the posterior median and credible bands of a fit.

    Parameters
    ----------
    idata : xarray.DataTree
        A fit from :func:`bayes_scaling.fit`. Laws in compute alone get one
        band; pass@k laws one band per k (up to four); laws in parameters and
        tokens one band per token-to-parameter ratio (up to five), along
        ``C = 6 N D``.
    ax : matplotlib Axes, optional
        Where to draw; a new figure if omitted.
    prob : sequence of float
        Band probabilities, drawn from widest (lightest) to narrowest.
    compute_range : (float, float), optional
        Compute axis limits; default from the smallest fitted run to 3x past the
        largest held-out (or fitted) run.
    title : str, optional
        Default: benchmark and law.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.5, 4.0), layout="constrained")
    else:
        fig = ax.figure
    law = get_law(idata.attrs["law"])
    const = idata["constant_data"]
    held = idata["held_out_data"]
    fitted_points = {name: np.asarray(const[name]) for name in ("flops", "params", "tokens", "k", "value")}
    held_points = {name: np.asarray(held[name])
                   for name in ("flops", "params", "tokens", "k", "value")}
    lo_fit, hi_fit = fitted_compute_range(idata)
    held_flops = held_points["flops"]
    if compute_range is None:
        top = max(hi_fit, held_flops.max() if held_flops.size else hi_fit) * 3.0
        compute_range = (lo_fit / 1.5, top)
    grid = np.geomspace(*compute_range, n_grid)
    series = _series(idata, law)
    single = len(series) == 1
    shades = np.linspace(0.18, 0.4, len(prob)) if single else np.linspace(0.12, 0.25, len(prob))

    for (label, grid_inputs, pick), colour in zip(series, SERIES_COLOURS):
        table = predict(idata, prob=prob, **grid_inputs(grid))
        for p, alpha in zip(sorted(prob, reverse=True), shades):
            tag = f"{100 * p:g}"
            ax.fill_between(
                grid, table[f"lower_{tag}"], table[f"upper_{tag}"], color=colour, alpha=alpha, linewidth=0,
                label=f"{tag}% interval, mean curve" if single else None,
            )
        if single:
            widest = f"{100 * max(prob):g}"
            ax.plot(grid, table[f"predictive_lower_{widest}"], color=colour, ls=":", lw=1,
                    label=f"{widest}% interval, new run")
            ax.plot(grid, table[f"predictive_upper_{widest}"], color=colour, ls=":", lw=1)
        ax.plot(grid, table["median"], color=colour, lw=1.8, label="posterior median" if single else label)
        chosen = pick(fitted_points)
        ax.scatter(fitted_points["flops"][chosen], fitted_points["value"][chosen], s=18,
                   color=OKABE_ITO["black"] if single else colour, zorder=3,
                   label="fitted runs" if single else None)
        if held_flops.size:
            chosen = pick(held_points)
            ax.scatter(held_points["flops"][chosen], held_points["value"][chosen], s=30, marker="D",
                       facecolor="white", edgecolor=OKABE_ITO["vermillion"] if single else colour,
                       linewidth=1.4, zorder=4, label="held-out runs" if single else None)
    if not single:
        # One legend entry each for the markers, in black, whatever the series colours.
        ax.scatter([], [], s=18, color=OKABE_ITO["black"], label="fitted runs")
        if held_flops.size:
            ax.scatter([], [], s=30, marker="D", facecolor="white", edgecolor=OKABE_ITO["black"],
                       label="held-out runs")
    ax.axvspan(hi_fit, compute_range[1], color=OKABE_ITO["grey"], alpha=0.12, linewidth=0,
               label="extrapolation")
    chance = float(np.asarray(const["chance"])[0])
    if chance > 0:
        ax.axhline(chance, color=OKABE_ITO["grey"], lw=0.8, ls="--", label=f"chance ({chance:g})")
    ax.set_xscale("log")
    ax.set_xlim(*compute_range)
    ax.set_xlabel("training compute (FLOPs)")
    description = json.loads(idata.attrs.get("data", "{}"))
    ax.set_ylabel(f"accuracy ({description.get('metric', 'acc')})")
    ax.set_title(title or f"{description.get('benchmark', '')}: {idata.attrs['law']}", fontsize=11)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=7.5, loc="upper left", frameon=False)
    return fig


def save_figure(fig, path: str | Path) -> list[Path]:
    """Save a figure as PNG (200 dpi) and PDF beside each other; return both paths."""
    stem = Path(path).with_suffix("")
    stem.parent.mkdir(parents=True, exist_ok=True)
    written = []
    for suffix in (".png", ".pdf"):
        target = stem.with_suffix(suffix)
        fig.savefig(target, dpi=200)
        written.append(target)
    plt.close(fig)
    return written
