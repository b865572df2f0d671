import numpy as np
import pandas as pd
import pytest

from analysis.domain.periods import Window, make_window, shift, span


def test_windows_of_three_months():
    w = Window("2026-06", 3)
    assert w.analysis == ("2026-04", "2026-05", "2026-06")
    assert w.comparison == ("2026-01", "2026-02", "2026-03")
    assert w.before == ("2025-10", "2025-11", "2025-12")
    assert w.label() == "2026-04 to 2026-06"


def test_shift_across_years():
    assert shift("2026-01", -1) == "2025-12"
    assert span("2026-02", 2) == ("2026-01", "2026-02")


def test_assign_and_default_end():
    w = make_window(pd.Series(["2026-05", "2026-06", "2026-01"]))
    assert w.period_end == "2026-06"
    assigned = w.assign(pd.Series(["2026-06", "2026-02", "2024-01"]))
    assert assigned.iloc[0] == "analysis" and assigned.iloc[1] == "comparison" and pd.isna(assigned.iloc[2])
    dates = pd.Series(pd.to_datetime(["2026-04-01", "2026-03-31"]))
    assert w.assign_dates(dates).tolist() == ["analysis", "comparison"]
    assert w.start_date() == pd.Timestamp("2026-04-01") and w.end_date() == pd.Timestamp("2026-07-01")


def test_window_sales_sums_each_window():
    """Worked by hand: monthly rows summed per customer x product x window, in the order
    of their first row; months outside the windows and unknown products left out."""
    from analysis.domain.market import window_sales

    sales = pd.DataFrame({
        "customer_id": ["c1", "c1", "c1", "c1", "c2", "c2", "c1"],
        "product_id": ["own", "own", "rival", "own", "rival", "own", "gone"],
        "period": ["2026-06", "2026-05", "2026-06", "2026-02", "2025-12", "2024-01", "2026-06"],
        "units": [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0],
    })
    products = pd.DataFrame({"product_id": ["own", "rival"], "market": ["m", "m"], "is_own": [True, False]})
    out = window_sales(sales, products, Window("2026-06", 3))
    assert out.to_dict("list") == {
        "customer_id": ["c1", "c1", "c1", "c2"], "product_id": ["own", "rival", "own", "rival"],
        "window": ["analysis", "analysis", "comparison", "before"], "units": [3.0, 4.0, 8.0, 16.0],
        "market": ["m"] * 4, "is_own": [True, False, True, False],
    }


@pytest.mark.parametrize("seed", range(5))
def test_window_sales_is_the_groupby_of_the_monthly_rows(seed):
    """The same frame as grouping the labels (sums of fractional units to the bit, first-row
    order, dtypes), also with a missing id, an unknown product and a product listed twice."""
    from analysis.domain.market import window_sales

    rng = np.random.default_rng(seed)
    n = 400
    sales = pd.DataFrame({
        "customer_id": pd.Series([f"c{i}" for i in rng.integers(0, 30, n)], dtype="str"),
        "product_id": pd.Series([f"p{i}" for i in rng.integers(0, 5, n)], dtype="str"),
        "period": pd.Series([f"2026-{m:02d}" for m in rng.integers(1, 13, n)], dtype="str"),
        "units": rng.random(n) * 100,
    })
    sales.loc[3, "customer_id"] = None
    products = pd.DataFrame({"product_id": pd.Series(["p0", "p1", "p2", "p3"], dtype="str"),  # p4 unknown
                             "market": pd.Series(["m", "m", "n", "n"], dtype="str"), "is_own": [True, False] * 2})
    window = Window("2026-11", 3)
    names = window.assign(sales["period"])
    inside = names.notna().to_numpy()
    rows = sales.loc[inside, ["customer_id", "product_id"]].assign(window=names[inside], units=sales["units"][inside])
    summed = rows.groupby(["customer_id", "product_id", "window"], sort=False)["units"].sum().reset_index()
    for table in (products, pd.concat([products, products.iloc[[1]]], ignore_index=True)):
        expected = summed.merge(table[["product_id", "market", "is_own"]], on="product_id", how="inner")
        pd.testing.assert_frame_equal(window_sales(sales, table, window), expected, check_exact=True)


