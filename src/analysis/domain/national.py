"""The national pass: every analysis for every territory and market in one vectorised call.

Territories that share their effective parameters are computed together (groupby, not
a loop over territories); a territory with its own overrides forms its own group. Each
returned table holds a ``territory_id`` column, so a territory's report reads its slice.
"""
from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.contract import params as parameters
from analysis.contract.dataset import Dataset
from analysis.contract.reduction import Summaries
from analysis.contract.schema import CHANNELS
from analysis.domain.actions import action_list
from analysis.domain.call_plan import call_plan
from analysis.domain.channels import (GROUP, KEY_COLUMNS, PASS_FACT_COLUMNS, ActivityCustomers, activity_customers,
                                      activity_rows, cell_stats, channel_phase, channel_summary, effort_shares,
                                      facts_of, fit_matrix, next_best_channel, rate_cells, summed_cells)
from analysis.domain.coaching import coaching_table, roi_tables, unit_margins
from analysis.domain.coaching import flag_counts as coaching_flag_counts
from analysis.domain.competitors import competitor_shares
from analysis.domain.drilldowns import flag_customers, profile_gaps
from analysis.domain.forecast import phase_forecast
from analysis.domain.forking import Reading, side_by_side
from analysis.domain.keys import left_join
from analysis.domain.maintenance import maintenance_list
from analysis.domain.market import customer_markets, frame_units, window_sales, with_products
from analysis.domain.periods import WINDOWS, Window, make_window, window_codes
from analysis.domain.phases import (derive_phases, ladder, migration, migration_rates, phase_change,
                                    phases_from_table, responses_by_window)
from analysis.domain.potential import potential
from analysis.domain.profile import completeness
from analysis.domain.quality import data_quality
from analysis.domain.segmentation import (SegmentScheme, deciles, lorenz, ranking, scheme_of, segment,
                                         segment_summary, vip)
from analysis.domain.support import support
from analysis.domain.targeting import decile_targeting
from analysis.domain.three_c import (attach_competitor_position, attach_effort, competitor_position, customer_effort,
                                     effort_of_codes, flag_counts, flags, three_c_matrix)
from analysis.domain.trend import monthly_activity, monthly_trend

#: Data-shape caveats (codes; the report's text module says what each means).
CAVEATS = ("no_comparison", "no_activities", "no_profile_fields", "roi_units_only")


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
    overrides = profile.get("overrides") or {}
    shared = None  # the effective parameters of every territory without overrides: made once

    def keyed(eff: dict) -> tuple[dict, str]:
        return eff, json.dumps({k: v for k, v in eff.items() if k != "territories"}, sort_keys=True, default=str)

    for tid in territory_ids:
        if tid in overrides:
            eff, key = keyed(parameters.effective(profile, tid))
        else:
            shared = shared or keyed(parameters.effective(profile))
            eff, key = shared
        groups.setdefault(key, (eff, []))[1].append(tid)
    return list(groups.values())


