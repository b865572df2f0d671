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

import math

import numpy as np
import pandas as pd

from analysis.domain.keys import combined_codes, factorized, positions_in

GROUP = ["territory_id", "market"]
ALL = "all"
COMPETITOR_COLUMNS = ["territory_id", "market", "segment", "product_id", "product_name", "is_own", "units", "share",
                      "customers_led", "units_previous", "share_previous", "customers_led_previous", "share_change",
                      "customers_led_change"]
WINDOW_SUFFIX = {"analysis": "", "comparison": "_previous"}


def _matches(left: list[np.ndarray], right: list[np.ndarray], widths: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """The left and right row positions of an inner merge on the key codes ``left`` and
    ``right`` (per key column, codes below its width; -1: missing, matching nothing), in the
    merge's order: by position when the right keys are distinct, else by the merge."""
    left_keys, right_keys = combined_codes(left, widths), combined_codes(right, widths)
    if pd.Index(right_keys[right_keys >= 0]).is_unique:
        found = _found(left_keys, right_keys, math.prod(widths))
        rows = np.flatnonzero(found >= 0)
        return rows, found[rows]
    pairs = pd.DataFrame({"key": left_keys, "_left": np.arange(len(left_keys))})[left_keys >= 0].merge(
        pd.DataFrame({"key": right_keys, "_right": np.arange(len(right_keys))})[right_keys >= 0], on="key")
    return pairs["_left"].to_numpy(), pairs["_right"].to_numpy()


def _found(keys: np.ndarray, distinct: np.ndarray, width: int) -> np.ndarray:
    """The position of each of ``keys`` (codes below ``width``; -1: missing) among the
    ``distinct`` codes (a missing one matching nothing; -1 where absent)."""
    listed = np.flatnonzero(distinct >= 0)
    if width > 8 * len(distinct) + 1024:  # a sparse code space: hashed
        found = pd.Index(distinct[listed]).get_indexer(keys)
        return np.where(found >= 0, listed[found] if len(listed) else -1, -1)
    position = np.full(width + 1, -1, dtype=np.intp)  # (the last: the missing key -1)
    position[distinct[listed]] = listed
    return position[keys]


def _missing_coded(codes: np.ndarray, distinct: pd.Index) -> np.ndarray:
    """``codes`` with a missing value (-1) coded as one more distinct value."""
    return np.where(codes < 0, len(distinct), codes)


def _with_missing(distinct: pd.Index, codes: np.ndarray) -> pd.Index:
    """The ``distinct`` values of ``codes``, then the missing value when one is missing."""
    return distinct.append(pd.Index([None], dtype=distinct.dtype)) if (codes < 0).any() else distinct


def _ranks(distinct: pd.Index) -> np.ndarray:
    """The rank of each distinct label in label order (text order)."""
    rank = np.empty(len(distinct), dtype=np.intp)
    rank[np.argsort(np.asarray(distinct, dtype=object), kind="stable")] = np.arange(len(distinct))
    return rank


def _first_of_each(key: np.ndarray) -> np.ndarray:
    """The positions of the first row of each distinct ``key``, in order of appearance."""
    _, first = np.unique(key, return_index=True)
    return np.sort(first)


def _first_best(group: np.ndarray, value: np.ndarray, tie_break: np.ndarray) -> np.ndarray:
    """The position of the row of each group with the largest ``value``, ties: the largest
    ``tie_break``, then the first; in the order of the rows."""
    best = np.flatnonzero(value == pd.Series(value).groupby(group).transform("max").to_numpy())
    score = tie_break[best]
    best = best[score == pd.Series(score).groupby(group[best]).transform("max").to_numpy()]
    return best[~pd.Series(group[best]).duplicated().to_numpy()]


def _group_sums(values: np.ndarray, key: np.ndarray) -> pd.Series:
    """The sum of ``values`` per ``key`` (pandas' float sum, rows in order), indexed by key."""
    return pd.Series(values).groupby(key, sort=False).sum()


class _Scoped:
    """The sales rows of the segmented customer x market rows, as codes.

    ``cell``: the segmented row (territory, market, segment, customer) of each sales row;
    ``window`` (0 analysis, 1 comparison), ``product`` and ``own`` per sales row;
    ``territory``, ``market``, ``segment``, ``customer`` per cell; the distinct labels of each.
    """

    def __init__(self, sales: pd.DataFrame, seg: pd.DataFrame):
        window = positions_in(sales["window"], pd.Index(list(WINDOW_SUFFIX))).astype(np.int8)
        t, self.territories = factorized(seg["territory_id"])
        m, self.markets = factorized(seg["market"])
        s, self.segments = factorized(seg["segment"].astype(str))
        c, customers = factorized(seg["customer_id"])
        # a missing customer or market matches a missing one (as the merge); only the leaders drop it
        sold = [positions_in(sales["customer_id"], _with_missing(customers, c)),
                positions_in(sales["market"], _with_missing(self.markets, m))]
        taken, at = _matches(sold, [_missing_coded(c, customers), _missing_coded(m, self.markets)],
                             [len(customers) + 1, len(self.markets) + 1])
        cells = combined_codes([t, m, s, _missing_coded(c, customers)], [
            max(len(x), 1) for x in (self.territories, self.markets, self.segments)] + [len(customers) + 1])
        self.scope_of = [_missing_coded(t, self.territories), _missing_coded(m, self.markets), s]  # per seg row
        cell_of, distinct = pd.factorize(cells)
        one = np.empty(len(distinct), dtype=np.intp)
        one[cell_of] = np.arange(len(cell_of))  # a seg row of each cell (all alike)
        self.territory, self.market, self.segment, self.customer = t[one], m[one], s[one], c[one]
        product, self.products = factorized(sales["product_id"])
        kept = (window[taken] >= 0) & (cells[at] >= 0) & (product[taken] >= 0)  # (grouping drops missing keys)
        taken, at = taken[kept], at[kept]
        self.cell = cell_of[at].astype(np.int32 if len(distinct) < 2**31 else np.int64)
        self.product = product[taken].astype(np.int32)
        self.window = window[taken]
        self.own = sales["is_own"].to_numpy()[taken].astype(bool)
        self.units = sales["units"].to_numpy()[taken]

    def first_of_scopes(self, by_segment: bool) -> np.ndarray:
        """The position of the first segmented row of each territory x market (x segment:
        ``by_segment``), in order of appearance (``drop_duplicates``)."""
        codes = self.scope_of if by_segment else self.scope_of[:2]
        return _first_of_each(combined_codes(codes, [len(self.territories) + 1, len(self.markets) + 1,
                                                     len(self.segments) + 1]))

    def widths(self) -> list[int]:
        """The widths of the scope key's codes: territory, market, segment (and all), window, product."""
        return [max(len(self.territories), 1), max(len(self.markets), 1), len(self.segments) + 1,
                len(WINDOW_SUFFIX), max(len(self.products), 1)]

    def scope_keys(self, cell: np.ndarray, window: np.ndarray, product: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The scope key of rows (by segment, and as the all scope)."""
        by_segment = [self.territory[cell], self.market[cell], self.segment[cell], window, product]
        whole = [*by_segment[:2], np.full(len(cell), len(self.segments)), *by_segment[3:]]
        return combined_codes(by_segment, self.widths()), combined_codes(whole, self.widths())

    def leaders(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """cell, window and product of the leading product per customer x market x window
        (most units; ties: own, then smallest product id)."""
        width = 2 * max(len(self.products), 1)
        group = (self.cell * len(WINDOW_SUFFIX) + self.window) * width + self.product * 2 + self.own
        sums = _group_sums(self.units, group)
        key = sums.index.to_numpy()
        led = (sums.to_numpy() > 0) & (self.customer[key // (len(WINDOW_SUFFIX) * width)] >= 0)  # (a customer)
        sums, key = sums[led], key[led]
        cell, rest = np.divmod(key, len(WINDOW_SUFFIX) * width)
        window, rest = np.divmod(rest, width)
        product, own = np.divmod(rest, 2)
        market = combined_codes([self.customer[cell], self.market[cell], window],
                                [max(len(self.customer), 1), max(len(self.markets), 1), len(WINDOW_SUFFIX)])
        score = own * len(self.products) + (len(self.products) - 1 - _ranks(self.products)[product])
        lead = _first_best(market, sums.to_numpy(), score)
        return cell[lead], window[lead], product[lead]

    def grid_keys(self, grid: pd.DataFrame, window: int) -> np.ndarray:
        """The scope key of each grid row (territory, market, segment, product) in ``window``."""
        segment = positions_in(grid["segment"], self.segments)
        segment = np.where(grid["segment"].to_numpy() == ALL, len(self.segments), segment)
        codes = [positions_in(grid["territory_id"], self.territories), positions_in(grid["market"], self.markets),
                 segment, np.full(len(grid), window), positions_in(grid["product_id"], self.products)]
        return combined_codes(codes, self.widths())


def _by_scope(values: np.ndarray, keys: tuple[np.ndarray, np.ndarray], count: bool) -> pd.Series:
    """Per scope key (each row counted in its segment and in the all scope): the sum of
    ``values`` in row order, or the count of rows (``count``)."""
    parts = [pd.Series(np.ones(len(k), dtype=np.int64) if count else values).groupby(k, sort=False).sum()
             for k in keys]
    return pd.concat(parts)


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
    scoped = _Scoped(sales, seg)
    units = _by_scope(scoped.units, scoped.scope_keys(scoped.cell, scoped.window, scoped.product), count=False)
    led = _by_scope(None, scoped.scope_keys(*scoped.leaders()), count=True)
    scopes = seg.iloc[scoped.first_of_scopes(True)]
    scopes = pd.concat([seg[GROUP].iloc[scoped.first_of_scopes(False)].assign(segment=ALL),
                        scopes.assign(segment=scopes["segment"].astype(str))[[*GROUP, "segment"]]], ignore_index=True)
    market_products = products[["product_id", "product_name", "market", "is_own"]].assign(
        is_own=lambda p: p["is_own"].astype(bool))
    grid = scopes.merge(market_products, on="market", how="inner")
    out = grid
    for window, suffix in WINDOW_SUFFIX.items():
        index = scoped.grid_keys(grid, list(WINDOW_SUFFIX).index(window))
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
