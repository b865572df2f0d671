"""Data quality per territory: what the report's numbers rest on.

Validation rejects broken data outright, so no rows are silently dropped; these checks
describe the gaps that remain in valid data (missing profiles, customers without
sales, potential fallbacks, activities without outcome).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.domain.keys import mapped
from analysis.domain.potential import FALLBACK


def data_quality(frame: pd.DataFrame, customers: pd.DataFrame, activities: pd.DataFrame,
                 completeness: pd.Series, threshold: float = 0.6, *, has_activities: bool = True) -> pd.DataFrame:
    """One row per territory x check: territory_id, check, value, kind (count/share), note.

    A check the data cannot answer (activities without outcome in a dataset without
    activities; profile checks without profile fields) has a missing value, not 0.
    """
    profile = customers[["territory_id"]].assign(completeness=completeness.to_numpy())
    by_customer = frame.groupby(["territory_id", "customer_id"], observed=True)
    sales_less = (by_customer["market_units"].sum() == 0).groupby(level="territory_id").sum()
    fallback = (frame["potential_method"] == FALLBACK).groupby(frame["territory_id"]).sum()
    # the activities without outcome counted in their customers' territories (those alone looked up)
    without = activities["outcome"].isna().to_numpy(dtype=bool)
    no_outcome = mapped(activities["customer_id"][without],
                        customers.set_index("customer_id")["territory_id"]).value_counts()
    phase_table = (frame.get("phase_source", pd.Series("derived", index=frame.index)) == "table").groupby(
        frame["territory_id"]).sum()
    checks = {
        "customers in the data": (customers.groupby("territory_id").size(), "count",
                                  "all customer types, before segmentation"),
        "mean profile completeness": (profile.groupby("territory_id")["completeness"].mean(), "share",
                                      "share of the profile fields filled"),
        "profiles at or above 60%": (profile.assign(q=profile["completeness"] >= threshold)
                                     .groupby("territory_id")["q"].mean(), "share", "qualified profiles (norm 80%)"),
        "customers without sales in the period": (sales_less, "count", "no support: shown as missing, not zero"),
        "potential fallbacks to market sum": (fallback, "count",
                                              "customer x market rows lacking beds or catchment inputs"),
        "activities without outcome": (no_outcome, "count", "counted as no response"),
        "phases from the phases table": (phase_table, "count", "customer x market rows; the rest are derived"),
        "rows dropped": (pd.Series(0, index=customers["territory_id"].unique()), "count",
                         "invalid data is rejected on load, never dropped silently"),
    }
    unanswerable = {"activities without outcome": not has_activities,
                    "mean profile completeness": not completeness.notna().any(),
                    "profiles at or above 60%": not completeness.notna().any()}
    parts = []
    for name, (values, kind, note) in checks.items():
        values = values.reindex(customers["territory_id"].unique())
        values = values * np.nan if unanswerable.get(name) else values.fillna(0)
        parts.append(pd.DataFrame({"territory_id": values.index, "check": name, "value": values.to_numpy(dtype=float),
                                   "kind": kind, "note": note}))
    return pd.concat(parts, ignore_index=True).sort_values(["territory_id"], kind="mergesort", ignore_index=True)
