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
from analysis.domain.keys import among, as_category, combined_codes, factorized, left_join, positions_in
from analysis.domain.maintenance import contacts_until

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


def _sort_keys(values: pd.Series, ascending: bool) -> list[np.ndarray]:
    """np.lexsort keys (most significant first) that order ``values`` as ``sort_values``
    does with ``na_position="last"`` (text by its rank in code point order): whether
    missing (when any is), then the value."""
    missing = values.isna().to_numpy()
    if values.dtype.kind == "f":
        value = values.to_numpy(dtype=float, na_value=0.0)
    elif values.dtype.kind in "iub":
        value = values.to_numpy(dtype=np.int64, na_value=0)
    elif values.dtype.kind in "mM":
        value = values.to_numpy().view(np.int64)
    else:
        value = as_category(values).cat.codes.to_numpy().astype(np.int64)
    if not missing.any():
        return [value if ascending else -value]
    value = np.where(missing, 0, value)
    return [missing, value if ascending else -value]


def _sort_order(keys: list[list[np.ndarray]]) -> np.ndarray:
    """The stable order of rows by ``keys`` (per column, most significant first)."""
    return np.lexsort([key for column in keys for key in column][::-1])


def _tie_broken(keys: list[list[np.ndarray]], tie_break: pd.Series) -> np.ndarray:
    """The stable order of rows by ``keys``, then by ``tie_break`` (ascending, missing last)
    among the rows alike in ``keys`` (ranked only there)."""
    order = _sort_order(keys)
    run = np.cumsum(_runs(keys, order)) - 1
    tied = np.bincount(run)[run] > 1 if len(run) else np.zeros(0, dtype=bool)
    if tied.any():
        rows = order[tied]
        within = _sort_keys(tie_break.iloc[rows].reset_index(drop=True), True)
        order[tied] = rows[np.lexsort((*within[::-1], run[tied]))]
    return order


def _runs(keys: list[list[np.ndarray]], order: np.ndarray) -> np.ndarray:
    """Whether each row of ``order`` starts a run of rows alike in ``keys``."""
    start = np.zeros(len(order), dtype=bool)
    start[:1] = True
    for key in (key[order] for column in keys for key in column):
        start[1:] |= key[1:] != key[:-1]
    return start


def _ranks(starts: np.ndarray) -> np.ndarray:
    """1, 2, ... within each run of rows (``starts``: whether a row starts a run)."""
    position = np.arange(len(starts), dtype=np.int64)
    return position - np.maximum.accumulate(np.where(starts, position, 0)) + 1


def _last_contacts(contacts: pd.DataFrame, candidate: np.ndarray, candidates: int) -> np.ndarray:
    """The date of the latest of ``contacts`` of each of ``candidates`` (NaT: none);
    ``candidate``: the candidate of each contact (-1: none)."""
    dates = pd.to_datetime(contacts["last_date"]).to_numpy()
    rows = candidate >= 0
    latest = np.full(candidates, np.datetime64("NaT"), dtype=dates.dtype).view(np.int64)
    np.maximum.at(latest, candidate[rows], dates.view(np.int64)[rows])  # (NaT: the smallest int64)
    return latest.view(dates.dtype)


def _top_reps(candidates: pd.DataFrame, contacts: pd.DataFrame, candidate: np.ndarray,
              reps: pd.DataFrame) -> np.ndarray:
    """The rep of each candidate (territory_id, customer_id) with the most ``contacts``
    activities among its territory's reps (ties: the smallest rep_id; missing: none);
    ``candidate``: the candidate of each contact (-1: none)."""
    rep_ids = pd.unique(reps["rep_id"])
    territory, territory_ids = factorized(reps["territory_id"])
    row, at = _rows_of(contacts["rep_id"], reps["rep_id"])
    of = candidate[row]
    theirs = positions_in(candidates["territory_id"], territory_ids)
    kept = (of >= 0) & (territory[at] >= 0)
    kept[kept] = territory[at][kept] == theirs[of[kept]]  # a rep of the candidate's territory
    width = max(len(rep_ids), 1)
    pair = of[kept] * width + positions_in(reps["rep_id"], rep_ids)[at][kept]
    n = pd.Series(contacts["activities"].to_numpy()[row][kept]).groupby(pair).sum()
    of, rep = np.divmod(n.index.to_numpy(), width)
    top = np.lexsort((_sort_keys(pd.Series(rep_ids), True)[-1][rep], -n.to_numpy(), of))
    top = top[np.r_[True, of[top][1:] != of[top][:-1]]] if len(top) else top
    out = np.full(len(candidates), np.nan, dtype=object)
    out[of[top]] = np.asarray(rep_ids, dtype=object)[rep[top]]
    return out