@pytest.mark.parametrize("seed", range(3))
def test_units_by_window_is_the_groupby_of_the_window_sales(seed):
    from analysis.domain.market import units_by_window

    rng = np.random.default_rng(seed)
    n = 300
    rows = pd.DataFrame({
        "customer_id": pd.Series([f"c{i}" for i in rng.integers(0, 25, n)], dtype="str"),
        "market": pd.Series(rng.choice(["m", "n"], n), dtype="str"),
        "window": pd.Series(rng.choice(["before", "comparison", "analysis"], n), dtype="str"),
        "units": rng.random(n) * 10, "is_own": rng.random(n) < 0.4})
    rows.loc[7, "customer_id"] = None
    for frame in (rows, rows.iloc[:0]):
        own = frame.assign(own=frame["units"].where(frame["is_own"], 0.0))
        expected = own.groupby(["customer_id", "market", "window"], observed=True, sort=False).agg(
            own_units=("own", "sum"), market_units=("units", "sum")).reset_index()
        expected["window"] = pd.Categorical(expected["window"], categories=["before", "comparison", "analysis"])
        pd.testing.assert_frame_equal(units_by_window(frame), expected, check_exact=True)


@pytest.mark.parametrize("seed", range(4))
def test_frame_units_are_the_long_tables_pivot(seed):
    """Units summed straight into the customer frame equal the long table pivoted and
    joined, to the bit: customers without sales, sales of customers or markets outside the
    frame, a missing id, a window without sales, no sales at all."""
    from analysis.domain.market import frame_units, units_by_window, units_wide

    rng = np.random.default_rng(seed)
    n = 400
    rows = pd.DataFrame({
        "customer_id": pd.Series([f"c{i}" for i in rng.integers(0, 30, n)], dtype="str"),
        "product_id": pd.Series(rng.choice(["p", "q", "r"], n), dtype="str"),
        "window": pd.Series(rng.choice(["before", "comparison", "analysis"] if seed else ["before", "analysis"], n),
                            dtype="str"),
        "units": rng.random(n) * 10, "market": pd.Series(rng.choice(["m", "n", "o"], n), dtype="str"),
        "is_own": rng.random(n) < 0.4})
    rows.loc[7, "customer_id"] = None
    frame = pd.DataFrame({"territory_id": "T1", "customer_id": pd.Series([f"c{i}" for i in range(5, 40)] * 2,
                                                                          dtype="str"),
                          "market": pd.Series(["m"] * 35 + ["n"] * 35, dtype="str")}).iloc[::-1]
    for sales in (rows, rows.iloc[:0]):
        expected = units_wide(units_by_window(sales), frame)
        pd.testing.assert_frame_equal(frame_units(sales, frame), expected, check_exact=True)


@pytest.mark.parametrize("seed", range(3))
def test_customer_markets_are_the_sorted_cross_product(seed):
    """One row per customer x market, sorted by territory, customer, market (missing last),
    whatever the order of the customers and markets; also with a repeated customer id."""
    from analysis.domain.market import customer_markets

    rng = np.random.default_rng(seed)
    n = 30
    customers = pd.DataFrame({"territory_id": rng.choice(["T2", "T1", "T10", None], n),
                              "customer_id": rng.permutation([f"c{i}" for i in range(n)]),
                              "customer_type": rng.choice(["hcp", "pharmacy"], n)},
                             index=rng.permutation(n) + 7).astype("str")
    repeated = customers.assign(customer_id=customers["customer_id"].where(customers.index != customers.index[3],
                                                                          customers["customer_id"].iloc[0]))
    for table in (customers, repeated):
        for markets in (["statins", "anticoagulation"], ["statins"], ["b", "a", "b"]):
            expected = (table[["territory_id", "customer_id", "customer_type"]]
                        .merge(pd.DataFrame({"market": pd.unique(pd.Series(markets, dtype=str))}), how="cross")
                        .sort_values(["territory_id", "customer_id", "market"], ignore_index=True))
            got = customer_markets(table, markets)
            pd.testing.assert_frame_equal(got, expected)
            assert len(got) == len(table) * len(set(markets))
