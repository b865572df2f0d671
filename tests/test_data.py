"""Loading and validating a dataset (DESIGN 3): analysis.contract.dataset, analysis.contract.schema, analysis.errors."""
from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from conftest import read_text_table, tiny_tables, write_dataset, write_table

from analysis.contract.schema import CHANNELS, PHASES, TABLES
from analysis.contract.dataset import Dataset, load_dataset, read_table
from analysis.errors import (
    DatasetNotFoundError, DataValidationError, ParameterError, TerritoryReportsError, Violation,
)


def rewrite(folder, name, change):
    """Apply ``change`` (in place, on the text cells) to one table of the folder."""
    frame = read_text_table(folder, name)
    changed = change(frame)
    write_table(folder, name, frame if changed is None else changed)


def load_error(folder, **kwargs) -> DataValidationError:
    with pytest.raises(DataValidationError) as info:
        load_dataset(folder, **kwargs)
    return info.value


def only_violation(folder, **kwargs) -> Violation:
    error = load_error(folder, **kwargs)
    assert len(error.violations) == 1, str(error)
    return error.violations[0]


def is_text(series: pd.Series) -> bool:
    return pd.api.types.is_string_dtype(series.dtype) and series.dropna().map(type).eq(str).all()


# --- a valid dataset -----------------------------------------------------------------

def test_tiny_dataset_loads_with_normalized_dtypes(tiny_dataset):
    data = load_dataset(tiny_dataset)

    assert isinstance(data, Dataset)
    assert data.source == tiny_dataset
    assert set(data.files) == {"territories", "reps", "customers", "products", "markets", "sales", "activities"}
    assert data.files["sales"] == tiny_dataset / "sales.csv"
    assert data.has_activities and data.phases is None
    assert len(data.customers) == 8 and len(data.sales) == 54 and len(data.activities) == 12

    for frame, column in [(data.territories, "territory_id"), (data.customers, "customer_id"),
                          (data.sales, "period"), (data.activities, "channel"), (data.reps, "role")]:
        assert is_text(frame[column]), column
    assert data.sales["period"].iloc[0] == "2026-01"
    assert data.sales["units"].dtype == np.float64
    assert data.activities["date"].dtype == "datetime64[ns]"
    assert data.activities["cost"].dtype == np.float64
    assert data.products["is_own"].dtype == bool
    assert data.products["is_own"].tolist() == [True, False]
    assert data.customers["beds"].dtype == np.float64
    assert data.customers.loc[1, "beds"] == 90 and np.isnan(data.customers.loc[0, "beds"])
    # extra columns are kept; empty cells are missing
    assert is_text(data.customers["phone"]) and data.customers["phone"].isna().sum() == 4
    assert data.activities["outcome"].isna().sum() == 1
    assert isinstance(data.sales.index, pd.RangeIndex)


def test_ids_keep_their_spelling(tiny_dataset):
    rewrite(tiny_dataset, "territories", lambda t: t.replace({"T01": "007", "T02": "010"}))
    rewrite(tiny_dataset, "reps", lambda t: t.replace({"T01": "007", "T02": "010"}))
    rewrite(tiny_dataset, "customers", lambda t: t.replace({"T01": "007", "T02": "010"}))

    data = load_dataset(tiny_dataset)

    assert data.territories["territory_id"].tolist() == ["007", "010"]
    assert set(data.customers["territory_id"]) == {"007", "010"}


def test_spaces_around_values_are_ignored(tiny_dataset):
    def pad(sales):
        sales.loc[0, "customer_id"] = " C0001 "
        sales.loc[0, "period"] = "2026-01 "

    rewrite(tiny_dataset, "sales", pad)

    data = load_dataset(tiny_dataset)

    assert data.sales.loc[0, "customer_id"] == "C0001" and data.sales.loc[0, "period"] == "2026-01"


@pytest.mark.parametrize("word, expected", [("TRUE", True), ("yes", True), ("1", True), ("No", False), ("0", False)])
def test_bool_words(tiny_dataset, word, expected):
    rewrite(tiny_dataset, "products", lambda p: p.assign(is_own=[word, "false"]))

    assert load_dataset(tiny_dataset).products.loc[0, "is_own"] == expected


