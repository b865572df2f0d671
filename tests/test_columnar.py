"""The DuckDB path of loading (analysis.contract.columnar) and ``run --tables-only``.

The DuckDB path must give the same frames as the pandas path on valid data (so the
national pass's tables are the same), and the same errors on broken data; and it must
actually be taken (not fall back to pandas) on the shapes it vouches for.
"""
from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, read_text_table, write_table
from test_data import BROKEN, rewrite

from analysis.contract import columnar
from analysis.contract.dataset import load_dataset
from analysis.contract.schema import TABLES
from analysis.domain.national import national_pass
from analysis.errors import DataValidationError

TABLE_NAMES = ("territories", "reps", "customers", "products", "markets", "sales", "activities", "phases")


def assert_same_dataset(a, b):
    for name in TABLE_NAMES:
        left, right = getattr(a, name), getattr(b, name)
        if left is None or right is None:
            assert left is None and right is None, name
            continue
        pd.testing.assert_frame_equal(left, right, check_exact=True, obj=name)
    assert a.files == b.files and a.inputs == b.inputs


def fast_path(folder, table, extra=()):
    """The table as DuckDB reads it (raises columnar.Fallback when it would not vouch for it)."""
    pandas = load_dataset(folder, extra_channels=extra)
    spec = TABLES[table]
    known = {}
    import pyarrow as pa
    for column, (parent, target) in spec.references.items():
        known[column] = pa.array(getattr(pandas, parent)[target].dropna().unique(), type=pa.string())
    con, spill = columnar.connect()
    try:
        return columnar.read_valid(con, pandas.files[table], spec, tuple(extra), known), pandas
    finally:
        con.close()


def load_error(folder, engine):
    with pytest.raises(DataValidationError) as info:
        load_dataset(folder, engine=engine)
    return info.value


def same_error(folder, out_of_core=None):
    """The pandas path's error, asserting the DuckDB path gives the same. ``out_of_core``
    (a monkeypatch): also that DuckDB checked the large tables itself (their offending
    rows only: no large table read whole by pandas)."""
    pandas = load_error(folder, "pandas")
    if out_of_core is not None:
        whole = columnar._pandas_check

        def refuse(path, spec, *args):
            assert spec.name not in columnar.LARGE_TABLES, f"{path.name} was read whole by pandas"
            return whole(path, spec, *args)

        out_of_core.setattr(columnar, "_pandas_check", refuse)
    duck = load_error(folder, "duckdb")
    assert str(duck) == str(pandas)
    assert len(duck.violations) == len(pandas.violations)
    for v, w in zip(duck.violations, pandas.violations):
        assert (v.file, v.table, v.column, v.rule, v.n_failing, v.hint) == (w.file, w.table, w.column, w.rule,
                                                                           w.n_failing, w.hint)
        if w.examples is None or len(w.examples) == 0:
            assert v.examples is None or len(v.examples) == 0
        else:
            pd.testing.assert_frame_equal(v.examples, w.examples)
    return pandas


@pytest.fixture(params=["by value", "by cell"])
def checking(request, monkeypatch):
    """Both ways DuckDB checks a column's cells: on its distinct values (a tiny table's
    every column but the activity id) or cell by cell (no column has few enough values)."""
    if request.param == "by cell":
        monkeypatch.setattr(columnar, "PROFILE_VALUES", -1)
        monkeypatch.setattr(columnar, "PROFILE_SHARE", 0)
    return request.param


# --- valid data: the same frames, through DuckDB ----------------------------------------

@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_tiny_dataset_same_frames_and_fast_path(tiny_dataset, fmt, checking):
    if fmt == "parquet":
        for name in ("sales", "activities"):
            frame = read_text_table(tiny_dataset, name).replace("", None)
            write_table(tiny_dataset, name, frame, fmt="parquet")
    for table in columnar.LARGE_TABLES:
        frame, pandas = fast_path(tiny_dataset, table)
        pd.testing.assert_frame_equal(frame, getattr(pandas, table), check_exact=True)
    assert_same_dataset(load_dataset(tiny_dataset, engine="duckdb"), load_dataset(tiny_dataset))


