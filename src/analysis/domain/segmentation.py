"""Segmentation (DESIGN 4.3): potential x support grid, Pareto VIPs, deciles.

Every function works on a customer x market frame holding many territories at once
and groups by ``territory_id`` and ``market`` (the national pass computes every
territory in one call).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from collections.abc import Mapping
from dataclasses import dataclass

from analysis.contract.schema import SEGMENTABLE_TYPES
from analysis.domain.keys import sort_positions

GROUP = ["territory_id", "market"]
LEVELS_3X3 = ("low", "medium", "high")


@dataclass(frozen=True)
class SegmentScheme:
    """A segmentation grid: its labels (report order), which are priority, and the levels of each.

    Every later table (action list, effort on priority, coaching, figures, explorer) asks the
    scheme of the run, never the letters A-D.
    """

    grid: str
    labels: tuple[str, ...]
    priority: tuple[str, ...]
    levels: Mapping[tuple[str, str], str]  # (potential level, support level) -> label

    def is_priority(self, segments: pd.Series) -> pd.Series:
        """True where the segment is a priority segment of this scheme."""
        return segments.isin(self.priority)


SCHEME_2X2 = SegmentScheme(
    grid="2x2", labels=("A", "B", "C", "D"), priority=("A", "B"),
    levels={("high", "high"): "A", ("high", "low"): "B", ("low", "high"): "C", ("low", "low"): "D"})
SCHEME_3X3 = SegmentScheme(
    grid="3x3",
    labels=tuple(f"{p}/{s}" for p in reversed(LEVELS_3X3) for s in reversed(LEVELS_3X3)),
    priority=tuple(f"high/{s}" for s in reversed(LEVELS_3X3)),
    levels={(p, s): f"{p}/{s}" for p in LEVELS_3X3 for s in LEVELS_3X3})
SCHEMES: dict[str, SegmentScheme] = {SCHEME_2X2.grid: SCHEME_2X2, SCHEME_3X3.grid: SCHEME_3X3}


def scheme_of(params: Mapping) -> SegmentScheme:
    """The segment scheme of a run's (effective) parameters."""
    grid = (params.get("segmentation") or {}).get("grid", "2x2")
    if grid not in SCHEMES:
        raise ValueError(f"unknown segmentation grid {grid!r}; expected one of {', '.join(SCHEMES)}")
    return SCHEMES[grid]


def segmentable(frame: pd.DataFrame) -> pd.Series:
    """Rows of prescribing customer types (the ones the grid segments)."""
    return frame["customer_type"].isin(SEGMENTABLE_TYPES)


def _group_quantile(values: pd.Series, keys: list[pd.Series], q: float) -> pd.Series:
    """Quantile ``q`` of ``values`` per group (missing values ignored), broadcast to rows."""
    return values.groupby(keys).transform("quantile", q)


def cut_points(frame: pd.DataFrame, cut: str = "median", q: float = 0.5,
               potential_cut: float | None = None, support_cut: float | None = None,
               quantiles: tuple[float, ...] | None = None) -> pd.DataFrame:
    """Cut points per row's territory and market, one column per quantile.

    The potential cut is taken over segmentable customers with potential > 0, the
    support cut over those with support present. ``cut`` is ``median``,
    ``quantile`` (with ``q``) or ``absolute`` (with ``potential_cut`` and
    ``support_cut``). Returns columns ``potential_cut`` and ``support_cut`` (or, with
    ``quantiles``, ``potential_cut_<i>`` and ``support_cut_<i>``).
    """
    keys = [frame[k] for k in GROUP]
    seg = segmentable(frame)
    pot = frame["potential"].where(seg & (frame["potential"] > 0))
    sup = frame["support"].where(seg)
    out = pd.DataFrame(index=frame.index)
    if cut == "absolute":
        if potential_cut is None or support_cut is None:
            raise ValueError("segmentation cut 'absolute' needs both 'potential' and 'support' values")
        out["potential_cut"], out["support_cut"] = float(potential_cut), float(support_cut)
        return out
    if cut not in ("median", "quantile"):
        raise ValueError(f"unknown segmentation cut {cut!r}; expected median, quantile or absolute")
    if quantiles is None:
        level = 0.5 if cut == "median" else q
        out["potential_cut"] = _group_quantile(pot, keys, level)
        out["support_cut"] = _group_quantile(sup, keys, level)
    else:
        for i, level in enumerate(quantiles):
            out[f"potential_cut_{i}"] = _group_quantile(pot, keys, level)
            out[f"support_cut_{i}"] = _group_quantile(sup, keys, level)
    return out


