"""The exported tables (DESIGN 6): a contract for downstream BI tools.

``export_tables`` writes every table of the pass that a report shows: for the tables of
the contract (DESIGN 6) its columns first, then the further columns the analysis
produced; the other tables as they are (full precision, one row per key). The roll-up
tables (``regions``, ``nation``) belong to the roll-up reports.
"""
from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

EXPORT_COLUMNS: dict[str, list[str]] = {
    "customers": ["territory_id", "customer_id", "market", "potential", "potential_method", "own_units",
                  "market_units", "support", "segment", "vip", "decile", "phase_previous", "phase", "flags",
                  "next_best_channel"],
    "three_c": ["market", "phase", "competitor_position", "customers", "potential", "effort_cost"],
    "migration": ["market", "phase_previous", "phase", "customers"],
    "channel_phase": ["market", "channel", "phase", "activities", "cost", "effort_share", "response_rate",
                      "progression_rate", "fits"],
    "coaching": ["rep_id", "role", "customers_covered", "profile_completeness", "profile_qualified_share",
                 "effort_on_priority", "mismatched_effort", "over_service", "cost", "own_units_change", "roi",
                 "progressions", "flags"],
    "maintenance": ["customer_id", "customer_type", "vip", "last_contact", "days_since", "cadence_days", "overdue"],
}

#: Extra columns kept after the contract columns, when present.
EXTRA_COLUMNS: dict[str, list[str]] = {
    "customers": ["customer_type", "region", "potential_level", "support_level", "potential_cut", "support_cut", "potential_cut_1", "support_cut_1",
                  "competitor_position", "leading_competitor", "competitor_share", "own_share", "activities",
                  "effort_cost", "competitor_locked", "stalled", "slipping", "next_best_basis",
                  "next_best_rate_kind", "next_best_rate", "next_best_base", "own_units_comparison",
                  "market_units_comparison", "phase_source", "phase_previous_source"],
    "three_c": ["territory_id"],
    "migration": ["territory_id", "rate"],
    "channel_phase": ["territory_id", "customers_touched", "responses", "customers_moved_up"],
    "coaching": ["territory_id", "rep_name", "departments_in_territory", "departments_covered", "margin_change",
                 "coverage_gap", "priority_uncovered", "profiles_unqualified_count", "departments_missing",
                 "departments_missing_names"],
    "maintenance": ["territory_id", "customer_name", "city"],
}
#: Tables of the pass that are not territory tables (exported with the roll-ups).
ROLLUP_TABLES = ("regions", "nation")


def export_tables(tables: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Every territory table present in ``tables``; contract tables with their columns first."""
    out = {}
    for name, frame in tables.items():
        if name in ROLLUP_TABLES:
            continue
        if name not in EXPORT_COLUMNS:
            out[name] = frame.reset_index(drop=True)
            continue
        columns = EXPORT_COLUMNS[name]
        missing = [c for c in columns if c not in frame]
        if missing:
            frame = frame.assign(**{c: pd.NA for c in missing})
        extra = [c for c in EXTRA_COLUMNS.get(name, []) if c in frame and c not in columns]
        out[name] = frame[columns + extra].reset_index(drop=True)
    return out
