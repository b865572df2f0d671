"""The exported tables (DESIGN 6): a contract for downstream BI tools.

``export_tables`` selects, per file, the contract columns first and then any further
columns the analysis produced (full precision, one row per key).
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
    "customers": ["customer_type", "potential_level", "support_level", "potential_cut", "support_cut",
                  "competitor_position", "leading_competitor", "competitor_share", "next_best_reason",
                  "own_units_comparison", "market_units_comparison"],
    "three_c": ["territory_id"],
    "migration": ["territory_id", "rate"],
    "channel_phase": ["territory_id", "customers_touched"],
    "coaching": ["territory_id", "rep_name", "margin_change", "actions"],
    "maintenance": ["territory_id", "customer_name"],
}


def export_tables(tables: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The contract tables present in ``tables``, contract columns first."""
    out = {}
    for name, columns in EXPORT_COLUMNS.items():
        if name not in tables:
            continue
        frame = tables[name]
        missing = [c for c in columns if c not in frame]
        if missing:
            frame = frame.assign(**{c: pd.NA for c in missing})
        extra = [c for c in EXTRA_COLUMNS.get(name, []) if c in frame and c not in columns]
        out[name] = frame[columns + extra].reset_index(drop=True)
    return out
