"""Messages go to the ``bayes_scaling`` logger: silent in a library by default, shown by the CLI (-q, -v)."""

from __future__ import annotations

import logging

import pytest

import bayes_scaling as bs
from bayes_scaling.cli import main
from bayes_scaling.logs import nested

from conftest import FAST, simulate_power_law


@pytest.fixture(scope="module")
def sim_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "runs.csv"
    # 22 runs fitted pad to the 32-point program the power-law tests compile.
    simulate_power_law(0.1, 0.15, 0.03, n=27, seed=4, hi=1e22).to_csv(path, index=False)
    return path


def test_a_library_fit_prints_nothing_and_logs_its_progress(sim_csv, capsys, caplog):
    data = bs.select(bs.read_table(sim_csv), "sim", max_compute=2e21)

    def messages(call):
        caplog.clear()
        with caplog.at_level(logging.DEBUG, logger="bayes_scaling"):
            call()
        return {(record.levelno, record.getMessage().strip().split(" ")[0]) for record in caplog.records
                if record.name == "bayes_scaling.inference"}

    own = messages(lambda: bs.fit(data, **FAST))
    with nested():
        inner = messages(lambda: bs.fit(data, **FAST))
    assert capsys.readouterr().err == ""  # Python's default: nothing below WARNING is shown
    # A call of its own reports its progress at INFO; the same call inside an outer job at DEBUG.
    assert own == {(logging.INFO, "fitting"), (logging.INFO, "sim")}
    assert inner == {(logging.DEBUG, "fitting"), (logging.DEBUG, "sim")}


def test_the_command_line_shows_progress_unless_quiet(sim_csv, tmp_path, capsys):
    argv = ["fit", "--data", str(sim_csv), "--benchmark", "sim", "--max-compute", "2e21", "--out", str(tmp_path),
            "--num-warmup", "500", "--num-samples", "500", "--num-chains", "4", "--no-retry"]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "fitting power_law to sim" in err and "diagnostics: R-hat max" in err
    assert main([*argv, "-q"]) == 0
    assert capsys.readouterr().err == ""
    assert main([*argv, "-v"]) == 0
    assert "fitting power_law to sim" in capsys.readouterr().err