def test_parquet_tables_load_like_csv(tmp_path):
    tables = tiny_tables()
    folder = write_dataset(tmp_path / "data", tables)
    typed = {
        "sales": tables["sales"].assign(units=tables["sales"]["units"].astype(int)),
        "products": tables["products"].assign(is_own=[True, False], units_per_box=[1, 1]),
        "activities": tables["activities"].assign(date=pd.to_datetime(tables["activities"]["date"]),
                                                  cost=tables["activities"]["cost"].astype(float)),
        "territories": tables["territories"],
    }
    for name, frame in typed.items():
        write_table(folder, name, frame, fmt="parquet")

    data = load_dataset(folder)
    reference = load_dataset(write_dataset(tmp_path / "csv", tables))

    assert data.files["sales"].suffix == ".parquet"
    for name in ("sales", "products", "activities", "territories"):
        pd.testing.assert_frame_equal(getattr(data, name), getattr(reference, name), check_dtype=True)


def test_parquet_numeric_ids_become_text(tiny_dataset):
    markets = pd.DataFrame({"market": [101], "boxes_per_patient": [6.0]})
    write_table(tiny_dataset, "markets", markets, fmt="parquet")
    rewrite(tiny_dataset, "products", lambda p: p.assign(market="101"))

    assert load_dataset(tiny_dataset).markets["market"].tolist() == ["101"]


def test_bom_prefixed_csv_loads(tiny_dataset):
    path = tiny_dataset / "sales.csv"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())

    data = load_dataset(tiny_dataset)

    assert "customer_id" in data.sales.columns and len(data.sales) == 54
    assert read_table(path).columns[0] == "customer_id"


def test_activities_absent(tiny_dataset):
    (tiny_dataset / "activities.csv").unlink()

    data = load_dataset(tiny_dataset)

    assert not data.has_activities
    assert data.activities.empty
    assert list(data.activities.columns) == list(TABLES["activities"].columns)
    assert data.activities["date"].dtype == "datetime64[ns]"
    assert data.activities["cost"].dtype == np.float64


def test_phases_table_is_read_when_present(tiny_dataset):
    phases = pd.DataFrame({"customer_id": ["C0001", "C0001"], "period": ["2026-05", "2026-06"],
                           "phase": ["aware", "interested"]})
    write_table(tiny_dataset, "phases", phases)

    data = load_dataset(tiny_dataset)

    assert data.phases["phase"].tolist() == ["aware", "interested"]
    assert set(data.phases["phase"]) <= set(PHASES)


def test_territory_slice(tiny_dataset):
    data = load_dataset(tiny_dataset)

    t02 = data.territory("T02")

    assert t02.territories["territory_id"].tolist() == ["T02"]
    assert t02.reps["rep_id"].tolist() == ["R02"]
    assert t02.customers["customer_id"].tolist() == ["C0006", "C0007", "C0008"]
    assert set(t02.sales["customer_id"]) == {"C0006", "C0007"} and len(t02.sales) == 18
    assert set(t02.activities["activity_id"]) == {"A009", "A010", "A011", "A012"}
    assert len(t02.products) == 2 and len(t02.markets) == 1
    assert t02.phases is None and t02.has_activities
    assert isinstance(t02.sales.index, pd.RangeIndex)
    with pytest.raises(ParameterError, match="T99"):
        data.territory("T99")


# --- violations ----------------------------------------------------------------------

def set_cell(row, column, value):
    def change(frame):
        frame.loc[row, column] = value
    return change


def append_copy_of_row(row):
    return lambda frame: pd.concat([frame, frame.iloc[[row]]], ignore_index=True)


