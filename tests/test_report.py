"""Reports (`bayes-scaling report`, :func:`bayes_scaling.report.build_report`).

One small report is built per module (two DCLM benchmarks, two direct forms,
the suite's usual draws so the fits share compiled programs with the other
tests) and checked as a reader would: the HTML parses and is self-contained,
its tables hold the expected rows, the Markdown says the same, every figure
exists as PNG and PDF, the provenance is complete, and a browser renders it.

The real direct-against-two-stage path needs two-stage fits, which cost
minutes on two cores; it runs end to end on ``models/dclm_report.toml`` with
``-m slow``. In the default run, the section is built from a stand-in pair of
fits (power law against the saturating law) to check its table and figure.
"""

from __future__ import annotations

import base64
import html
import os
import re
import shutil
import subprocess
import tomllib
from collections import Counter
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bayes_scaling as bs
from bayes_scaling import pipeline
from bayes_scaling.cli import main
from bayes_scaling.evaluate import direct_vs_two_stage
from bayes_scaling.report import PROBLEM_MARK, build_report, diagnostics_table, spec_to_toml
from bayes_scaling.report_render import format_table, html_table, markdown_table
from bayes_scaling.specs import Spec, load_spec, spec_from_dict

from references import assert_probability_matches_difference

MODELS = Path(__file__).resolve().parents[1] / "models"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# The suite's usual draws (conftest.FAST): no other sampler sizes, so that these
# fits share compiled programs with the rest of the suite.
DRAWS = dict(num_warmup=500, num_samples=500, num_chains=4)
DRAWS_CLI = ["--num-warmup", "500", "--num-samples", "500", "--num-chains", "4", "--quiet"]

SMALL = Spec(
    name="small_mc", dataset="krajewski2025_dclm", benchmarks=("arc_easy", "hellaswag"), metric="acc", tpr=20,
    max_compute=1e21, forms=("power_law", "saturating_power_law"), **DRAWS,
)


# ------------------------------------------------------------------ parsing


