"""The competitor table on integer codes equals the pandas groupbys, sorts and merges it replaced."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.domain.competitors import ALL, COMPETITOR_COLUMNS, GROUP, WINDOW_SUFFIX, competitor_shares
from analysis.domain.keys import inner_join

# the pandas implementation the codes replaced (reference)
def _leaders(rows: pd.DataFrame) -> pd.DataFrame:
    """The leading product per customer x market x window (most units; ties: own, then smallest id)."""
    per = rows.groupby(["territory_id", "market", "segment", "window", "customer_id", "product_id", "is_own"],
                       sort=False, observed=True)["units"].sum().reset_index()
    per = per[per["units"] > 0]
    per = per.sort_values(["customer_id", "market", "window", "units", "is_own", "product_id"],
                          ascending=[True, True, True, False, False, True], kind="mergesort")
    return per.drop_duplicates(["customer_id", "market", "window"], keep="first")


def _coded(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with its text keys as categoricals (each hashed once, then grouped and sorted
    on codes; the categories are sorted, so a sort by them is a sort by label), the
    ``segment`` categories including the :data:`ALL` scope."""
    keys = ["territory_id", "market", "window", "customer_id", "product_id", "segment"]
    out = rows.astype({key: "category" for key in keys})
    if ALL not in out["segment"].cat.categories:
        out["segment"] = out["segment"].cat.add_categories([ALL])
    return out


def _by_scope(rows: pd.DataFrame, keys: list[str], units: bool) -> pd.Series:
    """Per ``keys`` (segment among them) and also with every segment as the :data:`ALL`
    scope: the sum of ``units`` (``units`` True) or the count of rows, indexed by labels."""
    whole = [k for k in keys if k != "segment"]
    parts = []
    for by in (keys, whole):
        grouped = rows.groupby(by, sort=False, observed=True)
        part = grouped["units"].sum() if units else grouped.size()
        if by is whole:
            part = pd.concat({ALL: part}, names=["segment"]).reorder_levels(keys)
        parts.append(part)
    out = pd.concat(parts)
    out.index = pd.MultiIndex.from_arrays([out.index.get_level_values(k).astype(object) for k in keys], names=keys)
    return out


def reference_shares(sales: pd.DataFrame, frame: pd.DataFrame, products: pd.DataFrame, segments,
                      has_comparison: bool = True) -> pd.DataFrame:
    """The competitor table of every territory and market of ``frame``.

    ``sales``: :func:`analysis.domain.market.window_sales` (customer_id, product_id,
    units, market, is_own, window: the units of each window); ``frame``: the customer x market table
    (territory_id, customer_id, market, segment); ``segments``: the scheme's labels in
    report order. One row per territory x market x scope ("all", then the segments
    present) x product of the market.
    """
    seg = frame.loc[frame["segment"].notna(), ["territory_id", "customer_id", "market", "segment"]]
    rows = sales.loc[sales["window"].isin(list(WINDOW_SUFFIX)), ["customer_id", "product_id", "market", "is_own",
                                                                  "window", "units"]]
    rows = inner_join(rows, seg, ["customer_id", "market"])
    rows = rows.assign(segment=rows["segment"].astype(str), is_own=rows["is_own"].astype(bool),
                       window=rows["window"].astype(str))
    rows = _coded(rows)
    keys = [*GROUP, "segment", "window", "product_id"]
    units = _by_scope(rows, keys, units=True)
    led = _by_scope(_leaders(rows), keys, units=False)
    scopes = seg.assign(segment=seg["segment"].astype(str))[[*GROUP, "segment"]].drop_duplicates()
    scopes = pd.concat([seg[GROUP].drop_duplicates().assign(segment=ALL), scopes], ignore_index=True)
    market_products = products[["product_id", "product_name", "market", "is_own"]].assign(
        is_own=lambda p: p["is_own"].astype(bool))
    grid = scopes.merge(market_products, on="market", how="inner")
    out = grid
    for window, suffix in WINDOW_SUFFIX.items():
        index = pd.MultiIndex.from_frame(grid[[*GROUP, "segment"]].assign(window=window)
                                         .join(grid["product_id"])[keys])
        u = units.reindex(index).fillna(0.0).to_numpy()
        n = led.reindex(index).fillna(0).to_numpy()
        out = out.assign(**{f"units{suffix}": u, f"customers_led{suffix}": n.astype("int64")})
        total = out.groupby([*GROUP, "segment"], sort=False)[f"units{suffix}"].transform("sum")
        out[f"share{suffix}"] = out[f"units{suffix}"] / total.where(total > 0)
    if not has_comparison:
        out[["units_previous", "share_previous", "customers_led_previous"]] = np.nan
    out["share_change"] = out["share"] - out["share_previous"]
    out["customers_led_change"] = out["customers_led"] - out["customers_led_previous"]
    order = {label: i for i, label in enumerate([ALL, *map(str, segments)])}
    out = out.assign(_scope=out["segment"].map(order).fillna(len(order)), _own=~out["is_own"])
    out = out.sort_values([*GROUP, "_scope", "_own", "units", "product_id"],
                          ascending=[True, True, True, True, False, True], kind="mergesort")
    return out[COMPETITOR_COLUMNS].reset_index(drop=True).astype({"customers_led_previous": "float64",
                                                                   "customers_led_change": "float64"})


