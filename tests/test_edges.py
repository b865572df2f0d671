"""Edges of the data: empty tables, non-finite and absurd numbers, control characters.

Each is a clear :class:`DataValidationError` naming file, column, rule and the offending
lines, raised before anything is written. The sanity limits are in
``analysis.contract.schema`` (``MAX_AMOUNT`` and the rest), next to the columns.
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from conftest import read_text_table, tiny_tables, write_table

from analysis.contract.dataset import load_dataset
from analysis.contract.schema import (
    ID, INTEGER, MAX_AMOUNT, MAX_BEDS, MAX_POPULATION, NUMBER, TABLES, TEXT,
)
from analysis.errors import DataValidationError

RAW_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def set_cell(row, column, value):
    def change(frame):
        frame.loc[row, column] = value
        return frame
    return change


def header_only(frame):
    return frame.iloc[:0]


def rewrite(folder, table, change, fmt="csv"):
    frame = change(read_text_table(folder, table))
    write_table(folder, table, frame, fmt)


def the_violation(folder, table, column, rule, fmt="csv"):
    with pytest.raises(DataValidationError) as info:
        load_dataset(folder)
    error = info.value
    found = [v for v in error.violations if v.table == table and v.column == column and rule in v.rule]
    assert len(found) == 1, str(error)
    violation = found[0]
    assert violation.file == str(folder / f"{table}.{fmt}")
    message = str(error)
    assert f"{table}.{fmt}: " in message and violation.rule in message
    assert not RAW_CONTROL.search(message), "control characters are shown escaped, never raw"
    return error, violation


# --- empty tables --------------------------------------------------------------------

REQUIRED = [name for name, spec in TABLES.items() if spec.required_table]


@pytest.mark.parametrize("table", REQUIRED)
def test_header_only_required_table(tiny_dataset, table):
    rewrite(tiny_dataset, table, header_only)
    error, violation = the_violation(tiny_dataset, table, None, "the table has no rows")
    assert violation.n_failing == 0 and "header" in violation.hint
    # the empty table is the one problem: references to it are not reported row by row
    assert len(error.violations) == 1, str(error)


def test_header_and_blank_lines_only(tiny_dataset):
    (tiny_dataset / "sales.csv").write_text("customer_id,product_id,period,units\n\n\n,,,\n")
    the_violation(tiny_dataset, "sales", None, "the table has no rows")


def test_zero_row_parquet_table(tiny_dataset):
    rewrite(tiny_dataset, "sales", header_only, fmt="parquet")
    the_violation(tiny_dataset, "sales", None, "the table has no rows", fmt="parquet")


def test_empty_file_is_still_its_own_error(tiny_dataset):
    (tiny_dataset / "sales.csv").write_text("")
    the_violation(tiny_dataset, "sales", None, "the file is empty")


@pytest.mark.parametrize("table", ["activities", "phases"])
def test_header_only_optional_table_is_accepted(tiny_dataset, table):
    if table == "phases":
        pd.DataFrame(columns=["customer_id", "period", "phase"]).to_csv(tiny_dataset / "phases.csv", index=False)
    else:
        rewrite(tiny_dataset, table, header_only)
    ds = load_dataset(tiny_dataset)
    assert len(getattr(ds, table)) == 0 and table in ds.files


# --- non-finite numbers --------------------------------------------------------------

FINITE = "must be a finite number (not inf or NaN)"

# table, row, column, value, line
NON_FINITE = {
    "inf units": ("sales", 0, "units", "inf", 2),
    "minus inf units": ("sales", 3, "units", "-inf", 5),
    "Infinity units": ("sales", 1, "units", "Infinity", 3),
    "NaN units": ("sales", 2, "units", "NaN", 4),
    "overflowing units 1e309": ("sales", 4, "units", "1e309", 6),
    "inf cost": ("activities", 0, "cost", "inf", 2),
    "nan optional cost_per_day": ("reps", 1, "cost_per_day", "nan", 3),
    "inf beds": ("customers", 1, "beds", "inf", 3),
    "inf indication share": ("customers", 6, "indication_share", "+inf", 8),
    "inf boxes per patient": ("markets", 0, "boxes_per_patient", "INF", 2),
}


@pytest.mark.parametrize("case", list(NON_FINITE), ids=list(NON_FINITE))
def test_non_finite_number(tiny_dataset, case):
    table, row, column, value, line = NON_FINITE[case]
    rewrite(tiny_dataset, table, set_cell(row, column, value))
    error, violation = the_violation(tiny_dataset, table, column, FINITE)
    assert len(error.violations) == 1, str(error)  # not also "must be a number" or a bound
    assert violation.rule == f"{column} {FINITE}"
    assert violation.examples["line"].tolist() == [line] and violation.n_failing == 1
    assert repr(value) in violation.hint
    optional = column not in TABLES[table].required
    assert ("Leave the cell empty" in violation.hint) == optional


def test_non_finite_in_parquet_floats(tiny_dataset):
    sales = read_text_table(tiny_dataset, "sales")
    sales["units"] = sales["units"].astype(float)
    sales.loc[[1, 5], "units"] = [np.inf, -np.inf]
    write_table(tiny_dataset, "sales", sales, "parquet")
    _, violation = the_violation(tiny_dataset, "sales", "units", FINITE, fmt="parquet")
    assert violation.examples["row"].tolist() == [2, 6]


def test_nan_in_a_required_parquet_float_is_empty(tiny_dataset):
    sales = read_text_table(tiny_dataset, "sales")
    sales["units"] = sales["units"].astype(float)
    sales.loc[2, "units"] = np.nan
    write_table(tiny_dataset, "sales", sales, "parquet")
    _, violation = the_violation(tiny_dataset, "sales", "units", "units must not be empty", fmt="parquet")
    assert violation.examples["row"].tolist() == [3]


def test_at_most_five_rows_are_shown(tiny_dataset):
    sales = read_text_table(tiny_dataset, "sales")
    sales.loc[0:7, "units"] = "inf"
    write_table(tiny_dataset, "sales", sales)
    _, violation = the_violation(tiny_dataset, "sales", "units", FINITE)
    assert violation.n_failing == 8 and violation.examples["line"].tolist() == [2, 3, 4, 5, 6]


# --- absurd numbers: the sanity limits -----------------------------------------------

# table, row, column, value, words of the rule, line
ABSURD = {
    "units 1e308": ("sales", 0, "units", "1e308", "units must be <= 1e+12 (sanity limit)", 2),
    "units 2e12": ("sales", 2, "units", "2000000000000", "units must be <= 1e+12", 4),
    "activity cost 1e13": ("activities", 1, "cost", "1e13", "cost must be <= 1e+12", 3),
    "rep day cost 1e15": ("reps", 0, "cost_per_day", "1e15", "cost_per_day must be <= 1e+12", 2),
    "beds 1e6": ("customers", 1, "beds", "1000000", "beds must be <= 100000", 3),
    "population 1e11": ("customers", 2, "catchment_population", "1e11",
                        "catchment_population must be <= 1e+10", 4),
    "bed turnover 1e9": ("customers", 6, "bed_turnover_per_month", "1e9",
                         "bed_turnover_per_month must be <= 1e+06", 8),
    "units per box 1e7": ("products", 0, "units_per_box", "1e7", "units_per_box must be <= 1e+06", 2),
    "boxes per patient 1e300": ("markets", 0, "boxes_per_patient", "1e300",
                                "boxes_per_patient must be <= 1e+06", 2),
    "negative unit margin -1e13": ("products", 1, "unit_margin", "-1e13",
                                   "unit_margin must be between -1e+12 and 1e+12 (sanity limit)", 3),
    "unit margin 1e200": ("products", 0, "unit_margin", "1e200", "unit_margin must be between -1e+12", 2),
}


@pytest.mark.parametrize("case", list(ABSURD), ids=list(ABSURD))
def test_absurd_number(tiny_dataset, case):
    table, row, column, value, rule, line = ABSURD[case]
    rewrite(tiny_dataset, table, set_cell(row, column, value))
    error, violation = the_violation(tiny_dataset, table, column, rule)
    assert len(error.violations) == 1, str(error)
    assert violation.examples["line"].tolist() == [line]
    assert "data errors" in violation.hint and repr(value) in violation.hint


def test_hugely_negative_units_break_one_rule_only(tiny_dataset):
    rewrite(tiny_dataset, "sales", set_cell(0, "units", "-1e308"))
    error, violation = the_violation(tiny_dataset, "sales", "units", "units must be >= 0")
    assert len(error.violations) == 1, str(error)


def test_values_at_the_limits_are_accepted_and_stay_finite(tiny_dataset):
    """The largest accepted values give finite results all through the national pass."""
    from analysis.domain.national import national_pass

    rewrite(tiny_dataset, "sales", lambda s: s.assign(units=str(MAX_AMOUNT)))
    rewrite(tiny_dataset, "customers", lambda c: c.assign(
        beds=str(MAX_BEDS), bed_turnover_per_month="1e6", indication_share="1",
        catchment_population=str(MAX_POPULATION), incidence_rate="1"))
    rewrite(tiny_dataset, "activities", lambda a: a.assign(cost=str(MAX_AMOUNT)))
    rewrite(tiny_dataset, "reps", lambda r: r.assign(cost_per_day=str(MAX_AMOUNT)))
    rewrite(tiny_dataset, "products", lambda p: p.assign(units_per_box="1", unit_margin=str(MAX_AMOUNT)))
    rewrite(tiny_dataset, "markets", lambda m: m.assign(boxes_per_patient="1e6"))
    ds = load_dataset(tiny_dataset)
    assert ds.sales["units"].max() == MAX_AMOUNT
    tables = national_pass(ds, {})
    for name, frame in tables.items():
        numbers = frame.select_dtypes("number")
        assert not np.isinf(numbers.to_numpy(dtype=float)).any(), name


def test_every_number_column_has_a_sanity_limit():
    for spec in TABLES.values():
        for column, kind in spec.columns.items():
            if kind in (NUMBER, INTEGER):
                bound = spec.bounds.get(column)
                assert bound is not None and (bound.limit is not None or bound.maximum is not None), \
                    f"{spec.name}.{column}"


# --- control characters --------------------------------------------------------------

CONTROL = "must not contain control characters"

# table, row, column, value, line
CONTROLS = {
    "NUL in territory name": ("territories", 0, "territory_name", "North\x00-1", 2),
    "BEL in customer name": ("customers", 3, "customer_name", "Main \x07Pharmacy", 5),
    "ESC in region": ("territories", 1, "region", "\x1b[31mNorth", 3),
    "form feed in rep name": ("reps", 1, "rep_name", "Li\x0cWei", 3),
    "C1 NEL in product name": ("products", 0, "product_name", "Our\x85vastatin", 2),
    "DEL in manager": ("territories", 0, "manager", "Ayse\x7f Demir", 2),
    "NUL in territory id": ("territories", 1, "territory_id", "T\x0002", 3),
    "tab in customer id": ("customers", 0, "customer_id", "C\t0001", 2),
    "line break in product id": ("products", 1, "product_id", "P\n02", 3),
    "DEL in rep id": ("reps", 0, "rep_id", "R\x7f01", 2),
    "unit separator in market": ("markets", 0, "market", "str\x1foke", 2),
}


@pytest.mark.parametrize("case", list(CONTROLS), ids=list(CONTROLS))
def test_control_characters(tiny_dataset, case):
    table, row, column, value, line = CONTROLS[case]
    rewrite(tiny_dataset, table, set_cell(row, column, value))
    error, violation = the_violation(tiny_dataset, table, column, CONTROL)
    assert violation.examples["line"].tolist() == [line]
    codes = {f"U+{ord(c):04X}" for c in value if ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F}
    assert all(code in violation.hint for code in codes)
    is_id = TABLES[table].columns[column] == ID
    assert ("tab and line breaks are allowed" in violation.rule) == (not is_id)
    shown = str(error)
    assert "\\x" in shown  # the offending cell is shown, escaped


def test_control_characters_in_parquet_text(tiny_dataset):
    territories = read_text_table(tiny_dataset, "territories")
    territories.loc[1, "territory_name"] = "North\x00-2"
    write_table(tiny_dataset, "territories", territories, "parquet")
    _, violation = the_violation(tiny_dataset, "territories", "territory_name", CONTROL, fmt="parquet")
    assert violation.examples["row"].tolist() == [2]


@pytest.mark.parametrize("value", ["North\t1", "Stroke\nUnit", "Line\r\nbreak"])
def test_tab_and_line_breaks_in_text_are_accepted(tiny_dataset, value):
    rewrite(tiny_dataset, "customers", set_cell(6, "customer_name", value))
    assert load_dataset(tiny_dataset).customers.loc[6, "customer_name"] == value


def test_markup_in_names_is_not_a_control_character(tiny_dataset):
    rewrite(tiny_dataset, "territories", set_cell(0, "territory_name", '<script>"x"</script> #set *b* \\textbf'))
    assert load_dataset(tiny_dataset).territories.loc[0, "territory_name"].startswith("<script>")


def test_every_id_and_text_column_is_checked():
    checked = [(s.name, c) for s in TABLES.values() for c, k in s.columns.items() if k in (ID, TEXT)]
    assert ("territories", "territory_name") in checked and ("activities", "content") in checked
    assert len(checked) >= 20


def test_clean_tiny_dataset_still_loads():
    # the limits and checks leave valid data alone
    assert set(tiny_tables()) <= set(TABLES)


def test_nul_in_a_territory_name_through_the_cli(tiny_dataset, tmp_path, capsys):
    """The issue's case: a NUL byte in a territory name is an error, shown escaped; nothing is written."""
    from analysis.engine.cli import main

    rewrite(tiny_dataset, "territories", set_cell(0, "territory_name", "North\x00-1"))
    out = tmp_path / "out"
    assert main(["run", "--data", str(tiny_dataset), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "territory_name must not contain control characters" in err and "North\\x00-1" in err
    assert "\x00" not in err and "Traceback" not in err
    assert not (out / "index.html").exists()
    assert not (out / ".work" / "input").exists() or not any((out / ".work" / "input").iterdir())