def test_typed_parquet_same_frames(tiny_dataset):
    sales = read_text_table(tiny_dataset, "sales")
    write_table(tiny_dataset, "sales", sales.assign(units=sales["units"].astype(float)), fmt="parquet")
    activities = read_text_table(tiny_dataset, "activities").replace("", None)
    write_table(tiny_dataset, "activities", activities.assign(date=pd.to_datetime(activities["date"]),
                                                              cost=activities["cost"].astype(float)), fmt="parquet")
    for table in columnar.LARGE_TABLES:
        frame, pandas = fast_path(tiny_dataset, table)
        pd.testing.assert_frame_equal(frame, getattr(pandas, table), check_exact=True)
    assert_same_dataset(load_dataset(tiny_dataset, engine="duckdb"), load_dataset(tiny_dataset))


@pytest.mark.parametrize("units, cost", [(-5.0, 1.0), (2.5, float("inf")), (2e12, 1.0), (2.0, -3.0)])
def test_typed_parquet_numbers_checked_cell_by_cell(tiny_dataset, monkeypatch, units, cost):
    """A typed Parquet column is not profiled (its values are not grouped): its rules are
    checked on each cell, with the same errors as pandas gives."""
    sales = read_text_table(tiny_dataset, "sales")
    sales["units"] = sales["units"].astype(float)
    sales.loc[2, "units"] = units
    write_table(tiny_dataset, "sales", sales, fmt="parquet")
    activities = read_text_table(tiny_dataset, "activities").replace("", None)
    activities["cost"] = activities["cost"].astype(float)
    activities.loc[1, "cost"] = cost
    write_table(tiny_dataset, "activities", activities, fmt="parquet")
    con, _ = columnar.connect()
    try:
        for table, column in (("sales", "units"), ("activities", "cost")):
            source, types = columnar._source(con, tiny_dataset / f"{table}.parquet")
            assert types[column] == "DOUBLE"
            assert column not in columnar._profiled(con, source, TABLES[table], types)
    finally:
        con.close()
    assert len(same_error(tiny_dataset, out_of_core=monkeypatch).violations) >= 1


def test_tolerances_on_the_fast_path(tiny_dataset, checking):
    """BOM, padded cells (also no-break spaces), blank lines, an extra column and an unnamed empty one."""
    sales = read_text_table(tiny_dataset, "sales")
    sales.loc[0, "customer_id"] = " C0001\u00a0"
    sales.loc[1, "period"] = "\t" + sales.loc[1, "period"] + " "
    sales.loc[2, "units"] = " 12.50 "
    sales["note"] = "x"
    sales["unnamed"] = ""
    text = sales.to_csv(index=False).replace(",unnamed\n", ",\n", 1)
    lines = text.splitlines(keepends=True)
    text = "".join([*lines[:3], "\n", ",,,,,\n", *lines[3:]])
    (tiny_dataset / "sales.csv").write_text("\ufeff" + text, encoding="utf-8")
    activities = read_text_table(tiny_dataset, "activities")
    activities.loc[0, "content"] = " Läkemedel, ny studie "
    activities.loc[1, "cost"] = "1e2"
    write_table(tiny_dataset, "activities", activities)
    for table in columnar.LARGE_TABLES:
        frame, pandas = fast_path(tiny_dataset, table)
        pd.testing.assert_frame_equal(frame, getattr(pandas, table), check_exact=True)
    ds = load_dataset(tiny_dataset, engine="duckdb")
    assert ds.sales.loc[0, "customer_id"] == "C0001" and "note" in ds.sales and "unnamed_6" not in ds.sales
    assert_same_dataset(ds, load_dataset(tiny_dataset))


def test_columns_checked_on_their_values(tiny_dataset):
    """The clean columns are those whose every distinct value is kept as it is and breaks
    no rule; a value to strip or a broken one leaves its column to the cell-by-cell checks."""
    def clean_of(table):
        con, spill = columnar.connect()
        try:
            source, types = columnar._source(con, tiny_dataset / f"{table}.csv")
            rows = columnar._rows(con, source, TABLES[table], types, csv=True)
            return columnar._profile(con, rows, TABLES[table], types, (), csv=True)
        finally:
            con.close()

    assert clean_of("sales") == ({"customer_id", "product_id", "period", "units"}, False)
    assert clean_of("activities") == ({"customer_id", "rep_id", "date", "channel", "cost", "outcome"},
                                      False)  # not the activity id: as many values as rows
    rewrite(tiny_dataset, "sales", lambda s: s.__setitem__("period", s["period"].where(s.index != 1, " 2026-01")))
    rewrite(tiny_dataset, "activities", lambda a: a.__setitem__("cost", a["cost"].where(a.index != 1, "-5")))
    assert clean_of("sales") == ({"customer_id", "product_id", "units"}, False)
    assert clean_of("activities") == ({"customer_id", "rep_id", "date", "channel", "outcome"}, True)


