"""Every kind of bad input gets one clear error naming the column and row (or option)."""

import numpy as np
import pandas as pd
import pytest

import bayes_scaling as bs
from bayes_scaling import DataError

from conftest import simulate_power_law


def good_table():
    return pd.DataFrame(
        {
            "run_id": ["r1", "r2", "r3", "r4"],
            "flops": [1e19, 1e20, 1e21, 1e22],
            "benchmark": ["arc_easy"] * 4,
            "metric": ["acc"] * 4,
            "value": [0.35, 0.45, 0.55, 0.65],
        }
    )


def error_of(table, **kwargs) -> str:
    with pytest.raises(DataError) as info:
        bs.normalise_table(table, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_good_table_passes():
    table = bs.normalise_table(good_table())
    assert table["chance"].eq(0.25).all()


def test_missing_column():
    assert error_of(good_table().drop(columns="value")) .startswith("missing required column 'value'")


def test_missing_compute_columns():
    assert "missing required column 'flops'" in error_of(good_table().drop(columns="flops"))


def test_nan_value_names_column_and_row():
    table = good_table()
    table.loc[2, "value"] = np.nan
    assert error_of(table) == "column 'value', row 2 (run 'r3'): must be a finite number, got nan"


def test_nan_compute():
    table = good_table()
    table.loc[1, "flops"] = np.nan
    assert error_of(table).startswith("column 'flops', row 1 (run 'r2'): missing value")


@pytest.mark.parametrize("column", ["flops", "params", "tokens"])
def test_non_positive_sizes(column):
    table = good_table().assign(params=1e8, tokens=2e9)
    table.loc[3, column] = 0 if column == "flops" else -5
    assert error_of(table).startswith(f"column {column!r}, row 3 (run 'r4'): must be positive")


def test_text_in_numeric_column():
    table = good_table().astype({"flops": object})
    table.loc[0, "flops"] = "lots"
    assert error_of(table) == "column 'flops', row 0 (run 'r1'): not a number, got 'lots'"


@pytest.mark.parametrize("bad", [1.2, -0.1])
def test_accuracy_outside_unit_interval(bad):
    table = good_table()
    table.loc[1, "value"] = bad
    assert error_of(table).startswith(f"column 'value', row 1 (run 'r2'): accuracy outside [0, 1], got {bad}")


def test_chance_at_or_above_one():
    table = good_table().assign(chance=0.25)
    table.loc[2, "chance"] = 1.0
    assert error_of(table).startswith("column 'chance', row 2 (run 'r3'): chance level must be in [0, 1)")


def test_unknown_benchmark_without_chance():
    table = good_table()
    table.loc[3, "benchmark"] = "my_new_task"
    message = error_of(table)
    assert message.startswith("column 'benchmark', row 3 (run 'r4'): unknown benchmark 'my_new_task' has no chance")
    # and the fix the message suggests works
    assert bs.normalise_table(table, chance={"my_new_task": 0.1})["chance"].iloc[3] == 0.1


def test_same_run_twice_with_different_values():
    table = pd.concat([good_table(), good_table().iloc[[1]].assign(value=0.5)], ignore_index=True)
    message = error_of(table)
    assert message.startswith("column 'value', rows 1 and 4: run 'r2', benchmark 'arc_easy', metric 'acc'")
    assert "listed twice with different values [0.45, 0.5]" in message


def test_same_run_with_two_sizes():
    table = good_table().assign(params=1e8, tokens=2e9)
    table = pd.concat([table, table.iloc[[0]].assign(benchmark="piqa", params=2e8, value=0.6)], ignore_index=True)
    assert error_of(table).startswith("column 'params', rows 0 and 4: run 'r1' is listed twice")


def test_exact_duplicates_are_dropped_and_counted():
    table = bs.normalise_table(pd.concat([good_table(), good_table().iloc[[0]]], ignore_index=True))
    assert len(table) == 4
    assert table.attrs["n_duplicate_rows"] == 1


def test_unknown_metric():
    table = good_table().assign(metric="accuracy")
    assert "unknown metric" in error_of(table)


def test_empty_table():
    assert error_of(good_table().iloc[:0]) == "the table has no rows"


def test_too_few_usable_points_names_the_benchmark():
    table = bs.normalise_table(simulate_power_law(0.0, 0.2, 0.01, n=6))
    # Four of six points below chance + margin leave two: fewer than power_law needs.
    table.loc[:3, "value"] = 0.26
    data = bs.select(table, "sim")
    assert data.summary() == "sim / acc: 2 fitted, 0 held out, 4 excluded (4 near chance)"
    with pytest.raises(DataError, match=r"sim / acc: 2 fitted.*2 usable points, but power_law needs at least 3"):
        bs.fit(data, quiet=True)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(benchmark="nope"), "option benchmark: no rows for 'nope'"),
        (dict(benchmark="arc_easy", metric="loss"), "option metric: benchmark 'arc_easy' has no 'loss' rows"),
        (dict(benchmark="arc_easy", tpr=7), "option tpr: no 'arc_easy' rows at TPR 7"),
        (dict(benchmark="arc_easy", group="x"), "option group: no 'arc_easy' rows in group 'x'"),
    ],
)
def test_selection_errors_name_the_option(dclm, kwargs, message):
    with pytest.raises(DataError, match=message):
        bs.select(dclm, **kwargs)


def test_unknown_form_lists_known_ones(dclm):
    data = bs.select(dclm, "arc_easy", tpr=20)
    with pytest.raises(bs.SpecError, match="unknown form 'powerlaw'; known forms: .*power_law"):
        bs.fit(data, "powerlaw", quiet=True)
