"""The national pass: every analysis for every territory and market in one vectorised call.

Territories that share their effective parameters are computed together (groupby, not
a loop over territories); a territory with its own overrides forms its own group. Each
returned table holds a ``territory_id`` column, so a territory's report reads its slice.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace

import pandas as pd

from analysis.contract import params as parameters
from analysis.contract import privacy
from analysis.domain.actions import action_list
from analysis.domain.channels import activity_facts, channel_phase, fit_matrix, next_best_channel
from analysis.domain.coaching import coaching_table, roi_by, unit_margins
from analysis.contract.schema import CHANNELS
from analysis.contract.dataset import Dataset
from analysis.domain.maintenance import maintenance_list
from analysis.domain.market import customer_markets, product_units, units_by_window, units_wide, window_sales
from analysis.domain.periods import WINDOWS, Window, make_window, window_codes
from analysis.domain.phases import derive_phases, migration, migration_rates, phase_change, phases_from_table, responses_by_window
from analysis.domain.potential import potential
from analysis.domain.profile import completeness
from analysis.domain.quality import data_quality
from analysis.domain.segmentation import deciles, lorenz, segment, segment_summary, vip
from analysis.domain.support import support
from analysis.domain.three_c import attach_competitor_position, attach_effort, competitor_position, customer_effort, flags, three_c_matrix


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


def customer_table(ds: Dataset, sales: pd.DataFrame, window: Window, params: Mapping) -> pd.DataFrame:
    """One row per customer x market: units, potential, support, segment, VIP, decile."""
    markets = selected_markets(ds, params)
    frame = customer_markets(ds.customers, markets)
    customer_cols = [c for c in ("beds", "bed_turnover_per_month", "indication_share",
                                 "catchment_population", "incidence_rate") if c in ds.customers]
    frame = frame.merge(ds.customers[["customer_id", *customer_cols]], on="customer_id", how="left")
    if "boxes_per_patient" in ds.markets:
        frame = frame.merge(ds.markets[["market", "boxes_per_patient"]], on="market", how="left")
    units = units_by_window(sales)
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


def analysis_activities(activities: pd.DataFrame, window: Window) -> pd.DataFrame:
    """The activities dated inside the analysis window."""
    return activities[window_codes(activities["date"], window) == WINDOWS.index("analysis")]


def customer_phases(ds: Dataset, sales: pd.DataFrame, frame: pd.DataFrame, window: Window,
                    params: Mapping) -> pd.DataFrame:
    """Phases, competitor position, effort and the 3C flags on the customer frame."""
    frame = derive_phases(frame, responses_by_window(ds.activities, window), **params["phases"])
    frame = phases_from_table(frame, ds.phases, window)
    positions = competitor_position(product_units(sales, "analysis"),
                                    dominant=params["competitor_dominant"])
    frame = attach_competitor_position(frame, positions)
    frame = attach_effort(frame, customer_effort(ds.activities, window))
    return flags(frame)


def cost_weighted(table: pd.DataFrame, share: str, keys, weight: str = "cost") -> pd.Series:
    """Cost-weighted mean of ``share`` per group of ``keys`` (NaN shares carry no weight)."""
    valid = table[share].notna() & (table[weight] > 0)
    num = (table[share] * table[weight]).where(valid, 0.0).groupby(keys).sum()
    den = table[weight].where(valid, 0.0).groupby(keys).sum()
    return num / den.where(den > 0)


def headline(ds: Dataset, frame: pd.DataFrame, coaching: pd.DataFrame, roi_segment: pd.DataFrame,
             maintenance: pd.DataFrame, window: Window) -> pd.DataFrame:
    """Headline KPIs per territory (segmentable customers, all analysed markets)."""
    seg = frame[frame["segment"].notna()]
    by_territory = seg.groupby("territory_id")
    out = by_territory.agg(
        customers=("customer_id", "nunique"),
        potential=("potential", "sum"),
        own_units=("own_units_analysis", "sum"),
        own_units_previous=("own_units_comparison", "sum"),
        market_units=("market_units_analysis", "sum"),
        market_units_previous=("market_units_comparison", "sum"),
    )
    distinct = lambda rows: rows.groupby("territory_id")["customer_id"].nunique().reindex(out.index, fill_value=0)
    out["vip_customers"] = distinct(seg[seg["vip"]])
    out["vip_share"] = out["vip_customers"] / out["customers"]
    out["customers_covered"] = distinct(seg[seg["activities"] > 0])
    out["coverage"] = out["customers_covered"] / out["customers"]
    out["support"] = support(out["own_units"], out["market_units"])
    out["support_previous"] = support(out["own_units_previous"], out["market_units_previous"])
    moved = seg.assign(change=phase_change(seg))
    out["progressions"] = distinct(moved[moved["change"] > 0])
    out["slipping"] = distinct(moved[moved["change"] < 0])
    out["competitor_locked"] = distinct(seg[seg["competitor_locked"]])
    out["stalled"] = distinct(seg[seg["stalled"]])
    for share in ("effort_on_priority", "mismatched_effort", "over_service"):
        out[share] = cost_weighted(coaching, share, coaching["territory_id"]).reindex(out.index)
    totals = roi_segment.groupby("territory_id")[["cost", "margin_change"]].sum().reindex(out.index)
    out["cost"] = totals["cost"].fillna(0.0)
    out["roi"] = totals["margin_change"] / totals["cost"].where(totals["cost"] > 0)
    out["maintenance_overdue"] = maintenance[maintenance["overdue"]].groupby("territory_id").size().reindex(
        out.index, fill_value=0)
    territories = ds.territories[["territory_id", "territory_name", "region"]]
    return territories.merge(out.reset_index(), on="territory_id", how="left").assign(
        period_end=window.period_end, period_months=window.months,
        analysis_period=window.label("analysis"), comparison_period=window.label("comparison"))


def analyse(ds: Dataset, params: Mapping) -> dict[str, pd.DataFrame]:
    """Every table for the territories of ``ds``, all sharing ``params``."""
    window = make_window(ds.sales["period"], params.get("period_end"), params.get("period_months", 3))
    sales = window_sales(ds.sales, ds.products, window)
    frame = customer_table(ds, sales, window, params)
    frame = frame.merge(ds.territories[["territory_id", "region"]], on="territory_id", how="left")
    frame = customer_phases(ds, sales, frame, window, params)

    fit = fit_matrix(params.get("fit_matrix") or None, channels=(*CHANNELS, *params.get("extra_channels", ())))
    in_window = analysis_activities(ds.activities, window)
    facts = activity_facts(in_window, frame, fit)
    frame = next_best_channel(frame, facts, fit, min_customers=params["next_best_min_customers"])

    margins = unit_margins(ds.products)
    profile = completeness(ds.customers, params["profile_fields"])
    coaching = coaching_table(ds.reps, ds.customers, frame, facts, profile, margins.margin, params["norms"])
    roi_segment = roi_by(frame, facts, "segment", margins.margin)
    as_of = window.end_date("analysis") - pd.Timedelta(days=1)
    maintenance = maintenance_list(ds.customers, frame, ds.activities, as_of, params["cadence"])
    value = "own_units" if params.get("vip_by") == "own_units" else "potential"
    kpis = headline(ds, frame, coaching, roi_segment, maintenance, window).assign(
        roi_units_only=margins.defaulted, has_activities=ds.has_activities and not ds.activities.empty,
        has_comparison=bool((sales["window"] == "comparison").any()))
    return {
        "customers": frame,
        "kpis": kpis,
        "actions": action_list(frame, ds.customers),
        "quality": data_quality(frame, ds.customers, in_window, profile,
                                params["norms"]["profile_completeness"]),
        "segments": segment_summary(frame),
        "lorenz": lorenz(frame, value),
        "three_c": three_c_matrix(frame),
        "migration": migration_rates(migration(frame)),
        "channel_phase": channel_phase(facts, fit),
        "coaching": coaching,
        "roi_segment": roi_segment,
        "roi_channel": roi_by(frame, facts, "channel", margins.margin),
        "maintenance": maintenance,
    }


#: How each KPI rolls up: summed, recomputed as a ratio of sums, or cost-weighted.
SUMMED = ("customers", "potential", "own_units", "own_units_previous", "market_units", "market_units_previous",
          "vip_customers", "customers_covered", "progressions", "slipping", "competitor_locked", "stalled",
          "cost", "maintenance_overdue")
RATIOS = {"vip_share": ("vip_customers", "customers"), "coverage": ("customers_covered", "customers"),
          "support": ("own_units", "market_units"), "support_previous": ("own_units_previous", "market_units_previous")}
COST_WEIGHTED = ("effort_on_priority", "mismatched_effort", "over_service", "roi")


def rollup(kpis: pd.DataFrame, by: str | None = "region") -> pd.DataFrame:
    """KPIs of groups of territories (``by`` a column, or None for the whole country)."""
    keys = kpis[by] if by else pd.Series("all", index=kpis.index, name="scope")
    out = kpis[list(SUMMED)].groupby(keys).sum(min_count=1)
    for name, (num, den) in RATIOS.items():
        out[name] = out[num] / out[den].where(out[den] > 0)
    for name in COST_WEIGHTED:
        out[name] = cost_weighted(kpis, name, keys)
    out["territories"] = keys.groupby(keys).size()
    return out.reset_index()


def national_pass(ds: Dataset, profile: Mapping) -> dict[str, pd.DataFrame]:
    """All tables for every selected territory, grouped by identical parameters."""
    territory_ids = selected_territories(ds, profile)
    ds = replace(ds, customers=privacy.apply(ds.customers, profile))
    everyone = len(territory_ids) == len(ds.territories)
    results = [analyse(ds if everyone and len(ids) == len(territory_ids) else ds.subset(ids), eff)
               for eff, ids in parameter_groups(territory_ids, profile)]
    names = results[0].keys() if results else []
    tables = {name: pd.concat([r[name] for r in results], ignore_index=True) for name in names}
    if tables:
        tables["regions"] = rollup(tables["kpis"], "region")
        tables["nation"] = rollup(tables["kpis"], None)
    return tables