class _Recorded:
    """A DuckDB connection recording the SQL it executes."""

    def __init__(self, con):
        self.con, self.sql = con, []

    def execute(self, sql, *args):
        self.sql.append(sql)
        return self.con.execute(sql, *args)


def test_columns_of_few_possible_values_are_profiled_without_estimating(monkeypatch):
    """An enum, or a reference bounded by its parent's rows, is profiled with no estimate of
    its distinct values; the others are estimated; a bound above the share is not profiled."""
    monkeypatch.setattr(columnar, "PROFILE_VALUES", 10)
    con, _ = columnar.connect()
    try:
        con.execute("CREATE TABLE rows AS SELECT 'A' || i AS activity_id, 'C' || (i % 40) AS customer_id, "
                    "'R' || (i % 3) AS rep_id, 'phone' AS channel, 1.5 AS cost FROM range(1000) t(i)")
        types = dict.fromkeys(["activity_id", "customer_id", "rep_id", "channel", "cost"], "VARCHAR")
        spec = TABLES["activities"]

        def profiled(bounds):
            recorded = _Recorded(con)
            columns = columnar._profiled(recorded, "rows", spec, types, (), bounds)
            estimated = {c for c in types if any(f'approx_count_distinct("{c}")' in sql for sql in recorded.sql)}
            return columns, estimated

        assert profiled(None) == (["customer_id", "rep_id", "channel", "cost"], {"customer_id", "rep_id", "cost"})
        # 41 customers at most, within a tenth of 1,000 rows; rep ids unbounded: estimated
        assert profiled({"customer_id": 41}) == (["customer_id", "rep_id", "channel", "cost"], {"rep_id", "cost"})
        # a parent of 5,000 rows: its references may hold more values than a tenth of the rows
        assert profiled({"customer_id": 5_000, "rep_id": 4}) == (["rep_id", "channel", "cost"], {"cost"})
    finally:
        con.close()


def test_periods_of_a_large_table_are_profiled_without_estimating(monkeypatch):
    """A period column holds at most :data:`columnar.PERIOD_VALUES` valid values: when that
    is within the most a profiled column may hold (a tenth of the rows), it is profiled
    with no estimate of its distinct values; otherwise estimated, as any column."""
    monkeypatch.setattr(columnar, "PROFILE_VALUES", 10)
    con, _ = columnar.connect()
    try:
        con.execute("CREATE TABLE rows AS SELECT 'C' || (i % 40) AS customer_id, 'P' || (i % 3) AS product_id, "
                    "'2026-0' || (1 + i % 9) AS period, '1' AS units FROM range(1000) t(i)")
        types = dict.fromkeys(["customer_id", "product_id", "period", "units"], "VARCHAR")

        def estimated():
            recorded = _Recorded(con)
            columns = columnar._profiled(recorded, "rows", TABLES["sales"], types, (), {"customer_id": 41})
            return columns, {c for c in types if any(f'approx_count_distinct("{c}")' in sql for sql in recorded.sql)}

        everything = ["customer_id", "product_id", "period", "units"]
        assert estimated() == (everything, {"product_id", "period", "units"})  # 120,001 periods: above 100
        monkeypatch.setattr(columnar, "PERIOD_VALUES", 99)  # (as 120,000 are within a tenth of 1.2 M rows)
        assert estimated() == (everything, {"product_id", "units"})
        monkeypatch.setattr(columnar, "PERIOD_VALUES", 5)  # 9 periods: above the bound, still all checked
        assert estimated() == (everything, {"product_id", "units"})
    finally:
        con.close()


