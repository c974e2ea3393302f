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
        bs.fit(data)


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
        bs.fit(data, "powerlaw")


# ------------------------------------------------ regressions found by tests/test_fuzz.py
def set_cell(table, column, position, value):
    values = list(table[column])
    values[position] = value
    return table.assign(**{column: pd.Series(values, index=table.index, dtype=object)})


def test_cell_with_multi_line_repr_gives_one_line():
    table = set_cell(good_table(), "flops", 1, np.array([[1, 2], [3, 4]]))
    assert error_of(table) == "column 'flops', row 1 (run 'r2'): not a number, got array([[1, 2], [3, 4]])"


def test_column_name_with_line_break_gives_one_line():
    table = good_table().rename(columns={"value": "val\nue"})
    assert error_of(table).endswith("(columns present: 'run_id', 'flops', 'benchmark', 'metric', 'val\\nue')")


def test_duplicate_column_names():
    table = good_table().assign(score=0.5)
    assert error_of(table, columns={"score": "value"}) == "column 'value' appears more than once after renaming"
    table = good_table()
    table.columns = ["run_id", "flops", "benchmark", "metric", "flops"]
    assert error_of(table) == "column 'flops' appears more than once"


@pytest.mark.parametrize("level", ["abc", None, float("nan"), 1.0, -0.1])
def test_chance_option_must_be_a_level(level):
    assert error_of(good_table(), chance={"arc_easy": level}).startswith("option chance: 'arc_easy' = ")


@pytest.mark.parametrize("option", ["columns", "chance"])
def test_options_must_be_mappings(option):
    assert error_of(good_table(), **{option: ["value"]}).startswith(f"option {option}: expected a mapping")


def test_columns_option_must_map_to_names():
    assert error_of(good_table(), columns={"value": ["v"]}) == "option columns: 'value' must map to a column name, got ['v']"


@pytest.mark.parametrize("bad", [0.5 + 1j, pd.Timestamp("2024-01-01")])
def test_complex_numbers_and_dates_are_not_numbers(bad):
    assert error_of(set_cell(good_table(), "value", 2, bad)).startswith("column 'value', row 2 (run 'r3'): not a number")


def test_date_column_is_not_a_number():
    table = good_table().assign(flops=pd.to_datetime(["2020", "2021", "2022", "2023"]))
    assert error_of(table).startswith("column 'flops', row 0 (run 'r1'): not a number")


def test_params_times_tokens_overflow():
    table = good_table().drop(columns="flops").assign(params=1e200, tokens=1e200)
    assert error_of(table).startswith("column 'flops', row 0 (run 'r1'): 6 * params * tokens is not finite")


def test_derived_tpr_overflow():
    table = good_table().assign(params=1e-300, tokens=1e300)
    assert error_of(table).startswith("column 'tpr', row 0 (run 'r1'): must be finite (tokens / params), got inf")


@pytest.mark.parametrize("bad,what", [(np.inf, "must be finite"), (-20.0, "must be positive"), (0, "must be positive")])
def test_given_tpr_checked(bad, what):
    table = good_table().assign(tpr=20.0)
    table.loc[1, "tpr"] = bad
    assert error_of(table).startswith(f"column 'tpr', row 1 (run 'r2'): {what}")


def test_pass_at_k_with_infinite_k():
    table = good_table().assign(benchmark="humaneval", metric="pass_at_k", k=[1, 2, np.inf, 1])
    assert error_of(table).startswith("column 'k', row 2 (run 'r3'): pass_at_k rows need a finite k >= 1")


def test_conflicting_duplicates_name_two_rows_that_differ():
    # rows 1 and 4 agree (an exact duplicate); row 5 is the one that differs
    table = pd.concat([good_table(), good_table().iloc[[1]], good_table().iloc[[1]].assign(value=0.5)],
                      ignore_index=True)
    assert "rows 1 and 5" in error_of(table) and "different values [0.45, 0.5]" in error_of(table)


@pytest.mark.parametrize("column,new", [("chance", 0.5), ("group", "other")])
def test_duplicates_differing_in_chance_or_group_are_errors(column, new):
    # Same run, benchmark, metric and value: before, one of the two was dropped silently.
    table = pd.concat([good_table(), good_table().iloc[[1]].assign(**{column: new})], ignore_index=True)
    assert error_of(table).startswith(f"column {column!r}, rows 1 and 4: run 'r2'")


@pytest.mark.parametrize(
    "option,value",
    [("max_compute", np.nan), ("max_compute", "1e21"), ("tpr", "20"), ("k", np.nan), ("chance_margin", np.nan)],
)
def test_select_options_must_be_numbers(option, value):
    table = bs.normalise_table(good_table())
    with pytest.raises(DataError, match=f"^option {option}: expected a number, got"):
        bs.select(table, "arc_easy", **{option: value})


def test_select_lists_benchmarks_on_one_line():
    table = bs.normalise_table(good_table().assign(benchmark="a\nb"), chance={"a\nb": 0.25})
    with pytest.raises(DataError) as info:
        bs.select(table, "arc_easy")
    assert str(info.value) == "option benchmark: no rows for 'arc_easy'; benchmarks present: 'a\\nb'"


def test_broken_pass_at_k_flagged_by_position_not_label():
    # pd.concat of per-run tables repeats index labels 0, 1, 2; run 'a' is fine, run 'b' broken.
    good = pd.DataFrame({"run_id": "a", "flops": 1e20, "benchmark": "humaneval", "metric": "pass_at_k",
                         "k": [1, 2, 4], "value": [0.1, 0.18, 0.3]})
    broken = good.assign(run_id="b", flops=1e21, value=[0.05, 1.0, 1.0])
    data = bs.select(bs.normalise_table(pd.concat([good, broken])), "humaneval", "pass_at_k")
    assert data.summary() == "humaneval / pass_at_k: 3 fitted, 0 held out, 3 excluded (3 broken evaluation)"
    assert set(data.fitted["run_id"]) == {"a"}


def test_read_table_corrupt_compressed_file(tmp_path):
    path = tmp_path / "runs.csv.gz"
    path.write_bytes(b"not gzip")
    with pytest.raises(DataError, match=r"^cannot read .*runs\.csv\.gz as CSV: Not a gzipped file"):
        bs.read_table(path)


def test_read_table_keeps_run_ids_as_text(tmp_path):
    path = tmp_path / "runs.csv"
    path.write_text("id,flops,benchmark,metric,value\n007,1e20,arc_easy,acc,0.5\n7,1e20,arc_easy,acc,0.5\n")
    table = bs.read_table(path, columns={"id": "run_id"})
    # Read as numbers, both would be run 7 and one row would vanish as a duplicate.
    assert table["run_id"].tolist() == ["007", "7"] and table.attrs["n_duplicate_rows"] == 0
