"""The command line end to end on a small table, and its one-line errors."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from bayes_scaling.cli import main

from conftest import simulate_power_law

# The suite's usual draws (conftest.FAST), so compiled programs are shared with other tests.
SMALL = ["--num-warmup", "500", "--num-samples", "500", "--num-chains", "4", "--quiet", "--no-retry"]


def run_cli(*args):
    """Run the CLI in a fresh process, as a user would."""
    return subprocess.run([sys.executable, "-m", "bayes_scaling.cli", *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def small_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "runs.csv"
    # 22 runs fitted (up to 2e21 FLOPs) pad to the 32-point program the power-law tests compile.
    table = simulate_power_law(0.1, 0.15, 0.03, n=27, seed=4, hi=1e22)
    table.rename(columns={"flops": "FLOPs", "value": "score"}).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def fitted_folder(small_csv, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    code = main(["fit", "--data", str(small_csv), "--columns", "FLOPs=flops,score=value", "--benchmark", "sim",
                 "--max-compute", "2e21", "--out", str(out), *SMALL])
    assert code == 0
    return out


def test_fit_writes_outputs(fitted_folder, capsys):
    for name in ["fits/sim.nc", "plots/sim.png", "plots/sim.pdf", "held_out.csv", "summary.csv"]:
        assert (fitted_folder / name).stat().st_size > 0, name
    held = pd.read_csv(fitted_folder / "held_out.csv")
    assert len(held) == 5  # points above 2e21 of 27 spread over 1e18..1e22
    summary = pd.read_csv(fitted_folder / "summary.csv")
    assert summary.loc[0, "n_fitted"] == 22


def test_fit_in_a_fresh_process_gives_identical_draws(fitted_folder, small_csv, tmp_path):
    # The fixture fitted in this process; a user's second run is another process
    # (its own JAX start, traced or loaded programs): the same data, spec and seed
    # must give the same draws bit for bit (README, "Reliability").
    from bayes_scaling.saving import load_fit

    args = ["fit", "--data", str(small_csv), "--columns", "FLOPs=flops,score=value", "--benchmark", "sim",
            "--max-compute", "2e21", *SMALL]
    again = run_cli(*args, "--out", str(tmp_path / "again"))
    assert again.returncode == 0, again.stderr[-2000:]
    ours, theirs = (load_fit(folder / "fits" / "sim.nc") for folder in (fitted_folder, tmp_path / "again"))
    for name in ("log_a", "alpha", "sigma", "nu"):
        np.testing.assert_array_equal(ours["posterior"][name].values, theirs["posterior"][name].values)
    assert ours.attrs["form_error"] == theirs.attrs["form_error"]


def test_predict_from_saved_fit(fitted_folder, tmp_path, capsys):
    out_csv = tmp_path / "pred.csv"
    assert main(["predict", str(fitted_folder / "fits" / "sim.nc"), "--compute", "1e21,1e23",
                 "--csv", str(out_csv)]) == 0
    printed = capsys.readouterr().out
    assert "extrapolation" in printed
    # The fit carries the shipped prior updated by the ladder's own backtests, and predict uses it;
    # the simulated law is exactly right, so the update narrows tau below the prior's.
    assert "updated by this ladder's own backtests" in printed
    from bayes_scaling.form_error import FormErrorPrior
    from bayes_scaling.predict import fit_form_error
    from bayes_scaling.saving import load_fit

    ladder = fit_form_error(load_fit(fitted_folder / "fits" / "sim.nc"))
    assert ladder.tau_quantiles((0.5,))[0] < FormErrorPrior.default().tau_quantiles((0.5,))[0]
    table = pd.read_csv(out_csv)
    assert table["compute"].tolist() == [1e21, 1e23]
    assert (table["lower_90"] < table["median"]).all() and (table["median"] < table["upper_90"]).all()


def test_fit_prints_table_and_diagnostics(small_csv, tmp_path, capsys):
    code = main(["fit", "--data", str(small_csv), "--columns", "FLOPs=flops,score=value",
                 "--benchmark", "sim", "--max-compute", "2e21", "--out", str(tmp_path),
                 *[arg for arg in SMALL if arg != "--quiet"]])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert "90% interval" in printed.out and "R-hat" in printed.out
    assert "held-out runs inside their 90% predictive interval" in printed.out
    assert "diagnostics: R-hat max" in printed.err  # not quiet: diagnostics go to stderr


@pytest.mark.parametrize(
    "args,message",
    [
        (["fit", "--dataset", "nope", "--benchmark", "x"], "unknown data set 'nope'"),
        (["fit", "--dataset", "krajewski2025_dclm", "--benchmark", "arc_easy", "--form", "cubic"],
         "option form: unknown form 'cubic'"),
        (["fit", "--dataset", "krajewski2025_dclm"], "option --benchmark is required"),
        (["fit", "--dataset", "krajewski2025_dclm", "--benchmark", "arc_easy", "--tpr", "abc"], "invalid float"),
        (["predict", "missing.nc", "--compute", "1e22"], "no such fit file: missing.nc"),
        (["fit", "--spec", "missing.toml"], "no such spec file: missing.toml"),
    ],
)
def test_errors_are_one_line_exit_2(args, message, capsys):
    # In this process: the exit status and the message are main()'s; one
    # subprocess test below checks that a whole process ends the same way.
    try:
        code = main(args)
    except SystemExit as stopped:  # argparse's usage errors
        code = stopped.code
    assert code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("bayes-scaling: error:") and message in lines[0]


def test_bad_table_from_cli_names_row(tmp_path):
    # A whole process, as a user runs it: one line on stderr, no traceback, exit status 2.
    path = tmp_path / "bad.csv"
    table = simulate_power_law(0.1, 0.15, 0.03, n=5)
    table.loc[3, "value"] = 1.7
    table.to_csv(path, index=False)
    result = run_cli("fit", "--data", str(path), "--benchmark", "sim")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "bayes-scaling: error: column 'value', row 3 (run 'run003'): accuracy outside [0, 1], got 1.7"
    )


def test_forms_and_datasets_listed(capsys):
    assert main(["forms"]) == 0
    forms = capsys.readouterr().out
    assert "power_law" in forms and "-log Q = A C^-alpha" in forms
    assert main(["datasets"]) == 0
    datasets = capsys.readouterr().out
    assert "krajewski2025_dclm" in datasets and "llmonkeys_pythia_math" in datasets


def test_usage_error_with_line_break_is_one_line(capsys):
    # argparse echoes stray arguments; one holding a line break must not split the error.
    with pytest.raises(SystemExit) as stopped:
        main(["datasets", "stray\nargument"])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("bayes-scaling: error:") and "stray argument" in err


def test_version(capsys):
    import bayes_scaling

    with pytest.raises(SystemExit) as stopped:
        main(["--version"])
    assert stopped.value.code == 0
    assert capsys.readouterr().out.strip() == f"bayes-scaling {bayes_scaling.__version__}"


def test_json_is_one_document_of_the_printed_tables(fitted_folder, small_csv, tmp_path, capsys):
    import json

    from bayes_scaling.laws import available_laws

    assert main(["forms", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["command"] == "forms"
    assert {row["form"] for row in document["tables"]["forms"]} == set(available_laws())
    fit_file = str(fitted_folder / "fits" / "sim.nc")
    assert main(["predict", fit_file, "--compute", "1e21,1e23", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    rows = document["tables"]["predictions"]
    assert [row["compute"] for row in rows] == [1e21, 1e23]
    assert all(row["lower_90"] < row["median"] < row["upper_90"] for row in rows)
    assert any(note.startswith("intervals:") for note in document["notes"])
    assert main(["compute-for", fit_file, "--accuracy", "0.6", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)["tables"]["compute_for"]
    assert row["target"] == 0.6 and "answer" in row
    # A command that fits: the held-out table and the summary, nothing else on standard output.
    assert main(["fit", "--data", str(small_csv), "--columns", "FLOPs=flops,score=value", "--benchmark", "sim",
                 "--max-compute", "2e21", "--out", str(tmp_path), "--json", *SMALL]) == 0
    document = json.loads(capsys.readouterr().out)
    assert len(document["tables"]["held_out"]) == 5 and document["tables"]["summary"][0]["n_fitted"] == 22