def test_rows_at_most(tmp_path):
    frame = pd.DataFrame({"customer_id": ["C1", "C2", "C3"], "note": ["a", "two\nlines", "c"]})
    write_table(tmp_path, "customers", frame)
    assert columnar.rows_at_most(tmp_path / "customers.csv") >= 3  # lines: a quoted line break adds one
    write_table(tmp_path, "customers", frame, fmt="parquet")
    assert columnar.rows_at_most(tmp_path / "customers.parquet") == 3
    assert columnar.rows_at_most(tmp_path / "missing.csv") is None
    (tmp_path / "customers.xlsx").write_bytes(b"not read")
    assert columnar.rows_at_most(tmp_path / "customers.xlsx") is None


def test_extra_channels(tiny_dataset):
    rewrite(tiny_dataset, "activities", lambda a: a.__setitem__("channel", a["channel"].where(a.index != 1,
                                                                                            "carrier_pigeon")))
    frame, pandas = fast_path(tiny_dataset, "activities", extra=("carrier_pigeon",))
    assert frame.loc[1, "channel"] == "carrier_pigeon"
    duck = load_dataset(tiny_dataset, engine="duckdb", extra_channels=["carrier_pigeon"])
    assert_same_dataset(duck, load_dataset(tiny_dataset, extra_channels=["carrier_pigeon"]))


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from analysis.contract.demo import generate, write

    base = tmp_path_factory.mktemp("columnar")
    tables = generate(seed=5, n_regions=2, n_territories=6, n_customers=900)
    write(tables, base / "csv")
    write(tables, base / "parquet", fmt="parquet")
    return base


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_demo_pass_tables_bit_for_bit(demo, fmt):
    folder = demo / fmt
    for table in columnar.LARGE_TABLES:
        fast_path(folder, table)  # DuckDB vouches for the demo's tables (no fallback)
    pandas, duck = load_dataset(folder), load_dataset(folder, engine="duckdb", work=demo / f"work-{fmt}")
    assert_same_dataset(duck, pandas)
    assert not (demo / f"work-{fmt}").exists()  # the spill folder, and the folder made for it, are removed after
    profile = {}
    left, right = national_pass(pandas, profile), national_pass(duck, profile)
    assert left.keys() == right.keys()
    for name in left:
        pd.testing.assert_frame_equal(right[name], left[name], check_exact=True, obj=name)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_window_sums_read_the_file_in_its_order(demo, tmp_path, fmt):
    """The sales are summed per window straight from the file (no copy of its rows), each
    customer x product x window in the order of its first row in the file, as pandas sums
    the rows read whole; here the rows are shuffled, so no other order passes."""
    import shutil

    from analysis.domain.national import span_of, windows_of

    folder = shutil.copytree(demo / fmt, tmp_path / fmt)
    read = (lambda: read_text_table(folder, "sales")) if fmt == "csv" else (
        lambda: pd.read_parquet(folder / "sales.parquet"))
    write_table(folder, "sales", read().sample(frac=1, random_state=3), fmt=fmt)
    whole = load_dataset(folder)
    duck = load_dataset(folder, engine="duckdb", span_of=span_of({}), windows_of=windows_of({}))
    assert duck.window_sales and duck.sales.empty
    for months, sums in duck.window_sales.items():
        window = whole.sales["period"].map({period: name for name, periods in months for period in periods})
        rows = whole.sales.assign(window=window)[window.notna()]
        expected = rows.groupby(["customer_id", "product_id", "window"], sort=False, as_index=False)["units"].sum()
        assert len(expected) > 100
        pd.testing.assert_frame_equal(sums.reset_index(drop=True), expected, check_dtype=False, check_exact=True)


# --- broken data: the same errors ---------------------------------------------------------

@pytest.mark.parametrize("case", list(BROKEN), ids=list(BROKEN))
def test_catalogue_broken_cases_same_errors(tiny_dataset, case, monkeypatch):
    table, change, *_ = BROKEN[case]
    rewrite(tiny_dataset, table, change)
    same_error(tiny_dataset, out_of_core=monkeypatch)


