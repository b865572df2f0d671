"""Units per customer and market (DESIGN 4.1-4.2): the base of potential and support.

Sales units are the market's unit (boxes). Every customer is placed in every analysed
market, so a customer with no sales still appears (with zero units and no support).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from analysis.domain.keys import (code_positions, combined_codes, factorized, group_sums, grouped, inner_join,
                                 left_join, positions_in)
from analysis.domain.periods import WINDOWS, Window, period_codes, window_name_codes


def customer_markets(customers: pd.DataFrame, markets: pd.Series) -> pd.DataFrame:
    """One row per customer x market: territory_id, customer_id, customer_type, market."""
    base = customers[["territory_id", "customer_id", "customer_type"]]
    markets = pd.DataFrame({"market": pd.unique(pd.Series(markets, dtype=str))})
    if base["customer_id"].is_unique:  # the customers sorted, then each one's markets in order: the same rows
        base = base.sort_values(["territory_id", "customer_id"], kind="mergesort")
        markets = markets.sort_values("market", kind="mergesort")
        return base.merge(markets, how="cross")
    frame = base.merge(markets, how="cross")
    return frame.sort_values(["territory_id", "customer_id", "market"], ignore_index=True)


def window_sales(sales: pd.DataFrame, products: pd.DataFrame, window: Window) -> pd.DataFrame:
    """The units of each customer x product in each of the three windows, with market and is_own.

    Columns customer_id, product_id, window (its name), units (the sum of the window's
    monthly rows), market, is_own; a customer x product x window without sales rows is
    absent. Every analysis of the windows sums units, so it reads these sums instead of
    the monthly rows (a third as many with the default three-month windows), in the
    order of their first monthly row. :func:`window_units` then :func:`with_products`.
    """
    return with_products(window_units(sales, window), products)


def window_units(sales: pd.DataFrame, window: Window) -> pd.DataFrame:
    """The sums of :func:`window_sales` before the products are attached: customer_id,
    product_id, window, units (made out of core by
    :func:`analysis.contract.reduction.window_sales_query`)."""
    codes = period_codes(sales["period"], window)
    inside = codes >= 0
    if not inside.all():  # (out of core, the loaded rows are the windows': no copy)
        sales, codes = sales.loc[inside, ["customer_id", "product_id", "units"]], codes[inside]
    customers, products_sold = factorized(sales["customer_id"]), factorized(sales["product_id"])
    (customer, product, window_code), sums = _sums([customers, products_sold, (codes, WINDOWS)],
                                                   {"units": sales["units"]})
    return pd.DataFrame({"customer_id": customers[1].take(customer), "product_id": products_sold[1].take(product),
                         "window": np.array(WINDOWS, dtype=object)[window_code], "units": sums["units"].to_numpy()})


def with_products(units: pd.DataFrame, products: pd.DataFrame) -> pd.DataFrame:
    """:func:`window_units` sums with each product's market and is_own."""
    return inner_join(units, products[["product_id", "market", "is_own"]], ["product_id"])


def units_by_window(rows: pd.DataFrame) -> pd.DataFrame:
    """Own and market units per customer x market x window, from :func:`window_sales`.

    Returns columns customer_id, market, window, own_units, market_units; a
    customer x market x window with no sales rows is absent (treat as zero units).
    """
    coded = [factorized(rows[k]) for k in ("customer_id", "market", "window")]
    positions, sums = _sums(coded, {"own_units": rows["units"].where(rows["is_own"], 0.0),
                                    "market_units": rows["units"]})
    out = pd.DataFrame({k: uniques.take(at) for k, (_, uniques), at in zip(("customer_id", "market", "window"),
                                                                          coded, positions)})
    out["own_units"], out["market_units"] = sums["own_units"].to_numpy(), sums["market_units"].to_numpy()
    out["window"] = pd.Categorical(out["window"], categories=WINDOWS)
    return out


def _sums(coded: Sequence[tuple[np.ndarray, Sequence]], values: Mapping[str, pd.Series]
          ) -> tuple[list[np.ndarray], pd.DataFrame]:
    """A groupby without sorting, on one integer key: per distinct combination of the
    ``coded`` keys (each: a code per row, -1 for a missing value, and its distinct
    values), in the order it first appears, the position of each key's value among its
    distinct values, and the sum of each of ``values`` over the combination's rows in
    row order (a row with a missing key is in no group)."""
    groups, positions = grouped([codes for codes, _ in coded], dropna=True)
    return positions, group_sums({name: column.to_numpy() for name, column in values.items()}, groups,
                                 len(positions[0]))


def units_wide(units: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    """Attach own/market units of each window to ``frame`` (customer x market).

    Adds columns ``own_units_<window>`` and ``market_units_<window>`` (zero when the
    customer bought nothing in that window) and keeps the analysis window's as
    ``own_units`` / ``market_units``.
    """
    wide = units.pivot_table(
        index=["customer_id", "market"], columns="window", values=["own_units", "market_units"],
        aggfunc="sum", fill_value=0.0, observed=False,
    )
    wide.columns = [f"{measure}_{window}" for measure, window in wide.columns]
    wide = wide.reset_index()
    out = left_join(frame, wide, ["customer_id", "market"])
    for window in WINDOWS:
        for measure in ("own_units", "market_units"):
            col = f"{measure}_{window}"
            out[col] = out[col].fillna(0.0) if col in out else 0.0
    out["own_units"] = out["own_units_analysis"]
    out["market_units"] = out["market_units_analysis"]
    return out


def frame_units(rows: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    """``units_wide(units_by_window(rows), frame)`` (``rows``: :func:`window_sales`), the
    units summed straight into the rows of ``frame`` (customer x market): each sum over
    the same rows in the same order, without the long table and its pivot."""
    customer_codes, customers = factorized(frame["customer_id"])
    market_codes, markets = factorized(frame["market"])
    widths = [len(customers) + 1, len(markets) + 1]
    place = pd.Index(combined_codes([customer_codes, market_codes], widths))
    if rows.empty or not place.is_unique or (place < 0).any():  # (as the long way does it)
        return units_wide(units_by_window(rows), frame)
    at = code_positions(place.to_numpy(), combined_codes([positions_in(rows["customer_id"], customers),
                                                          positions_in(rows["market"], markets)], widths),
                        widths[0] * widths[1])
    window = window_name_codes(rows["window"])
    kept = (at >= 0) & (window >= 0)
    groups = np.where(kept, at * len(WINDOWS) + window, -1)
    sums = group_sums({"own_units": rows["units"].where(rows["is_own"], 0.0).to_numpy(),
                       "market_units": rows["units"].to_numpy()}, groups, len(frame) * len(WINDOWS))
    out = frame.reset_index(drop=True)
    wide = {f"{measure}_{name}": sums[measure].to_numpy()[k::len(WINDOWS)]
            for measure in ("market_units", "own_units") for k, name in enumerate(WINDOWS)}  # (the pivot's order)
    out = out.assign(**wide)
    out["own_units"] = out["own_units_analysis"]
    out["market_units"] = out["market_units_analysis"]
    return out


def product_units(rows: pd.DataFrame, which: str = "analysis") -> pd.DataFrame:
    """Units per customer x market x product in one window, from :func:`window_sales`."""
    keys = ["customer_id", "market", "product_id", "is_own"]
    rows = rows.loc[rows["window"] == which, [*keys, "units"]]  # the columns read
    return rows.groupby(keys, sort=False)["units"].sum().reset_index()
