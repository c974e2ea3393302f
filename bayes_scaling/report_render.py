"""Rendering of reports: one document model, written as HTML and as Markdown.

A report (:func:`bayes_scaling.report.build_report`) is built once as a list
of :class:`Section` objects holding text, lists, code, :class:`Table` and
:class:`Figure` blocks, then rendered by :func:`render_html` and
:func:`render_markdown`, so both renderings always hold the same headings,
tables and figures.

- :func:`render_html` writes one self-contained page: figures embedded as
  base64 PNG data URIs, styles inline, no external resource.
- :func:`render_markdown` writes the same sections, referencing the figures'
  PNG and PDF files relative to the report's folder.

Tables are formatted once by :func:`format_table` (4 significant digits,
FLOPs as ``1e+21``, counts as integers); a cell that fails its threshold is
marked :data:`PROBLEM_MARK`, highlighted in HTML and bold in Markdown.

Nothing here fits or computes: this module only turns what the report
module gathered into text.
"""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

#: Marker of a value that fails its threshold, in both renderings.
PROBLEM_MARK = "⚠"

# ----------------------------------------------------------------- document model


@dataclass
class Table:
    """A table of a report, its cells already formatted as text.

    Attributes
    ----------
    name : str
        The table's name: its HTML id is ``table-<name>``.
    frame : pandas.DataFrame
        Formatted cells (str).
    flags : pandas.DataFrame, optional
        Same shape as ``frame``: True where a cell fails its threshold.
    caption : str
        Shown above the table; `backticks` become code.
    """

    name: str
    frame: pd.DataFrame
    flags: pd.DataFrame | None = None
    caption: str = ""


@dataclass
class Figure:
    """A figure of a report, saved as PNG (embedded or linked) and as PDF (linked from Markdown)."""

    name: str
    png: Path
    pdf: Path
    caption: str


@dataclass
class Section:
    """A heading and the blocks under it, in order.

    Attributes
    ----------
    title : str
        The heading.
    level : int
        2 for a section (listed in the HTML table of contents), 3 for a
        subsection.
    blocks : list
        ``(kind, content)`` pairs, added by the methods below.
    """

    title: str
    level: int = 2
    blocks: list = field(default_factory=list)

    @property
    def anchor(self) -> str:
        """The heading's HTML id: its title in lower case, runs of other characters as one dash."""
        return re.sub(r"[^a-z0-9]+", "-", self.title.lower()).strip("-")

    def text(self, text: str):
        """Add a paragraph."""
        self.blocks.append(("p", text))

    def items(self, items: list[str]):
        """Add a bulleted list."""
        self.blocks.append(("list", list(items)))

    def code(self, text: str, language: str = ""):
        """Add a code block."""
        self.blocks.append(("code", (language, text)))

    def table(self, table: Table):
        """Add a table."""
        self.blocks.append(("table", table))

    def figure(self, figure: Figure):
        """Add a figure."""
        self.blocks.append(("figure", figure))


# ----------------------------------------------------------------- table cells

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


def format_table(frame: pd.DataFrame, flags: pd.DataFrame | None = None, caption: str = "",
                 name: str = "") -> Table:
    """A data frame as a report table: every cell as text, those that fail a threshold marked.

    Parameters
    ----------
    frame : pandas.DataFrame
        The values, unrounded.
    flags : pandas.DataFrame, optional
        True where a cell fails its threshold; missing columns are False.
    caption, name : str
        As in :class:`Table`.

    Returns
    -------
    Table
        Cells with 4 significant digits (3 for FLOPs and very large or small
        values), counts as integers, missing values as a dash, flagged cells
        followed by :data:`PROBLEM_MARK`.
    """
    cells = pd.DataFrame({column: [_cell(v, column) for v in frame[column]] for column in frame.columns},
                         index=range(len(frame)))
    if flags is not None:
        flags = flags.reset_index(drop=True).reindex(columns=frame.columns, fill_value=False).fillna(False)
        cells = cells.where(~flags.astype(bool), cells + f" {PROBLEM_MARK}")
    return Table(name=name, frame=cells, flags=flags, caption=caption)


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


def _is_flagged(table: Table, row, column) -> bool:
    return table.flags is not None and bool(table.flags.loc[row, column])


# ------------------------------------------------------------------------ HTML

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


def _png_width(data: bytes) -> int:
    """Width in pixels from a PNG's IHDR chunk."""
    return int.from_bytes(data[16:20], "big")