def customer_table(ds: Dataset, sales: pd.DataFrame, window: Window, params: Mapping,
                   base: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per customer x market: units, potential, support, segment, VIP, decile
    (``base``: the frame's rows, :func:`customer_markets` of the selected markets, when made)."""
    frame = customer_markets(ds.customers, selected_markets(ds, params)) if base is None else base
    customer_cols = [c for c in ("beds", "bed_turnover_per_month", "indication_share",
                                 "catchment_population", "incidence_rate") if c in ds.customers]
    frame = left_join(frame, ds.customers[["customer_id", *customer_cols]], ["customer_id"])
    if "boxes_per_patient" in ds.markets:
        frame = left_join(frame, ds.markets[["market", "boxes_per_patient"]], ["market"])
    frame = frame_units(sales, frame)
    pot = params["potential"]
    frame = potential(frame, window.months, pot["default"], pot.get("by_market"), pot.get("by_customer_type"))
    frame["support"] = support(frame["own_units"], frame["market_units"])
    seg = params["segmentation"]
    frame = segment(frame, cut=seg["cut"], q=seg.get("q", 0.5), potential_cut=seg.get("potential"),
                    support_cut=seg.get("support"), grid=seg.get("grid", "2x2"))
    value = "own_units" if params.get("vip_by") == "own_units" else "potential"
    by_potential = ranking(frame, "potential")  # (one ranking for both when VIPs are by potential)
    frame["vip"] = vip(frame, value=value, share=params["vip_share"],
                       ranked=by_potential if value == "potential" else None)
    frame["decile"] = deciles(frame, "potential", ranked=by_potential)
    return frame.drop(columns=customer_cols + [c for c in ("boxes_per_patient",) if c in frame])


def analysis_activities(activities: pd.DataFrame, window: Window) -> pd.DataFrame:
    """The activities dated inside the analysis window (``activities`` itself when all
    are, as out of core: no copy)."""
    inside = window_codes(activities["date"], window) == WINDOWS.index("analysis")
    return activities if inside.all() else activities[inside]


@dataclass(frozen=True)
class PhaseInputs:
    """What the customers' phases read besides the customer frame:
    response counts per window, competitor positions, and our effort per customer."""

    responses: pd.DataFrame
    positions: pd.DataFrame
    effort: pd.DataFrame


def phase_input_tasks(ds: Dataset, sales: pd.DataFrame, window: Window, params: Mapping,
                      in_window: pd.DataFrame | None = None,
                      looked_up: Callable[[], ActivityCustomers] | None = None
                      ) -> dict[str, Callable[[], pd.DataFrame]]:
    """The :class:`PhaseInputs` of ``ds`` (``sales``: its window sales with products), each
    field as a function making it (so that they can be made apart: see :func:`prepare`;
    ``in_window``: the analysis window's activities, and ``looked_up`` a function giving
    their :func:`activity_customers` in the customer frame, which the effort then reads
    instead of looking the activities' customers up again; both or neither)."""

    def effort() -> pd.DataFrame:
        if in_window is not None and looked_up is not None:
            found = looked_up()
            made = effort_of_codes(in_window, found.codes, found.ids)
            if made is not None:
                return made
        return customer_effort(ds.activities, window)

    # the analysis window's rows as they are: competitor_position sums them per product itself
    return {"responses": lambda: responses_by_window(ds.summaries.contacts, window),
            "positions": lambda: competitor_position(sales.loc[(sales["window"] == "analysis").to_numpy()],
                                                     dominant=params["competitor_dominant"]),
            "effort": effort}


def customer_phases(ds: Dataset, frame: pd.DataFrame, inputs: PhaseInputs, window: Window,
                    params: Mapping, shape: DataShape) -> pd.DataFrame:
    """Phases, competitor position, effort and the 3C flags on the customer frame."""
    frame = derive_phases(frame, inputs.responses, **params["phases"],
                          has_activities=shape.has_activities, has_comparison=shape.has_comparison)
    frame = phases_from_table(frame, ds.phases, window)
    frame = attach_competitor_position(frame, inputs.positions)
    frame = attach_effort(frame, inputs.effort)
    if not shape.has_activities:  # no activity data: our effort is unknown, not zero
        frame = frame.assign(activities=np.nan, effort_cost=np.nan)
    return flags(frame)


@dataclass(frozen=True)
class DataShape:
    """What the data can show (DESIGN 4.4): without them, numbers are missing, never 0."""

    has_activities: bool
    has_comparison: bool

    def caveats(self, profile_fields: bool, roi_units_only: bool) -> str:
        """The caveat codes that hold, ";"-joined in :data:`CAVEATS` order."""
        holds = {"no_comparison": not self.has_comparison, "no_activities": not self.has_activities,
                 "no_profile_fields": not profile_fields, "roi_units_only": roi_units_only and self.has_activities}
        return ";".join(code for code in CAVEATS if holds[code])


def _distinct(rows: pd.DataFrame, index: pd.Index) -> pd.Series:
    """Distinct customers of ``rows`` per territory, 0 for territories without any."""
    return rows.groupby("territory_id")["customer_id"].nunique().reindex(index, fill_value=0)


def headline(ds: Dataset, frame: pd.DataFrame, facts: pd.DataFrame, roi_rep: pd.DataFrame,
             maintenance: pd.DataFrame, window: Window, shape: DataShape,
             scheme: SegmentScheme) -> pd.DataFrame:
    """Headline KPIs per territory (segmentable customers, all analysed markets).

    Everything that rests on a missing comparison period or on missing activities is
    NaN; the territory's effort shares are computed from its activities in one step
    (the same function as each rep's), its ROI from the attributed changes. A territory
    without customers has counts and totals of 0 (a true zero) and no shares.
    """
    read = ["territory_id", "customer_id", "potential", "own_units_analysis", "own_units_comparison",
            "market_units_analysis", "market_units_comparison", "vip", "activities", "phase", "phase_previous",
            "competitor_locked", "stalled"]
    seg = frame.loc[frame["segment"].notna(), read]  # the columns read: no copy of the rest
    by_territory = seg.groupby("territory_id")
    out = by_territory.agg(
        customers=("customer_id", "nunique"),
        potential=("potential", "sum"),
        own_units=("own_units_analysis", "sum"),
        own_units_previous=("own_units_comparison", "sum"),
        market_units=("market_units_analysis", "sum"),
        market_units_previous=("market_units_comparison", "sum"),
    ).reindex(pd.Index(ds.territories["territory_id"], name="territory_id"))
    out = out.fillna({"customers": 0, "potential": 0.0, "own_units": 0.0, "own_units_previous": 0.0,
                      "market_units": 0.0, "market_units_previous": 0.0})
    out["vip_customers"] = _distinct(seg[seg["vip"]], out.index)
    out["vip_share"] = out["vip_customers"] / out["customers"].where(out["customers"] > 0)
    out["customers_covered"] = _distinct(seg[seg["activities"] > 0], out.index)
    out["coverage"] = out["customers_covered"] / out["customers"].where(out["customers"] > 0)
    out["support"] = support(out["own_units"], out["market_units"])
    out["support_previous"] = support(out["own_units_previous"], out["market_units_previous"])
    moved = seg.assign(change=phase_change(seg))
    out["progressions"] = _distinct(moved[moved["change"] > 0], out.index)
    out["slipping"] = _distinct(moved[moved["change"] < 0], out.index)
    out["competitor_locked"] = _distinct(seg[seg["competitor_locked"].fillna(False).astype(bool)], out.index)
    out["stalled"] = _distinct(seg[seg["stalled"].fillna(False).astype(bool)], out.index)
    effort = effort_shares(facts, ["territory_id"], scheme.priority).set_index("territory_id")
    for share in ("effort_on_priority", "mismatched_effort", "over_service"):
        out[share] = effort[share].reindex(out.index)
    out["cost"] = effort["cost"].reindex(out.index).fillna(0.0)
    totals = roi_rep.groupby("territory_id")[["own_units_change", "margin_change"]].sum(min_count=1)
    out["own_units_change"] = totals["own_units_change"].reindex(out.index).fillna(0.0)
    out["margin_change"] = totals["margin_change"].reindex(out.index).fillna(0.0)
    out["roi"] = out["margin_change"] / out["cost"].where(out["cost"] > 0)
    out["maintenance_overdue"] = maintenance[maintenance["overdue"].fillna(False).astype(bool)].groupby(
        "territory_id").size().reindex(out.index, fill_value=0)
    if not shape.has_comparison:
        out[["own_units_previous", "market_units_previous", "support_previous", "progressions", "slipping",
             "competitor_locked", "stalled", "own_units_change", "margin_change", "roi"]] = np.nan
    if not shape.has_activities:
        out[["customers_covered", "coverage", "effort_on_priority", "mismatched_effort", "over_service", "cost",
             "own_units_change", "margin_change", "roi", "stalled", "maintenance_overdue"]] = np.nan
    territories = ds.territories[["territory_id", "territory_name", "region"]]
    return territories.merge(out.reset_index(), on="territory_id", how="left").assign(
        period_end=window.period_end, period_months=window.months,
        analysis_period=window.label("analysis"), comparison_period=window.label("comparison"),
        has_activities=shape.has_activities, has_comparison=shape.has_comparison)


@dataclass
class Prepared:
    """The first stage of one parameter group: customers with phases, and activity facts."""

    ds: Dataset
    params: dict
    window: Window
    sales: pd.DataFrame
    frame: pd.DataFrame
    facts: pd.DataFrame
    fit: pd.DataFrame
    in_window: pd.DataFrame
    shape: DataShape


#: Beyond this many distinct analysis windows (territories overriding ``period_end`` or
#: ``period_months``), the out-of-core loader keeps the windows' raw sales rows rather
#: than one sum per window (:func:`sales_windows`).
MAX_SUMMED_WINDOWS = 4


def _group_windows(profile: Mapping, territory_ids: list[str], summaries: Summaries) -> list[Window]:
    """The window of each parameter group of ``territory_ids`` (its default period end the
    latest month of its territories' sales, from the ``summaries``; none without sales)."""
    sales = summaries.sales_by_month
    windows = []
    for eff, ids in parameter_groups(territory_ids, profile):
        periods = sales.loc[sales["territory_id"].isin(ids), "period"]
        if eff.get("period_end") is None and len(periods) == 0:
            continue
        windows.append(make_window(periods, eff.get("period_end"), eff.get("period_months", 3)))
    return windows


def rows_span(profile: Mapping, territory_ids: list[str], summaries: Summaries) -> dict[str, tuple[str, str]] | None:
    """Per large table, the first and last month whose raw rows the pass reads for
    ``territory_ids`` (each parameter group's default period end being the latest month
    of its territories' sales, from the ``summaries``; None without sales).

    Sales: every window (units per window, the "before" window included). Activities:
    the analysis windows (the phases read the earlier windows' counts from the
    ``contacts`` summary; effort, channels and coaching read the analysis window).
    """
    windows = _group_windows(profile, territory_ids, summaries)
    if not windows:
        return None
    last = max(w.analysis[-1] for w in windows)
    return {"sales": (min(w.before[0] for w in windows), last),
            "activities": (min(w.analysis[0] for w in windows), last)}


def sales_windows(profile: Mapping, territory_ids: list[str], summaries: Summaries) -> list | None:
    """The months of each distinct window of the parameter groups of ``territory_ids``
    (:attr:`Window.periods_by_window`), whose sales the pass sums per customer x product
    (:func:`~analysis.domain.market.window_units`); None beyond :data:`MAX_SUMMED_WINDOWS`
    or without sales."""
    windows = list(dict.fromkeys(w.periods_by_window for w in _group_windows(profile, territory_ids, summaries)))
    return windows if 0 < len(windows) <= MAX_SUMMED_WINDOWS else None


def span_of(profile: Mapping):
    """The out-of-core loader's ``span_of`` for ``profile``: given the data's monthly
    summaries and territory ids, :func:`rows_span` (every territory's windows)."""
    return lambda summaries, territory_ids: rows_span(profile, territory_ids, summaries)


def windows_of(profile: Mapping):
    """The out-of-core loader's ``windows_of`` for ``profile``: :func:`sales_windows`."""
    return lambda summaries, territory_ids: sales_windows(profile, territory_ids, summaries)


#: The :class:`PhaseInputs` made meanwhile by the forked process of :func:`prepare`, before
#: the activity rows: the customer frame then ends about when they do. The effort reads
#: the activities' customers looked up for the rows. At 300,000 customers the frame made
#: the effort itself (1.7 s of its 7.2 s, looking up the same 3.8 M ids as the rows) and
#: ended 1.7 s after them, the forked process making the response counts; now each side
#: takes 4.5-5.5 s and the first stage 5.7-5.9 s instead of 6.8-7.5 s.
INPUTS_MEANWHILE = ("effort",)


def prepare(ds: Dataset, params: Mapping, has_activities: bool, workers: int = 1) -> Prepared:
    """Customers, segments, phases and activity facts of a group sharing ``params``
    (``workers``: see :func:`~analysis.domain.forking.side_by_side`; the same result)."""
    ds = ds.with_summaries()  # made once here when the caller has not (national_pass has)
    window = make_window(pd.Series(ds.sales_periods), params.get("period_end"), params.get("period_months", 3))
    summed = (ds.window_sales or {}).get(window.periods_by_window)  # made out of core
    needed = {"sales": (window.before[0], window.analysis[-1]), "activities": (window.analysis[0], window.analysis[-1])}
    if summed is not None:  # (the sales rows are not read)
        del needed["sales"]
    for table, (first, last) in needed.items():
        held = (ds.spans or {}).get(table, ())
        if held is None:
            raise ValueError(f"the dataset holds the {table} summed per window of other analyses only, not of "
                             f"{window.label('before')} to {window.label('analysis')}: load it for this profile")
        if held and (first < held[0] or last > held[1]):
            raise ValueError(f"the dataset holds the {table} rows of {held[0]} to {held[1]} only, not of "
                             f"{first} to {last}: load it for this profile")
    sales = window_sales(ds.sales, ds.products, window) if summed is None else with_products(summed, ds.products)
    shape = DataShape(has_activities=has_activities, has_comparison=bool((sales["window"] == "comparison").any()))
    fit = fit_matrix(params.get("fit_matrix") or None, channels=(*CHANNELS, *params.get("extra_channels", ())))
    in_window = analysis_activities(ds.activities, window)
    base = customer_markets(ds.customers, selected_markets(ds, params))
    keys = base[list(KEY_COLUMNS)]

    # the activities' customers looked up once (in whichever process reads them first: the
    # effort, then the activity rows)
    looked_up = functools.cache(lambda: activity_customers(in_window, keys))
    inputs = phase_input_tasks(ds, sales, window, params, in_window, looked_up)

    def phased(made) -> pd.DataFrame:  # the customer frame with its phases: all the facts read of it
        frame = left_join(customer_table(ds, sales, window, params, base), ds.territories[["territory_id", "region"]],
                          ["territory_id"])
        if not shape.has_comparison:  # no sales in the comparison months: unknown, not zero
            frame = frame.assign(own_units_comparison=np.nan, market_units_comparison=np.nan)
        read = PhaseInputs(**{name: made(name) if name in INPUTS_MEANWHILE else make()
                              for name, make in inputs.items()})
        return customer_phases(ds, frame, read, window, params, shape)

    # the customer frame here; meanwhile (with two workers) the activity side of the facts,
    # which needs only the frame's keys, after the phases' inputs of INPUTS_MEANWHILE
    made = side_by_side({"frame": Reading(phased)},
                        {**{name: inputs[name] for name in INPUTS_MEANWHILE},
                         "rows": lambda: activity_rows(in_window, keys, PASS_FACT_COLUMNS, looked_up())}, workers)
    frame, rows = made["frame"], made["rows"]
    if not all(frame[c].equals(keys[c]) for c in KEY_COLUMNS):  # (the frame keeps its rows' order)
        rows = activity_rows(in_window, frame[list(KEY_COLUMNS)], PASS_FACT_COLUMNS)
    facts = facts_of(rows, frame, fit)
    return Prepared(ds, dict(params), window, sales, frame, facts, fit, in_window, shape)


@dataclass(frozen=True)
class GroupInputs:
    """What a group's tables read besides its customer frame with the next best channels:
    the channel x phase cells' counts, the profiles' completeness, the maintenance list and
    the phase migration (none reads the next best channel, so they are made meanwhile)."""

    stats: pd.DataFrame
    profile: pd.Series
    maintenance: pd.DataFrame
    migrated: pd.DataFrame


def as_of(window: Window) -> pd.Timestamp:
    """The day the analysis window ends on (its last day): the date contacts are due by."""
    return window.end_date("analysis") - pd.Timedelta(days=1)


def group_inputs(p: Prepared) -> GroupInputs:
    """The :class:`GroupInputs` of a prepared group."""
    return GroupInputs(cell_stats(p.facts, GROUP), *_group_extras(p))


def _group_extras(p: Prepared) -> tuple[pd.Series, pd.DataFrame, pd.DataFrame]:
    """The :class:`GroupInputs` but the cells' counts: profiles' completeness, maintenance
    list, phase migration."""
    ds, params = p.ds, p.params
    maintenance = maintenance_list(ds.customers, p.frame, ds.summaries.contacts, as_of(p.window), params["cadence"],
                                   has_activities=p.shape.has_activities)
    return (completeness(ds.customers, params["profile_fields"]), maintenance,
            migration(p.frame, ladder(p.shape.has_activities)))


def analyse(p: Prepared, region_cells: pd.DataFrame | None = None, workers: int = 1,
            inputs: GroupInputs | None = None) -> dict[str, pd.DataFrame]:
    """Every table for the territories of a prepared group (``region_cells``: the region's
    channel x phase rates over all territories; default: from this group alone;
    ``inputs``: its :func:`group_inputs`, when made).

    The customer frame with its next best channels is made first; the tables of it are
    then independent, and with ``workers`` >= 2 about half of them are computed in a
    forked process at the same time (:func:`~analysis.domain.forking.side_by_side`): the
    same tables, sooner."""
    ds, params, window, shape = p.ds, p.params, p.window, p.shape
    scheme = scheme_of(params)
    inputs = inputs or group_inputs(p)
    stats, profile, maintenance, migrated = inputs.stats, inputs.profile, inputs.maintenance, inputs.migrated
    frame = next_best_channel(p.frame, p.facts, p.fit, min_rate_base=params["min_rate_base"],
                              region_cells=region_cells, territory_cells=rate_cells(p.facts, GROUP, stats),
                              has_activities=shape.has_activities)
    margins = unit_margins(ds.products)
    summaries = ds.summaries  # made by prepare
    value = "own_units" if params.get("vip_by") == "own_units" else "potential"
    territory_ids = ds.territories["territory_id"]
    customers = ds.customers[ds.customers["territory_id"].isin(territory_ids)]
    priority_customers = pd.Index(frame.loc[frame["segment"].isin(list(scheme.priority)), "customer_id"].unique())

    def rep_tables() -> dict[str, pd.DataFrame]:  # ROI, coaching and the headline that reads them
        roi = roi_tables(frame, p.facts, ("rep_id", "segment", "channel"), margins.margin,
                         has_comparison=shape.has_comparison)
        coaching = coaching_table(ds.reps, ds.customers, frame, p.facts, profile, margins.margin, params["norms"],
                                  priority=scheme.priority, has_activities=shape.has_activities,
                                  has_comparison=shape.has_comparison, roi_rep=roi["rep_id"])
        caveats = shape.caveats(profile_fields=bool(profile.notna().any()), roi_units_only=margins.defaulted)
        kpis = headline(ds, frame, p.facts, roi["rep_id"], maintenance, window, shape, scheme).assign(
            roi_units_only=margins.defaulted, caveats=caveats, grid=scheme.grid)
        return {"kpis": kpis, "coaching": coaching, "coaching_flags": coaching_flag_counts(coaching),
                "roi_rep": roi["rep_id"], "roi_segment": roi["segment"], "roi_channel": roi["channel"]}

    # the tables with the largest transient memory (ROI and coaching, the channel table,
    # the call plan) in this process one after the other, and the forked process's tasks
    # lighter, so that the two processes' peaks add up to little more than one's; the
    # lightest made by whichever process is free first (see side_by_side)
    here = {
        "rep_tables": rep_tables,
        "channels": lambda: channel_summary(p.facts),
        "call_plan": lambda: call_plan(frame, customers, ds.reps, summaries.contacts, maintenance, as_of(window),
                                       params["call_plan"]["contacts_per_month"], scheme.priority,
                                       has_activities=shape.has_activities),
    }
    there = {
        "channel_phase": lambda: channel_phase(p.facts, p.fit, stats),
        "competitors": lambda: competitor_shares(p.sales, frame, ds.products, scheme.labels,
                                                 has_comparison=shape.has_comparison),
    }
    # the costliest first (at 300,000 customers): the forked process takes them from the
    # first, this one from the last, so the one that ends the pass is one of the shortest
    either = {
        "trend_activity": lambda: monthly_activity(summaries.contacts, customers, territory_ids, window,
                                                   has_activities=shape.has_activities),
        "flag_customers": lambda: flag_customers(frame, customers, ds.products),
        "quality": lambda: data_quality(frame, ds.customers, p.in_window, profile,
                                        params["norms"]["profile_completeness"], has_activities=shape.has_activities),
        "phase_forecast": lambda: phase_forecast(migrated),
        "actions": lambda: action_list(frame, ds.customers, priority=scheme.priority),
        "profile_gaps": lambda: profile_gaps(customers, params["profile_fields"], profile.loc[customers.index],
                                             params["norms"]["profile_completeness"], priority_customers),
        "targeting": lambda: decile_targeting(frame),
        "lorenz": lambda: lorenz(frame, value),
        "three_c_flags": lambda: flag_counts(frame),
        "segments": lambda: segment_summary(frame, scheme),
        "three_c": lambda: three_c_matrix(frame, ladder(shape.has_activities)),
        "trend": lambda: monthly_trend(summaries.sales_by_month, territory_ids, selected_markets(ds, params),
                                       window),
        "migration": lambda: migration_rates(migrated),
    }
    made = side_by_side(here, there, workers, either)
    made.update(made.pop("rep_tables"))
    made.update(customers=frame, maintenance=maintenance)
    return {name: made[name] for name in ANALYSIS_TABLES}


#: The tables of :func:`analyse` (and of :func:`national_pass`, with "regions" and "nation"), in order.
ANALYSIS_TABLES = ("customers", "kpis", "actions", "quality", "segments", "lorenz", "three_c", "three_c_flags",
                   "migration", "channel_phase", "channels", "coaching", "coaching_flags", "roi_rep", "roi_segment",
                   "roi_channel", "maintenance", "targeting", "flag_customers", "profile_gaps", "trend",
                   "trend_activity", "phase_forecast", "competitors", "call_plan")


#: How each KPI rolls up: summed, recomputed as a ratio of sums, or cost-weighted.
SUMMED = ("customers", "potential", "own_units", "own_units_previous", "market_units", "market_units_previous",
          "vip_customers", "customers_covered", "progressions", "slipping", "competitor_locked", "stalled",
          "cost", "own_units_change", "margin_change", "maintenance_overdue")
RATIOS = {"vip_share": ("vip_customers", "customers"), "coverage": ("customers_covered", "customers"),
          "support": ("own_units", "market_units"), "support_previous": ("own_units_previous", "market_units_previous"),
          "roi": ("margin_change", "cost")}
COST_WEIGHTED = ("effort_on_priority", "mismatched_effort", "over_service")


def cost_weighted(table: pd.DataFrame, share: str, keys, weight: str = "cost") -> pd.Series:
    """Cost-weighted mean of ``share`` per group of ``keys`` (NaN shares carry no weight)."""
    valid = table[share].notna() & (table[weight] > 0)
    num = (table[share] * table[weight]).where(valid, 0.0).groupby(keys).sum()
    den = table[weight].where(valid, 0.0).groupby(keys).sum()
    return num / den.where(den > 0)


def _keys(kpis: pd.DataFrame, by: str | None) -> pd.Series:
    """The group of each territory: the ``by`` column, or "all" (named ``scope``) for the country."""
    return kpis[by] if by else pd.Series("all", index=kpis.index, name="scope")


def _caveat_holds(caveats: pd.Series, code: str) -> pd.Series:
    """Whether ``code`` is one of each row's ";"-joined caveat codes (vectorised)."""
    return (";" + caveats.fillna("").astype(str) + ";").str.contains(f";{code};", regex=False)


def rollup(kpis: pd.DataFrame, by: str | None = "region") -> pd.DataFrame:
    """KPIs of groups of territories (``by`` a column, or None for the whole country).

    A sum over territories one of which lacks the figure is missing (never a partial
    sum shown as the whole); ``caveats`` lists every code that holds for a territory.
    Vectorised over groups (no Python function per group), so it does not slow down
    with many regions or territories.
    """
    keys = _keys(kpis, by)
    summed = kpis[list(SUMMED)]
    out = summed.groupby(keys).sum(min_count=1).where(~summed.isna().groupby(keys).any())
    for name, (num, den) in RATIOS.items():
        out[name] = out[num] / out[den].where(out[den] > 0)
    for name in COST_WEIGHTED:
        out[name] = cost_weighted(kpis, name, keys)
    out["territories"] = keys.groupby(keys).size()
    caveats = kpis["caveats"] if "caveats" in kpis else pd.Series("", index=kpis.index)
    holds = pd.DataFrame({code: _caveat_holds(caveats, code) for code in CAVEATS}).groupby(keys).any()
    out["caveats"] = [";".join(code for code, on in zip(CAVEATS, row) if on)
                      for row in holds.reindex(out.index).itertuples(index=False, name=None)]
    return out.reset_index()


#: A roll-up of more territories than this summarises them (the spread of each measure,
#: the top and bottom territories) instead of drawing and listing one row each; every
#: territory stays in the exported table (tables/territories.csv).
MANY_TERRITORIES = 40
#: The measures whose spread over territories a roll-up summarises (``support_change``:
#: support minus the comparison period's, missing when either is).
DISTRIBUTION_MEASURES = ("support", "support_change", "coverage", "customers", "vip_share", "effort_on_priority",
                         "mismatched_effort", "over_service", "roi", "progressions", "maintenance_overdue")
#: The quantiles of a distribution, by column name.
QUANTILES = {"p10": 0.10, "p25": 0.25, "median": 0.50, "p75": 0.75, "p90": 0.90}
DISTRIBUTION_COLUMNS = ("measure", "territories", "known", "missing", "min", *QUANTILES, "max", "mean")


def rollup_distribution(kpis: pd.DataFrame, by: str | None = None,
                        measures: tuple[str, ...] = DISTRIBUTION_MEASURES) -> pd.DataFrame:
    """The spread of each measure over the territories of each group (``by``, or None: all).

    One row per group and measure: ``territories`` in the group, ``known`` (with a
    value) and ``missing`` (without one: no data is counted as missing, never as 0),
    then min, the 10/25/50/75/90 % quantiles (linear interpolation), max and mean of
    the known values (NaN when none is known). A measure not in ``kpis`` is missing for
    every territory. Vectorised: one groupby, whatever the number of territories.
    """
    keys = _keys(kpis, by)
    key_name = keys.name
    values = pd.DataFrame(index=kpis.index)
    for m in measures:
        if m == "support_change" and "support_change" not in kpis and {"support", "support_previous"} <= set(kpis):
            values[m] = pd.to_numeric(kpis["support"], errors="coerce") - pd.to_numeric(
                kpis["support_previous"], errors="coerce")
        else:
            values[m] = pd.to_numeric(kpis[m], errors="coerce") if m in kpis else np.nan
    values = values.astype(float)
    long = values.assign(**{key_name: keys.to_numpy()}).melt(id_vars=key_name, var_name="measure")
    long["measure"] = pd.Categorical(long["measure"], categories=list(measures))
    groups = long.groupby([key_name, "measure"], observed=False, sort=True)["value"]
    out = pd.DataFrame({"territories": groups.size(), "known": groups.count()})
    out["missing"] = out["territories"] - out["known"]
    known = long.dropna(subset=["value"]).groupby([key_name, "measure"], observed=False, sort=True)["value"]
    out["min"] = known.min()
    quantiles = known.quantile(list(QUANTILES.values())).unstack()
    for name, q in QUANTILES.items():
        out[name] = quantiles[q] if len(quantiles) else np.nan
    out["max"] = known.max()
    out["mean"] = known.mean()
    out = out[out["territories"] > 0].reset_index()
    out["measure"] = out["measure"].astype(str)
    return out[[key_name, *DISTRIBUTION_COLUMNS]].astype({"territories": "int64", "known": "int64",
                                                         "missing": "int64"})


def rollup_flags(coaching_flags: pd.DataFrame, kpis: pd.DataFrame, by: str | None = None) -> pd.DataFrame:
    """Coaching flags of each group of territories (``by``, or None: all), one row per group and flag.

    ``reps``: reps carrying the flag (summed over the group's territories);
    ``territories_flagged``: territories with at least one such rep; ``territories``: all
    territories of the group (those without reps count as not flagged).
    """
    keys = _keys(kpis, by)
    key_name = keys.name
    group_of = pd.Series(keys.to_numpy(), index=kpis["territory_id"].to_numpy())
    group_of = group_of[~group_of.index.duplicated()]
    flags = [c for c in coaching_flags.columns if c != "territory_id"]
    counts = coaching_flags.set_index("territory_id")[flags].astype("int64")
    groups = group_of.reindex(counts.index)
    counts = counts[groups.notna().to_numpy()]
    groups = groups.dropna()
    reps = counts.groupby(groups.to_numpy()).sum()
    flagged = (counts > 0).groupby(groups.to_numpy()).sum()
    territories = keys.groupby(keys).size()
    reps = reps.reindex(territories.index, fill_value=0)
    flagged = flagged.reindex(territories.index, fill_value=0)
    out = pd.DataFrame({
        key_name: np.repeat(territories.index.to_numpy(), len(flags)),
        "flag": np.tile(np.asarray(flags, dtype=object), len(territories)),
        "reps": reps.to_numpy().ravel() if flags else np.array([], dtype="int64"),
        "territories_flagged": flagged.to_numpy().ravel() if flags else np.array([], dtype="int64"),
        "territories": np.repeat(territories.to_numpy(), len(flags)),
    })
    return out.astype({"reps": "int64", "territories_flagged": "int64", "territories": "int64"})


def _regions_add_up(ds: Dataset) -> bool:
    """Whether a region's cell counts are the sums of its territories' (:func:`summed_cells`):
    each customer in one territory and each territory in one region (their ids unique)."""
    return bool(ds.customers["customer_id"].is_unique and ds.territories["territory_id"].is_unique)


def national_pass(ds: Dataset, profile: Mapping, workers: int = 1) -> dict[str, pd.DataFrame]:
    """All tables for every selected territory, grouped by identical parameters.

    Two stages: every group's customers and activity facts first; then the region-level
    channel rates once over all territories (whatever their overrides), and every
    group's tables. ``workers``: processes the second stage may use (see :func:`analyse`);
    the tables do not depend on it.
    """
    territory_ids = selected_territories(ds, profile)
    ds = ds.with_summaries()  # once for every group (a group's slice carries its part)
    has_activities = ds.has_activity_rows
    everyone = len(territory_ids) == len(ds.territories)
    prepared = [prepare(ds if everyone and len(ids) == len(territory_ids) else ds.subset(ids), eff, has_activities,
                        workers)
                for eff, ids in parameter_groups(territory_ids, profile)]
    if not prepared:
        return {}
    # each group's cells' counts by territory (and its region) here; meanwhile (with two
    # workers) the rest of what its tables read besides the next best channels. A region's
    # counts are its territories' when each customer is in one territory and each territory
    # in one region, the distinct customers too; else they are counted on the facts.
    summed = _regions_add_up(ds)
    keys = ["territory_id", "region", "market"] if summed else GROUP
    made = side_by_side({f"cells {i}": (lambda p=p: cell_stats(p.facts, keys)) for i, p in enumerate(prepared)},
                        {f"group {i}": (lambda p=p: _group_extras(p)) for i, p in enumerate(prepared)}, workers)
    cells = [made[f"cells {i}"] for i in range(len(prepared))]
    if summed:
        region_stats = summed_cells(pd.concat(cells, ignore_index=True), ["region", "market"])
        cells = [cell.drop(columns="region") for cell in cells]
    else:
        region_stats = cell_stats(pd.concat([p.facts for p in prepared], ignore_index=True), ["region", "market"])
    region_cells = rate_cells(prepared[0].facts, ["region", "market"], region_stats)
    results = [analyse(p, region_cells, workers, GroupInputs(cell, *made[f"group {i}"]))
               for i, (p, cell) in enumerate(zip(prepared, cells))]
    tables = {name: pd.concat([r[name] for r in results], ignore_index=True) for name in results[0]}
    tables["regions"] = rollup(tables["kpis"], "region")
    tables["nation"] = rollup(tables["kpis"], None)
    return tables
