"""Drill-downs: the customers behind the report's counts.

* :func:`flag_customers`: one row per customer x market x 3C flag that holds
  (competitor_locked, stalled, slipping; DESIGN 4.4), with the facts that raised it
  (phases, competitor position and share, potential level, our effort). The rows of a
  flag add up to the flag counts of the 3C table.
* :func:`profile_gaps`: the prescribing customers whose profile completeness is below
  the threshold (DESIGN 3, 4.6), with the profile fields they miss, by group.

Both are computed for every territory at once and sorted for reading (largest potential,
resp. emptiest profile, first); the report shows the top rows, the export holds all.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from analysis.contract.schema import SEGMENTABLE_TYPES
from analysis.domain.keys import among
from analysis.domain.profile import EPS, filled, profile_columns
from analysis.domain.three_c import FLAGS

FLAG_COLUMNS = ["territory_id", "flag", "customer_id", "customer_name", "city", "market", "segment", "potential",
                "potential_level", "support", "phase_previous", "phase", "competitor_position",
                "leading_competitor", "leading_competitor_name", "competitor_share", "activities", "effort_cost"]
PROFILE_COLUMNS = ["territory_id", "customer_id", "customer_name", "customer_type", "city", "priority",
                   "profile_completeness", "fields_filled", "fields_total", "missing_fields", "missing_groups"]


def _info(customers: pd.DataFrame) -> pd.DataFrame:
    info = customers[["customer_id", "customer_name"]].drop_duplicates("customer_id")
    return info.assign(city=customers.loc[info.index, "city"] if "city" in customers else None)


def flag_customers(frame: pd.DataFrame, customers: pd.DataFrame, products: pd.DataFrame | None = None) -> pd.DataFrame:
    """The customers carrying each 3C flag (a flag that is NA, i.e. cannot be computed, raises no row)."""
    parts = []
    read = [c for c in frame.columns if c in {*FLAG_COLUMNS, *FLAGS}]  # the columns kept: no copy of the rest
    for flag in FLAGS:
        hit = frame.loc[frame[flag].astype("boolean").fillna(False).astype(bool).to_numpy(), read]
        parts.append(hit.assign(flag=flag))
    rows = pd.concat(parts, ignore_index=True) if parts else frame.iloc[0:0].assign(flag=None)
    rows = rows.merge(_info(customers), on="customer_id", how="left")
    names = (products.set_index("product_id")["product_name"] if products is not None and len(products)
             else pd.Series(dtype=object))
    rows["leading_competitor_name"] = rows["leading_competitor"].map(names) if "leading_competitor" in rows else None
    for column in FLAG_COLUMNS:
        if column not in rows:
            rows[column] = np.nan
    rows["_flag"] = rows["flag"].map({f: i for i, f in enumerate(FLAGS)})
    rows = rows.sort_values(["territory_id", "_flag", "potential", "customer_id", "market"],
                            ascending=[True, True, False, True, True], kind="mergesort")
    return rows[FLAG_COLUMNS].reset_index(drop=True)


def _joined(flags: Mapping[str, np.ndarray], n: int) -> np.ndarray:
    """Per row, the names whose flag is set, ";"-joined in the mapping's order (vectorised)."""
    text = np.full(n, "", dtype=object)
    for name, on in flags.items():
        text = text + np.where(on, name + ";", "")
    return np.array([t[:-1] for t in text], dtype=object) if n else text


def profile_gaps(customers: pd.DataFrame, fields: Mapping[str, Sequence[str] | str | None] | None,
                 completeness: pd.Series, threshold: float, priority_customers: pd.Index | None = None) -> pd.DataFrame:
    """Prescribing customers with completeness below ``threshold``, with the missing fields.

    ``completeness``: :func:`analysis.domain.profile.completeness` of ``customers``
    (aligned). ``missing_fields`` and ``missing_groups`` are ";"-joined in the profile's
    order; ``priority``: the customer is in a priority segment in some market
    (``priority_customers``). Sorted priority first, then emptiest profile, then id.
    With no profile fields configured, no rows (completeness cannot be measured).
    """
    columns = profile_columns(fields)
    if not columns:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in PROFILE_COLUMNS})
    keep = customers["customer_type"].isin(SEGMENTABLE_TYPES).to_numpy() & (
        pd.to_numeric(completeness).to_numpy(dtype=float) < threshold - EPS)
    rows = customers[keep]
    present = pd.DataFrame({c: filled(rows[c]) if c in rows else pd.Series(False, index=rows.index)
                            for c in columns})
    group_of: dict[str, list[str]] = {}
    for group, listed in (fields or {}).items():
        for c in ([listed] if isinstance(listed, str) else list(listed or [])):
            group_of.setdefault(str(c), []).append(str(group))
    missing = _joined({c: ~present[c].to_numpy(dtype=bool) for c in columns}, len(rows))
    groups_present = {str(g): np.zeros(len(rows), dtype=bool) for g in (fields or {})}
    for c in columns:
        for g in group_of.get(c, []):
            groups_present[g] |= ~present[c].to_numpy(dtype=bool)
    groups = _joined(groups_present, len(rows))
    out = pd.DataFrame({
        "territory_id": rows["territory_id"], "customer_id": rows["customer_id"],
        "customer_name": rows["customer_name"], "customer_type": rows["customer_type"],
        "city": rows["city"] if "city" in rows else None,
        "priority": among(rows["customer_id"], priority_customers if priority_customers is not None else []),
        "profile_completeness": pd.to_numeric(completeness[keep]).astype(float),
        "fields_filled": present.sum(axis=1).astype("int64"), "fields_total": len(columns),
        "missing_fields": missing, "missing_groups": groups,
    })
    out = out.sort_values(["territory_id", "priority", "profile_completeness", "customer_id"],
                          ascending=[True, False, True, True], kind="mergesort")
    return out[PROFILE_COLUMNS].reset_index(drop=True)