# table, change, column, words of the rule, line numbers of the examples
BROKEN = {
    "missing column": ("sales", lambda s: s.drop(columns="units"), "units", "required column is missing", []),
    "negative units": ("sales", set_cell(2, "units", "-5"), "units", "units must be >= 0", [4]),
    "units not a number": ("sales", set_cell(2, "units", "12 boxes"), "units", "must be a number", [4]),
    "unknown customer in sales": ("sales", set_cell(3, "customer_id", "C9999"), "customer_id",
                                  "must reference an existing customers.customer_id", [5]),
    "period with slash": ("sales", set_cell(0, "period", "2026/01"), "period", "period must be YYYY-MM", [2]),
    "period without dash": ("sales", set_cell(1, "period", "202601"), "period", "period must be YYYY-MM", [3]),
    "month 13": ("sales", set_cell(1, "period", "2026-13"), "period", "period must be YYYY-MM", [3]),
    "empty required cell": ("customers", set_cell(4, "customer_name", ""), "customer_name",
                            "must not be empty", [6]),
    "duplicated customer id": ("customers", append_copy_of_row(2), "customer_id", "customer_id must be unique",
                               [4, 10]),
    "duplicated sales key": ("sales", append_copy_of_row(0), None,
                             "(customer_id, product_id, period) must appear only once", [2, 56]),
    "unknown channel": ("activities", set_cell(1, "channel", "carrier_pigeon"), "channel",
                        "known channel or one declared in the run profile", [3]),
    "unknown outcome": ("activities", set_cell(0, "outcome", "clicked"), "outcome", "must be one of", [2]),
    "bad date": ("activities", set_cell(4, "date", "2026-02-30"), "date", "YYYY-MM-DD", [6]),
    "unknown rep": ("activities", set_cell(4, "rep_id", "R77"), "rep_id", "existing reps.rep_id", [6]),
    "bad bool": ("products", set_cell(0, "is_own", "maybe"), "is_own", "is_own must be true or false", [2]),
    "unknown market": ("products", set_cell(1, "market", "diabetes"), "market", "existing markets.market", [3]),
    "unknown customer type": ("customers", set_cell(0, "customer_type", "vet"), "customer_type",
                              "must be one of", [2]),
    "unknown role": ("reps", set_cell(1, "role", "senior"), "role", "must be one of: chronic, specialty", [3]),
    "indication share above 1": ("customers", set_cell(1, "indication_share", "1.5"), "indication_share",
                                 "indication_share must be between 0 and 1", [3]),
    "units per box zero": ("products", set_cell(0, "units_per_box", "0"), "units_per_box",
                           "units_per_box must be > 0", [2]),
    "negative cost": ("activities", set_cell(0, "cost", "-1"), "cost", "cost must be >= 0", [2]),
}


@pytest.mark.parametrize("case", list(BROKEN), ids=list(BROKEN))
def test_broken_table_is_reported(tiny_dataset, case):
    table, change, column, rule, lines = BROKEN[case]
    rewrite(tiny_dataset, table, change)

    error = load_error(tiny_dataset)

    assert len(error.violations) == 1, str(error)
    violation = error.violations[0]
    assert (violation.table, violation.column) == (table, column)
    assert rule in violation.rule
    assert violation.file == str(tiny_dataset / f"{table}.csv")
    assert violation.n_failing == len(lines)
    assert violation.examples["line"].tolist() == lines if lines else violation.examples.empty
    message = str(error)
    assert f"{table}.csv: " in message and violation.rule in message
    first_cells = [row.split()[0] for row in message.splitlines() if row.startswith("  ")]
    assert all(str(line) in first_cells for line in lines), message


def test_message_shows_the_offending_line(tiny_dataset):
    rewrite(tiny_dataset, "sales", set_cell(2, "units", "-5"))

    message = str(load_error(tiny_dataset))

    assert "sales.csv: column 'units': units must be >= 0 (1 row), e.g." in message
    header, row = [line for line in message.splitlines() if line.startswith("  ")][:2]
    assert header.split() == ["line", "customer_id", "product_id", "period", "units"]
    assert row.split() == ["4", "C0001", "P01", "2026-03", "-5"]


