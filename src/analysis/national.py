"""The national pass: every analysis for every territory and market in one vectorised call.

Territories that share their effective parameters are computed together (groupby, not
a loop over territories); a territory with its own overrides forms its own group. Each
returned table holds a ``territory_id`` column, so a territory's report reads its slice.
"""
from __future__ import annotations

import json
from collections.abc import Mapping

import pandas as pd

from . import params as parameters
from .data import Dataset
from .market import customer_markets, units_by_window, units_wide
from .periods import Window, make_window
from .potential import potential
from .segmentation import deciles, lorenz, segment, segment_summary, vip
from .support import support


def selected_territories(ds: Dataset, profile: Mapping) -> list[str]:
    """The territory ids the profile asks for (``all`` or a list), in table order."""
    wanted = profile.get("territories", "all")
    ids = ds.territories["territory_id"].tolist()
    return ids if wanted in (None, "all") else [t for t in ids if t in set(map(str, wanted))]


def selected_markets(ds: Dataset, params: Mapping) -> list[str]:
    wanted = params.get("markets", "all")
    markets = ds.markets["market"].tolist()
    return markets if wanted in (None, "all") else [m for m in markets if m in set(map(str, wanted))]


def parameter_groups(territory_ids: list[str], profile: Mapping) -> list[tuple[dict, list[str]]]:
    """Territories grouped by identical effective parameters."""
    groups: dict[str, tuple[dict, list[str]]] = {}
    for tid in territory_ids:
        eff = parameters.effective(profile, tid)
        key = json.dumps({k: v for k, v in eff.items() if k != "territories"}, sort_keys=True, default=str)
        groups.setdefault(key, (eff, []))[1].append(tid)
    return list(groups.values())


def subset(ds: Dataset, territory_ids: list[str]) -> Dataset:
    """The dataset restricted to some territories (their reps, customers, sales, activities)."""
    ids = set(territory_ids)
    customers = ds.customers[ds.customers["territory_id"].isin(ids)]
    keep = set(customers["customer_id"])
    return Dataset(
        territories=ds.territories[ds.territories["territory_id"].isin(ids)],
        reps=ds.reps[ds.reps["territory_id"].isin(ids)],
        customers=customers, products=ds.products, markets=ds.markets,
        sales=ds.sales[ds.sales["customer_id"].isin(keep)],
        activities=ds.activities[ds.activities["customer_id"].isin(keep)],
        phases=None if ds.phases is None else ds.phases[ds.phases["customer_id"].isin(keep)],
        source=ds.source, files=ds.files,
    )


def customer_table(ds: Dataset, window: Window, params: Mapping) -> pd.DataFrame:
    """One row per customer x market: units, potential, support, segment, VIP, decile."""
    markets = selected_markets(ds, params)
    frame = customer_markets(ds.customers, markets)
    customer_cols = [c for c in ("beds", "bed_turnover_per_month", "indication_share",
                                 "catchment_population", "incidence_rate") if c in ds.customers]
    frame = frame.merge(ds.customers[["customer_id", *customer_cols]], on="customer_id", how="left")
    if "boxes_per_patient" in ds.markets:
        frame = frame.merge(ds.markets[["market", "boxes_per_patient"]], on="market", how="left")
    units = units_by_window(ds.sales, ds.products, window)
    frame = units_wide(units, frame)
    pot = params["potential"]
    frame = potential(frame, window.months, pot["default"], pot.get("by_market"), pot.get("by_customer_type"))
    frame["support"] = support(frame["own_units"], frame["market_units"])
    seg = params["segmentation"]
    frame = segment(frame, cut=seg["cut"], q=seg.get("q", 0.5), potential_cut=seg.get("potential"),
                    support_cut=seg.get("support"), grid=seg.get("grid", "2x2"))
    value = "own_units" if params.get("vip_by") == "own_units" else "potential"
    frame["vip"] = vip(frame, value=value, share=params["vip_share"])
    frame["decile"] = deciles(frame, "potential")
    return frame.drop(columns=customer_cols + [c for c in ("boxes_per_patient",) if c in frame])


def headline(frame: pd.DataFrame, ds: Dataset) -> pd.DataFrame:
    """Headline KPIs per territory (segmentable customers, all analysed markets)."""
    seg = frame[frame["segment"].notna()]
    per_territory = seg.groupby("territory_id").agg(
        customers=("customer_id", "nunique"),
        potential=("potential", "sum"),
        own_units=("own_units_analysis", "sum"),
        own_units_previous=("own_units_comparison", "sum"),
        market_units=("market_units_analysis", "sum"),
        market_units_previous=("market_units_comparison", "sum"),
    )
    vip_customers = seg[seg["vip"]].groupby("territory_id")["customer_id"].nunique()
    per_territory["vip_customers"] = vip_customers.reindex(per_territory.index, fill_value=0)
    per_territory["vip_share"] = per_territory["vip_customers"] / per_territory["customers"]
    per_territory["support"] = support(per_territory["own_units"], per_territory["market_units"])
    per_territory["support_previous"] = support(per_territory["own_units_previous"], per_territory["market_units_previous"])
    territories = ds.territories[["territory_id", "territory_name", "region"]]
    return territories.merge(per_territory.reset_index(), on="territory_id", how="left")


def analyse(ds: Dataset, params: Mapping) -> dict[str, pd.DataFrame]:
    """Every table for the territories of ``ds``, all sharing ``params``."""
    window = make_window(ds.sales["period"], params.get("period_end"), params.get("period_months", 3))
    frame = customer_table(ds, window, params)
    tables = {
        "customers": frame,
        "segments": segment_summary(frame),
        "lorenz": lorenz(frame, "own_units" if params.get("vip_by") == "own_units" else "potential"),
        "kpis": headline(frame, ds),
    }
    tables["kpis"] = tables["kpis"].assign(period_end=window.period_end, period_months=window.months,
                                           analysis_period=window.label("analysis"),
                                           comparison_period=window.label("comparison"))
    return tables


def national_pass(ds: Dataset, profile: Mapping) -> dict[str, pd.DataFrame]:
    """All tables for every selected territory, grouped by identical parameters."""
    territory_ids = selected_territories(ds, profile)
    results = [analyse(subset(ds, ids), eff) for eff, ids in parameter_groups(territory_ids, profile)]
    names = results[0].keys() if results else []
    return {name: pd.concat([r[name] for r in results], ignore_index=True) for name in names}
