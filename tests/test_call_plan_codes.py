"""The call plan on integer codes equals the pandas sorts, merges and groupbys it replaced."""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import pytest

from analysis.contract.reduction import contacts as summarised
from analysis.contract.schema import SEGMENTABLE_TYPES
from analysis.domain.actions import untapped
from analysis.domain.call_plan import (CALL_PLAN_COLUMNS, DAYS_PER_MONTH, SPECIALTY_TYPES, _ranks, _runs,
                                       _sort_keys, _sort_order, _tie_broken, call_plan)
from analysis.domain.keys import among
from analysis.domain.maintenance import contacts_until, last_contacts, maintenance_list

# the pandas implementation the codes replaced (reference)
def _reference_rep_of(candidates: pd.DataFrame, contacts: pd.DataFrame, reps: pd.DataFrame, as_of: pd.Timestamp,
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
        pool["size"] = pool.groupby(["territory_id", pool["role_key"].fillna("")], sort=False)["rep_id"].transform(
            "size")
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


def reference_plan(frame: pd.DataFrame, customers: pd.DataFrame, reps: pd.DataFrame, contacts: pd.DataFrame,
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
    owners = _reference_rep_of(plan, contacts, reps, as_of, has_activities)
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


TYPES = ["hcp", "department", "hospital", "pharmacy", "supplier", "distributor"]


def _data(seed: int, customers: int = 60):
    rng = np.random.default_rng(seed)
    ids = [f"C{i:02d}" for i in rng.permutation(customers)]
    territories = rng.choice(["T2", "T1", "T3", "T9"], customers, p=[0.3, 0.3, 0.3, 0.1])  # T9: no reps
    types = rng.choice(TYPES, customers)
    table = pd.DataFrame({"customer_id": ids, "customer_name": [f"N{i}" for i in ids], "customer_type": types,
                          "territory_id": territories, "city": rng.choice(["X", "Y", None], customers)})
    reps = pd.DataFrame({"rep_id": ["R3", "R1", "R2", "R4", "R5"], "rep_name": list("abcde"),
                         "territory_id": ["T1", "T1", "T2", "T2", "T3"],
                         "role": ["chronic", "specialty", "chronic", "chronic", "specialty"]})
    frame = pd.concat([table.assign(market=m) for m in ("n", "m")], ignore_index=True)
    frame = frame.assign(segment=rng.choice(["A", "B", "C", "D", None], len(frame)),
                         phase=rng.choice(["aware", "trial", None], len(frame)),
                         potential=rng.choice([1.0, 2.0, 5.0, np.nan], len(frame)),
                         support=rng.choice([0.0, 0.5, np.nan], len(frame)), vip=rng.random(len(frame)) < 0.1,
                         next_best_channel=rng.choice(["email", "phone"], len(frame)), next_best_basis="fit",
                         next_best_rate_kind=None, next_best_rate=np.nan, next_best_base=np.nan)
    n = customers * 3
    days = pd.to_timedelta(rng.integers(0, 120, n), unit="D")
    activities = pd.DataFrame({"customer_id": rng.choice(ids, n), "rep_id": rng.choice(reps["rep_id"], n),
                               "date": pd.Timestamp("2026-01-01") + days, "cost": 1.0})
    return frame, table, reps, summarised(activities)


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("has_activities", [True, False])
def test_equals_the_pandas_reference(seed, has_activities):
    frame, customers, reps, contacts = _data(seed)
    as_of = pd.Timestamp("2026-03-31")
    maint = maintenance_list(customers, frame, contacts, as_of, {"distributor": 60, "supplier": 90},
                             has_activities=has_activities)
    args = (frame, customers, reps, contacts, maint, as_of, {"A": 2, "B": 3, "C": 1, "D": 0}, ("A", "B"))
    pd.testing.assert_frame_equal(call_plan(*args, has_activities=has_activities),
                                  reference_plan(*args, has_activities=has_activities))


def test_without_contacts_before_the_plan():
    frame, customers, reps, contacts = _data(3)
    as_of = pd.Timestamp("2025-12-31")
    maint = maintenance_list(customers, frame, contacts, as_of, {"distributor": 60, "supplier": 90})
    args = (frame, customers, reps, contacts, maint, as_of, {"A": 2, "B": 3, "C": 1, "D": 0}, ("A", "B"))
    pd.testing.assert_frame_equal(call_plan(*args), reference_plan(*args))


@pytest.mark.parametrize("ascending", [True, False])
def test_sort_keys_order_as_sort_values(ascending):
    rng = np.random.default_rng(0)
    n = 200
    frame = pd.DataFrame({"text": rng.choice(["b", "a", "é", "B", None], n),
                          "number": rng.choice([0.0, -0.0, 1.5, -2.0, np.nan], n),
                          "count": rng.integers(-3, 3, n),
                          "date": pd.to_datetime(rng.choice(["2026-01-01", "2025-05-05", None], n))})
    frame["category"] = frame["text"].astype("category")
    frame["object"] = frame["text"].astype(object)
    for columns in (["text", "number"], ["count", "date"], ["category", "number"], ["object", "date", "number"]):
        expected = frame.sort_values(columns, ascending=ascending, na_position="last", kind="mergesort")
        order = _sort_order([_sort_keys(frame[c], ascending) for c in columns])
        assert order.tolist() == expected.index.tolist(), columns
    assert _sort_order([_sort_keys(frame["text"].head(0), True)]).tolist() == []
    expected = frame.sort_values(["count", "number", "text"], ascending=[ascending, ascending, True],
                                 na_position="last", kind="mergesort")
    order = _tie_broken([_sort_keys(frame[c], ascending) for c in ("count", "number")], frame["text"])
    assert order.tolist() == expected.index.tolist()
    assert _tie_broken([_sort_keys(frame["count"].head(0), True)], frame["text"].head(0)).tolist() == []


def test_ranks_count_within_runs_as_cumcount():
    frame = pd.DataFrame({"t": ["a", "a", None, None, "b", "b", "b"], "r": ["x", "y", None, None, "x", "x", None]})
    keys = [_sort_keys(frame[c], True) for c in frame]
    order = np.arange(len(frame))
    expected = frame.groupby(["t", "r"], sort=False, dropna=False).cumcount() + 1
    assert _ranks(_runs(keys, order)).tolist() == expected.tolist()
    assert _ranks(_runs(keys, order[:0])).tolist() == []