def test_unknown_channel_is_accepted_when_declared(tiny_dataset):
    rewrite(tiny_dataset, "activities", set_cell(1, "channel", "carrier_pigeon"))

    violation = only_violation(tiny_dataset)
    data = load_dataset(tiny_dataset, extra_channels=["carrier_pigeon"])

    assert "extra_channels" in violation.hint and "carrier_pigeon" in violation.hint
    assert data.activities.loc[1, "channel"] == "carrier_pigeon"
    assert set(CHANNELS) >= set(data.activities["channel"]) - {"carrier_pigeon"}


def test_empty_outcome_is_allowed(tiny_dataset):
    rewrite(tiny_dataset, "activities", lambda a: a.assign(outcome=""))

    assert load_dataset(tiny_dataset).activities["outcome"].isna().all()


def test_missing_column_hint_names_a_near_miss(tiny_dataset):
    rewrite(tiny_dataset, "sales", lambda s: s.rename(columns={"units": "Units"}))

    violation = only_violation(tiny_dataset)

    assert violation.rule == "required column is missing" and "'Units'" in violation.hint


def test_missing_required_table(tiny_dataset):
    (tiny_dataset / "products.csv").unlink()

    error = load_error(tiny_dataset)

    # sales.product_id cannot be checked without products: only the missing table is reported
    assert len(error.violations) == 1
    violation = error.violations[0]
    assert violation.table == "products" and violation.column is None
    assert "products.csv or products.parquet" in violation.rule
    assert "products.csv or products.parquet" in str(error)


def test_both_csv_and_parquet_present(tiny_dataset):
    tiny_tables()["markets"].to_parquet(tiny_dataset / "markets.parquet", index=False)

    violation = only_violation(tiny_dataset)

    assert violation.table == "markets"
    assert "markets.csv" in violation.rule and "markets.parquet" in violation.rule


def test_missing_folder(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="no_such_folder"):
        load_dataset(tmp_path / "no_such_folder")
    assert issubclass(DatasetNotFoundError, FileNotFoundError)


def test_unreadable_csv_is_reported(tiny_dataset):
    (tiny_dataset / "markets.csv").write_bytes("market\nGl\xfckose\n".encode("latin-1"))
    (tiny_dataset / "reps.csv").write_text("rep_id,rep_name\nR01,Anna,extra\n")

    error = load_error(tiny_dataset)

    rules = {v.table: v.rule for v in error.violations}
    assert "not UTF-8" in rules["markets"]
    assert "could not be read as CSV" in rules["reps"]


def test_blank_lines_keep_line_numbers(tiny_dataset):
    path = tiny_dataset / "sales.csv"
    lines = path.read_text().splitlines()
    lines[3] = "C0001,P01,2026-03,-5"      # line 4
    lines.insert(2, "")                   # a blank line 3 pushes it to line 5
    path.write_text("\n".join(lines) + "\n\n")

    violation = only_violation(tiny_dataset)

    assert violation.examples["line"].tolist() == [5]


def test_all_violations_are_reported_together(tiny_dataset):
    rewrite(tiny_dataset, "sales", set_cell(2, "units", "-5"))
    rewrite(tiny_dataset, "sales", set_cell(3, "period", "2026/01"))
    rewrite(tiny_dataset, "customers", set_cell(1, "indication_share", "2"))
    rewrite(tiny_dataset, "activities", set_cell(0, "channel", "fax"))
    (tiny_dataset / "markets.csv").unlink()

    error = load_error(tiny_dataset)

    cases = error.failure_cases
    assert list(cases.columns) == ["table", "file", "column", "rule", "n_failing"]
    found = set(zip(cases["table"], cases["column"].fillna("-")))
    assert found == {("markets", "-"), ("customers", "indication_share"), ("sales", "units"),
                     ("sales", "period"), ("activities", "channel")}
    # reported in the contract's table order
    assert cases["table"].tolist()[0] == "customers" and cases["table"].tolist()[-1] == "activities"
    assert str(error).count("\n\n") == len(error.violations)


