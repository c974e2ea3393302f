"""Uncertainty-band plots of accuracy against training compute.

Drawn with matplotlib directly. Colours are from the Okabe-Ito palette, which
stays distinguishable under the common forms of colour blindness.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # figures are written to files; no display is needed
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from bayes_scaling.laws import inputs_along_compute  # noqa: E402
from bayes_scaling.fits import fitted_compute_range, law_of  # noqa: E402
from bayes_scaling.predict import fit_form_error, predict  # noqa: E402

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
    form_error=None,
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
    form_error : None, bool or FormErrorPrior
        As in :func:`bayes_scaling.predict.predict`: by default the bands of a
        direct law include the form-error term, which widens them beyond the
        largest fitted run; a law in compute alone also shows, dashed, where the
        widest new-run interval would lie from the law's parameters alone.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.5, 4.0), layout="constrained")
    else:
        fig = ax.figure
    law = law_of(idata)
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
        table = predict(idata, prob=prob, form_error=form_error, **grid_inputs(grid))
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
            if fit_form_error(idata, form_error) is not None:
                parametric = predict(idata, prob=prob, form_error=False, **grid_inputs(grid))
                beyond = grid >= hi_fit
                for bound in ("lower", "upper"):
                    ax.plot(grid[beyond], parametric[f"predictive_{bound}_{widest}"][beyond], color=OKABE_ITO["grey"],
                            ls="--", lw=0.9, label=f"{widest}% new run, parameters only" if bound == "lower" else None)
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


# ------------------------------------------------------------------ report figures
# One style for every figure of a report (bayes_scaling.report): readable fonts,
# the Okabe-Ito colours, TrueType fonts embedded in PDFs (editable text).

REPORT_STYLE = {
    "font.family": "DejaVu Sans",
    "font.size": 9.0,
    "axes.titlesize": 10.0,
    "axes.titleweight": "bold",
    "axes.labelsize": 9.0,
    "xtick.labelsize": 8.0,
    "ytick.labelsize": 8.0,
    "legend.fontsize": 8.0,
    "figure.titlesize": 11.0,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.6,
    "lines.linewidth": 1.6,
    "axes.prop_cycle": matplotlib.cycler(color=SERIES_COLOURS),
    "savefig.dpi": 200,
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
}


def figure_style():
    """The report's figure style, as a context manager: ``with figure_style(): ...``.

    Figures drawn (and saved) inside share fonts, colours (Okabe-Ito), grid and
    spines; PDFs embed TrueType fonts.
    """
    return matplotlib.rc_context(REPORT_STYLE)


#: Narrowest figure (inches): room for a legend below a single panel.
MIN_FIGURE_WIDTH = 7.0


def _grid_of_axes(n: int, *, ncols: int | None = None, panel=(3.5, 2.8), extra_height: float = 0.9):
    """A constrained-layout figure with ``n`` panels in rows of ``ncols``; unused panels removed.

    A single panel is drawn wider (at least :data:`MIN_FIGURE_WIDTH`) so that
    the title and the legend below it fit.
    """
    ncols = ncols or min(3, max(n, 1))
    nrows = int(np.ceil(max(n, 1) / ncols))
    width = max(panel[0] * ncols, MIN_FIGURE_WIDTH)
    height = panel[1] * nrows + extra_height + (0.6 if ncols == 1 else 0.0)
    fig, axes = plt.subplots(nrows, ncols, figsize=(width, height), layout="constrained", squeeze=False)
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.remove()
    return fig, flat[:n], ncols


def _outer_labels(axes, ncols: int, xlabel: str, ylabel: str):
    """Axis labels on the left column and on the bottom panel of each column only."""
    n = len(axes)
    for i, ax in enumerate(axes):
        ax.set_ylabel(ylabel if i % ncols == 0 else "")
        ax.set_xlabel(xlabel if i + ncols >= n else "")


def _legend_columns(fig, labels, most: int = 4) -> int:
    """As many legend columns as the figure's width holds for these labels."""
    size = matplotlib.rcParams["legend.fontsize"]
    size = size if isinstance(size, (int, float)) else 8.0
    column = 0.5 + 0.58 * size / 72 * max((len(label) for label in labels), default=1)  # inches
    return int(max(1, min(most, len(labels), fig.get_figwidth() // column)))


def _figure_legend(fig, axes, rename=None, ncols: int = 4):
    """One legend below the panels: each panel's entries once (panel legends removed)."""
    handles, labels = [], []
    for ax in axes:
        if ax.get_legend() is not None:
            ax.get_legend().remove()
        for handle, label in zip(*ax.get_legend_handles_labels()):
            label = rename(label) if rename else label
            if label and not label.startswith("_") and label not in labels:
                handles.append(handle)
                labels.append(label)
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncols=_legend_columns(fig, labels, ncols),
                   frameon=False)


def plot_band_grid(
    fits: dict,
    *,
    prob: Sequence[float] = (0.5, 0.9),
    ncols: int | None = None,
    title: str | None = None,
):
    """Band plots of several fits, one panel per benchmark, with one shared legend.

    Each panel is :func:`plot_bands`: fitted runs as filled markers, held-out
    runs as open diamonds, the extrapolation region shaded grey, the
    posterior median and the ``prob`` intervals of the mean curve as filled
    bands, and the widest predictive interval (a new run) dotted.

    Parameters
    ----------
    fits : dict
        Benchmark (panel title) -> fit (DataTree).
    prob : sequence of float
        Band probabilities.
    ncols : int, optional
        Panels per row (default up to three).
    title : str, optional
        Figure title; default the law's name.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not fits:
        raise ValueError("plot_band_grid needs at least one fit")
    fig, axes, ncols = _grid_of_axes(len(fits), ncols=ncols)
    for ax, (benchmark, idata) in zip(axes, fits.items()):
        plot_bands(idata, ax=ax, prob=prob, title=str(benchmark))
        ax.title.set_fontsize(matplotlib.rcParams["axes.titlesize"])
    description = json.loads(next(iter(fits.values())).attrs.get("data", "{}"))
    _outer_labels(axes, ncols, "training compute (FLOPs)", f"accuracy ({description.get('metric', 'acc')})")
    # Chance differs between benchmarks (0.25, 0.5); the legend names the line once.
    _figure_legend(fig, axes, rename=lambda label: "chance level" if label.startswith("chance (") else label)
    laws = sorted({idata.attrs["law"] for idata in fits.values()})
    fig.suptitle(title or f"{', '.join(laws)}: posterior bands")
    return fig


def plot_forest(
    frame,
    *,
    median: str,
    lower: str,
    upper: str,
    label: str = "benchmark",
    group: str | None = None,
    xlabel: str = "",
    reference: float | None = 0.0,
    annotate: str | None = None,
    annotate_format: str = "{:.2f}",
    annotate_title: str | None = None,
    title: str | None = None,
    sides: tuple[str, str] | None = None,
):
    """A forest plot: one row per ``label`` (top to bottom), the median as a dot and its interval as a bar.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per estimate.
    median, lower, upper : str
        Columns of the point and interval.
    label : str
        Column naming the rows (a row ``all`` is drawn last, below a rule).
    group : str, optional
        Column whose values are drawn side by side in each row, in different
        colours and markers (e.g. the cut-off or the form), with a legend.
    xlabel : str
        The axis label, with units.
    reference : float or None
        Where to draw the vertical reference line (``None``: none).
    annotate : str, optional
        Column whose value is written at the right of each row, under the
        heading ``annotate_title`` (default the column's name).
    sides : (str, str), optional
        Words under the axis for "left of the reference" and "right of it".
    """
    labels = list(dict.fromkeys(frame[label].astype(str)))
    if "all" in labels:
        labels = [name for name in labels if name != "all"] + ["all"]
    groups = list(dict.fromkeys(frame[group])) if group else [None]
    markers = ["o", "s", "D", "^", "v"]
    height = 0.45 * len(labels) * max(1, 0.6 * len(groups)) + 1.3
    fig, ax = plt.subplots(figsize=(6.4, height), layout="constrained")
    # The first group on top within each row, as in the legend.
    offsets = np.linspace(0.18, -0.18, len(groups)) if len(groups) > 1 else [0.0]
    rows = {name: len(labels) - 1 - i for i, name in enumerate(labels)}
    for (value, offset), colour, marker in zip(zip(groups, offsets), SERIES_COLOURS, markers):
        part = frame if group is None else frame[frame[group] == value]
        y = np.array([rows[str(name)] for name in part[label]]) + offset
        mid, lo, hi = (part[c].to_numpy(float) for c in (median, lower, upper))
        ax.errorbar(mid, y, xerr=[np.maximum(mid - lo, 0), np.maximum(hi - mid, 0)], fmt=marker, color=colour, ecolor=colour, elinewidth=1.8,
                    capsize=3, markersize=5.5, label=None if group is None else f"{group} {_short(value)}")
        if annotate:
            for yy, text in zip(y, part[annotate]):
                ax.annotate(annotate_format.format(text), xy=(1.0, yy), xycoords=("axes fraction", "data"),
                            xytext=(4, 0), textcoords="offset points", va="center", fontsize=7.5, color=colour)
    if reference is not None:
        ax.axvline(reference, color=OKABE_ITO["black"], lw=0.9, ls="--", zorder=0)
    if "all" in labels:
        ax.axhline(0.5, color=OKABE_ITO["grey"], lw=0.8)
    ax.set_yticks(list(rows.values()), list(rows.keys()))
    for tick in ax.get_yticklabels():
        if tick.get_text() == "all":
            tick.set_fontweight("bold")
    ax.set_ylim(-0.8 if sides else -0.7, len(labels) - 0.3)
    ax.grid(True, axis="x", alpha=0.3)
    ax.grid(False, axis="y")
    ax.set_xlabel(xlabel)
    if sides:
        # In the empty strip below the last row, at both ends of the axis.
        ax.annotate(f"\u2190 {sides[0]}", xy=(0.01, 0.02), xycoords="axes fraction", ha="left", va="bottom",
                    fontsize=7.5, color=OKABE_ITO["grey"], style="italic")
        ax.annotate(f"{sides[1]} \u2192", xy=(0.99, 0.02), xycoords="axes fraction", ha="right", va="bottom",
                    fontsize=7.5, color=OKABE_ITO["grey"], style="italic")
    if annotate:
        ax.annotate(annotate_title or annotate.replace("_", " "), xy=(1.0, 1.0), xycoords="axes fraction",
                    xytext=(4, 3), textcoords="offset points", ha="left", va="bottom", fontsize=7.5,
                    fontweight="bold")
    if group is not None and len(groups) > 1:
        fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncols=min(4, len(groups)),
                   frameon=False)
    if title:
        ax.set_title(title, loc="left")
    return fig


def _short(value) -> str:
    """A group value for a legend: FLOPs as 1e+21, others as they are."""
    if isinstance(value, (float, np.floating)):
        return f"{value:.3g}"
    return str(value)


def _budget_label(compute: float, largest_fitted: float) -> str:
    region = " (extrapolation)" if compute > largest_fitted * (1 + 1e-9) else ""
    return f"{compute:.2g} FLOPs{region}"


def plot_pass_at_k(fits: dict, *, budgets: int = 4, prob: Sequence[float] = (0.5, 0.9), n_grid: int = 60):
    """Pass@k against k at several compute budgets, with bands, one panel per benchmark.

    Budgets are the compute of up to ``budgets`` of the benchmark's runs
    (fitted and held out), spread evenly in log compute, so that each curve
    has its runs beside it: fitted runs filled, held-out runs open.

    Parameters
    ----------
    fits : dict
        Benchmark -> fit of the ``pass_at_k`` law (any law with input ``k``).
    budgets : int
        Compute budgets per panel.
    prob : sequence of float
        Band probabilities of the mean curve.
    """
    fig, axes, ncols = _grid_of_axes(len(fits), panel=(3.6, 2.9))
    for ax, (benchmark, idata) in zip(axes, fits.items()):
        law = law_of(idata)
        if "k" not in law.inputs:
            raise ValueError(f"plot_pass_at_k needs a law in k, got {law.name!r}")
        points = {
            role: {name: np.asarray(idata[group][name]) for name in ("flops", "k", "value")}
            for role, group in (("fitted", "constant_data"), ("held_out", "held_out_data"))
        }
        all_flops = np.concatenate([points["fitted"]["flops"], points["held_out"]["flops"]])
        all_k = np.concatenate([points["fitted"]["k"], points["held_out"]["k"]])
        _, largest = fitted_compute_range(idata)
        k_grid = np.geomspace(1.0, max(float(np.max(all_k)), 2.0), n_grid)
        shades = np.linspace(0.12, 0.28, len(prob))
        for compute, colour in zip(_pick(all_flops, budgets), SERIES_COLOURS):
            table = predict(idata, compute=np.full(n_grid, compute), k=k_grid, prob=prob)
            for p, alpha in zip(sorted(prob, reverse=True), shades):
                tag = f"{100 * p:g}"
                ax.fill_between(k_grid, table[f"lower_{tag}"], table[f"upper_{tag}"], color=colour, alpha=alpha,
                                linewidth=0)
            ax.plot(k_grid, table["median"], color=colour, label=_budget_label(compute, largest))
            for role, style in (("fitted", dict(color=colour, s=16)),
                                ("held_out", dict(facecolor="white", edgecolor=colour, linewidth=1.3, s=26,
                                                  marker="D"))):
                chosen = np.isclose(points[role]["flops"], compute, rtol=1e-6)
                ax.scatter(points[role]["k"][chosen], points[role]["value"][chosen], zorder=3, **style)
        ax.set_xscale("log", base=2)
        ax.set_title(str(benchmark))
        # Budgets differ between benchmarks: each panel names its own.
        ax.legend(title="training compute", loc="best", fontsize=7, title_fontsize=7, frameon=False)
    # The bands and markers mean the same in every panel: one legend below, in neutral colours.
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    shared = [Line2D([], [], color=OKABE_ITO["black"], label="posterior median")]
    shared += [Patch(color=OKABE_ITO["grey"], alpha=alpha + 0.15, linewidth=0,
                     label=f"{100 * p:g}% interval, mean curve")
               for p, alpha in zip(sorted(prob, reverse=True), np.linspace(0.12, 0.28, len(prob)))]
    shared += [Line2D([], [], ls="", marker="o", markersize=4.5, color=OKABE_ITO["black"], label="fitted runs"),
               Line2D([], [], ls="", marker="D", markersize=5, markerfacecolor="white",
                      markeredgecolor=OKABE_ITO["black"], label="held-out runs")]
    _outer_labels(axes, ncols, "samples per problem k", "pass@k")
    fig.legend(handles=shared, loc="outside lower center", frameon=False,
               ncols=_legend_columns(fig, [h.get_label() for h in shared], len(shared)))
    fig.suptitle("pass@k against k at fixed training compute")
    return fig


def compute_for_pass_at_k(idata, levels: Sequence[float], k_values: Sequence[float], *, prob: float = 0.9):
    """Posterior of the training compute needed to reach each pass@k level at each k.

    Returns a tidy frame (``level``, ``k``, ``compute_median``,
    ``compute_lower_P``, ``compute_upper_P``, ``p_reached``) from
    :func:`bayes_scaling.decisions.compute_for_accuracy` at every k.
    """
    import pandas as pd

    from bayes_scaling.decisions import compute_for_accuracy

    frames = []
    for k in k_values:
        table = compute_for_accuracy(idata, list(levels), prob=prob, k=float(k))
        frames.append(table.drop(columns="answer").rename(columns={"target": "level"}).assign(k=float(k)))
    return pd.concat(frames, ignore_index=True)


def default_levels(idata, n: int = 3) -> list[float]:
    """``n`` pass@k levels spread over the fit's observed values (rounded to two digits)."""
    values = np.concatenate([np.asarray(idata["constant_data"]["value"]), np.asarray(idata["held_out_data"]["value"])])
    values = values[np.isfinite(values) & (values > 0) & (values < 1)]
    if values.size == 0:
        return [0.5]
    levels = np.unique(np.round(np.quantile(values, np.linspace(0.25, 0.9, n)), 2))
    return [float(v) for v in levels if 0 < v < 1]


def plot_compute_vs_k(fits: dict, *, levels: dict | None = None, prob: float = 0.9, n_k: int = 25):
    """The compute/samples trade-off: iso-pass@k contours of training compute against k, one panel per benchmark.

    For each level, the posterior median of the compute needed to reach that
    pass@k at each k is a line, its ``prob`` interval a band; the region above
    the largest fitted run's compute is shaded (extrapolation).

    Parameters
    ----------
    fits : dict
        Benchmark -> fit of a law in compute and k.
    levels : dict, optional
        Benchmark -> pass@k levels; default :func:`default_levels`.
    prob : float
        Interval probability.
    n_k : int
        Points along k.
    """
    tag = f"{100 * prob:g}"
    fig, axes, ncols = _grid_of_axes(len(fits), panel=(3.6, 2.9))
    for ax, (benchmark, idata) in zip(axes, fits.items()):
        chosen = (levels or {}).get(benchmark) or default_levels(idata)
        k_max = max(float(np.max(np.asarray(idata["constant_data"]["k"]))), 2.0)
        k_values = np.geomspace(1.0, k_max, n_k)
        table = compute_for_pass_at_k(idata, chosen, k_values, prob=prob)
        smallest, largest = fitted_compute_range(idata)
        top = largest * 1e3
        for level, colour in zip(chosen, SERIES_COLOURS):
            part = table[np.isclose(table["level"], level)]
            lo = np.clip(part[f"compute_lower_{tag}"].to_numpy(float), None, top * 10)
            hi = np.clip(part[f"compute_upper_{tag}"].to_numpy(float), None, top * 10)
            ax.fill_between(part["k"], lo, hi, color=colour, alpha=0.18, linewidth=0)
            ax.plot(part["k"], part["compute_median"], color=colour, label=f"pass@k = {level:g}")
        ax.axhspan(largest, top * 10, color=OKABE_ITO["grey"], alpha=0.12, linewidth=0)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_ylim(smallest / 3, top)
        ax.set_xlim(1.0, k_max)
        ax.set_title(str(benchmark))
        # Levels follow each benchmark's observed range: each panel names its own.
        ax.legend(loc="best", fontsize=7, frameon=False)
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    shared = [Line2D([], [], color=OKABE_ITO["black"], label="posterior median of the compute needed"),
              Patch(color=OKABE_ITO["black"], alpha=0.18, linewidth=0, label=f"{tag}% interval"),
              Patch(color=OKABE_ITO["grey"], alpha=0.25, linewidth=0,
                    label="extrapolation (above the largest fitted run)")]
    _outer_labels(axes, ncols, "samples per problem k", "training compute (FLOPs)")
    fig.legend(handles=shared, loc="outside lower center", frameon=False,
               ncols=_legend_columns(fig, [h.get_label() for h in shared], len(shared)))
    fig.suptitle("training compute needed to reach a pass@k level")
    return fig


def plot_reliability(table, *, title: str = "leave-future-out coverage of central predictive intervals"):
    """Reliability diagram: empirical against nominal coverage, one line per method.

    ``table`` is :func:`bayes_scaling.backtest.reliability` output (``method``,
    ``nominal``, ``empirical``, ``n_runs``).
    """
    with figure_style():
        fig, ax = plt.subplots(figsize=(4.8, 4.4))
        ax.plot([0, 1], [0, 1], color="0.6", lw=1, ls="--", label="calibrated")
        for method, group in table.groupby("method", sort=False):
            ax.plot(group["nominal"], group["empirical"], marker="o", ms=3, lw=1.4,
                    label=f"{method} ({int(group['n_runs'].iloc[0])} runs)")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("nominal coverage")
        ax.set_ylabel("share of held-out runs inside")
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=7, loc="upper left")
        fig.tight_layout()
    return fig


# ------------------------------------------------------------------ ECDF-PIT
# PIT values (SBC ranks, held-out runs) are uniform when calibrated. Their ECDF
# minus the uniform CDF (the "delta-ECDF" of Säilynoja et al. 2022) shows how
# they are not: a hump above zero, values piled low; an S, too narrow a
# distribution. The band is ArviZ's simultaneous one (arviz_stats.ecdf_utils,
# as arviz_plots.plot_ecdf_pit draws it): a uniform sample's whole curve stays
# inside it with probability ``prob``.


def _delta_ecdf(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The exact curve ECDF(u) - u of sorted ``values``: slope -1 between values, a jump of 1/n at each."""
    n = values.size
    u = np.sort(values)
    x = np.concatenate([[0.0], np.repeat(u, 2), [1.0]])
    below = np.arange(n) / n  # the ECDF just below each value, then just above it
    y = np.concatenate([[0.0], np.column_stack([below - u, below + 1 / n - u]).ravel(), [0.0]])
    return x, y


def _pit_panel(ax, pit, prob: float, seed: int, colour: str) -> float:
    """One delta-ECDF panel with its simultaneous band and ArviZ's uniformity p-value; returns the p-value."""
    from arviz_stats.ecdf_utils import ecdf_pit

    from bayes_scaling.calibration import UNIFORMITY_TEST, pit_uniformity

    values = np.asarray(pit, dtype=float).ravel()
    values = values[np.isfinite(values)]
    ax.axhline(0.0, color=OKABE_ITO["black"], lw=0.8, ls="--", zorder=1)
    ax.set_xlim(0, 1)
    if values.size == 0:
        ax.text(0.5, 0.5, "no PIT values", transform=ax.transAxes, ha="center", va="center",
                color=OKABE_ITO["grey"])
        return float("nan")
    grid, _, lower, upper = ecdf_pit(values, prob, n_simulations=1000, rng=np.random.default_rng(seed))
    ax.fill_between(grid, lower - grid, upper - grid, step="post", color=OKABE_ITO["grey"], alpha=0.3, lw=0,
                    label=f"{100 * prob:g}% simultaneous band (uniform PIT)")
    ax.plot(*_delta_ecdf(values), color=colour, lw=1.4, label="ECDF - uniform CDF")
    p_value = pit_uniformity(values)
    ax.text(0.03, 0.97, f"n = {values.size}, p = {p_value:.2g} ({UNIFORMITY_TEST})", transform=ax.transAxes,
            ha="left", va="top", fontsize=7.5, bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none", "pad": 1})
    return p_value


def _pit_grid(pits: dict, *, prob: float | None, ncols: int | None, seed: int, xlabel: str, title: str):
    from arviz_base import rcParams

    prob = rcParams["stats.envelope_prob"] if prob is None else prob
    with figure_style():
        fig, axes, ncols = _grid_of_axes(len(pits), ncols=ncols)
        for i, (ax, (label, values)) in enumerate(zip(axes, pits.items())):
            _pit_panel(ax, values, prob, seed + i, SERIES_COLOURS[0])
            ax.set_title(str(label), fontsize=matplotlib.rcParams["axes.titlesize"])
        _outer_labels(axes, ncols, xlabel, "ECDF - uniform CDF")
        _figure_legend(fig, axes, ncols=2)
        fig.suptitle(title)
    return fig


def plot_sbc_pit(result, *, prob: float | None = None, ncols: int | None = None, seed: int = 0):
    """ECDF-PIT of simulation-based calibration ranks: one panel per parameter.

    Each panel is the ECDF of the parameter's ranks, as PIT values
    (:func:`bayes_scaling.calibration.rank_pit`), minus the uniform CDF,
    inside ArviZ's simultaneous band for uniform values
    (:func:`arviz_stats.ecdf_utils.ecdf_pit`, Säilynoja et al. 2022), with the
    p-value of the test :func:`bayes_scaling.calibration.calibration_failures`
    applies.

    Parameters
    ----------
    result : bayes_scaling.calibration.SBCResult
    prob : float, optional
        Probability that a calibrated parameter's whole curve lies inside its
        band; default ArviZ's ``rcParams["stats.envelope_prob"]`` (0.99).
    ncols : int, optional
        Panels per row (default up to three).
    seed : int
        Seed of the band's simulation (1000 uniform samples).

    Returns
    -------
    matplotlib.figure.Figure
    """
    from bayes_scaling.calibration import rank_pit

    pits = {name: rank_pit(group["rank"], int(group["n_ranked"].iloc[0]))
            for name, group in result.ranks.groupby("parameter", sort=False)}
    n_sims = result.ranks["simulation"].nunique()
    return _pit_grid(pits, prob=prob, ncols=ncols, seed=seed, xlabel="normalised rank of the true value",
                     title=f"{result.form}: SBC ranks of {n_sims} simulations")


def plot_held_out_pit(pits: Mapping, *, prob: float | None = None, ncols: int | None = None, seed: int = 0,
                      title: str | None = None):
    """ECDF-PIT of held-out runs: one panel per entry of ``pits`` (a form, a benchmark).

    The PIT value of a held-out run is the share of posterior-predictive draws
    below its observed accuracy (:func:`bayes_scaling.calibration.held_out_pit`).
    Each panel is their ECDF minus the uniform CDF, inside ArviZ's
    simultaneous band for independent uniform values, with the p-value of
    ArviZ's uniformity test. The held-out runs of one benchmark share its
    parameter error, so their PIT values are not independent: a curve that
    leaves the band is a warning, not a test result.

    Parameters
    ----------
    pits : mapping
        Panel title -> PIT values (an array, or a frame with a ``pit``
        column, as :func:`~bayes_scaling.calibration.held_out_pit` returns).
        NaN values (refused predictions) are left out.
    prob, ncols, seed
        As in :func:`plot_sbc_pit`.
    title : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not pits:
        raise ValueError("plot_held_out_pit needs at least one set of PIT values")
    values = {label: np.asarray(v["pit"] if hasattr(v, "columns") else v, dtype=float) for label, v in pits.items()}
    return _pit_grid(values, prob=prob, ncols=ncols, seed=seed, xlabel="PIT of the observed accuracy",
                     title=title or "held-out runs: PIT under the posterior predictive")


# ------------------------------------------------------------------ design of the next run


def plot_design(result, *, ncols: int | None = None):
    """Expected width of the target's interval against each candidate's compute, with the current ladder.

    One panel per benchmark of a :class:`~bayes_scaling.design.DesignResult`:
    each design's expected width (a dot for one run, a triangle for a pair, at
    its largest run's compute; for pass@k, at its k) with its 10-90% range over
    simulated outcomes (thin) and two Monte Carlo standard errors (thick); the
    suggested design ringed; today's width (today's ladder refitted as the
    candidates are) as a dashed line; the ladder's runs
    as ticks along the bottom and the target as a vertical line.
    """
    designs, current = result.designs, result.current.set_index("benchmark")
    by_k = result.cost_unit != "FLOPs"
    column = "k" if by_k else "compute"
    benchmarks = list(current.index)
    with figure_style():
        fig, axes, ncols = _grid_of_axes(len(benchmarks), ncols=ncols)
        for ax, benchmark in zip(axes, benchmarks):
            rows = designs[designs["benchmark"] == benchmark]
            for runs, marker, label in ((1, "o", "one more run"), (2, "^", "two more runs")):
                group = rows[rows["runs"] == runs]
                if not len(group):
                    continue
                x = group[column].to_numpy(float)
                ax.vlines(x, group["width_low"], group["width_high"], color="C0", lw=0.8, alpha=0.5)
                ax.errorbar(x, group["expected_width"], yerr=2 * group["width_se"], fmt=marker, ms=4,
                            color="C0" if runs == 1 else "C1", lw=2, label=label)
            best = rows[rows["suggested"]]
            ax.scatter(best[column], best["expected_width"], s=120, facecolors="none", edgecolors="C3", lw=1.5,
                       label="suggested", zorder=5)
            # Today's ladder refitted as the candidates are: the baseline the reductions are measured from.
            ax.axhline(current.loc[benchmark, "refit_width"], color="0.4", ls="--", lw=1, label="today's width")
            ladder = result.ladders[benchmark]["k" if by_k else "flops"].to_numpy(float)
            ladder = np.unique(ladder)
            ax.plot(ladder, np.full(len(ladder), 0.04), "|", color="C4", ms=10, mew=1.2,
                    transform=ax.get_xaxis_transform(), label="ladder runs")
            ax.axvline(current.loc[benchmark, f"target_{column}"], color="C2", lw=1.2, label="target")
            ax.set_xscale("log")
            ax.set_ylim(bottom=0)
            ax.set_title(benchmark, fontsize=9)
        tag = f"{100 * result.prob:g}%"
        _outer_labels(axes, ncols, "k of the added samples" if by_k else "compute of the added run (FLOPs)",
                      f"expected {tag} interval width")
        _figure_legend(fig, axes)
        more = "one or two more runs" if (designs["runs"] > 1).any() else "one more run"
        fig.suptitle(f"width of the target's {tag} predictive interval after {more}", fontsize=10)
    return fig