class Page(HTMLParser):
    """What a reader sees in the HTML: headings, images, links and tables (cell text)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags = Counter()
        self.headings: list[tuple[int, str]] = []
        self.images: list[str] = []
        self.references: list[tuple[str, str, str]] = []
        self.tables: list[dict] = []
        self.problem_cells = 0
        self._heading = self._table = self._row = self._cell = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags[tag] += 1
        for name in ("src", "href", "srcset", "data", "action", "poster"):
            if name in attrs:
                self.references.append((tag, name, attrs[name] or ""))
        if tag == "img":
            self.images.append(attrs.get("src") or "")
        elif re.fullmatch(r"h[1-6]", tag):
            self._heading = [int(tag[1]), ""]
        elif tag == "table":
            self._table = {"id": attrs.get("id"), "rows": []}
        elif tag == "tr" and self._table is not None:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = ""
            self.problem_cells += "problem" in (attrs.get("class") or "").split()

    def handle_endtag(self, tag):
        if re.fullmatch(r"h[1-6]", tag) and self._heading:
            self.headings.append((self._heading[0], self._heading[1].strip()))
            self._heading = None
        elif tag in ("td", "th") and self._cell is not None:
            self._row.append(self._cell.strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self._table["rows"].append(self._row)
            self._row = None
        elif tag == "table" and self._table is not None:
            self.tables.append(self._table)
            self._table = None

    def handle_data(self, data):
        if self._heading is not None:
            self._heading[1] += data
        if self._cell is not None:
            self._cell += data


def parse_html(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    return page


def parse_markdown(text: str) -> dict:
    """Headings, tables (header + rows, unescaped, bold markers removed) and image targets, outside code fences."""
    headings, tables, images, current, fenced = [], [], [], None, False
    for line in text.splitlines():
        if line.startswith(("```", "~~~")):
            fenced = not fenced
            continue
        if fenced:
            continue
        if line.startswith("|"):
            cells = [c.strip().replace("\\|", "|").replace("\\\\", "\\").replace("**", "")
                     for c in re.split(r"(?<!\\)\|", line)[1:-1]]
            if current is None:
                current = []
                tables.append(current)
            if not all(re.fullmatch(r":?-{3,}:?", c) for c in cells):
                current.append(cells)
            continue
        current = None
        if match := re.match(r"(#{1,6}) (.+)$", line):
            headings.append((len(match.group(1)), match.group(2).strip()))
        images += re.findall(r"!\[[^\]]*\]\(([^)]+)\)", line)
    return {"headings": headings, "tables": tables, "images": images}


# ------------------------------------------------------------------ the report


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    return build_report(SMALL, tmp_path_factory.mktemp("report") / "small_mc")


@pytest.fixture(scope="module")
def page(report):
    return parse_html(report.html)


@pytest.fixture(scope="module")
def markdown(report):
    return parse_markdown(report.markdown.read_text(encoding="utf-8"))


def test_html_is_self_contained(report, page):
    text = report.html.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert page.tags["link"] == 0 and page.tags["script"] == 0 and page.tags["iframe"] == 0
    assert "@import" not in text and "url(" not in text
    # Every reference is an embedded image or an anchor in the page itself.
    for tag, name, value in page.references:
        assert value.startswith("data:image/png;base64,") or value.startswith("#"), (tag, name, value[:60])
    anchors = set(re.findall(r'id="([^"]+)"', text))
    assert {value[1:] for _, name, value in page.references if value.startswith("#")} <= anchors
    assert len(page.images) == len(report.figures) >= 3
    for src in page.images:
        data = base64.b64decode(src.split(",", 1)[1], validate=True)
        assert data.startswith(PNG_SIGNATURE) and len(data) > 1000


def test_sections(report, page):
    titles = [title for _, title in page.headings]
    for title in ("Overview", "Fits and held-out runs", "Extrapolation to larger runs", "Scores per benchmark",
                  "Pooled over benchmarks", "Direct against two-stage", "Held-out error",
                  "Held-out runs under the predictive distribution (PIT)",
                  "Interpolation: PSIS-LOO", "Sampling diagnostics", "Provenance", "Spec", "Software", "Regenerate"):
        assert title in titles
    assert "pass@k" not in titles  # no pass@k law in this spec
    assert titles == [page.headings[0][1], *report.sections]
    assert "How far to trust the intervals" in titles  # the measured coverage behind every interval
    assert set(report.figures) == {"bands_power_law", "bands_saturating_power_law", "forest_held_out_error",
                                   "held_out_pit", "loo_pit", "reliability"}


def test_tables_hold_one_row_per_benchmark(report, page):
    tables = {table["id"]: table["rows"] for table in page.tables}
    assert set(tables) == {f"table-{name}" for name in report.tables}
    # 2 forms x 2 benchmarks x (bayes, paper)
    scores = report.tables["scores"]
    assert len(scores) == 8 and (scores["status"] == "ok").all() and (scores["n_held_out"] == 17).all()
    assert len(report.tables["pooled"]) == 4
    # One row per (form, benchmark) and per form pooled over benchmarks.
    errors = report.tables["held_out_error"]
    assert sorted(errors["benchmark"]) == ["all", "all", "arc_easy", "arc_easy", "hellaswag", "hellaswag"]
    assert (errors["mae_lower_90"] <= errors["mae_median"]).all()
    assert (errors["mae_median"] <= errors["mae_upper_90"]).all()
    # The error of the parameters' posterior median is the scores table's, up to the Monte Carlo error
    # the form-error draws add to the scores' median (about 0.001 in accuracy a decade out; measured
    # differences up to 0.0006); pooled rows weigh runs alike (17 per benchmark).
    bayes = scores[scores["method"] == "bayes"].set_index(["form", "benchmark"])["mae"]
    for row in errors.itertuples():
        expected = bayes[row.form].mean() if row.benchmark == "all" else bayes[(row.form, row.benchmark)]
        assert abs(row.mae_of_median - expected) < 0.002, (row.form, row.benchmark, row.mae_of_median, expected)
    pit = report.tables["held_out_pit"]
    assert sorted(pit["benchmark"]) == sorted(errors["benchmark"]) and (pit["n_refused"] == 0).all()
    assert (pit["n_held_out"] == np.where(pit["benchmark"] == "all", 34, 17)).all()
    assert pit["p_value"].between(0, 1).all() and pit["mean_pit"].between(0, 1).all()
    loo = report.tables["loo"]
    assert sorted(loo["benchmark"]) == ["arc_easy", "arc_easy", "hellaswag", "hellaswag"]
    assert loo.groupby("benchmark")["weight"].sum().to_numpy() == pytest.approx([1.0, 1.0])
    diagnostics = report.tables["diagnostics"]
    assert len(diagnostics) == 4 and diagnostics["max_pareto_k"].notna().all()
    for name, frame in report.tables.items():
        rows = tables[f"table-{name}"]
        assert rows[0] == list(frame.columns)  # header
        assert len(rows) == len(frame) + 1, name
    # The HTML cells are the data, rounded.
    scores_rows = tables["table-scores"]
    column = scores_rows[0].index("n_held_out")
    assert {row[column] for row in scores_rows[1:]} == {"17"}
    text = report.html.read_text(encoding="utf-8")
    assert "interpolation" in text and "LOO scores runs inside the fitted compute range" in text


def test_held_out_pit_matches_the_scored_intervals(report):
    # The PIT values come from the draws the scores' 90% intervals come from
    # (seed 0, the same form-error term): a run is inside its interval exactly
    # when its PIT value lies in the central 90%, so the share outside that
    # band is 1 - coverage_90, up to a run within a draw of an interval's end
    # (2000 draws here: none expected among 17 runs; one allowed).
    pit = report.tables["held_out_pit"].set_index(["form", "benchmark"])
    scores = report.tables["scores"]
    for row in scores[scores["method"] == "bayes"].itertuples():
        shares = pit.loc[(row.form, row.benchmark)]
        inside = 1 - shares["below_5"] - shares["above_95"]
        assert abs(inside - row.coverage_90) <= 1 / row.n_held_out + 1e-9, (row.form, row.benchmark)
    text = html.unescape(report.html.read_text(encoding="utf-8"))
    assert "ECDF-PIT per form" in text and "99% simultaneous band" in text


def test_markdown_says_what_the_html_says(report, page, markdown):
    assert markdown["headings"] == page.headings
    assert len(markdown["tables"]) == len(page.tables)
    for md_rows, page_table in zip(markdown["tables"], page.tables):
        assert md_rows == page_table["rows"], page_table["id"]
    assert len(markdown["images"]) == len(page.images)
    for target in markdown["images"]:
        assert target.startswith("figures/") and target.endswith(".png")
        assert (report.out_dir / target).stat().st_size > 0
    pdfs = re.findall(r"\]\((figures/[^)]+\.pdf)\)", report.markdown.read_text(encoding="utf-8"))
    assert len(pdfs) == len(report.figures) and all((report.out_dir / p).is_file() for p in pdfs)


def test_every_figure_as_png_and_pdf(report):
    for name, (png, pdf) in report.figures.items():
        assert png == report.out_dir / "figures" / f"{name}.png" and pdf == png.with_suffix(".pdf")
        assert png.read_bytes().startswith(PNG_SIGNATURE) and png.stat().st_size > 10_000
        assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 5_000
    for name in report.tables:
        assert pd.read_csv(report.out_dir / "tables" / f"{name}.csv").shape[0] == len(report.tables[name])


def test_provenance(report, page):
    versions = dict(report.tables["versions"].itertuples(index=False))
    required = {"python", "bayes_scaling", "jax", "numpyro", "arviz-base", "arviz-stats", "numpy", "pandas"}
    assert required <= set(versions)
    assert versions["bayes_scaling"] == bs.__version__
    rows = {row[0]: row[1] for row in next(t for t in page.tables if t["id"] == "table-versions")["rows"][1:]}
    assert rows == versions
    # The exact spec, written beside the report and shown in it, reads back to the same spec.
    written = report.spec_file.read_text()
    assert spec_from_dict(tomllib.loads(written), name="x") == SMALL
    text = html.unescape(report.html.read_text(encoding="utf-8"))
    assert written.strip() in text
    assert "krajewski2025_dclm" in text and "Seed 0" in text
    assert f"bayes-scaling report {report.spec_file.as_posix()} --out {report.out_dir.as_posix()}" in text


def test_spec_to_toml_round_trips_every_field():
    spec = Spec(name="odd \"name\"", path="runs.csv", columns={"FLOPs": "flops"}, chance={"task": 0.25},
                benchmarks=("task",), tpr=20.0, k=4, max_compute=3e20, priors={"alpha": "HalfNormal(0.5)"},
                forms=("power_law", "saturating_power_law"), cutoffs=(3e20, 1e21), retry=False, seed=7)
    assert spec_from_dict(tomllib.loads(spec_to_toml(spec))) == spec


def test_diagnostics_flag_and_highlight_problems(report):
    key, fit = next(iter(report.fits.items()))
    broken = fit.copy(deep=True)
    diverging = broken["sample_stats"]["diverging"].values.copy()
    diverging.flat[:3] = True
    broken["sample_stats"] = broken["sample_stats"].to_dataset().assign(
        diverging=(broken["sample_stats"]["diverging"].dims, diverging))
    table, flags = diagnostics_table({key: fit, (key[0], "broken", key[2]): broken},
                                     pareto_k={(key[0], "broken", key[2]): 0.9})
    assert table["n_divergent"].tolist() == [0, 3]
    assert flags.loc[1, "n_divergent"] and flags.loc[1, "max_pareto_k"] and flags.loc[1, "problems"]
    assert not flags.loc[0, ["n_divergent", "max_pareto_k", "problems"]].any()
    assert "3 divergent transitions" in table.loc[1, "problems"] and "Pareto k 0.90 > 0.7" in table.loc[1, "problems"]
    formatted = format_table(table, flags, name="diagnostics")
    rendered = Page()
    rendered.feed(html_table(formatted))
    assert rendered.problem_cells == int(flags.to_numpy().sum())
    markdown = markdown_table(formatted)
    assert markdown.count(PROBLEM_MARK) == int(flags.to_numpy().sum()) and "**3 ⚠**" in markdown
    # Every threshold is explained in the report.
    text = html.unescape(report.html.read_text(encoding="utf-8"))
    for threshold in ("R-hat <= 1.01", "ESS >= 400", "no divergent transitions", "E-BFMI >= 0.3",
                      "Pareto k <= 0.7"):
        assert threshold in text


def test_direct_against_two_stage_section(report, tmp_path, monkeypatch):
    # The section from a stand-in pair of fits, without refitting: the
    # evaluation returns the module report's fits with their comparison.
    fits = report.fits
    pick = {form: {b: fit for (f, b, _), fit in fits.items() if f == form}
            for form in ("power_law", "saturating_power_law")}
    duel = direct_vs_two_stage(pick["power_law"], pick["saturating_power_law"]).assign(
        direct="power_law", two_stage="saturating_power_law", cutoff=1e21)
    evaluation = pipeline.EvaluationResult(scores=report.tables["scores"], summary=report.tables["pooled"],
                                           direct_vs_two_stage=duel, fits=fits)
    monkeypatch.setattr(pipeline, "run_evaluation", lambda *args, **kwargs: evaluation)
    result = build_report(replace(SMALL, forms=("power_law",)), tmp_path)
    assert list(result.tables["direct_vs_two_stage"]["benchmark"]) == ["arc_easy", "hellaswag", "all"]
    assert "forest_direct_vs_two_stage" in result.figures and "forest_held_out_error" not in result.figures
    page = parse_html(result.html)
    assert "Held-out error" not in [title for _, title in page.headings]
    assert "P(direct closer)" in result.html.read_text(encoding="utf-8")
    # One direct form: no LOO table, and a sentence saying why.
    assert "loo" not in result.tables and "there is no LOO comparison" in result.html.read_text(encoding="utf-8")


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        if found := shutil.which(name):
            return found
    return None


def test_html_renders_in_headless_chromium(report, page, tmp_path):
    browser = _chromium()
    if browser is None:
        reason = "chromium not installed (Debian package 'chromium')"
        # CI (.ci/run) installs Chromium and sets BAYES_SCALING_CI: there a skip would hide a broken install.
        if os.environ.get("BAYES_SCALING_CI", "") not in ("", "0"):
            pytest.fail(f"{reason}, but BAYES_SCALING_CI is set: CI must run this test")
        pytest.skip(reason)
    # Headless, in a fresh profile, and offline: without the background requests (component updates,
    # sync, QUIC) Chromium otherwise makes to Google's servers, which CI's network refuses.
    common = [browser, "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run", "--disable-extensions",
              "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-quic",
              f"--user-data-dir={tmp_path / 'profile'}", "--hide-scrollbars"]
    uri = report.html.resolve().as_uri()
    dom = subprocess.run([*common, "--dump-dom", uri], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert dom.stdout.count('src="data:image/png;base64,') == len(page.images)
    shot = tmp_path / "shot.png"
    run = subprocess.run([*common, "--window-size=1280,1600", f"--screenshot={shot}", uri],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and shot.read_bytes().startswith(PNG_SIGNATURE), run.stderr[-2000:]
    import matplotlib.image

    pixels = matplotlib.image.imread(shot)[..., :3]
    assert pixels.shape[:2] == (1600, 1280)
    # Not blank, and the first band plot is drawn: pixels of its Okabe-Ito blue (#0072B2).
    assert pixels.std() > 0.1
    blue = np.all(np.abs(pixels - np.array([0x00, 0x72, 0xB2]) / 255) < 0.08, axis=-1)
    assert blue.sum() > 500


def test_report_cli_rejects_a_missing_spec(tmp_path, capsys):
    assert main(["report", str(tmp_path / "missing.toml"), "--out", str(tmp_path / "out")]) == 2
    assert "no such spec file" in capsys.readouterr().err


def test_dclm_report_spec():
    spec = load_spec(MODELS / "dclm_report.toml")
    assert spec.benchmarks == ("arc_easy", "arc_challenge", "hellaswag", "piqa", "sciq", "winogrande")
    assert spec.evaluated_forms == ("power_law", "two_stage") and spec.evaluated_cutoffs == (1e21,)
    assert spec.loss_benchmark == "dclm" and spec.tpr == 20 and spec.metric == "acc"


# ------------------------------------------------------------------ pass@k, through the command line


def test_pass_at_k_report_from_the_command_line(tmp_path, capsys):
    # Large Language Monkeys (MATH), Pythia 160M-12B from a CSV file, fitted up
    # to 1e22 FLOPs (Pythia-70M is left out, as in the law's tests: its pass@k
    # flattens towards the problems it can never solve).
    table = bs.load_dataset("llmonkeys_pythia_math")
    table[table["run_id"] != "pythia-70m"].to_csv(tmp_path / "runs.csv", index=False)
    (tmp_path / "spec.toml").write_text(
        f'name = "monkeys"\n\n[data]\npath = "{(tmp_path / "runs.csv").as_posix()}"\nbenchmarks = ["math"]\n'
        'metric = "pass_at_k"\nchance_margin = 0.0\n\n[holdout]\nmax_compute = 1e22\n\n[law]\nform = "pass_at_k"\n'
    )
    out = tmp_path / "report"
    assert main(["report", str(tmp_path / "spec.toml"), "--out", str(out), *DRAWS_CLI]) == 0
    assert "self-contained" in capsys.readouterr().out
    page = parse_html(out / "report.html")
    markdown = parse_markdown((out / "report.md").read_text(encoding="utf-8"))
    assert markdown["headings"] == page.headings and "pass@k" in [title for _, title in page.headings]
    for name in ("bands_pass_at_k", "pass_at_k_pass_at_k", "compute_vs_k_pass_at_k", "forest_held_out_error",
                 "held_out_pit"):
        for suffix in (".png", ".pdf"):
            assert (out / "figures" / f"{name}{suffix}").stat().st_size > 5_000, name
    assert len(page.images) == 6  # the five above and the reliability diagram of the intervals
    errors = pd.read_csv(out / "tables" / "held_out_error.csv")
    # Held out: the runs above 1e22 FLOPs (Pythia-6.9B and 12B), at each of their k.
    beyond = table[(table["run_id"] != "pythia-70m") & (table["flops"] > 1e22)]
    assert beyond["run_id"].nunique() == 2 and len(beyond) == 2 * 15
    assert errors["benchmark"].tolist() == ["math"] and errors["n_held_out"].tolist() == [len(beyond)]
    # The sampler options of the command line are in the written spec.
    written = load_spec(out / "spec.toml")
    assert (written.num_warmup, written.num_samples, written.form) == (500, 500, "pass_at_k")
    assert "there is no LOO comparison" in (out / "report.md").read_text(encoding="utf-8")


# ------------------------------------------------------------------ the shipped spec, end to end (slow)


@pytest.mark.slow
def test_dclm_report_end_to_end(tmp_path):
    spec = replace(load_spec(MODELS / "dclm_report.toml"), benchmarks=("arc_easy", "hellaswag"), **DRAWS)
    result = build_report(spec, tmp_path)
    duel = result.tables["direct_vs_two_stage"]
    assert list(duel["benchmark"]) == ["arc_easy", "hellaswag", "all"]
    # P(direct closer) agrees with the posterior of the difference d = MAE_direct - MAE_two_stage.
    assert_probability_matches_difference(duel, "p_direct_closer")
    assert {"bands_power_law", "bands_two_stage", "forest_direct_vs_two_stage"} <= set(result.figures)
    assert "loo" not in result.tables
    text = result.html.read_text(encoding="utf-8")
    assert "Two-stage forms condition accuracy on each run" in text
    page = parse_html(result.html)
    assert parse_markdown(result.markdown.read_text(encoding="utf-8"))["headings"] == page.headings