def test_many_failing_rows_show_five_examples(tiny_dataset):
    rewrite(tiny_dataset, "sales", lambda s: s.assign(units="-1"))

    violation = only_violation(tiny_dataset)

    assert violation.n_failing == 54 and len(violation.examples) == 5
    assert "(54 rows)" in violation.describe()


def test_error_is_a_project_error_and_pickles(tiny_dataset):
    rewrite(tiny_dataset, "sales", set_cell(2, "units", "-5"))
    error = load_error(tiny_dataset)

    copy = pickle.loads(pickle.dumps(error))

    assert isinstance(error, TerritoryReportsError)
    assert str(copy) == str(error) and copy.failure_cases.equals(error.failure_cases)


def test_read_table_reads_text(tiny_dataset):
    frame = read_table(tiny_dataset / "sales.csv")

    assert len(frame) == 54 and frame.loc[0, "units"] == "10"
    with pytest.raises(DatasetNotFoundError):
        read_table(tiny_dataset / "nope.csv")


def test_unnamed_empty_columns_are_dropped(tiny_dataset):
    path = tiny_dataset / "markets.csv"
    path.write_text("market,boxes_per_patient,\nstroke,6,\n")

    data = load_dataset(tiny_dataset)

    assert list(data.markets.columns) == ["market", "boxes_per_patient"]


def test_parquet_native_dates_and_nullable_numbers(tiny_dataset):
    activities = read_text_table(tiny_dataset, "activities")
    activities["date"] = pd.to_datetime(activities["date"]).dt.date          # Arrow date32
    write_table(tiny_dataset, "activities", activities, fmt="parquet")
    customers = read_text_table(tiny_dataset, "customers")
    customers["beds"] = pd.array([None, 90, None, None, None, None, 40, None], dtype="Int64")
    write_table(tiny_dataset, "customers", customers, fmt="parquet")

    data = load_dataset(tiny_dataset)

    assert data.activities["date"].dtype == "datetime64[ns]"
    assert data.activities.loc[0, "date"] == pd.Timestamp("2026-01-12")
    assert data.customers["beds"].dtype == np.float64 and data.customers["beds"].sum() == 130


def test_unreadable_parquet_and_empty_csv(tiny_dataset):
    (tiny_dataset / "markets.csv").unlink()
    (tiny_dataset / "markets.parquet").write_bytes(b"not parquet")
    (tiny_dataset / "territories.csv").write_text("")

    error = load_error(tiny_dataset)

    rules = {v.table: v.rule for v in error.violations}
    assert "could not be read as Parquet" in rules["markets"]
    assert "empty" in rules["territories"]
    # reps and customers reference territories, products references markets: not checked
    assert set(rules) == {"markets", "territories"}


def test_parquet_violations_name_the_row(tiny_dataset):
    sales = read_text_table(tiny_dataset, "sales").assign(units=lambda s: s["units"].astype(float))
    sales.loc[2, "units"] = -5.0
    write_table(tiny_dataset, "sales", sales, fmt="parquet")

    violation = only_violation(tiny_dataset)

    assert violation.file.endswith("sales.parquet")
    assert violation.examples["row"].tolist() == [3]


def test_parquet_cache_of_validated_tables(tiny_dataset, tmp_path):
    from analysis.contract.dataset import cache_dataset, load_dataset

    cache = tmp_path / "cache"
    first = load_dataset(tiny_dataset, cache=cache)  # nothing cached yet: validates
    entry = cache_dataset(first, cache)
    assert (entry / "sales.parquet").is_file()
    again = load_dataset(tiny_dataset, cache=cache)  # read from the cache
    for name in ("customers", "sales", "activities"):
        pd.testing.assert_frame_equal(getattr(again, name), getattr(first, name))
    assert again.has_activities == first.has_activities
    sales = read_text_table(tiny_dataset, "sales")
    sales.loc[0, "units"] = "-5"
    write_table(tiny_dataset, "sales", sales)  # a changed file misses the cache and is validated
    with pytest.raises(DataValidationError):
        load_dataset(tiny_dataset, cache=cache)
