"""The monthly summaries (analysis.contract.reduction) and the out-of-core loader's span.

The summaries are worked by hand on a few rows; made in DuckDB from the files they equal
those made from the frames; a dataset whose raw rows hold only the windows' months
gives the same pass as the whole one, is never cached, and refuses windows it lacks; so
does one whose sales were summed per window out of core.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.contract import privacy, reduction
from analysis.contract.dataset import cache_dataset, load_dataset
from analysis.domain import national
from analysis.domain.market import window_sales, window_units, with_products
from analysis.domain.national import national_pass, prepare, rows_span, sales_windows, span_of, windows_of
from analysis.domain.periods import Window

CUSTOMERS = pd.DataFrame({"customer_id": ["C1", "C2", "W1"], "territory_id": ["T1", "T1", "T2"],
                          "customer_type": ["hcp", "pharmacy", "distributor"]})
PRODUCTS = pd.DataFrame({"product_id": ["P1", "P2", "Q1"], "market": ["m", "m", "n"], "is_own": [True, False, True]})
SALES = pd.DataFrame({
    "customer_id": ["C1", "C1", "C2", "C2", "W1", "C1"],
    "product_id": ["P1", "P2", "P2", "Q1", "P1", "P1"],
    "period": ["2026-01", "2026-01", "2026-01", "2026-01", "2026-01", "2026-02"],
    "units": [3.0, 2.0, 5.0, 0.0, 7.0, 1.5],
})
ACTIVITIES = pd.DataFrame({
    "customer_id": ["C1", "C1", "C1", "C2", "C1"], "rep_id": ["R1", "R1", "R2", "R1", "R1"],
    "date": pd.to_datetime(["2026-01-03", "2026-01-20", "2026-01-09", "2026-02-01", "2026-02-27"]),
    "cost": [10.0, 2.5, 4.0, 1.0, 8.0],
    "outcome": ["engaged", "none", "opened", None, "attended"],
})


def test_sales_by_month_by_hand():
    s = reduction.sales_by_month(SALES, PRODUCTS, CUSTOMERS).set_index(["territory_id", "market", "period",
                                                                        "prescribing"])
    # T1, m, Jan, prescribing: C1 own 3 + comp 2, C2 comp 5 -> own 3, market 10, 1 prescribing (C1)
    assert s.loc[("T1", "m", "2026-01", True)].tolist() == [3.0, 10.0, 1]
    # T1, n, Jan: C2 own 0 -> a row with 0 prescribing customers
    assert s.loc[("T1", "n", "2026-01", True)].tolist() == [0.0, 0.0, 0]
    # the distributor's sales are kept apart (not prescribing)
    assert s.loc[("T2", "m", "2026-01", False)].tolist() == [7.0, 7.0, 1]
    assert s.loc[("T1", "m", "2026-02", True)].tolist() == [1.5, 1.5, 1]
    assert len(s) == 4 and s.index.is_unique


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sales_by_month_equals_a_per_customer_groupby(seed):
    """On random rows (units often 0, two own products in a market, customers buying only
    the competitors'): the sums, and as prescribing customers those whose own units in the
    market and month sum to more than 0, as pandas groups them customer by customer."""
    rng = np.random.default_rng(seed)
    products = pd.DataFrame({"product_id": ["A1", "A2", "A3", "B1", "B2"], "market": ["a", "a", "a", "b", "b"],
                             "is_own": [True, True, False, False, True]})
    customers = pd.DataFrame({"customer_id": [f"C{i}" for i in range(40)],
                              "territory_id": [f"T{i % 3}" for i in range(40)],
                              "customer_type": rng.choice(["hcp", "pharmacy", "distributor"], 40)})
    keys = pd.MultiIndex.from_product([customers["customer_id"], products["product_id"],
                                       ["2026-01", "2026-02", "2026-03"]]).to_frame(index=False)
    sales = keys.sample(frac=0.5, random_state=seed).reset_index(drop=True)
    sales.columns = ["customer_id", "product_id", "period"]
    sales["units"] = np.where(rng.random(len(sales)) < 0.4, 0.0, rng.integers(1, 9, len(sales)) / 2)
    rows = sales.merge(products, on="product_id").merge(customers, on="customer_id")
    rows["prescribing"] = rows["customer_type"] != "distributor"
    rows["own"] = rows["units"].where(rows["is_own"], 0.0)
    keys = ["territory_id", "market", "period", "prescribing"]
    per_customer = rows.groupby([*keys, "customer_id"], as_index=False)[["own", "units"]].sum()
    expected = per_customer.groupby(keys).agg(own_units=("own", "sum"), market_units=("units", "sum"),
                                              prescribing_customers=("own", lambda own: int((own > 0).sum())))
    got = reduction.sales_by_month(sales, products, customers).set_index(keys)
    assert got.index.is_unique and len(got) == len(expected)
    pd.testing.assert_frame_equal(got.loc[expected.index], expected, check_dtype=False)
    assert (got["prescribing_customers"] > 0).any() and (got["prescribing_customers"] == 0).any()


def test_sales_by_month_counts_a_customer_of_no_type():
    """A customer type missing (frames not validated): its group's prescribing customers
    are still counted, as each group's own."""
    customers = pd.DataFrame({"customer_id": ["C1", "C2"], "territory_id": ["T1", "T1"],
                              "customer_type": [None, "hcp"]})
    products = pd.DataFrame({"product_id": ["P1"], "market": ["m"], "is_own": [True]})
    sales = pd.DataFrame({"customer_id": ["C1", "C2"], "product_id": ["P1", "P1"], "period": ["2026-01"] * 2,
                          "units": [2.0, 3.0]})
    s = reduction.sales_by_month(sales, products, customers)
    assert sorted(s["market_units"]) == [2.0, 3.0] and s["prescribing_customers"].tolist() == [1, 1]


def test_contacts_by_hand():
    c = reduction.contacts(ACTIVITIES).set_index(["customer_id", "rep_id", "period"])
    assert c.loc[("C1", "R1", "2026-01"), "activities"] == 2
    assert c.loc[("C1", "R1", "2026-01"), "cost"] == 12.5
    assert c.loc[("C1", "R1", "2026-01"), "last_date"] == pd.Timestamp("2026-01-20")
    # responses: an outcome other than none (engaged yes, none no); positive: engaged or attended
    assert c.loc[("C1", "R1", "2026-01"), ["responses", "positive"]].tolist() == [1, 1]
    assert c.loc[("C1", "R2", "2026-01"), ["activities", "responses", "positive", "cost"]].tolist() == [1, 1, 0, 4.0]
    assert c.loc[("C2", "R1", "2026-02"), ["responses", "positive"]].tolist() == [0, 0]  # no outcome
    assert reduction.contacts(ACTIVITIES.drop(columns="outcome"))[["responses", "positive"]].sum().tolist() == [0, 0]
    assert c.loc[("C1", "R1", "2026-02"), "last_date"] == pd.Timestamp("2026-02-27")
    assert len(c) == 4 and c["activities"].sum() == len(ACTIVITIES)
    assert c["cost"].sum() == ACTIVITIES["cost"].sum()
    assert c["last_date"].dtype == "datetime64[ns]"


def test_empty_inputs_give_empty_summaries_of_the_right_columns():
    s = reduction.sales_by_month(SALES.iloc[:0], PRODUCTS, CUSTOMERS)
    c = reduction.contacts(ACTIVITIES.iloc[:0])
    assert s.empty and list(s.columns) == list(reduction.SALES_BY_MONTH_COLUMNS)
    assert c.empty and list(c.columns) == list(reduction.CONTACTS_COLUMNS)


def test_a_subset_keeps_its_territories_rows():
    whole = reduction.summaries(SALES, PRODUCTS, CUSTOMERS, ACTIVITIES)
    part = whole.subset(["T2"], ["W1"])
    assert set(part.sales_by_month["territory_id"]) == {"T2"} and part.contacts.empty


@pytest.fixture(scope="module")
def demo_folder(tmp_path_factory):
    from analysis.contract.demo import generate, write

    folder = tmp_path_factory.mktemp("reduction") / "demo"
    write(generate(seed=3, n_regions=2, n_territories=4, n_customers=240), folder, fmt="parquet")
    return folder


PROFILES = {
    "defaults": {},
    "overrides": {"period_months": 2, "overrides": {"T02": {"period_end": "2026-06"},
                                                    "T03": {"period_months": 4}}},
}


def _periods_of(ds):
    return sorted(ds.sales["period"].unique())


@pytest.mark.parametrize("name", list(PROFILES))
def test_summaries_from_the_files_equal_those_from_the_frames(demo_folder, name):
    profile = PROFILES[name]
    whole = load_dataset(demo_folder)
    duck = load_dataset(demo_folder, engine="duckdb", span_of=span_of(profile))
    made = whole.with_summaries().summaries
    pd.testing.assert_frame_equal(duck.summaries.sales_by_month, made.sales_by_month, check_exact=False, rtol=1e-12)
    pd.testing.assert_frame_equal(duck.summaries.contacts, made.contacts, check_exact=False, rtol=1e-12)
    assert duck.sales_periods == whole.sales_periods == _periods_of(whole)


@pytest.mark.parametrize("name", list(PROFILES))
def test_the_windows_rows_give_the_whole_datasets_pass(demo_folder, name):
    profile = PROFILES[name]
    whole = load_dataset(demo_folder)
    duck = load_dataset(demo_folder, engine="duckdb", span_of=span_of(profile))
    assert duck.spans == rows_span(profile, whole.territories["territory_id"].tolist(),
                                   whole.with_summaries().summaries)
    first, last = duck.spans["sales"]
    assert duck.spans["activities"][1] == last and duck.spans["activities"][0] > first
    # only the windows' months reach pandas, and all of them
    assert _periods_of(duck) == [p for p in _periods_of(whole) if first <= p <= last]
    assert len(duck.sales) < len(whole.sales) and len(duck.activities) <= len(whole.activities)
    assert duck.activities["date"].min() >= pd.Period(duck.spans["activities"][0], freq="M").start_time
    assert "content" in whole.activities and "content" not in duck.activities  # no analysis reads it
    left, right = national_pass(whole, profile), national_pass(duck, profile)
    assert left.keys() == right.keys()
    for table in left:
        pd.testing.assert_frame_equal(right[table], left[table], check_exact=False, rtol=1e-12, obj=table)


def test_a_windows_only_dataset_refuses_other_windows_and_is_never_cached(demo_folder, tmp_path):
    duck = load_dataset(demo_folder, engine="duckdb", span_of=span_of({}))
    with pytest.raises(ValueError, match="holds the sales rows of"):
        prepare(duck.with_summaries(), {"period_end": duck.spans["sales"][0], "period_months": 3}, True)
    assert cache_dataset(duck, tmp_path / "cache") is None and not (tmp_path / "cache").exists()


def test_activities_only_outside_the_windows_still_count_as_activities(demo_folder):
    """has_activity_rows reads the summaries: activities of other months are activities."""
    duck = load_dataset(demo_folder, engine="duckdb",
                        span_of=lambda summaries, ids: {"sales": ("2020-01", "2020-03"),
                                                        "activities": ("2020-01", "2020-03")})
    assert duck.activities.empty and duck.has_activity_rows


def test_pseudonymised_summaries_carry_pseudonyms_only(demo_folder):
    duck = load_dataset(demo_folder, engine="duckdb", span_of=span_of({}))
    key = b"k" * 32
    private = privacy.pseudonymise_dataset(duck, key)
    contacts = private.summaries.contacts
    assert set(contacts["customer_id"]) <= set(private.customers["customer_id"])
    assert set(contacts["rep_id"]) <= set(private.reps["rep_id"])
    assert not set(contacts["customer_id"]) & set(duck.customers["customer_id"])
    assert not set(contacts["rep_id"]) & set(duck.reps["rep_id"])
    # and the pass of the pseudonymised dataset reads them (its call plan's owners are reps)
    tables = national_pass(private, {})
    assert set(tables["call_plan"]["rep_id"].dropna()) <= set(private.reps["rep_id"])


def test_auto_engine_reads_large_data_with_duckdb(tmp_path, demo_folder):
    from analysis.contract import columnar

    rows = columnar.estimated_rows(demo_folder)
    whole = load_dataset(demo_folder)
    assert rows == len(whole.sales) + len(whole.activities)  # Parquet: from the metadata
    assert columnar.choose_engine(demo_folder) == "pandas"  # a few thousand rows
    assert columnar.choose_engine(demo_folder, "duckdb") == "duckdb"
    big = tmp_path / "big"
    big.mkdir()
    (big / "sales.csv").write_bytes(b"x" * (columnar.AUTO_ROWS * columnar._CSV_ROW_BYTES))
    assert columnar.choose_engine(big) == "duckdb"  # CSV: estimated from the size


def _write_frames(ds, folder):
    """The tables of ``ds`` (those it has files for) written as CSV to ``folder``."""
    folder.mkdir(parents=True)
    for name in ds.files:
        frame = getattr(ds, name)
        frame.to_csv(folder / f"{name}.csv", index=False, date_format="%Y-%m-%d")
    return folder


@pytest.mark.parametrize("shape", ["sales_only", "single_period", "no_profile", "one_market",
                                   "sales_only_single_period", "cms_part_d"])
def test_every_data_shape_gives_the_same_pass_out_of_core(demo_folder, tmp_path, shape):
    """Each data shape of the consistency tests, as files, read out of core with only the
    windows' rows: the same tables as the whole dataset read by pandas."""
    from shapes import CMS_FILE, CMS_PROFILE, SHAPES, cms_dataset

    if shape == "cms_part_d":
        if not CMS_FILE.is_file():
            pytest.skip("the shared CMS Part D sample is not beside the project")
        whole, profile = cms_dataset(tmp_path / "cms"), CMS_PROFILE
        folder = tmp_path / "cms"
    else:
        shaped, profile = SHAPES[shape](load_dataset(demo_folder)), {}
        folder = _write_frames(shaped, tmp_path / shape)
        whole = load_dataset(folder)
    duck = load_dataset(folder, engine="duckdb", span_of=span_of(profile))
    assert duck.spans is not None and duck.summaries is not None  # DuckDB vouched for every table
    left, right = national_pass(whole, profile), national_pass(duck, profile)
    assert left.keys() == right.keys()
    for table in left:
        pd.testing.assert_frame_equal(right[table], left[table], check_exact=False, rtol=1e-12, obj=table)


# --- the sales summed per window out of core ------------------------------------------------

def _window_sales_sql(sales: pd.DataFrame, months) -> pd.DataFrame:
    con = reduction._connection(frame=sales)
    try:
        con.execute("CREATE TABLE rows AS SELECT * FROM frame")  # its rowid: the rows' order
        return reduction.window_sales_sql(con, "rows", months)
    finally:
        con.close()


def test_window_sales_by_hand_and_as_pandas_sums_them():
    window = Window("2026-02", 2)  # analysis 2026-01 and 2026-02, comparison 2025-11 and 2025-12
    out = _window_sales_sql(SALES, window.periods_by_window)
    # C1 x P1: 3 in January + 1.5 in February, in the place of its first row
    assert out.to_dict("list") == {"customer_id": ["C1", "C1", "C2", "C2", "W1"],
                                   "product_id": ["P1", "P2", "P2", "Q1", "P1"],
                                   "window": ["analysis"] * 5, "units": [4.5, 2.0, 5.0, 0.0, 7.0]}
    pd.testing.assert_frame_equal(with_products(out, PRODUCTS), window_sales(SALES, PRODUCTS, window))
    assert _window_sales_sql(SALES, Window("2024-01", 1).periods_by_window).empty  # no rows in those months
    none = _window_sales_sql(SALES, ())  # no months at all
    assert none.empty and list(none.columns) == ["customer_id", "product_id", "window", "units"]


def test_window_sales_of_fractional_units_within_1e_12_of_pandas():
    rng = np.random.default_rng(7)
    n = 5_000
    sales = pd.DataFrame({"customer_id": pd.Series(rng.integers(0, 300, n)).map("C{}".format).astype("str"),
                          "product_id": pd.Series(rng.integers(0, 3, n)).map("P{}".format).astype("str"),
                          "period": pd.Series(rng.integers(1, 13, n)).map("2026-{:02d}".format).astype("str"),
                          "units": rng.random(n) * 1e3})
    sales = sales.drop_duplicates(["customer_id", "product_id", "period"], ignore_index=True)
    window = Window("2026-12", 4)
    pd.testing.assert_frame_equal(_window_sales_sql(sales, window.periods_by_window),
                                  window_units(sales, window), check_exact=False, rtol=1e-12)


@pytest.mark.parametrize("name", list(PROFILES))
def test_the_sales_summed_per_window_give_the_whole_datasets_pass(demo_folder, name):
    profile = PROFILES[name]
    whole = load_dataset(demo_folder)
    duck = load_dataset(demo_folder, engine="duckdb", span_of=span_of(profile), windows_of=windows_of(profile))
    ids = whole.territories["territory_id"].tolist()
    assert list(duck.window_sales) == sales_windows(profile, ids, whole.with_summaries().summaries)
    assert len(duck.window_sales) == (1 if name == "defaults" else 3)
    assert duck.sales.empty and duck.spans["sales"] is None  # no raw sales row reached pandas
    assert duck.spans["activities"] == rows_span(profile, ids, whole.with_summaries().summaries)["activities"]
    left, right = national_pass(whole, profile), national_pass(duck, profile)
    assert left.keys() == right.keys()
    for table in left:
        pd.testing.assert_frame_equal(right[table], left[table], check_exact=False, rtol=1e-12, obj=table)


def test_sums_of_other_windows_are_refused(demo_folder):
    duck = load_dataset(demo_folder, engine="duckdb", span_of=span_of({}), windows_of=windows_of({}))
    with pytest.raises(ValueError, match="summed per window of other analyses only"):
        prepare(duck.with_summaries(), {"period_end": duck.spans["activities"][1], "period_months": 2}, True)
    assert cache_dataset(duck, Path(demo_folder).parent / "cache") is None


def test_beyond_the_summed_windows_the_raw_rows_are_kept(demo_folder, monkeypatch):
    profile = PROFILES["overrides"]  # three windows
    monkeypatch.setattr(national, "MAX_SUMMED_WINDOWS", 2)
    duck = load_dataset(demo_folder, engine="duckdb", span_of=span_of(profile), windows_of=windows_of(profile))
    assert duck.window_sales is None and not duck.sales.empty and duck.spans["sales"] is not None


def test_pseudonymised_window_sales_carry_pseudonyms_only(demo_folder):
    duck = load_dataset(demo_folder, engine="duckdb", span_of=span_of({}), windows_of=windows_of({}))
    private = privacy.pseudonymise_dataset(duck, b"k" * 32)
    (units,) = private.window_sales.values()
    assert set(units["customer_id"]) <= set(private.customers["customer_id"])
    assert not set(units["customer_id"]) & set(duck.customers["customer_id"])
    (original,) = duck.window_sales.values()
    assert units["units"].equals(original["units"])


def test_a_customer_of_two_own_products_in_a_market_is_one_prescribing_customer():
    """Counted apart from the markets of one own product (one row per prescribing customer there)."""
    products = pd.DataFrame({"product_id": ["A1", "A2", "B1"], "market": ["a", "a", "b"], "is_own": [True, True, True]})
    customers = pd.DataFrame({"customer_id": ["C1", "C2"], "territory_id": ["T1", "T1"], "customer_type": ["hcp"] * 2})
    sales = pd.DataFrame({"customer_id": ["C1", "C1", "C2", "C1", "C2"], "product_id": ["A1", "A2", "A2", "B1", "B1"],
                          "period": ["2026-01"] * 5, "units": [1.0, 2.0, 0.0, 4.0, 5.0]})
    s = reduction.sales_by_month(sales, products, customers).set_index("market")
    assert s.loc["a", ["own_units", "prescribing_customers"]].tolist() == [3.0, 1]  # C1 once; C2 bought none
    assert s.loc["b", ["own_units", "prescribing_customers"]].tolist() == [9.0, 2]