def _data(seed: int, customers: int = 40, duplicated: bool = False, categorical: bool = False):
    rng = np.random.default_rng(seed)
    products = pd.DataFrame({"product_id": ["P3", "P1", "P2", "P5", "P4"], "product_name": list("abcde"),
                             "market": ["m", "m", "m", "n", "n"], "is_own": [False, True, False, True, False]})
    ids = [f"C{i:03d}" for i in range(customers)]
    frame = pd.DataFrame({"territory_id": rng.choice(["T2", "T1", "T3"], customers), "customer_id": ids})
    frame = pd.concat([frame.assign(market="m"), frame.assign(market="n")], ignore_index=True)
    frame["segment"] = rng.choice(["A", "B", "C", None], len(frame))
    if duplicated:  # a customer x market listed twice (once in another territory), missing ids
        frame = pd.concat([frame, frame.head(3).assign(territory_id="T9")], ignore_index=True)
        frame.loc[[4, 5], "customer_id"] = None
        frame.loc[[6], "market"] = None
    n = customers * 6
    sales = pd.DataFrame({"customer_id": rng.choice(ids + ["C999"], n),
                          "product_id": rng.choice(products["product_id"], n),
                          "window": rng.choice(["analysis", "comparison", "before", None], n),
                          "units": rng.choice([0.0, 1.0, 2.0, 0.1, 0.2, 0.3, 3.0, np.nan], n)})
    sales = sales.merge(products[["product_id", "market", "is_own"]], on="product_id")
    if duplicated:
        sales.loc[sales.index[:9:2], "customer_id"] = None
        sales.loc[sales.index[1:9:2], "market"] = None
    if categorical:
        sales = sales.astype({"window": "category", "customer_id": "category"})
        frame = frame.astype({"segment": "category"})
    return sales, frame, products


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("duplicated", [False, True])
@pytest.mark.parametrize("categorical", [False, True])
def test_equals_the_pandas_reference(seed, duplicated, categorical):
    sales, frame, products = _data(seed, duplicated=duplicated, categorical=categorical)
    for comparison in (True, False):
        got = competitor_shares(sales, frame, products, ("A", "B", "C"), has_comparison=comparison)
        pd.testing.assert_frame_equal(got, reference_shares(sales, frame, products, ("A", "B", "C"),
                                                            has_comparison=comparison))


def test_without_sales_or_segments():
    sales, frame, products = _data(1)
    for s, f in ((sales.head(0), frame), (sales, frame.assign(segment=None)), (sales.head(0), frame.head(0))):
        pd.testing.assert_frame_equal(competitor_shares(s, f, products, ("A", "B")),
                                      reference_shares(s, f, products, ("A", "B")))


@pytest.mark.parametrize("seed", range(3))
def test_missing_ids_match_missing_ids_as_the_merge(seed):
    sales, frame, products = _data(seed)
    frame.loc[[4], "customer_id"] = None
    frame.loc[[7], "market"] = None
    sales.loc[sales.index[:9:2], "customer_id"] = None
    sales.loc[sales.index[1:9:2], "market"] = None
    pd.testing.assert_frame_equal(competitor_shares(sales, frame, products, ("A", "B", "C")),
                                  reference_shares(sales, frame, products, ("A", "B", "C")))