@pytest.mark.parametrize("repeated", [False, True], ids=["distinct keys", "a repeated sales key"])
def test_colliding_key_hashes_report_only_true_repeats(tiny_dataset, monkeypatch, repeated):
    """Repeated keys are counted by their hashes, then confirmed on the keys: with every
    key hashing alike, distinct keys still pass and a repeated one is still reported."""
    monkeypatch.setattr(columnar, "KEY_HASH", "0 * length(concat_ws('|', {}))")
    # the keys counted, not compared in order
    monkeypatch.setattr(columnar.key_order, "order_of", lambda con, sample, key: None)
    if repeated:
        table, change, *_ = BROKEN["duplicated sales key"]
        rewrite(tiny_dataset, table, change)
        same_error(tiny_dataset, out_of_core=monkeypatch)
    else:
        assert_same_dataset(load_dataset(tiny_dataset, engine="duckdb"), load_dataset(tiny_dataset))


def _key_orders(monkeypatch) -> list:
    """The order each table's keys are compared in (:func:`key_order.order_of`'s answers,
    None where there is none), recorded from now on as the loads find them."""
    order_of, found = columnar.key_order.order_of, []
    monkeypatch.setattr(columnar.key_order, "order_of", lambda *args: found.append(order_of(*args)) or found[-1])
    return found


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
@pytest.mark.parametrize("where", [3, 20, 53], ids=["first rows", "later", "last row"])
def test_keys_in_order_are_compared_not_counted(tiny_dataset, monkeypatch, fmt, where):
    """Files in the order of their key (the tiny sales, the activities) have each key
    compared with the one before, never counted by hash (any hash would fail here); a
    repeat past the first rows that found the order is still found, and then the keys
    are counted: the same error as pandas gives."""
    monkeypatch.setattr(columnar.key_order, "SAMPLE_ROWS", 10)
    sales = read_text_table(tiny_dataset, "sales")
    if fmt == "parquet":
        for name in columnar.LARGE_TABLES:
            write_table(tiny_dataset, name, read_text_table(tiny_dataset, name).replace("", None), fmt="parquet")
    counted = columnar.KEY_HASH
    monkeypatch.setattr(columnar, "KEY_HASH", "error('keys counted by hash')")
    for table in columnar.LARGE_TABLES:
        frame, pandas = fast_path(tiny_dataset, table)  # no Fallback: DuckDB compared the keys in order
        pd.testing.assert_frame_equal(frame, getattr(pandas, table), check_exact=True)
    monkeypatch.setattr(columnar, "KEY_HASH", counted)
    sales.loc[where, ["customer_id", "product_id", "period"]] = sales.loc[where - 1, ["customer_id", "product_id",
                                                                                         "period"]].to_numpy()
    write_table(tiny_dataset, "sales", sales.replace("", None) if fmt == "parquet" else sales, fmt=fmt)
    compared_in = _key_orders(monkeypatch)  # the order each table's keys are then compared in
    error = same_error(tiny_dataset, out_of_core=monkeypatch)
    assert "(customer_id, product_id, period) must appear only once" in str(error)
    in_sample = where < columnar.key_order.SAMPLE_ROWS  # then no order is found: the keys are counted at once
    assert compared_in == [None if in_sample else ["customer_id", "product_id", "period"], ["activity_id"]]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
@pytest.mark.parametrize("where", [2, -1], ids=["first rows", "last row"])
def test_a_key_in_order_as_written_but_repeated_once_stripped(tiny_dataset, monkeypatch, fmt, where):
    """The keys are compared as written (``A004`` < ``A004 ``), while the rules scan checks
    that stripping changed none of them: one that it did ("A004 " is A004) has the keys
    counted, and the repeat is reported as pandas reports it."""
    monkeypatch.setattr(columnar.key_order, "SAMPLE_ROWS", 4)
    activities = read_text_table(tiny_dataset, "activities")
    where = where % len(activities)
    activities.loc[where, "activity_id"] = activities.loc[where - 1, "activity_id"] + " "
    assert activities["activity_id"].is_monotonic_increasing and activities["activity_id"].is_unique
    write_table(tiny_dataset, "activities", activities.replace("", None) if fmt == "parquet" else activities,
                fmt=fmt)
    compared_in = _key_orders(monkeypatch)
    error = same_error(tiny_dataset, out_of_core=monkeypatch)
    assert "activity_id must be unique" in str(error)
    assert compared_in[-1] == ["activity_id"]  # compared in order as written: the stripped repeat found after


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_sales_key_repeated_once_stripped_is_compared(tiny_dataset, monkeypatch, fmt):
    """The rules scan compares the keys as written with their normalized values only in
    the columns not clean (a clean id is kept as read: nothing to compare); a customer id
    with a trailing space is not clean, so the repeat it makes once stripped is found."""
    monkeypatch.setattr(columnar.key_order, "SAMPLE_ROWS", 4)
    sales = read_text_table(tiny_dataset, "sales")
    key = ["customer_id", "product_id", "period"]
    sales.loc[len(sales) - 1, key] = sales.loc[len(sales) - 2, key].to_numpy()
    sales.loc[len(sales) - 1, "customer_id"] += " "  # as written after the row before: in order
    write_table(tiny_dataset, "sales", sales.replace("", None) if fmt == "parquet" else sales, fmt=fmt)
    compared_in = _key_orders(monkeypatch)
    error = same_error(tiny_dataset, out_of_core=monkeypatch)
    assert "(customer_id, product_id, period) must appear only once" in str(error)
    assert compared_in[0] == ["customer_id", "product_id", "period"]  # compared in order as written


