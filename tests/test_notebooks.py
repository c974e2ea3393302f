"""The worked-example notebooks: stored without outputs, and every code cell runs.

Each notebook is executed in fast mode (``BAYES_SCALING_FAST=1``: 4 chains x 500
draws after 500 warm-up steps, as ``conftest.FAST``, and fewer benchmarks), cell
by cell in one fresh namespace, in a temporary folder that receives its files.
Jupyter is not needed: the cells are plain Python.
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
NAMES = ["quickstart", "paper_reproduction", "pass_at_k", "data_mixtures"]


def load(name: str) -> dict:
    return json.loads((NOTEBOOKS / f"{name}.ipynb").read_text())


def test_every_notebook_is_tested():
    assert sorted(path.stem for path in NOTEBOOKS.glob("*.ipynb")) == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs(name, tmp_path, monkeypatch):
    notebook = load(name)
    assert notebook["nbformat"] == 4
    code = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    assert code, f"{name} has no code cells"
    for cell in code:
        assert cell["execution_count"] is None and cell["outputs"] == [], f"{name}: a cell is stored with output"
    first = "".join(code[0]["source"])
    assert "BAYES_SCALING_FAST" in first, f"{name}: the first code cell must read BAYES_SCALING_FAST"

    monkeypatch.setenv("BAYES_SCALING_FAST", "1")
    monkeypatch.chdir(tmp_path)
    matplotlib.use("Agg")
    namespace = {"__name__": "__main__"}
    try:
        for index, cell in enumerate(notebook["cells"]):
            if cell["cell_type"] != "code":
                continue
            source = "".join(cell["source"])
            exec(compile(source, f"{name}.ipynb[{index}]", "exec"), namespace)
    finally:
        plt.close("all")
    assert namespace["FAST"] is True
    assert namespace["SAMPLER"] == dict(num_warmup=500, num_samples=500, num_chains=4)
    assert any((tmp_path / "notebook_outputs" / name).iterdir()), f"{name} wrote no files"
