"""Reports: one folder with everything a spec's analysis says, as HTML, as Markdown, and as figures.

:func:`build_report` fits the spec once and writes to its output folder:

- ``report.html``: self-contained (figures embedded as base64 PNG data URIs,
  styles inline, no external resource), so it opens offline and can be mailed;
- ``report.md``: the same sections and tables, referencing ``figures/*.png``;
- ``figures/<name>.png`` and ``.pdf``: every figure;
- ``tables/<name>.csv``: every table, unrounded;
- ``spec.toml``: the exact spec, from which ``bayes-scaling report`` regenerates it.

The report holds band plots of every fit (one panel per benchmark), the
extrapolation scores (:func:`bayes_scaling.pipeline.run_evaluation`) with
their pooled summary and, when the spec has a direct and a two-stage form, the
posterior of their difference as a forest plot; the PSIS-LOO comparison of
two or more direct forms; for pass@k laws, pass@k against k and the
compute-versus-samples trade-off; the sampler diagnostics with problems
highlighted; and the provenance (spec, data, seed, package versions, command).

Every fit is made once: the evaluation's fits at the spec's hold-out cut-off
are the ones plotted, compared by LOO and diagnosed.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import platform
import re
import sys
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from bayes_scaling.diagnostics import BFMI_MIN, ESS_MIN, RHAT_MAX, diagnose
from bayes_scaling.errors import BayesScalingError, DataError, SpecError
from bayes_scaling.evaluate import curve_draws, held_out_frame
from bayes_scaling.laws import get_law
from bayes_scaling.loo import INTERPOLATION_NOTE, compare_forms
from bayes_scaling.predict import PROBS
from bayes_scaling.specs import _SECTIONS, Spec

#: Pareto k above which a PSIS-LOO estimate is unreliable (Vehtari et al. 2024).
PARETO_K_MAX = 0.7
#: Marker of a value that fails its threshold, in both renderings.
PROBLEM_MARK = "⚠"
#: Versions listed in the provenance, beyond :func:`bayes_scaling.saving.versions`.
_EXTRA_PACKAGES = ("matplotlib",)


@dataclass
class ReportResult:
    """What :func:`build_report` wrote and computed.

    Attributes
    ----------
    out_dir : Path
        The report's folder.
    html, markdown, spec_file : Path
        ``report.html``, ``report.md`` and ``spec.toml``.
    figures : dict
        Figure name -> [PNG path, PDF path].
    tables : dict
        Table name -> DataFrame (unrounded): ``scores``, ``pooled``,
        ``direct_vs_two_stage``, ``held_out_error``, ``loo``, ``diagnostics``,
        ``versions`` (those that apply to the spec).
    fits : dict
        ``(form, benchmark, cutoff) -> fit`` of every fit made.
    sections : list of str
        The report's headings, in order.
    files : list of Path
        Every file written.
    """

    out_dir: Path
    html: Path
    markdown: Path
    spec_file: Path
    figures: dict = field(default_factory=dict)
    tables: dict = field(default_factory=dict)
    fits: dict = field(default_factory=dict)
    sections: list = field(default_factory=list)
    files: list = field(default_factory=list)


# ----------------------------------------------------------------- the spec as TOML


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return repr(float(value))  # 1e+21, inf and nan are TOML floats as Python writes them
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # JSON string escapes are TOML basic-string escapes
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(str(k))} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise SpecError(f"cannot write {value!r} to TOML")


def spec_to_toml(spec: Spec) -> str:
    """A spec as TOML that :func:`bayes_scaling.specs.load_spec` reads back to an equal spec.

    Every field is written, defaults included, except empty ones, so the file
    states the whole analysis.
    """
    values = asdict(spec)
    lines = [f"name = {_toml_value(spec.name)}"]
    for section, keys in _SECTIONS.items():
        items = [(key, values[key]) for key in keys
                 if key in values and values[key] is not None and not (
                     isinstance(values[key], (dict, tuple, list)) and len(values[key]) == 0)]
        if items:
            lines += ["", f"[{section}]", *(f"{key} = {_toml_value(value)}" for key, value in items)]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------- document model
# The report is built once as a list of sections of blocks, then rendered to
# HTML and to Markdown, so both always hold the same headings, tables and figures.


@dataclass
class _Table:
    name: str
    frame: pd.DataFrame  # formatted cells (str)
    flags: pd.DataFrame | None = None  # True where a cell fails its threshold
    caption: str = ""


@dataclass
class _Figure:
    name: str
    png: Path
    pdf: Path
    caption: str


@dataclass
class _Section:
    title: str
    level: int = 2
    blocks: list = field(default_factory=list)

    @property
    def anchor(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", self.title.lower()).strip("-")

    def text(self, text: str):
        self.blocks.append(("p", text))

    def items(self, items: list[str]):
        self.blocks.append(("list", list(items)))

    def code(self, text: str, language: str = ""):
        self.blocks.append(("code", (language, text)))

    def table(self, table: _Table):
        self.blocks.append(("table", table))

    def figure(self, figure: _Figure):
        self.blocks.append(("figure", figure))


_COMPUTE_COLUMNS = {"cutoff", "compute", "flops"}


def _cell(value, column: str) -> str:
    """One table cell as text: 4 significant digits, FLOPs as 1e+21, counts as integers."""
    if value is None or (isinstance(value, (float, np.floating)) and np.isnan(value)):
        return "–"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if column in _COMPUTE_COLUMNS:
            return f"{value:.3g}"
        if (column.startswith("n_") or column == "rank") and value.is_integer():
            return str(int(value))
        if value != 0 and not 1e-3 <= abs(value) < 1e5:
            return f"{value:.3g}"
        return f"{value:.4g}"
    return " ".join(str(value).split())


def _format(frame: pd.DataFrame, flags: pd.DataFrame | None = None, caption: str = "", name: str = "") -> _Table:
    cells = pd.DataFrame({column: [_cell(v, column) for v in frame[column]] for column in frame.columns},
                         index=range(len(frame)))
    if flags is not None:
        flags = flags.reset_index(drop=True).reindex(columns=frame.columns, fill_value=False).fillna(False)
        cells = cells.where(~flags.astype(bool), cells + f" {PROBLEM_MARK}")
    return _Table(name=name, frame=cells, flags=flags, caption=caption)


# ------------------------------------------------------------------- rendering

_CSS = """
body { font-family: -apple-system, "Segoe UI", Roboto, "DejaVu Sans", Arial, sans-serif; color: #1a1a1a;
       line-height: 1.45; margin: 0; background: #fafafa; }
main { max-width: 1180px; margin: 0 auto; padding: 1.5em 2em 4em; background: #fff; }
h1 { font-size: 1.7em; border-bottom: 2px solid #0072B2; padding-bottom: .3em; }
h2 { font-size: 1.35em; margin-top: 2em; border-bottom: 1px solid #ddd; padding-bottom: .2em; }
h3 { font-size: 1.1em; margin-top: 1.5em; }
nav ul { columns: 2; list-style: none; padding-left: 0; }
nav a { color: #0072B2; text-decoration: none; }
table { border-collapse: collapse; font-size: .82em; margin: .8em 0 1.4em; font-variant-numeric: tabular-nums; }
caption { caption-side: top; text-align: left; font-style: italic; padding-bottom: .3em; color: #444; }
th, td { border: 1px solid #d0d0d0; padding: .25em .55em; text-align: right; }
th { background: #eef4f9; }
td.text, th.text { text-align: left; }
tr:nth-child(even) td { background: #f7f7f7; }
td.problem { background: #fbe3d6; color: #8a2d00; font-weight: bold; }
figure { margin: 1em 0 2em; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: .88em; color: #333; margin-top: .4em; }
pre { background: #f4f4f4; padding: .8em 1em; overflow-x: auto; font-size: .85em; border-radius: 4px; }
code { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: .92em; }
.table-wrap { overflow-x: auto; }
"""


def _inline_html(text: str) -> str:
    """Escape text; `backticks` become <code>."""
    parts = text.split("`")
    return "".join(f"<code>{html.escape(p)}</code>" if i % 2 else html.escape(p) for i, p in enumerate(parts))


def _is_number(text: str) -> bool:
    text = text.replace(PROBLEM_MARK, "").strip()
    if text in ("–", "yes", "no"):
        return True
    try:
        float(text)
    except ValueError:
        return False
    return True


def _is_text_column(column: pd.Series) -> bool:
    """Left-aligned unless every cell is a number (or a dash, yes or no)."""
    return not all(_is_number(str(v)) for v in column)


def _png_width(data: bytes) -> int:
    """Width in pixels from a PNG's IHDR chunk."""
    return int.from_bytes(data[16:20], "big")


def _html_table(table: _Table) -> str:
    text_columns = {c for c in table.frame.columns if _is_text_column(table.frame[c])}
    head = "".join(f'<th class="{"text" if c in text_columns else "num"}">{html.escape(str(c))}</th>'
                   for c in table.frame.columns)
    rows = []
    for i, row in table.frame.iterrows():
        cells = []
        for column, value in row.items():
            classes = ["text" if column in text_columns else "num"]
            if table.flags is not None and bool(table.flags.loc[i, column]):
                classes.append("problem")
            cells.append(f'<td class="{" ".join(classes)}">{html.escape(value)}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    caption = f"<caption>{_inline_html(table.caption)}</caption>" if table.caption else ""
    return (f'<div class="table-wrap"><table id="table-{html.escape(table.name)}">{caption}'
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>")


def _render_html(title: str, sections: list[_Section]) -> str:
    body = [f"<h1>{html.escape(title)}</h1>"]
    toc = "".join(f'<li><a href="#{s.anchor}">{html.escape(s.title)}</a></li>' for s in sections if s.level == 2)
    body.append(f"<nav><ul>{toc}</ul></nav>")
    for section in sections:
        body.append(f'<h{section.level} id="{section.anchor}">{html.escape(section.title)}</h{section.level}>')
        for kind, content in section.blocks:
            if kind == "p":
                body.append(f"<p>{_inline_html(content)}</p>")
            elif kind == "list":
                body.append("<ul>" + "".join(f"<li>{_inline_html(item)}</li>" for item in content) + "</ul>")
            elif kind == "code":
                language, text = content
                body.append(f'<pre><code class="language-{language}">{html.escape(text)}</code></pre>')
            elif kind == "table":
                body.append(_html_table(content))
            elif kind == "figure":
                raw = content.png.read_bytes()
                data = base64.b64encode(raw).decode("ascii")
                # Shown at its size in inches (PNGs are 200 dpi; a CSS inch is 96 px), narrower on small screens.
                width = round(_png_width(raw) * 96 / 200)
                body.append(f'<figure id="figure-{html.escape(content.name)}"><img src="data:image/png;base64,{data}" '
                            f'width="{width}" alt="{html.escape(content.caption.replace("`", ""))}">'
                            f"<figcaption>{_inline_html(content.caption)}</figcaption></figure>")
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{html.escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n<main>\n"
            + "\n".join(body) + "\n</main>\n</body>\n</html>\n")


def _md_cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|")


def _markdown_table(table: _Table) -> str:
    frame = table.frame
    lines = []
    if table.caption:
        lines += [f"*{table.caption}*", ""]
    text_columns = {c for c in frame.columns if _is_text_column(frame[c])}
    lines.append("| " + " | ".join(_md_cell(str(c)) for c in frame.columns) + " |")
    lines.append("|" + "|".join(" :--- " if c in text_columns else " ---: " for c in frame.columns) + "|")
    for i, row in frame.iterrows():
        cells = []
        for column, value in row.items():
            flagged = table.flags is not None and bool(table.flags.loc[i, column])
            cells.append(f"**{_md_cell(value)}**" if flagged else _md_cell(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _render_markdown(title: str, sections: list[_Section], out: Path) -> str:
    lines = [f"# {title}", ""]
    for section in sections:
        lines += [f"{'#' * section.level} {section.title}", ""]
        for kind, content in section.blocks:
            if kind == "p":
                lines += [content, ""]
            elif kind == "list":
                lines += [f"- {item}" for item in content] + [""]
            elif kind == "code":
                language, text = content
                fence = "~~~" if "```" in text else "```"
                lines += [f"{fence}{language}", text.rstrip("\n"), fence, ""]
            elif kind == "table":
                lines += [_markdown_table(content), ""]
            elif kind == "figure":
                png, pdf = (p.relative_to(out).as_posix() for p in (content.png, content.pdf))
                alt = content.caption.replace("`", "").replace("[", "(").replace("]", ")")
                lines += [f"![{alt}]({png})", "", f"*{content.caption}* (PDF: [{pdf}]({pdf}))", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


# ----------------------------------------------------------------- computations


def held_out_error(fits: dict, prob: float = 0.9) -> pd.DataFrame:
    """Per (form, benchmark): the posterior of the mean absolute error of the mean curve on the held-out runs.

    Parameters
    ----------
    fits : dict
        ``(form, benchmark) -> fit``.
    prob : float
        Interval probability.

    Returns
    -------
    pandas.DataFrame
        ``form``, ``benchmark``, ``n_held_out``, ``mae_median``,
        ``mae_lower_P``, ``mae_upper_P`` (over posterior draws of the mean
        curve) and ``mae_of_median`` (the error of the posterior median of
        the curve from the parameters alone; the scores' median also carries
        the form-error draws, which move it by Monte Carlo error only, as
        the form error has median zero). A row ``all`` per form pools the runs of its
        benchmarks when there are several.
    """
    tag = f"{100 * prob:g}"
    rows, pooled = [], {}
    for (form, benchmark), idata in fits.items():
        frame = held_out_frame(idata)
        if frame.empty:
            continue
        observed = frame["value"].to_numpy(float)
        errors = np.abs(curve_draws(idata, frame) - observed)
        pooled.setdefault(form, []).append(errors)
        rows.append({"form": form, "benchmark": benchmark, "n_held_out": len(frame),
                     **_interval(errors.mean(axis=1), prob, tag),
                     "mae_of_median": float(np.mean(np.abs(np.median(curve_draws(idata, frame), axis=0) - observed)))})
    for form, errors in pooled.items():
        if len(errors) > 1:
            n_draws = min(e.shape[0] for e in errors)
            joined = np.concatenate([e[:n_draws] for e in errors], axis=1)
            mine = [row for row in rows if row["form"] == form]
            runs = sum(row["n_held_out"] for row in mine)
            rows.append({"form": form, "benchmark": "all", "n_held_out": runs,
                         **_interval(joined.mean(axis=1), prob, tag),
                         "mae_of_median": sum(r["mae_of_median"] * r["n_held_out"] for r in mine) / runs})
    return pd.DataFrame(rows, columns=["form", "benchmark", "n_held_out", "mae_median", f"mae_lower_{tag}",
                                       f"mae_upper_{tag}", "mae_of_median"])


def _interval(draws: np.ndarray, prob: float, tag: str) -> dict:
    lower, median, upper = np.quantile(draws, [(1 - prob) / 2, 0.5, (1 + prob) / 2])
    return {"mae_median": float(median), f"mae_lower_{tag}": float(lower), f"mae_upper_{tag}": float(upper)}


def diagnostics_table(fits: dict, pareto_k: dict | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per fit, the sampler's diagnostics, and a frame of the same shape that is True where a threshold fails.

    ``fits`` maps ``(form, benchmark, cutoff)`` to a fit; ``pareto_k`` maps the
    same keys to the largest Pareto k of the fit's PSIS-LOO, where computed.
    """
    pareto_k = pareto_k or {}
    rows = []
    for key, idata in fits.items():
        form, benchmark, cutoff = key
        found = diagnose(idata)
        k = float(pareto_k.get(key, np.nan))
        problems = found.problems()
        if np.isfinite(k) and k > PARETO_K_MAX:
            problems.append(f"Pareto k {k:.2f} > {PARETO_K_MAX}")
        rows.append({"form": form, "benchmark": benchmark, "cutoff": cutoff, "max_rhat": found.max_rhat,
                     "min_ess_bulk": found.min_ess_bulk, "min_ess_tail": found.min_ess_tail,
                     "n_divergent": found.n_divergent, "min_bfmi": found.min_bfmi, "max_pareto_k": k,
                     "retried": "retry" in idata.attrs, "problems": "; ".join(problems) or "none"})
    table = pd.DataFrame(rows, columns=["form", "benchmark", "cutoff", "max_rhat", "min_ess_bulk", "min_ess_tail",
                                        "n_divergent", "min_bfmi", "max_pareto_k", "retried", "problems"])
    flags = pd.DataFrame(False, index=table.index, columns=table.columns)
    flags["max_rhat"] = ~(table["max_rhat"] <= RHAT_MAX)
    flags["min_ess_bulk"] = ~(table["min_ess_bulk"] >= ESS_MIN)
    flags["min_ess_tail"] = ~(table["min_ess_tail"] >= ESS_MIN)
    flags["n_divergent"] = table["n_divergent"] > 0
    flags["min_bfmi"] = ~(table["min_bfmi"] >= BFMI_MIN)
    flags["max_pareto_k"] = table["max_pareto_k"] > PARETO_K_MAX
    flags["problems"] = table["problems"] != "none"
    return table, flags


def package_versions() -> pd.DataFrame:
    """Python and the versions of the packages a report depends on."""
    from importlib.metadata import PackageNotFoundError, version

    from bayes_scaling.saving import versions

    found = versions()
    for name in _EXTRA_PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    found.setdefault("python", platform.python_version())
    return pd.DataFrame(list(found.items()), columns=["package", "version"])


def _fingerprint(table: pd.DataFrame) -> str:
    return hashlib.sha256(pd.util.hash_pandas_object(table, index=False).to_numpy().tobytes()).hexdigest()


def _same(a: float | None, b: float | None) -> bool:
    return a is not None and b is not None and bool(np.isclose(a, b, rtol=1e-9, atol=0))


def _say(quiet: bool, text: str):
    if not quiet:
        print(f"report: {text}", file=sys.stderr)


# ------------------------------------------------------------------- the report


def _interval_calibration_section(spec: Spec, add_table, add_figure) -> "_Section":
    """What the predictive intervals include, and their coverage measured on held-out runs of public ladders."""
    from bayes_scaling.backtest import shipped_backtest
    from bayes_scaling.pipeline import interval_note
    from bayes_scaling.plotting import plot_reliability

    section = _Section("How far to trust the intervals")
    section.text(f"Predictive intervals of this report include {interval_note(spec)}.")
    summary, reliability = shipped_backtest()
    section.text(
        "Coverage of those intervals on runs beyond the fitted range, measured by `bayes-scaling backtest` on the "
        "bundled ladders (rolling cut-offs, every larger run scored). `form_error_ladder`: the form-error prior "
        "learned without the data set scored (leave one data set out), updated by each ladder's own backtests, as "
        "`bayes-scaling fit` does; `form_error`: that prior alone; `form_error_all`: the prior learned on every data "
        "set, the one the package ships (in-sample); `parametric`: the law's parameters and noise alone; "
        "`bootstrap`: the paper's point fit with a residual bootstrap; `conformal`: split-conformal intervals "
        "growing with distance. `coverage_90_low`/`_high`: 95% bootstrap interval over (benchmark, ladder) pairs.")
    columns = ["method", "dataset", "n_runs", "n_pairs", "coverage_50", "coverage_90", "coverage_90_low",
               "coverage_90_high", "width_90", "interval_score_90", "crps", "median_mre"]
    add_table(section, "interval_coverage", summary[[c for c in columns if c in summary]],
              "Leave-future-out scores of the predictive intervals per method and data set (`all`: pooled).")
    add_figure(section, "reliability", lambda: plot_reliability(reliability),
               "Reliability: share of held-out runs inside central predictive intervals against their nominal level.")
    return section


def build_report(
    spec: Spec,
    out_dir: str | Path,
    *,
    quiet: bool = False,
    table: pd.DataFrame | None = None,
    prob=PROBS,
) -> ReportResult:
    """Fit the spec once and write its report folder (HTML, Markdown, figures, tables, spec).

    Parameters
    ----------
    spec : Spec
        The analysis. Its forms are ``evaluate.forms`` (or ``law.form``); its
        cut-offs ``evaluate.cutoffs`` (or ``holdout.max_compute``). The band
        plots, LOO and pass@k figures use the fits at ``holdout.max_compute``
        (or the largest cut-off).
    out_dir : path
        The report folder (created; files in it are overwritten).
    quiet : bool
        No progress on standard error.
    table : pandas.DataFrame, optional
        Use this table instead of loading the spec's data.
    prob : sequence of float
        Interval probabilities of the bands and scores (the widest is the
        interval of the forest plots).

    Returns
    -------
    ReportResult
    """
    from bayes_scaling.pipeline import load_table, run_evaluation, run_spec
    from bayes_scaling.plotting import (
        figure_style, plot_band_grid, plot_compute_vs_k, plot_forest, plot_pass_at_k, save_figure,
    )

    out = Path(out_dir)
    figures_dir, tables_dir = out / "figures", out / "tables"
    for folder in (out, figures_dir, tables_dir):
        folder.mkdir(parents=True, exist_ok=True)
    supplied = table is not None
    table = load_table(spec) if table is None else table
    widest = max(prob)
    tag = f"{100 * widest:g}"
    forms = list(spec.evaluated_forms)
    direct = [form for form in forms if not get_law(form).extra_select_options]
    two_stage = [form for form in forms if get_law(form).extra_select_options]
    try:
        cutoffs = list(spec.evaluated_cutoffs)
    except SpecError:
        cutoffs = []
    band_cutoff = spec.max_compute if spec.max_compute is not None else (max(cutoffs) if cutoffs else None)

    # ---- the fits, once: every form at every cut-off (with the extrapolation scores)
    evaluation = None
    fits: dict = {}
    reasons: dict[str, str] = {}  # benchmark -> why a fit could not be made
    if cutoffs:
        _say(quiet, f"fitting {', '.join(forms)} to {len(spec.benchmarks)} benchmark(s) at {len(cutoffs)} cut-off(s)")
        evaluation = run_evaluation(spec, table=table, quiet=quiet)
        fits.update(evaluation.fits)
        failed = evaluation.scores[evaluation.scores["status"] != "ok"]
        for row in failed.to_dict("records"):
            reasons.setdefault(row["benchmark"], f"{row['form']} at {row['cutoff']:.3g} FLOPs: {row['status']}")
    if not any(_same(band_cutoff, c) for c in cutoffs):
        # The spec's own hold-out is not among the scored cut-offs (or there is none): fit it.
        for form in forms:
            _say(quiet, f"fitting {form} with the spec's hold-out ({band_cutoff or 'none'})")
            result = run_spec(replace(spec, form=form), table=table, quiet=quiet, prob=prob)
            fits.update({(form, benchmark, band_cutoff): idata for benchmark, idata in result.fits.items()})
            for benchmark, reason in result.skipped.items():
                reasons.setdefault(benchmark, f"{form}: {reason}")
    if not fits:
        why = "; ".join(f"{benchmark}: {reason}" for benchmark, reason in reasons.items())
        raise DataError(f"spec {spec.name!r}: no benchmark could be fitted" + (f" ({why})" if why else ""))
    # The fits at the spec's hold-out: plotted, compared by LOO, scored for held-out error.
    band_keys = {(f, b): (f, b, c) for f, b, c in fits if _same(c, band_cutoff) or c is band_cutoff}
    at_band = {form: {b: fits[key] for (f, b), key in band_keys.items() if f == form} for form in forms}
    at_band = {form: by_benchmark for form, by_benchmark in at_band.items() if by_benchmark}
    skipped = sorted(set(spec.benchmarks) - {b for by_benchmark in at_band.values() for b in by_benchmark})

    tables: dict[str, pd.DataFrame] = {}
    figures: dict[str, list[Path]] = {}
    sections: list[_Section] = []

    def add_figure(section: _Section, name: str, make, caption: str):
        with figure_style():
            fig = make()
            png, pdf = save_figure(fig, figures_dir / name)
        figures[name] = [png, pdf]
        section.figure(_Figure(name, png, pdf, caption))

    def add_table(section: _Section, name: str, frame: pd.DataFrame, caption: str = "", flags=None):
        tables[name] = frame
        section.table(_format(frame, flags, caption, name))

    # ---- overview
    overview = _Section("Overview")
    data_name = spec.dataset or spec.path
    selection = ", ".join(filter(None, [
        f"metric `{spec.metric}`", f"TPR {spec.tpr:g}" if spec.tpr is not None else "",
        f"group `{spec.group}`" if spec.group else "", f"k = {spec.k:g}" if spec.k is not None else "",
        f"loss `{spec.loss_benchmark}`" if spec.loss_benchmark and two_stage else "",
    ]))
    overview.text(
        f"Spec `{spec.name}`: the form(s) {', '.join(f'`{f}`' for f in forms)} fitted to "
        f"{len(spec.benchmarks)} benchmark(s) of `{data_name}` ({selection}). "
        + (f"Runs up to {band_cutoff:.3g} FLOPs are fitted and larger runs held out. " if band_cutoff else
           "No compute cut-off: every run is fitted. ")
        + f"NUTS: {spec.num_chains} chains of {spec.num_samples} draws after {spec.num_warmup} warm-up "
        f"iterations, seed {spec.seed}."
    )
    findings = []
    if evaluation is not None and len(evaluation.direct_vs_two_stage):
        duel = evaluation.direct_vs_two_stage
        for row in duel[duel["benchmark"] == "all"].to_dict("records"):
            findings.append(
                f"Direct (`{row['direct']}`) minus two-stage (`{row['two_stage']}`) mean absolute error on the "
                f"held-out runs at cut-off {row['cutoff']:.3g}, pooled: {row['difference_median']:+.4f} "
                f"({tag}% interval {row[f'difference_lower_{tag}']:+.4f} to {row[f'difference_upper_{tag}']:+.4f}); "
                f"P(direct closer) = {row['p_direct_closer']:.2f}."
            )
    if evaluation is not None and not evaluation.summary.empty:
        bayes = evaluation.summary[evaluation.summary["method"] == "bayes"]
        for row in bayes.to_dict("records"):
            if f"coverage_{tag}" in row and np.isfinite(row[f"coverage_{tag}"]):
                findings.append(f"`{row['form']}` at cut-off {row['cutoff']:.3g}: {row[f'coverage_{tag}']:.0%} of "
                                f"{int(row['n_held_out'])} held-out runs inside their {tag}% predictive interval "
                                f"(mean over benchmarks); mean absolute error {row['mae']:.4f}.")
    for benchmark in skipped:
        findings.append(f"Not fitted: {benchmark} ({reasons.get(benchmark, 'no usable runs')}).")
    if findings:
        overview.items(findings)
    sections.append(overview)

    # ---- band plots
    bands = _Section("Fits and held-out runs")
    bands.text(
        "One panel per benchmark. Filled dots: fitted runs; open diamonds: held-out runs; grey region: "
        "extrapolation beyond the largest fitted run; solid line: posterior median of the mean curve; shaded: "
        f"{' and '.join(f'{100 * p:g}%' for p in sorted(prob))} credible intervals of the mean curve; dotted: "
        f"{tag}% predictive interval for a new run (the mean curve plus run-to-run noise)."
    )
    for form, by_benchmark in at_band.items():
        cut = f"fitted on runs up to {band_cutoff:.3g} FLOPs" if band_cutoff else "fitted on every run"
        add_figure(bands, f"bands_{form}", lambda b=by_benchmark, f=form, c=cut: plot_band_grid(
            b, prob=prob, title=f"{f}: posterior bands, {c}"), f"`{form}`, {cut}: accuracy against training compute.")
    sections.append(bands)

    # ---- extrapolation
    extrapolation = _Section("Extrapolation to larger runs")
    forest_fits = None
    if evaluation is None:
        extrapolation.text("The spec sets no compute cut-off (`holdout.max_compute` or `evaluate.cutoffs`), so no "
                           "run is held out and extrapolation is not scored.")
        sections.append(extrapolation)
    else:
        extrapolation.text(
            "Each form is fitted on the runs at or below a cut-off and scores every larger run "
            "(leave-future-out). `elpd`: held-out log predictive density on log(-log Q) (higher is better); "
            "`mae`, `mre`, `r2`: error of the posterior median in raw accuracy (the paper's metrics); "
            "`coverage_P`: share of held-out runs inside the P% predictive interval. Rows `paper` are the paper's "
            "point-estimate method on the same split."
        )
        sections.append(extrapolation)
        scores_section = _Section("Scores per benchmark", 3)
        add_table(scores_section, "scores", evaluation.scores,
                  "Extrapolation scores per form, benchmark, cut-off and method.")
        sections.append(scores_section)
        pooled = _Section("Pooled over benchmarks", 3)
        add_table(pooled, "pooled", evaluation.summary,
                  "Mean of mae, mre, r2 and coverage over benchmarks; elpd summed.")
        sections.append(pooled)
        duel_section = _Section("Direct against two-stage", 3)
        if len(evaluation.direct_vs_two_stage):
            duel = evaluation.direct_vs_two_stage
            duel_section.text(
                "Posterior of d = MAE(direct) - MAE(two-stage) on the held-out runs both routes predict, from "
                "draws of the two mean curves (negative: the direct law is closer). The row `all` pools every "
                "benchmark's runs."
            )
            add_table(duel_section, "direct_vs_two_stage", duel,
                      f"Direct minus two-stage mean absolute error: median and {tag}% interval.")
            many = duel["cutoff"].nunique() > 1
            add_figure(duel_section, "forest_direct_vs_two_stage", lambda: plot_forest(
                duel, median="difference_median", lower=f"difference_lower_{tag}",
                upper=f"difference_upper_{tag}", group="cutoff" if many else None,
                annotate=None if many else "p_direct_closer", annotate_title="P(direct closer)",
                xlabel="MAE(direct) - MAE(two-stage) on held-out runs (accuracy)", reference=0.0,
                sides=("direct closer", "two-stage closer"),
                title=f"{duel['direct'].iloc[0]} minus {duel['two_stage'].iloc[0]}",
            ), f"Forest plot: per benchmark, the posterior median (dot) and {tag}% interval (bar) of the "
               "difference in held-out mean absolute error; dashed line: no difference.")
        else:
            duel_section.text(
                f"The spec's forms ({', '.join(forms)}) do not include both a direct and a two-stage form, so the "
                "two routes are not compared. Below: the held-out error of each fit."
            )
            forest_fits = {(form, b): fit for form, by_benchmark in at_band.items() for b, fit in by_benchmark.items()}
        sections.append(duel_section)
        if forest_fits is not None:
            error_section = _Section("Held-out error", 3)
            errors = held_out_error(forest_fits, prob=widest)
            if errors.empty:
                error_section.text("No run lies beyond the cut-off: there is nothing to score.")
            else:
                error_section.text(
                    "Per benchmark, the posterior of the mean absolute error of the mean curve on the held-out runs "
                    f"(over posterior draws): median and {tag}% interval. `mae_of_median` is the error of the "
                    "posterior median, as in the scores."
                )
                add_table(error_section, "held_out_error", errors,
                          f"Held-out mean absolute error, median and {tag}% interval over posterior draws.")
                several = errors["form"].nunique() > 1
                add_figure(error_section, "forest_held_out_error", lambda: plot_forest(
                    errors, median="mae_median", lower=f"mae_lower_{tag}", upper=f"mae_upper_{tag}",
                    group="form" if several else None, reference=0.0,
                    xlabel="mean absolute error on held-out runs (accuracy)",
                    title=None if several else f"{errors['form'].iloc[0]}: held-out error",
                ), f"Forest plot: per benchmark, the posterior median (dot) and {tag}% interval (bar) of the mean "
                   "absolute error on the runs beyond the cut-off.")
            sections.append(error_section)

    # ---- LOO (interpolation)
    loo_section = _Section("Interpolation: PSIS-LOO")
    pareto_k: dict = {}
    loo_direct = [form for form in direct if form in at_band]
    if len(loo_direct) >= 2:
        _say(quiet, f"PSIS-LOO of {', '.join(loo_direct)}")
        frames, failed = [], []
        for benchmark in spec.benchmarks:
            if not all(benchmark in at_band[form] for form in loo_direct):
                continue
            try:
                frame = compare_forms({form: at_band[form][benchmark] for form in loo_direct},
                                      priors=spec.prior_distributions())
            except BayesScalingError as err:
                failed.append(f"{benchmark}: {err}")
                continue
            frames.append(frame.assign(benchmark=benchmark))
            pareto_k.update({band_keys[row["form"], benchmark]: row["max_pareto_k"]
                             for row in frame.to_dict("records")})
        loo_section.text(
            f"The direct forms compared by PSIS-LOO on the runs each was fitted on (up to {band_cutoff:.3g} FLOPs), "
            "best first per benchmark: `elpd` on log(-log Q) with its standard error, the difference from the best "
            "(`elpd_diff`, `dse`), stacking `weight`; runs with Pareto k above 0.7 are refitted exactly "
            "(`n_refits`). The fits are those plotted above." if band_cutoff else
            "The direct forms compared by PSIS-LOO, best first per benchmark.")
        if frames:
            loo = pd.concat(frames, ignore_index=True)
            loo = loo[["benchmark", *[c for c in loo.columns if c != "benchmark"]]]
            add_table(loo_section, "loo", loo, "PSIS-LOO comparison per benchmark.")
        if failed:
            loo_section.items(failed)
    else:
        loo_section.text(
            f"PSIS-LOO compares two or more direct forms fitted to the same runs; this spec lists "
            f"{len(loo_direct)} ({', '.join(loo_direct) or 'none'}), so there is no LOO comparison."
            + (" Two-stage forms condition accuracy on each run's loss, so their LOO is not comparable with a "
               "direct law's; they are compared by extrapolation above." if two_stage else "")
        )
    loo_section.text(f"Note: {INTERPOLATION_NOTE}.")
    sections.append(loo_section)

    # ---- pass@k
    k_forms = {form: by_benchmark for form, by_benchmark in at_band.items() if "k" in get_law(form).inputs}
    for form, by_benchmark in k_forms.items():
        passk = _Section("pass@k" if len(k_forms) == 1 else f"pass@k: {form}")
        passk.text(
            "Pass@k against the number of samples k at fixed training compute (the compute of some of the "
            "benchmark's runs; the largest are extrapolations), and the trade-off between training compute and "
            "samples: for each pass@k level, the compute needed to reach it at each k."
        )
        add_figure(passk, f"pass_at_k_{form}", lambda b=by_benchmark: plot_pass_at_k(b, prob=prob),
                   f"`{form}`: pass@k against k at fixed compute; lines: posterior median; shaded: "
                   f"{' and '.join(f'{100 * p:g}%' for p in sorted(prob))} intervals of the mean curve; markers: "
                   "runs at that compute (filled fitted, open held out).")
        add_figure(passk, f"compute_vs_k_{form}", lambda b=by_benchmark: plot_compute_vs_k(b, prob=widest),
                   f"`{form}`: iso-pass@k contours of training compute against samples per problem k; lines: "
                   f"posterior median of the compute needed; bands: {tag}% intervals; grey: beyond the largest "
                   "fitted run.")
        sections.append(passk)

    # ---- how the intervals were calibrated
    sections.append(_interval_calibration_section(spec, add_table, add_figure))

    # ---- diagnostics
    diagnostics = _Section("Sampling diagnostics")
    diagnostics.text("Every fit of the report, with the thresholds it is checked against; a value that fails its "
                     f"threshold is highlighted and marked {PROBLEM_MARK}.")
    diagnostics.items([
        f"R-hat <= {RHAT_MAX}: chains that agree (rank-normalised split R-hat, Vehtari et al. 2021); above it the "
        "chains have not mixed and the posterior is not trustworthy.",
        f"bulk and tail ESS >= {ESS_MIN}: enough effective draws (100 per chain for four chains) for stable medians "
        "and interval ends.",
        "no divergent transitions: a divergence means NUTS could not follow the posterior's curvature, and draws "
        "may miss part of it.",
        f"E-BFMI >= {BFMI_MIN}: the momentum resampling explores the energy distribution; lower values mean heavy "
        "tails the sampler crosses slowly.",
        f"Pareto k <= {PARETO_K_MAX} (where LOO was computed): the PSIS estimate of a run's leave-one-out density is "
        "reliable; runs above were refitted exactly.",
    ])
    diag, flags = diagnostics_table(fits, pareto_k)
    add_table(diagnostics, "diagnostics", diag, "Diagnostics per fit (retried: refitted once with a longer "
              "warm-up after failing a check).", flags)
    sections.append(diagnostics)

    # ---- provenance
    spec_text = spec_to_toml(spec)
    spec_file = out / "spec.toml"
    spec_file.write_text(spec_text)
    provenance = _Section("Provenance")
    provenance.text(
        f"Data set `{data_name}`"
        + (" (a table supplied in Python, not loaded from the spec)" if supplied else "")
        + f"; table of {len(table)} rows, SHA-256 fingerprint `{_fingerprint(table)[:16]}`. Seed {spec.seed}. "
        f"Generated {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}."
    )
    sections.append(provenance)
    spec_section = _Section("Spec", 3)
    spec_section.text("The exact spec, with every default written out (also in `spec.toml` beside this report):")
    spec_section.code(spec_text, "toml")
    sections.append(spec_section)
    software = _Section("Software", 3)
    add_table(software, "versions", package_versions(), "Package versions.")
    sections.append(software)
    regenerate = _Section("Regenerate", 3)
    regenerate.text("In the folder the report was built from (the paths are relative to it):" if not supplied else
                    "The table was supplied in Python; with the spec's own data, this command regenerates it:")
    regenerate.code(f"bayes-scaling report {(out / 'spec.toml').as_posix()} --out {out.as_posix()}", "bash")
    sections.append(regenerate)

    # ---- write
    title = f"Bayesian scaling-law report: {spec.name}"
    html_path, md_path = out / "report.html", out / "report.md"
    html_path.write_text(_render_html(title, sections), encoding="utf-8")
    md_path.write_text(_render_markdown(title, sections, out), encoding="utf-8")
    files = [html_path, md_path, spec_file]
    for name, frame in tables.items():
        frame.to_csv(tables_dir / f"{name}.csv", index=False)
        files.append(tables_dir / f"{name}.csv")
    files += [path for paths in figures.values() for path in paths]
    _say(quiet, f"wrote {html_path} and {md_path}")
    return ReportResult(out_dir=out, html=html_path, markdown=md_path, spec_file=spec_file, figures=figures,
                        tables=tables, fits=fits, sections=[s.title for s in sections], files=files)