def test_only_the_key_columns_not_kept_as_read_are_compared_with_their_cells():
    spec = TABLES["sales"]
    clean = {"customer_id", "period", "units"}
    assert [c for c in spec.key if not columnar._as_read(c, spec, clean)] == ["product_id"]
    assert not columnar._as_read("units", spec, clean)  # a number is typed: not its cell as read


def _cell(table, row, column, value):
    def change(frame):
        frame.loc[row, column] = value
    return table, change


MORE_BROKEN = {
    # spellings DuckDB would read but the contract (Arrow) does not
    "units with underscore": _cell("sales", 1, "units", "1_000"),
    "units hex": _cell("sales", 1, "units", "0x10"),
    "units inf": _cell("sales", 1, "units", "inf"),
    "units beyond float": _cell("sales", 1, "units", "1e309"),
    "units beyond sanity limit": _cell("sales", 2, "units", "2e12"),
    "empty units": _cell("sales", 2, "units", ""),
    "blank period": _cell("sales", 2, "period", "   "),
    "control character in id": _cell("sales", 0, "customer_id", "C00\x0701"),
    "unknown product": _cell("sales", 0, "product_id", "P404"),
    "duplicated activity id": _cell("activities", 1, "activity_id", "A001"),
    "control character in content": _cell("activities", 1, "content", "bad\x1bescape"),
    "date out of range": _cell("activities", 1, "date", "1500-01-01"),
    "date day first": _cell("activities", 1, "date", "31-01-2026"),
    "empty activity id": _cell("activities", 2, "activity_id", ""),
    "cost sanity": _cell("activities", 2, "cost", "5e13"),
}


@pytest.mark.parametrize("case", list(MORE_BROKEN), ids=list(MORE_BROKEN))
def test_more_broken_cases_same_errors(tiny_dataset, case, monkeypatch, checking):
    table, change = MORE_BROKEN[case]
    rewrite(tiny_dataset, table, change)
    same_error(tiny_dataset, out_of_core=monkeypatch)


@pytest.mark.parametrize("case", list(MORE_BROKEN)[:8], ids=list(MORE_BROKEN)[:8])
def test_broken_parquet_cases_same_errors(tiny_dataset, case, monkeypatch):
    """Row numbers of Parquet files: the offending rows read by row group, never whole."""
    table, change = MORE_BROKEN[case]
    rewrite(tiny_dataset, table, change)
    frame = read_text_table(tiny_dataset, table).replace("", None)
    path = write_table(tiny_dataset, table, frame, fmt="parquet")
    frame.to_parquet(path, index=False, row_group_size=7)  # several row groups
    same_error(tiny_dataset, out_of_core=monkeypatch)


def test_several_broken_tables_same_errors(tiny_dataset, monkeypatch):
    rewrite(tiny_dataset, "sales", lambda s: s.__setitem__("units", s["units"].where(s.index != 2, "-5")))
    rewrite(tiny_dataset, "activities", lambda a: a.__setitem__("channel", a["channel"].where(a.index != 0, "fax")))
    rewrite(tiny_dataset, "customers", lambda c: c.__setitem__("customer_type",
                                                               c["customer_type"].where(c.index != 0, "vet")))
    assert len(same_error(tiny_dataset, out_of_core=monkeypatch).violations) == 3