def segment(frame: pd.DataFrame, cut: str = "median", q: float = 0.5,
            potential_cut: float | None = None, support_cut: float | None = None,
            grid: str = "2x2") -> pd.DataFrame:
    """Add ``potential_level``, ``support_level``, ``segment`` and the cut points.

    2x2: A (high potential, high support), B (high, low), C (low, high), D (low, low).
    High potential: potential > 0 and >= cut; high support: support present, > 0 and
    >= cut (missing or zero support is always low, even where the cut is 0). 3x3: levels low/medium/high at the tertiles
    (or at ``q`` and the midpoint to 1 for ``quantile``), segment named by the two
    levels, e.g. ``high/low``. Non-segmentable customer types get no segment.
    """
    seg = segmentable(frame)
    pot, sup = frame["potential"], frame["support"]
    if grid == "2x2":
        cuts = cut_points(frame, cut, q, potential_cut, support_cut)
        names = ("low", "high")
        p_rank = ((pot > 0) & (pot >= cuts["potential_cut"])).to_numpy(dtype=np.int8)
        s_rank = ((sup > 0) & (sup >= cuts["support_cut"])).to_numpy(dtype=np.int8)
        out = frame.assign(potential_cut=cuts["potential_cut"], support_cut=cuts["support_cut"])
    elif grid == "3x3":
        if cut == "absolute":
            raise ValueError("the 3x3 grid takes median or quantile cuts, not absolute")
        levels = (1 / 3, 2 / 3) if cut == "median" else (q, (1 + q) / 2)
        cuts = cut_points(frame, cut, q, quantiles=levels)
        names = LEVELS_3X3
        p_rank = ((pot > 0).astype(int) * ((pot >= cuts["potential_cut_0"]).astype(int)
                                           + (pot >= cuts["potential_cut_1"]).astype(int))).to_numpy(dtype=np.int8)
        s_rank = ((sup > 0).astype(int) * ((sup >= cuts["support_cut_0"]).astype(int)
                                           + (sup >= cuts["support_cut_1"]).astype(int))).to_numpy(dtype=np.int8)
        out = frame.assign(potential_cut=cuts["potential_cut_0"], support_cut=cuts["support_cut_0"],
                           potential_cut_1=cuts["potential_cut_1"], support_cut_1=cuts["support_cut_1"])
    else:
        raise ValueError(f"unknown segmentation grid {grid!r}; expected 2x2 or 3x3")
    # the labels by the level codes (text made once per distinct value, not per row)
    scheme = SCHEMES[grid]
    p_level, s_level = _text(p_rank, names, frame.index), _text(s_rank, names, frame.index)
    label = _text(p_rank * len(names) + s_rank, [scheme.levels[p, s] for p in names for s in names], frame.index)
    return out.assign(
        potential_level=p_level.where(seg),
        support_level=s_level.where(seg),
        segment=label.where(seg),
    )


def _text(codes: np.ndarray, names, index: pd.Index) -> pd.Series:
    """The ``names`` at ``codes`` (0 .. len(names) - 1) as a text Series on ``index``:
    ``pd.Series(np.asarray(names)[codes], index=index)``, gathered by Arrow."""
    return pd.Series(pd.array(pa.array(list(names), type=pa.string()).take(pa.array(codes)), dtype="str"),
                     index=index)


def ranking(frame: pd.DataFrame, value: str) -> pd.DataFrame:
    """Segmentable rows ranked by ``value`` (descending, ties by customer_id) within
    territory and market, with the cumulative value, total, rank and count of each: what
    :func:`vip`, :func:`lorenz` and :func:`deciles` read (made once, it can be given to
    each of them for the same ``frame`` and ``value``)."""
    rows = frame.loc[segmentable(frame), [*GROUP, "customer_id", value]].copy()
    rows[value] = rows[value].fillna(0.0).astype(float)
    rows = rows.take(sort_positions([rows[GROUP[0]], rows[GROUP[1]], -rows[value], rows["customer_id"]]))
    grouped = rows.groupby(GROUP, sort=False)  # (its groups made once, for the four)
    rows["cumulative"] = grouped[value].cumsum()
    rows["total"] = grouped[value].transform("sum")
    rows["rank"] = grouped.cumcount() + 1
    rows["count"] = grouped[value].transform("size")
    return rows


