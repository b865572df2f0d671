"""Relationship maintenance (DESIGN 4.7, seed 001).

Upstream suppliers, downstream distributors, peripheral customers and the VIPs must be
contacted regularly. For each of them: the last contact (latest activity on or before
``as_of``), days since, the cadence due (VIP 30 days, supplier 90, distributor 60,
peripheral 180 by default; the shortest that applies) and whether contact is overdue.

Computed for every territory at once; nothing loops over customers.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from analysis.contract.schema import MAINTENANCE_TYPES

#: Default cadence in days: the ``vip`` key applies to VIPs of any type, the others to
#: customer types (same keys as ``params.DEFAULTS["cadence"]``).
DEFAULT_CADENCE: dict[str, int] = {"vip": 30, "supplier": 90, "distributor": 60, "peripheral": 180}

MAINTENANCE_COLUMNS = [
    "territory_id", "customer_id", "customer_name", "city", "customer_type", "vip", "last_contact",
    "days_since", "cadence_days", "overdue",
]


def resolve_cadence(cadence: Mapping[str, int] | None = None) -> dict[str, int]:
    """:data:`DEFAULT_CADENCE` overlaid by ``cadence`` (None values keep the default).

    Keys are ``vip`` and customer types; values are whole days.
    """
    out = dict(DEFAULT_CADENCE)
    for key, days in (cadence or {}).items():
        if days is None:
            continue
        if isinstance(days, bool) or not float(days).is_integer() or float(days) < 0:
            raise ValueError(f"cadence {key!r} must be a whole number of days >= 0, got {days!r}")
        out[str(key)] = int(days)
    return out


def vip_customers(frame: pd.DataFrame) -> pd.Series:
    """customer_id -> True when the customer is a VIP in any market of ``frame``."""
    if "vip" not in frame.columns:
        return pd.Series(dtype=bool)
    flags = frame["vip"].astype("boolean").fillna(False).astype(bool)
    return flags.groupby(frame["customer_id"]).any().rename("vip")


def _as_of_month(as_of) -> str:
    """The month of ``as_of``, which must be a month's last day (contacts are summarised per month)."""
    as_of = pd.Timestamp(as_of)
    if as_of.normalize() != as_of or (as_of + pd.Timedelta(days=1)).day != 1:
        raise ValueError(f"as_of {as_of.date()} is not the last day of a month (contacts are counted per month)")
    return as_of.strftime("%Y-%m")


def contacts_until(contacts: pd.DataFrame, as_of) -> pd.DataFrame:
    """The rows of ``contacts`` (:func:`analysis.contract.reduction.contacts`) on or before
    ``as_of``, the last day of a month."""
    return contacts[(contacts["period"].astype(str) <= _as_of_month(as_of)).to_numpy()]


def last_contacts(contacts: pd.DataFrame, as_of: pd.Timestamp) -> pd.Series:
    """customer_id -> date of the latest activity on or before ``as_of`` (a month's last day).

    ``contacts``: :func:`analysis.contract.reduction.contacts` of the activities.
    """
    rows = contacts_until(contacts, as_of)
    return pd.to_datetime(rows["last_date"]).groupby(rows["customer_id"]).max().rename("last_contact")


def maintenance_list(customers: pd.DataFrame, frame: pd.DataFrame, contacts: pd.DataFrame,
                     as_of: pd.Timestamp, cadence: Mapping[str, int] | None = None, *,
                     has_activities: bool = True) -> pd.DataFrame:
    """The relationship maintenance list of every territory.

    Rows: the ``supplier``, ``distributor`` and ``peripheral`` customers and the VIPs
    (``vip`` True in any market of ``frame``). ``contacts`` summarise all activities
    (:func:`analysis.contract.reduction.contacts`, not only the analysis window); only
    those on or before ``as_of`` (the last day of a month) count.

    Columns: territory_id, customer_id, customer_name, customer_type, vip (bool),
    last_contact (latest activity date <= ``as_of``; NaT if never), days_since (whole
    days from last_contact to ``as_of``, float; NaN if never), cadence_days (the
    shortest applicable cadence: a VIP supplier gets min(30, 90) = 30), overdue (never
    contacted, or days_since > cadence_days; exactly at the cadence is not overdue).

    Sorted overdue first, then days_since descending (never contacted first), then
    territory_id and customer_id. ``city`` (missing when the table has none) tells
    customers named alike apart. Without activity data (``has_activities`` False) the
    last contact is unknown, not "never": last_contact, days_since and overdue are missing.
    """
    as_of = pd.Timestamp(as_of)
    days = resolve_cadence(cadence)
    vip = vip_customers(frame)
    base = customers[["territory_id", "customer_id", "customer_name", "customer_type"]].drop_duplicates("customer_id")
    base = base.assign(city=customers.loc[base.index, "city"] if "city" in customers else None)
    is_vip = base["customer_id"].map(vip).astype("boolean").fillna(False).astype(bool)
    keep = base["customer_type"].isin(MAINTENANCE_TYPES) | is_vip
    out = base[keep].assign(vip=is_vip[keep])

    by_type = {k: float(v) for k, v in days.items() if k != "vip"}
    type_days = out["customer_type"].astype(object).map(by_type).astype(float)
    vip_days = pd.Series(np.where(out["vip"], float(days["vip"]), np.nan), index=out.index)
    cadence_days = np.fmin(type_days, vip_days)
    if cadence_days.isna().any():
        missing = sorted(set(out.loc[cadence_days.isna(), "customer_type"].astype(str)))
        raise ValueError(f"no maintenance cadence for customer type(s) {', '.join(missing)}")
    out["cadence_days"] = cadence_days.astype("int64")

    out = out.join(last_contacts(contacts, as_of), on="customer_id")
    out["last_contact"] = pd.to_datetime(out["last_contact"])
    out["days_since"] = (as_of - out["last_contact"]).dt.days.astype(float)
    out["overdue"] = (out["last_contact"].isna() | (out["days_since"] > out["cadence_days"])).astype("boolean")
    if not has_activities:
        out["overdue"] = pd.array([pd.NA] * len(out), dtype="boolean")
    out = out.sort_values(["overdue", "days_since", "territory_id", "customer_id"],
                          ascending=[False, False, True, True], na_position="first", kind="mergesort")
    return out.reset_index(drop=True)[MAINTENANCE_COLUMNS]