def _rows_of(rep_ids: pd.Series, reps_rep_id: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """The (contact row, reps row) positions of an inner merge of ``rep_ids`` with the reps, in its order."""
    if reps_rep_id.is_unique:
        found = positions_in(rep_ids, reps_rep_id)
        row = np.flatnonzero(found >= 0)
        return row, found[row]
    pairs = pd.DataFrame({"rep_id": rep_ids, "_row": np.arange(len(rep_ids))}).merge(
        pd.DataFrame({"rep_id": reps_rep_id, "_at": np.arange(len(reps_rep_id))}), on="rep_id", how="inner")
    return pairs["_row"].to_numpy(), pairs["_at"].to_numpy()


def _pool(reps: pd.DataFrame) -> pd.DataFrame:
    """The reps each territory deals its customers to, by role and (``_key`` "") all of
    them: territory_id, _key, rep_id, slot (0, 1, ... by rep_id) and size of the group."""
    pool = pd.concat([reps.assign(role_key=reps["role"]), reps.assign(role_key=None)], ignore_index=True)
    pool = pool.sort_values(["territory_id", "rep_id"], kind="mergesort")
    pool["_key"] = pool["role_key"].fillna("")
    grouped = pool.groupby(["territory_id", "_key"], sort=False)
    return pool.assign(slot=grouped.cumcount(), size=grouped["rep_id"].transform("size"))


def _dealt(rest: pd.DataFrame, reps: pd.DataFrame) -> np.ndarray:
    """The rep each of ``rest`` (territory_id, customer_id, customer_type: customers no rep
    has contacted) is dealt: the territory's reps of the fitting role (all of them when it
    has none), in turn by customer_id (missing: the territory has no reps)."""
    pool = _pool(reps)
    territory, territories = factorized(pool["territory_id"])
    key, keys = factorized(pool["_key"])
    widths = [max(len(territories), 1), max(len(keys), 1)]
    seated = combined_codes([territory, key], widths)  # the group of each pool row
    first = np.unique(seated, return_index=True)[1]
    groups, sizes = pd.Index(seated[first]), pool["size"].to_numpy()[first]
    theirs = positions_in(rest["territory_id"], territories)
    role = pd.Series(np.where(rest["customer_type"].isin(SPECIALTY_TYPES), "specialty", "chronic"))
    fitting = combined_codes([theirs, positions_in(role, keys)], widths)
    anyone = combined_codes([theirs, np.full(len(rest), keys.get_loc("") if "" in keys else -1)], widths)
    group = np.where((fitting >= 0) & (groups.get_indexer(fitting) >= 0), fitting, anyone)
    in_turn = [[group], _sort_keys(rest["customer_id"], True)]
    order = _sort_order(in_turn)
    turn = np.empty(len(rest), dtype=np.int64)
    turn[order] = _ranks(_runs(in_turn[:1], order)) - 1
    at = np.where(group >= 0, groups.get_indexer(group), -1)
    seats = len(pool) + 1
    slot = np.where(at >= 0, turn % np.where(at >= 0, sizes[at] if len(sizes) else 1, 1), -1)
    listed = np.flatnonzero(seated >= 0)  # (a pool row without territory seats nobody)
    found = pd.Index(seated[listed] * seats + pool["slot"].to_numpy()[listed].astype(np.int64)).get_indexer(
        np.where(at >= 0, group * seats + slot, -1))
    out = np.full(len(rest), np.nan, dtype=object)
    out[found >= 0] = pool["rep_id"].to_numpy(dtype=object)[listed[found[found >= 0]]]
    return out


def _rep_of(candidates: pd.DataFrame, contacts: pd.DataFrame | None, candidate: np.ndarray | None,
            reps: pd.DataFrame) -> pd.DataFrame:
    """rep_id and assigned_by of each candidate customer (territory_id, customer_id, customer_type);
    ``contacts``: those until the end of the analysis period (None: no activity data),
    ``candidate``: the candidate of each contact (-1: none)."""
    out = candidates[["territory_id", "customer_id", "customer_type"]].copy()
    out["rep_id"], out["assigned_by"] = None, None
    reps = reps[["rep_id", "territory_id", "role"]]
    if contacts is not None:
        rep = _top_reps(out, contacts, candidate, reps)
        out["rep_id"] = rep
        out.loc[pd.notna(rep), "assigned_by"] = "contacts"
    mask = out["rep_id"].isna().to_numpy()
    if mask.any():
        out.loc[mask, "rep_id"] = _dealt(out[mask], reps)
        out.loc[mask & out["rep_id"].notna().to_numpy(), "assigned_by"] = "territory"
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
    customer = factorized(rows["customer_id"])[0]
    keys = [[customer], _sort_keys(rows["contacts_per_month"], False), _sort_keys(rows["untapped_potential"], False),
            _sort_keys(rows["market"], True)]
    order = _sort_order(keys)
    firsts = rows.iloc[order[_runs(keys[:1], order)]]  # each customer's market row with most contacts, untapped
    best = firsts[firsts["contacts_per_month"] > 0]
    maint = maintenance[["territory_id", "customer_id", "cadence_days"]].drop_duplicates("customer_id")
    plan = left_join(best, maint.drop(columns="territory_id"), ["customer_id"])
    others = maint[~among(maint["customer_id"], plan["customer_id"])]
    listed = ~customers["customer_id"].duplicated().to_numpy()  # each customer's first row
    if len(others):
        extra = firsts[among(firsts["customer_id"], others["customer_id"])]
        extra = left_join(extra, maint.drop(columns="territory_id"), ["customer_id"])
        missing = left_join(others[~among(others["customer_id"], extra["customer_id"])],
                            customers.loc[listed, ["customer_id", "customer_type"]], ["customer_id"])
        plan = pd.concat([plan, extra, missing], ignore_index=True)
    target = plan["contacts_per_month"].fillna(0) > 0
    on_maint = plan["cadence_days"].notna()
    plan["reason"] = np.select([target & on_maint, target], ["target;maintenance", "target"], "maintenance")
    plan["contacts_per_month"] = plan["contacts_per_month"].where(target)
    interval = np.fmin((DAYS_PER_MONTH / plan["contacts_per_month"]).to_numpy(dtype=float),
                       pd.to_numeric(plan["cadence_days"]).to_numpy(dtype=float))
    plan["interval_days"] = np.ceil(interval - 1e-9)
    info = [c for c in ("customer_id", "customer_name", "city") if c in customers]
    plan = left_join(plan.drop(columns=[c for c in ("customer_name", "city") if c in plan]),
                     customers.loc[listed, info], ["customer_id"])
    until = candidate = None
    if has_activities and len(contacts):
        until = contacts_until(contacts[["customer_id", "rep_id", "period", "activities", "last_date"]], as_of)
        candidate = positions_in(until["customer_id"], plan["customer_id"])  # (a customer is on the plan once)
        plan["last_contact"] = pd.to_datetime(pd.Series(_last_contacts(until, candidate, len(plan)),
                                                        index=plan.index))
        due = plan["last_contact"] + pd.to_timedelta(plan["interval_days"], unit="D")
        plan["due_date"] = due.where(plan["last_contact"].notna(), start)
        plan["overdue"] = (plan["last_contact"].isna() | (plan["due_date"] < start)).astype("boolean")
    else:
        plan["last_contact"] = pd.NaT
        plan["due_date"] = pd.NaT
        plan["overdue"] = pd.array([pd.NA] * len(plan), dtype="boolean")
    plan["priority"] = plan["segment"].isin(list(priority))
    owners = _rep_of(plan, until, candidate, reps)  # row for row
    plan["rep_id"], plan["assigned_by"] = owners["rep_id"], owners["assigned_by"]
    plan = left_join(plan, reps[["rep_id", "rep_name"]], ["rep_id"])
    keys = [_sort_keys(plan[c], up) for c, up in (("territory_id", True), ("rep_id", True), ("due_date", True),
                                                  ("contacts_per_month", False), ("untapped_potential", False))]
    order = _tie_broken(keys, plan["customer_id"])
    plan = plan.iloc[order]
    plan["rank"] = _ranks(_runs(keys[:2], order))
    for column in CALL_PLAN_COLUMNS:
        if column not in plan:
            plan[column] = np.nan
    return plan[CALL_PLAN_COLUMNS].reset_index(drop=True)