def test_many_broken_rules_and_blank_lines_same_errors(tiny_dataset, monkeypatch):
    """Line numbers past blank lines and a row of empty cells, several rules in one file, a
    repeated key, an unknown reference and a broken small table, all out of core."""
    sales = read_text_table(tiny_dataset, "sales")
    sales.loc[3, "units"] = "-1"
    sales.loc[5, "period"] = "2026/02"
    sales.loc[6, "customer_id"] = "C404"
    sales = pd.concat([sales, sales.iloc[[8]]], ignore_index=True)
    lines = sales.to_csv(index=False).splitlines(keepends=True)
    text = "".join([*lines[:2], "\n", "\n", *lines[2:5], ",,,\n", "\n", *lines[5:], "\n"])
    (tiny_dataset / "sales.csv").write_text(text, encoding="utf-8")
    rewrite(tiny_dataset, "reps", lambda r: r.__setitem__("role", r["role"].where(r.index != 0, "senior")))
    error = same_error(tiny_dataset, out_of_core=monkeypatch)
    assert {v.rule.split(" ")[0] for v in error.violations} >= {"units", "period", "customer_id", "each", "role"}
    rows = pd.concat([v.examples for v in error.violations if v.table == "sales"])
    # past lines 3, 4 (blank), 8 (empty cells) and 9 (blank); the repeated key's copy is the last line
    assert set(rows["line"]) == {7, 11, 12, 14, len(sales) + 5}


def test_a_broken_file_leaves_no_work_folder(tiny_dataset, tmp_path):
    """Out of core, a load that fails writes nothing: not even DuckDB's spill folder."""
    rewrite(tiny_dataset, "sales", lambda s: s.__setitem__("units", s["units"].where(s.index != 2, "-5")))
    out = tmp_path / "reports"
    with pytest.raises(DataValidationError):
        load_dataset(tiny_dataset, engine="duckdb", work=out / ".work" / "duckdb")
    assert not out.exists()


def test_missing_sales_column_out_of_core(tiny_dataset, monkeypatch):
    rewrite(tiny_dataset, "sales", lambda s: s.drop(columns="units"))
    rewrite(tiny_dataset, "activities", lambda a: a.__setitem__("cost", a["cost"].where(a.index != 1, "-3")))
    same_error(tiny_dataset, out_of_core=monkeypatch)


def test_more_offending_rows_than_checked(tiny_dataset, monkeypatch):
    """Beyond MAX_ROWS offending rows the first are checked and the count says so."""
    from analysis.contract import offending

    rewrite(tiny_dataset, "sales", lambda s: s.__setitem__("units", "-1"))
    rows = len(read_text_table(tiny_dataset, "sales"))
    monkeypatch.setattr(offending, "MAX_ROWS", 4)
    error = load_error(tiny_dataset, "duckdb")
    (violation,) = error.violations
    assert violation.rule == "units must be >= 0" and violation.n_failing == 4
    assert violation.examples["line"].tolist() == [2, 3, 4, 5]
    assert violation.hint.endswith(f"Counted in the first 4 of the {rows:,} rows breaking a rule of this file: "
                                   "fix these and check again for the others.")
    assert load_error(tiny_dataset, "pandas").violations[0].n_failing == rows


@pytest.mark.parametrize("content", ["a,b\n1\n", "\xff\xfe not utf-8", ""])
def test_unreadable_sales_same_errors(tiny_dataset, content):
    (tiny_dataset / "sales.csv").write_bytes(content.encode("latin-1"))
    same_error(tiny_dataset)


def test_broken_parquet_same_errors(tiny_dataset):
    sales = read_text_table(tiny_dataset, "sales")
    write_table(tiny_dataset, "sales", sales.assign(units=sales["units"].astype(float).where(sales.index != 3, np.nan)),
                fmt="parquet")
    same_error(tiny_dataset)
    (tiny_dataset / "sales.parquet").write_bytes(b"PAR1 truncated")
    same_error(tiny_dataset)


def test_unknown_engine_is_a_parameter_error(tiny_dataset):
    from analysis.errors import ParameterError

    with pytest.raises(ParameterError, match="unknown engine"):
        load_dataset(tiny_dataset, engine="spark")


# --- run --tables-only ----------------------------------------------------------------------