def html_table(table: Table) -> str:
    """A table as HTML: numbers right-aligned, text left-aligned, flagged cells of class ``problem``."""
    text_columns = {c for c in table.frame.columns if _is_text_column(table.frame[c])}
    head = "".join(f'<th class="{"text" if c in text_columns else "num"}">{html.escape(str(c))}</th>'
                   for c in table.frame.columns)
    rows = []
    for i, row in table.frame.iterrows():
        cells = []
        for column, value in row.items():
            classes = ["text" if column in text_columns else "num"]
            if _is_flagged(table, i, column):
                classes.append("problem")
            cells.append(f'<td class="{" ".join(classes)}">{html.escape(value)}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    caption = f"<caption>{_inline_html(table.caption)}</caption>" if table.caption else ""
    return (f'<div class="table-wrap"><table id="table-{html.escape(table.name)}">{caption}'
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>")


def _html_figure(figure: Figure) -> str:
    raw = figure.png.read_bytes()
    data = base64.b64encode(raw).decode("ascii")
    # Shown at its size in inches (PNGs are 200 dpi; a CSS inch is 96 px), narrower on small screens.
    width = round(_png_width(raw) * 96 / 200)
    return (f'<figure id="figure-{html.escape(figure.name)}"><img src="data:image/png;base64,{data}" '
            f'width="{width}" alt="{html.escape(figure.caption.replace("`", ""))}">'
            f"<figcaption>{_inline_html(figure.caption)}</figcaption></figure>")


def _html_block(kind: str, content) -> str:
    if kind == "p":
        return f"<p>{_inline_html(content)}</p>"
    if kind == "list":
        return "<ul>" + "".join(f"<li>{_inline_html(item)}</li>" for item in content) + "</ul>"
    if kind == "code":
        language, text = content
        return f'<pre><code class="language-{language}">{html.escape(text)}</code></pre>'
    if kind == "table":
        return html_table(content)
    return _html_figure(content)


def render_html(title: str, sections: list[Section]) -> str:
    """The report as one self-contained HTML page.

    Parameters
    ----------
    title : str
        The page's title and top heading.
    sections : list of Section
        In order; those of level 2 are listed in a table of contents.

    Returns
    -------
    str
        The page, with its styles inline and its figures embedded as base64
        PNG data URIs, so it opens offline.
    """
    body = [f"<h1>{html.escape(title)}</h1>"]
    toc = "".join(f'<li><a href="#{s.anchor}">{html.escape(s.title)}</a></li>' for s in sections if s.level == 2)
    body.append(f"<nav><ul>{toc}</ul></nav>")
    for section in sections:
        body.append(f'<h{section.level} id="{section.anchor}">{html.escape(section.title)}</h{section.level}>')
        body += [_html_block(kind, content) for kind, content in section.blocks]
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{html.escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n<main>\n"
            + "\n".join(body) + "\n</main>\n</body>\n</html>\n")


# -------------------------------------------------------------------- Markdown


def _md_cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|")


def markdown_table(table: Table) -> str:
    """A table as a Markdown pipe table, its caption in italics above, flagged cells in bold."""
    frame = table.frame
    lines = []
    if table.caption:
        lines += [f"*{table.caption}*", ""]
    text_columns = {c for c in frame.columns if _is_text_column(frame[c])}
    lines.append("| " + " | ".join(_md_cell(str(c)) for c in frame.columns) + " |")
    lines.append("|" + "|".join(" :--- " if c in text_columns else " ---: " for c in frame.columns) + "|")
    for i, row in frame.iterrows():
        cells = [f"**{_md_cell(value)}**" if _is_flagged(table, i, column) else _md_cell(value)
                 for column, value in row.items()]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _markdown_block(kind: str, content, out: Path) -> list[str]:
    if kind == "p":
        return [content, ""]
    if kind == "list":
        return [f"- {item}" for item in content] + [""]
    if kind == "code":
        language, text = content
        fence = "~~~" if "```" in text else "```"
        return [f"{fence}{language}", text.rstrip("\n"), fence, ""]
    if kind == "table":
        return [markdown_table(content), ""]
    png, pdf = (p.relative_to(out).as_posix() for p in (content.png, content.pdf))
    alt = content.caption.replace("`", "").replace("[", "(").replace("]", ")")
    return [f"![{alt}]({png})", "", f"*{content.caption}* (PDF: [{pdf}]({pdf}))", ""]


def render_markdown(title: str, sections: list[Section], out: Path) -> str:
    """The report as Markdown.

    Parameters
    ----------
    title : str
        The top heading.
    sections : list of Section
        In order.
    out : Path
        The report's folder: figures are linked by their paths relative to it.

    Returns
    -------
    str
        The same sections, tables and captions as :func:`render_html`, each
        figure shown from its PNG and linked to its PDF.
    """
    lines = [f"# {title}", ""]
    for section in sections:
        lines += [f"{'#' * section.level} {section.title}", ""]
        for kind, content in section.blocks:
            lines += _markdown_block(kind, content, out)
    return "\n".join(lines).rstrip("\n") + "\n"
