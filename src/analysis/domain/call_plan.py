"""Call plan: each rep's ranked target list for the next period.

Who is on it:

* *targets*: prescribing customers whose segment has contacts per month > 0 in the run's
  ``call_plan.contacts_per_month`` (default A 2, B 3, C 1, D 0: D is digital only);
* *maintenance*: the customers of the relationship maintenance list (suppliers,
  distributors, peripheral customers and VIPs; DESIGN 4.7), with their cadence.

One row per customer (a call covers every market of the customer): its market row with
the most contacts per month, then the most untapped potential (potential x (1 -
support)), gives the market, segment, phase and next best channel.

When: the interval between contacts is ``30 / contacts_per_month`` days (a month counts
as 30 days), or the maintenance cadence when that is shorter. The due date is the last
contact (any activity on or before the end of the analysis period) plus the interval; a
customer never contacted is due on the first day of the plan (the day after the
analysis period) and overdue, like one whose due date has passed. Without activities
the last contact is unknown: due date and overdue are missing, never "now".

Whose: the territory's rep with the most activities with the customer (ties: smallest
rep_id); a customer no rep of the territory has contacted goes to the territory's reps
of the fitting role (``specialty`` for departments and hospitals, ``chronic`` for the
other types; any rep when the territory has none of that role), dealt in turn by
customer_id (``assigned_by`` says which).

Ranked per rep: due date (earliest first; unknown last), then contacts per month, then
untapped potential (largest first), then customer_id.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from analysis.contract.schema import SEGMENTABLE_TYPES
from analysis.domain.actions import untapped
from analysis.domain.keys import among
from analysis.domain.maintenance import contacts_until, last_contacts

#: Days a month counts for the contact interval.
DAYS_PER_MONTH = 30
#: Customer types a specialty rep covers when nobody has contacted the customer yet.
SPECIALTY_TYPES = ("department", "hospital")
CALL_PLAN_COLUMNS = [
    "territory_id", "rep_id", "rep_name", "rank", "customer_id", "customer_name", "city", "customer_type", "market",
    "segment", "priority", "phase", "potential", "support", "untapped_potential", "next_best_channel",
    "next_best_basis", "next_best_rate_kind", "next_best_rate", "next_best_base", "contacts_per_month",
    "cadence_days", "interval_days", "last_contact", "due_date", "overdue", "reason", "assigned_by",
]


def _rep_of(candidates: pd.DataFrame, contacts: pd.DataFrame, reps: pd.DataFrame, as_of: pd.Timestamp,
            has_activities: bool) -> pd.DataFrame:
    """rep_id and assigned_by of each candidate customer (territory_id, customer_id, customer_type)."""
    out = candidates[["territory_id", "customer_id", "customer_type"]].copy()
    out["rep_id"], out["assigned_by"] = None, None
    reps = reps[["rep_id", "territory_id", "role"]]
    if has_activities and len(contacts):
        acts = contacts_until(contacts, as_of)[["customer_id", "rep_id", "activities"]]
        acts = acts.merge(reps[["rep_id", "territory_id"]], on="rep_id", how="inner")
        counts = acts.groupby(["territory_id", "customer_id", "rep_id"], sort=False)["activities"].sum().rename(
            "n").reset_index()
        counts = counts.sort_values(["territory_id", "customer_id", "n", "rep_id"],
                                    ascending=[True, True, False, True], kind="mergesort")
        top = counts.drop_duplicates(["territory_id", "customer_id"]).set_index(["territory_id", "customer_id"])
        found = pd.MultiIndex.from_frame(out[["territory_id", "customer_id"]])
        rep = top["rep_id"].reindex(found).to_numpy()
        out["rep_id"] = rep
        out.loc[pd.notna(rep), "assigned_by"] = "contacts"
    rest = out[out["rep_id"].isna()].copy()
    if len(rest):
        rest["role"] = np.where(rest["customer_type"].isin(SPECIALTY_TYPES), "specialty", "chronic")
        roles = reps.groupby(["territory_id", "role"]).size().rename("n_role").reset_index()
        rest = rest.merge(roles, on=["territory_id", "role"], how="left")
        rest["role"] = np.where(rest["n_role"].fillna(0) > 0, rest["role"], None)
        pool = pd.concat([reps.assign(role_key=reps["role"]), reps.assign(role_key=None)], ignore_index=True)
        pool = pool.sort_values(["territory_id", "rep_id"], kind="mergesort")
        pool["slot"] = pool.groupby(["territory_id", pool["role_key"].fillna("")], sort=False).cumcount()
        pool["size"] = pool.groupby(["territory_id", pool["role_key"].fillna("")], sort=False)["rep_id"].transform("size")
        rest = rest.sort_values(["territory_id", "customer_id"], kind="mergesort")
        rest["_key"] = rest["role"].fillna("")
        rest["turn"] = rest.groupby(["territory_id", "_key"], sort=False).cumcount()
        sizes = pool.assign(_key=pool["role_key"].fillna("")).drop_duplicates(["territory_id", "_key"])[
            ["territory_id", "_key", "size"]]
        rest = rest.merge(sizes, on=["territory_id", "_key"], how="left")
        rest["slot"] = rest["turn"] % rest["size"].fillna(1).astype(int)
        slots = pool.assign(_key=pool["role_key"].fillna(""))[["territory_id", "_key", "slot", "rep_id"]]
        rest = rest.drop(columns=["rep_id"]).merge(slots, on=["territory_id", "_key", "slot"], how="left")
        rest = rest.set_index("customer_id")
        mask = out["rep_id"].isna()
        out.loc[mask, "rep_id"] = out.loc[mask, "customer_id"].map(rest["rep_id"]).to_numpy()
        out.loc[mask & out["rep_id"].notna(), "assigned_by"] = "territory"
    return out[["customer_id", "rep_id", "assigned_by"]]


def call_plan(frame: pd.DataFrame, customers: pd.DataFrame, reps: pd.DataFrame, contacts: pd.DataFrame,
              maintenance: pd.DataFrame, as_of: pd.Timestamp, contacts_per_month: Mapping[str, float],
              priority, *, has_activities: bool = True) -> pd.DataFrame:
    """The ranked call plan of every rep (see the module docstring for the rules).

    ``frame``: the customer x market table with next best channel; ``contacts``: the
    activities summarised per customer, rep and month
    (:func:`analysis.contract.reduction.contacts`); ``maintenance``:
    :func:`analysis.domain.maintenance.maintenance_list`; ``as_of``: the last day of the
    analysis period; ``contacts_per_month``: segment label -> contacts per month;
    ``priority``: the scheme's priority segments.
    """
    as_of = pd.Timestamp(as_of)
    start = as_of + pd.Timedelta(days=1)
    read = [c for c in frame.columns if c in CALL_PLAN_COLUMNS]  # the columns of the plan (and of its merges)
    rows = frame.loc[frame["customer_type"].isin(SEGMENTABLE_TYPES), read]
    rows["contacts_per_month"] = rows["segment"].astype(object).map(
        {str(k): float(v) for k, v in contacts_per_month.items()}).astype(float)
    rows["untapped_potential"] = untapped(rows)
    rows = rows.sort_values(["customer_id", "contacts_per_month", "untapped_potential", "market"],
                            ascending=[True, False, False, True], na_position="last", kind="mergesort")
    best = rows.drop_duplicates("customer_id", keep="first")
    best = best[best["contacts_per_month"] > 0]
    maint = maintenance[["territory_id", "customer_id", "cadence_days"]].drop_duplicates("customer_id")
    plan = best.merge(maint.drop(columns="territory_id"), on="customer_id", how="left")
    others = maint[~among(maint["customer_id"], plan["customer_id"])]
    if len(others):
        extra = rows[among(rows["customer_id"], others["customer_id"])].drop_duplicates("customer_id")
        extra = extra.merge(maint.drop(columns="territory_id"), on="customer_id", how="left")
        base = customers[["customer_id", "territory_id", "customer_type"]].drop_duplicates("customer_id")
        missing = others[~among(others["customer_id"], extra["customer_id"])].merge(
            base.drop(columns="territory_id"), on="customer_id", how="left")
        plan = pd.concat([plan, extra, missing], ignore_index=True)
    target = plan["contacts_per_month"].fillna(0) > 0
    on_maint = plan["cadence_days"].notna()
    plan["reason"] = np.select([target & on_maint, target], ["target;maintenance", "target"], "maintenance")
    plan["contacts_per_month"] = plan["contacts_per_month"].where(target)
    interval = np.fmin((DAYS_PER_MONTH / plan["contacts_per_month"]).to_numpy(dtype=float),
                       pd.to_numeric(plan["cadence_days"]).to_numpy(dtype=float))
    plan["interval_days"] = np.ceil(interval - 1e-9)
    info = [c for c in ("customer_id", "customer_name", "city") if c in customers]
    plan = plan.drop(columns=[c for c in ("customer_name", "city") if c in plan]).merge(
        customers[info].drop_duplicates("customer_id"), on="customer_id", how="left")
    if has_activities and len(contacts):
        last = last_contacts(contacts, as_of)
        # a lookup by index (Series.map fails on an empty datetime Series: no activity before as_of)
        plan["last_contact"] = pd.to_datetime(pd.Series(last.reindex(plan["customer_id"]).to_numpy(),
                                                        index=plan.index))
        due = plan["last_contact"] + pd.to_timedelta(plan["interval_days"], unit="D")
        plan["due_date"] = due.where(plan["last_contact"].notna(), start)
        plan["overdue"] = (plan["last_contact"].isna() | (plan["due_date"] < start)).astype("boolean")
    else:
        plan["last_contact"] = pd.NaT
        plan["due_date"] = pd.NaT
        plan["overdue"] = pd.array([pd.NA] * len(plan), dtype="boolean")
    plan["priority"] = plan["segment"].isin(list(priority))
    owners = _rep_of(plan, contacts, reps, as_of, has_activities)
    plan = plan.merge(owners, on="customer_id", how="left")
    plan = plan.merge(reps[["rep_id", "rep_name"]], on="rep_id", how="left")
    plan = plan.sort_values(["territory_id", "rep_id", "due_date", "contacts_per_month", "untapped_potential",
                             "customer_id"], ascending=[True, True, True, False, False, True], na_position="last",
                            kind="mergesort")
    plan["rank"] = plan.groupby(["territory_id", "rep_id"], sort=False, dropna=False).cumcount() + 1
    for column in CALL_PLAN_COLUMNS:
        if column not in plan:
            plan[column] = np.nan
    return plan[CALL_PLAN_COLUMNS].reset_index(drop=True)