def _tables(out):
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(out.rglob("*")) if p.is_file() and ".work" not in p.parts
            and ("tables" in p.parts or p.name == "call_plan.xlsx")}


def test_tables_only_writes_the_full_runs_tables(published, tmp_path):
    """The same tables/ files as a full run of the same data and profile, and no report."""
    from analysis.engine.cli import main

    assert published["code"] == 0
    out = tmp_path / "bi"
    args = ["run", "--data", str(published["data"]), "--params", str(ROOT / "params" / "demo.yaml"),
            "--out", str(out), "--jobs", "2", "--quiet", "--tables-only"]
    assert main(args) == 0
    assert not list(out.rglob("report.*")) and not (out / "index.html").exists()
    full = {k: v for k, v in _tables(published["out"]).items() if not k.endswith("call_plan.xlsx")}
    mine = {k: v for k, v in _tables(out).items() if not k.endswith("call_plan.xlsx")}
    assert mine == full and mine
    assert {k for k in _tables(out)} == {k for k in _tables(published["out"])}
    # again: unchanged, nothing re-exported; with the DuckDB engine: the same files
    assert main(args) == 0
    again = tmp_path / "bi-duckdb"
    assert main([*args[:6], str(again), *args[7:], "--engine", "duckdb"]) == 0
    assert {k: v for k, v in _tables(again).items() if not k.endswith("call_plan.xlsx")} == full


@pytest.mark.parametrize("chunk", [1, 2, 3, 1 << 20])
def test_blank_lines_and_line_numbers(tmp_path, monkeypatch, chunk):
    """The lines DuckDB skips (empty, also CRLF ones; a row of empty cells is not one),
    whatever the read size, and each data row's line number past them."""
    from analysis.contract import offending

    monkeypatch.setattr(offending, "_CHUNK", chunk)
    for text, blank, lines in [("a,b\n1,2\n\n3,4\n,\n5,6\n", [3], [2, 4, 5, 6]),
                               ("a,b\r\n1,2\r\n\r\n\r\n3,4\r\n", [3, 4], [2, 5, 6, 7]),
                               ("a,b\n\n\n1,2\n\n", [2, 3, 5], [4, 6, 7, 8])]:
        path = tmp_path / "t.csv"
        path.write_bytes(text.encode())
        assert offending.blank_lines(path).tolist() == blank
        assert offending.line_numbers(np.array([1, 2, 3, 4]), offending.blank_lines(path)).tolist() == lines


@pytest.mark.parametrize("shared", [True, False], ids=["on a second connection", "on this one"])
def test_a_query_run_meanwhile(shared):
    """The key comparison's query runs while the rules are checked: its value when asked for,
    and a block that fails interrupts it (this would otherwise count for minutes)."""
    con, spill = columnar.connect()
    try:
        with columnar._meanwhile(con, "SELECT count(*) FROM range(1000)", shared) as value:
            assert con.execute("SELECT 41 + 1").fetchall()[0][0] == 42
            assert value() == 1000
        with columnar._meanwhile(con, None, shared) as value:
            assert value() is None
        with pytest.raises(ZeroDivisionError), columnar._meanwhile(
                con, "SELECT count(*) FROM range(1000000000000)", shared):
            1 / 0
        assert con.execute("SELECT 1").fetchall()[0][0] == 1
    finally:
        con.close()


def test_small_and_large_tables_problems_in_the_pandas_order(tiny_dataset, monkeypatch):
    """The small tables are checked in a thread while DuckDB scans the large ones: a missing
    table, an unreadable one, a broken small table and a broken large one are still reported
    as (and in the order) pandas reports them."""
    (tiny_dataset / "markets.csv").unlink()
    (tiny_dataset / "reps.csv").write_bytes(b"rep_id,rep_name\n\xff\xfeR1,broken\n")
    rewrite(tiny_dataset, "customers", lambda c: c.__setitem__("customer_name", c["customer_name"].where(
        c.index != 4, "")))
    rewrite(tiny_dataset, "sales", lambda s: s.__setitem__("units", s["units"].where(s.index != 2, "-5")))
    error = same_error(tiny_dataset, out_of_core=monkeypatch)
    assert [(v.table, v.column) for v in error.violations] == [
        ("reps", None), ("customers", "customer_name"), ("markets", None), ("sales", "units")]
