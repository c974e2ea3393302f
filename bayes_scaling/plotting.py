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
        A fit of a law in compute (from :func:`bayes_scaling.fit`).
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
    const = idata["constant_data"]
    held = idata["held_out_data"]
    lo_fit, hi_fit = fitted_compute_range(idata)
    held_flops = np.asarray(held["flops"]) if held.sizes.get("held_out_point", 0) else np.array([])
    if compute_range is None:
        top = max(hi_fit, held_flops.max() if held_flops.size else hi_fit) * 3.0
        compute_range = (lo_fit / 1.5, top)
    grid = np.geomspace(*compute_range, n_grid)
    table = predict(idata, grid, prob=prob)

    shades = np.linspace(0.18, 0.4, len(prob))
    for p, alpha in zip(sorted(prob, reverse=True), shades):
        tag = f"{100 * p:g}"
        ax.fill_between(
            grid, table[f"lower_{tag}"], table[f"upper_{tag}"], color=OKABE_ITO["blue"], alpha=alpha,
            linewidth=0, label=f"{tag}% interval, mean curve",
        )
    widest = f"{100 * max(prob):g}"
    ax.plot(grid, table[f"predictive_lower_{widest}"], color=OKABE_ITO["blue"], ls=":", lw=1,
            label=f"{widest}% interval, new run")
    ax.plot(grid, table[f"predictive_upper_{widest}"], color=OKABE_ITO["blue"], ls=":", lw=1)
    ax.plot(grid, table["median"], color=OKABE_ITO["blue"], lw=1.8, label="posterior median")
    ax.axvspan(hi_fit, compute_range[1], color=OKABE_ITO["grey"], alpha=0.12, linewidth=0,
               label="extrapolation")
    ax.scatter(np.asarray(const["flops"]), np.asarray(const["value"]), s=18, color=OKABE_ITO["black"],
               zorder=3, label="fitted runs")
    if held_flops.size:
        ax.scatter(held_flops, np.asarray(held["value"]), s=30, marker="D", facecolor="white",
                   edgecolor=OKABE_ITO["vermillion"], linewidth=1.4, zorder=4, label="held-out runs")
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
