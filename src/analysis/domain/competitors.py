"""Competitors: each product's share of the territory and of each segment, per market.

For every territory, market and product of the market (ours included, ``is_own``), over
the prescribing (segmentable) customers, per scope: the whole territory (``segment``
"all") and each segment of the run's scheme:

* units and share (units / all the market's units of the scope) in the analysis period,
  the same in the comparison period (``*_previous``) and the change;
* customers_led: customers of the scope the product leads in the analysis period (the
  most units at the customer; ties go to our product, then to the smallest product id,
  as in the 3C competitor position), and the same in the comparison period.

Without a comparison period the ``*_previous`` and change columns are missing, never 0.
A scope without market units has no shares (missing). The segment of a customer is its
segment in the analysis period (both periods are counted on the same customers).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.domain.keys import inner_join

GROUP = ["territory_id", "market"]
ALL = "all"
COMPETITOR_COLUMNS = ["territory_id", "market", "segment", "product_id", "product_name", "is_own", "units", "share",
                      "customers_led", "units_previous", "share_previous", "customers_led_previous", "share_change",
                      "customers_led_change"]
WINDOW_SUFFIX = {"analysis": "", "comparison": "_previous"}


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


def competitor_shares(sales: pd.DataFrame, frame: pd.DataFrame, products: pd.DataFrame, segments,
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