def _ranking_of(frame: pd.DataFrame, value: str, ranked: pd.DataFrame | None) -> pd.DataFrame:
    if ranked is None:
        return ranking(frame, value)
    if value not in ranked or len(ranked) != int(segmentable(frame).sum()):
        raise ValueError(f"the ranking given is not of this frame by {value!r}: make it with ranking(frame, {value!r})")
    return ranked


def vip(frame: pd.DataFrame, value: str = "potential", share: float = 0.8,
        ranked: pd.DataFrame | None = None) -> pd.Series:
    """True for the smallest prefix of the ranking whose cumulative value reaches ``share``.

    Ranked by ``value`` descending, ties broken by customer_id; computed per territory
    and market over segmentable customers. A group whose total is zero has no VIPs.
    ``ranked``: :func:`ranking` of ``frame`` by ``value``, when made already.
    """
    rows = _ranking_of(frame, value, ranked)
    before = rows["cumulative"] - rows[value]
    target = share * rows["total"]
    is_vip = (rows["total"] > 0) & (before < target - 1e-9 * rows["total"])
    return is_vip.reindex(frame.index, fill_value=False).rename("vip")


def lorenz(frame: pd.DataFrame, value: str = "potential", ranked: pd.DataFrame | None = None) -> pd.DataFrame:
    """Lorenz (Pareto) curve points per territory and market.

    Columns territory_id, market, customer_id, rank, customer_share (rank / count),
    value_share (cumulative value / total; 0 when the total is zero). ``ranked``: as
    for :func:`vip`.
    """
    rows = _ranking_of(frame, value, ranked)
    total = rows["total"].where(rows["total"] > 0)
    return rows.assign(
        customer_share=rows["rank"] / rows["count"],
        value_share=(rows["cumulative"] / total).fillna(0.0),
    )[[*GROUP, "customer_id", "rank", "customer_share", "value_share"]].reset_index(drop=True)


def deciles(frame: pd.DataFrame, value: str = "potential", ranked: pd.DataFrame | None = None) -> pd.Series:
    """Decile of ``value`` per territory and market: 10 = the top tenth of customers.

    Customers are ranked ascending among segmentable customers with value > 0 (ties by
    customer_id); decile = ceil(10 x rank / count). Zero or missing value: no decile.
    ``ranked``: as for :func:`vip`.
    """
    rows = _ranking_of(frame, value, ranked)
    rows = rows[rows[value] > 0]
    positive = rows.groupby(GROUP, sort=False)[value].transform("size")
    ascending = positive - rows["rank"] + 1
    decile = np.ceil(10 * ascending / positive).astype(int)
    return decile.reindex(frame.index).astype("Int64").rename("decile")


def segment_summary(frame: pd.DataFrame, scheme: SegmentScheme = SCHEME_2X2) -> pd.DataFrame:
    """Customers, potential and own/market units per territory, market and segment.

    ``priority`` says whether the segment is a priority segment of ``scheme``; rows are in
    the scheme's label order.
    """
    rows = frame.loc[frame["segment"].notna(), [*GROUP, "segment", "customer_id", "potential", "own_units",
                                                "market_units"]]  # the columns read: no copy of the rest
    summary = rows.groupby([*GROUP, "segment"], sort=True).agg(
        customers=("customer_id", "nunique"),
        potential=("potential", "sum"),
        own_units=("own_units", "sum"),
        market_units=("market_units", "sum"),
    ).reset_index()
    totals = summary.groupby(GROUP)
    summary["customer_share"] = summary["customers"] / totals["customers"].transform("sum")
    summary["potential_share"] = summary["potential"] / totals["potential"].transform("sum").where(lambda s: s > 0)
    summary["support"] = summary["own_units"] / summary["market_units"].where(summary["market_units"] > 0)
    summary["priority"] = scheme.is_priority(summary["segment"])
    order = {label: i for i, label in enumerate(scheme.labels)}
    summary = summary.assign(_order=summary["segment"].map(order)).sort_values(
        [*GROUP, "_order"], kind="mergesort", ignore_index=True)
    return summary.drop(columns="_order")
