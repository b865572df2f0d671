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


def same_error(folder):
    pandas, duck = load_error(folder, "pandas"), load_error(folder, "duckdb")
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


# --- valid data: the same frames, through DuckDB ----------------------------------------

@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_tiny_dataset_same_frames_and_fast_path(tiny_dataset, fmt):
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


def test_tolerances_on_the_fast_path(tiny_dataset):
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
    assert not list((demo / f"work-{fmt}").iterdir())  # the spill folder is removed afterwards
    profile = {}
    left, right = national_pass(pandas, profile), national_pass(duck, profile)
    assert left.keys() == right.keys()
    for name in left:
        pd.testing.assert_frame_equal(right[name], left[name], check_exact=True, obj=name)


# --- broken data: the same errors ---------------------------------------------------------

@pytest.mark.parametrize("case", list(BROKEN), ids=list(BROKEN))
def test_catalogue_broken_cases_same_errors(tiny_dataset, case):
    table, change, *_ = BROKEN[case]
    rewrite(tiny_dataset, table, change)
    same_error(tiny_dataset)


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
def test_more_broken_cases_same_errors(tiny_dataset, case):
    table, change = MORE_BROKEN[case]
    rewrite(tiny_dataset, table, change)
    same_error(tiny_dataset)


def test_several_broken_tables_same_errors(tiny_dataset):
    rewrite(tiny_dataset, "sales", lambda s: s.__setitem__("units", s["units"].where(s.index != 2, "-5")))
    rewrite(tiny_dataset, "activities", lambda a: a.__setitem__("channel", a["channel"].where(a.index != 0, "fax")))
    rewrite(tiny_dataset, "customers", lambda c: c.__setitem__("customer_type",
                                                               c["customer_type"].where(c.index != 0, "vet")))
    assert len(same_error(tiny_dataset).violations) == 3


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
