"""Coaching and ROI tables (DESIGN 4.6, seed 004).

Per rep, for the analysis window. A rep's customers ("covered" customers) are the
distinct customers the rep had at least one activity with in the window. Inputs:

* ``facts``: one row per activity x market of its customer (see
  :func:`analysis.domain.channels.activity_facts`), already restricted to the analysis window.
  Each row carries the activity's full cost; summed across markets the cost is split
  evenly over the markets the activity counts in (``market_count``), so every market
  weighs the same in a share and each activity's cost is counted once in a total.
* ``frame``: the customer frame, one row per territory x customer x market, with
  ``own_units_analysis`` and ``own_units_comparison``.
* unit margins: :func:`unit_margins` (the own product's margin per market; 1 when the
  products table lacks it, and then ROI is units per unit of cost).

Every function groups by ``territory_id`` / ``rep_id`` so one call computes every
territory; nothing loops over territories, reps or customers.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import numpy as np
import pandas as pd

from analysis.contract.schema import ROLES
from analysis.domain.channels import _labels, effort_shares, split_cost
from analysis.domain.keys import inner_join, left_join, mapped

#: DESIGN 4.6 default norms, in one place (same keys as ``params.DEFAULTS["norms"]``).
#: Every norm is inclusive: a value exactly at the norm is not flagged.
NORMS: dict[str, float] = {
    "coverage_min": 80,               # chronic reps cover 80-120 customers
    "coverage_max": 120,
    "profile_completeness": 0.6,      # a profile is qualified at >= 60% completeness
    "profile_qualified_share": 0.8,   # >= 80% of a rep's customers have a qualified profile
    "effort_on_priority": 0.6,        # >= 60% of effort (cost) on segments A and B
    "mismatched_effort": 0.25,        # <= 25% of effort outside the channel-phase fit
    "over_service": 0.3,              # <= 30% of effort on customers already loyal
}

CHRONIC, SPECIALTY = "chronic", "specialty"
assert CHRONIC in ROLES and SPECIALTY in ROLES
DEPARTMENT = "department"
PRIORITY_SEGMENTS = ("A", "B")  # the 2x2 scheme's; callers pass their scheme's priority
BY_CHOICES = ("rep_id", "segment", "channel")
EPS = 1e-9  # tolerance of the inclusive share norms

#: Coaching flags in report order (their sentences are in ``analysis.report.text``).
FLAGS: tuple[str, ...] = ("coverage_low", "coverage_high", "departments_uncovered", "profiles_unqualified",
                          "effort_off_priority", "mismatched_effort", "over_service")

COACHING_COLUMNS = [
    "territory_id", "rep_id", "rep_name", "role", "customers_covered", "departments_in_territory",
    "departments_covered", "profile_completeness", "profile_qualified_share", "effort_on_priority",
    "mismatched_effort", "over_service", "cost", "own_units_change", "margin_change", "roi",
    "progressions", "flags", "coverage_gap", "priority_uncovered", "profiles_unqualified_count",
    "departments_missing", "departments_missing_names",
]
ROI_COLUMNS = ["cost", "own_units_change", "margin_change", "roi", "customers"]


# ------------------------------------------------------------------ unit margins


class UnitMargins(NamedTuple):
    """Unit margin of the own product per market, and whether a default of 1 was used."""

    margin: pd.Series
    defaulted: bool


def unit_margins(products: pd.DataFrame) -> UnitMargins:
    """The own product's unit margin per market (1.0 where it is missing).

    Returns ``UnitMargins(margin, defaulted)`` (unpack it: ``margin, defaulted =
    unit_margins(products)``): ``margin`` is a float Series indexed by market (every
    market of ``products``), the mean ``unit_margin`` of the market's own products that
    have one; ``defaulted`` is True when some market with an own product has no margin
    (or the table lacks ``unit_margin``) and 1.0 was used, so ROI there is units per
    unit of cost. A market without an own product gets 1.0 without counting as a
    default (it has no own units to value).
    """
    markets = pd.Index(pd.unique(products["market"].astype(object)), name="market")
    own = products[products["is_own"].astype(bool)]
    if "unit_margin" in products.columns:
        given = pd.to_numeric(own["unit_margin"], errors="coerce").astype(float)
    else:
        given = pd.Series(np.nan, index=own.index, dtype=float)
    mean = given.groupby(own["market"].astype(object)).mean()
    own_markets = pd.Index(pd.unique(own["market"].astype(object)))
    defaulted = bool(mean.reindex(own_markets).isna().any())
    margin = mean.reindex(markets).fillna(1.0).astype(float).rename("unit_margin")
    return UnitMargins(margin, defaulted)


def _margin_lookup(unit_margin_by_market) -> pd.Series:
    """A market -> margin Series from a Series, a mapping, a UnitMargins or None."""
    if isinstance(unit_margin_by_market, UnitMargins):
        return unit_margin_by_market.margin
    if unit_margin_by_market is None:
        return pd.Series(dtype=float)
    if isinstance(unit_margin_by_market, pd.Series):
        return unit_margin_by_market.astype(float)
    return pd.Series(dict(unit_margin_by_market), dtype=float)


def _unit_changes(frame: pd.DataFrame, unit_margin_by_market) -> pd.DataFrame:
    """Per frame row: own_units_change (analysis - comparison) and margin_change."""
    margins = _margin_lookup(unit_margin_by_market)
    change = (pd.to_numeric(frame["own_units_analysis"]).astype(float).fillna(0.0)
              - pd.to_numeric(frame["own_units_comparison"]).astype(float).fillna(0.0))
    margin = mapped(frame["market"], margins).astype(float).fillna(1.0)
    return pd.DataFrame({"own_units_change": change, "margin_change": change * margin}, index=frame.index)


# ---------------------------------------------------------------------- helpers


def _rate(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    """numerator / denominator as float; NaN where the denominator is zero or missing."""
    denominator = denominator.astype(float)
    return numerator.astype(float) / denominator.where(denominator > 0)


def _codes(values: pd.Series) -> pd.Series:
    """``values`` as a categorical (already one: as it is), for grouping many rows fast."""
    return values if isinstance(values.dtype, pd.CategoricalDtype) else values.astype("category")


def _as_bool(values: pd.Series) -> pd.Series:
    """A boolean-ish Series as plain bool (missing -> False)."""
    return values.astype("boolean").fillna(False).astype(bool)


def resolve_norms(norms: Mapping[str, float] | None = None) -> dict[str, float]:
    """:data:`NORMS` overlaid by ``norms``; an unknown key is an error (typos must not pass)."""
    norms = dict(norms or {})
    unknown = sorted(set(norms) - set(NORMS))
    if unknown:
        raise ValueError(f"unknown coaching norm(s) {', '.join(unknown)}; known: {', '.join(NORMS)}")
    out = {**NORMS, **{k: v for k, v in norms.items() if v is not None}}
    if out["coverage_min"] > out["coverage_max"]:
        raise ValueError(f"coverage_min ({out['coverage_min']}) is above coverage_max ({out['coverage_max']})")
    return out


def _completeness_by_customer(customers: pd.DataFrame, completeness: pd.Series | None) -> pd.Series:
    """customer_id -> completeness.

    ``completeness`` is aligned with ``customers``' index (as :func:`profile.completeness`
    returns it) or, when its index is named ``customer_id``, indexed by customer.
    """
    if completeness is None:
        return pd.Series(dtype=float)
    if completeness.index.name == "customer_id":
        values = completeness
    else:
        aligned = completeness if completeness.index.equals(customers.index) else completeness.reindex(customers.index)
        values = pd.Series(aligned.to_numpy(), index=customers["customer_id"].to_numpy())
    values = pd.to_numeric(values, errors="coerce").astype(float)
    return values[~values.index.duplicated(keep="first")]


def _missing_departments(reps: pd.DataFrame, customers: pd.DataFrame,
                         pairs: pd.DataFrame) -> pd.DataFrame:
    """Per specialty rep: the territory's department customers the rep did not cover.

    Returns rep_id, departments_missing (count) and departments_missing_names (their
    names, alphabetical, "; "-joined: data for the text module, not a sentence).
    """
    specialty = reps.loc[reps["role"] == SPECIALTY, ["rep_id", "territory_id"]]
    depts = customers.loc[customers["customer_type"] == DEPARTMENT].drop_duplicates("customer_id")
    names = depts["customer_name"] if "customer_name" in depts else depts["customer_id"]
    depts = depts[["territory_id", "customer_id"]].assign(
        _name=names.astype(object).where(names.notna(), depts["customer_id"]).astype(str))
    cand = specialty.merge(depts, on="territory_id", how="inner")
    cand = cand.merge(pairs[["rep_id", "customer_id"]].assign(_covered=True),
                      on=["rep_id", "customer_id"], how="left")
    missing = cand[cand["_covered"].isna()].sort_values(["rep_id", "_name", "customer_id"], kind="mergesort")
    grouped = missing.groupby("rep_id", sort=False)
    return pd.DataFrame({"departments_missing": grouped.size(),
                         "departments_missing_names": grouped["_name"].agg("; ".join)}).rename_axis(
        "rep_id").reset_index()


# ---------------------------------------------------------------------- coaching


def coaching_table(reps: pd.DataFrame, customers: pd.DataFrame, frame: pd.DataFrame, facts: pd.DataFrame,
                   completeness: pd.Series | None, unit_margin_by_market,
                   norms: Mapping[str, float] | None = None, *, priority: tuple[str, ...] = PRIORITY_SEGMENTS,
                   has_activities: bool = True, has_comparison: bool = True,
                   roi_rep: pd.DataFrame | None = None) -> pd.DataFrame:
    """The coaching table: one row per rep of ``reps`` (every territory at once).

    Columns:

    * territory_id, rep_id, rep_name, role: from ``reps``.
    * customers_covered: distinct customers with at least one activity of the rep in
      ``facts``.
    * departments_in_territory / departments_covered: department customers of the rep's
      territory, and how many of them the rep covered (the specialty norm: all).
    * profile_completeness: mean completeness of the covered customers;
      profile_qualified_share: share of them at or above the completeness threshold
      (``norms['profile_completeness']``, 0.6). NaN without covered customers or
      without configured profile fields. ``completeness`` comes from
      :func:`analysis.domain.profile.completeness` (aligned with ``customers``).
    * effort_on_priority, mismatched_effort, over_service: :func:`effort_shares` of the
      rep's activities (``priority``: the segment scheme's priority segments).
    * cost: the rep's activity cost (each activity once).
    * own_units_change, margin_change: the rep's share of its customers' change
      (:func:`roi_by` by ``rep_id``: each customer's change split between the reps that
      touched it in proportion to their cost; ``roi_rep``: that table when the caller has
      made it, else made here); roi: margin_change / cost (NaN when cost is 0).
    * progressions: distinct covered customers who moved up at least one phase in any
      market (``moved_up`` in ``facts``).
    * flags: the missed norms, ";"-joined codes of :data:`FLAGS` ("" when none).
    * the numbers the actions need: coverage_gap (customers to add, negative: to move
      away), priority_uncovered (customers of a priority segment in the territory the rep
      did not cover), profiles_unqualified_count, departments_missing and their names.

    Norms (:data:`NORMS`, overlaid by ``norms``) are inclusive: exactly at a norm is not
    flagged. The coverage norm (80-120) applies to ``chronic`` reps; ``specialty`` reps
    must cover every department customer of their territory.

    Missing is never zero: without activities (``has_activities`` False) every
    activity-based column is NaN and no flag is raised from them; without a comparison
    period (``has_comparison`` False) the changes, ROI and progressions are NaN. A rep
    without activities in a dataset that has them gets zero counts and cost, NaN shares.
    """
    norms = resolve_norms(norms)
    threshold = float(norms["profile_completeness"])
    base = reps[["territory_id", "rep_id", "rep_name", "role"]].drop_duplicates("rep_id").reset_index(drop=True)
    rep_territory = base[["rep_id", "territory_id"]]
    facts = facts.reset_index(drop=True)
    frame = frame.reset_index(drop=True)

    effort = effort_shares(facts, ["rep_id"], priority).set_index("rep_id")

    # covered customers: one row per rep x customer
    pairs = facts[["rep_id", "customer_id"]].assign(_moved=_as_bool(facts["moved_up"]))
    pairs["rep_id"] = pairs["rep_id"].astype(object)
    pairs = pairs.groupby(["rep_id", "customer_id"], sort=False)["_moved"].any().reset_index()
    by_customer = _completeness_by_customer(customers, completeness)
    pairs["_completeness"] = pairs["customer_id"].map(by_customer).astype(float)
    pairs["_known"] = pairs["_completeness"].notna()
    pairs["_qualified"] = pairs["_known"] & (pairs["_completeness"] >= threshold - EPS)
    pairs["_unqualified"] = pairs["_known"] & ~pairs["_qualified"]
    info = customers[["customer_id", "territory_id", "customer_type"]].drop_duplicates("customer_id").rename(
        columns={"territory_id": "_customer_territory"})
    pairs = left_join(left_join(pairs, info, ["customer_id"]), rep_territory, ["rep_id"])
    pairs["_department"] = ((pairs["customer_type"] == DEPARTMENT)
                            & (pairs["_customer_territory"] == pairs["territory_id"])).astype(bool)
    covered = pairs.groupby("rep_id", sort=False).agg(
        customers_covered=("customer_id", "size"),
        departments_covered=("_department", "sum"),
        profile_completeness=("_completeness", "mean"),
        _known=("_known", "sum"),
        _qualified=("_qualified", "sum"),
        profiles_unqualified_count=("_unqualified", "sum"),
        progressions=("_moved", "sum"),
    )
    covered["profile_qualified_share"] = _rate(covered["_qualified"], covered["_known"])

    departments = (customers.loc[customers["customer_type"] == DEPARTMENT]
                   .groupby("territory_id")["customer_id"].nunique().rename("departments_in_territory"))
    prioritised = frame.loc[frame["segment"].isin(list(priority)), ["territory_id", "customer_id"]].drop_duplicates()
    cand = rep_territory.merge(prioritised, on="territory_id", how="inner").merge(
        pairs[["rep_id", "customer_id"]].assign(_covered=True), on=["rep_id", "customer_id"], how="left")
    priority_uncovered = cand[cand["_covered"].isna()].groupby("rep_id").size().rename("priority_uncovered")
    changes = (roi_by(frame, facts, "rep_id", unit_margin_by_market, has_comparison=has_comparison)
               if roi_rep is None else roi_rep)
    changes = changes.assign(rep_id=changes["rep_id"].astype(object)).set_index("rep_id")

    out = base.join(effort[["cost", "effort_on_priority", "mismatched_effort", "over_service"]], on="rep_id")
    out = out.join(covered, on="rep_id").join(departments, on="territory_id").join(priority_uncovered, on="rep_id")
    out = out.join(changes[["own_units_change", "margin_change"]], on="rep_id")
    counts = ["customers_covered", "departments_in_territory", "departments_covered", "progressions",
              "profiles_unqualified_count", "priority_uncovered"]
    out[counts] = out[counts].fillna(0).astype("int64")
    out["cost"] = out["cost"].fillna(0.0).astype(float)
    for column in ("own_units_change", "margin_change"):
        out[column] = out[column].astype(float).fillna(0.0 if has_comparison else np.nan)
    out["roi"] = _rate(out["margin_change"], out["cost"])
    missing = _missing_departments(base, customers, pairs)
    out = out.merge(missing, on="rep_id", how="left")
    out["departments_missing"] = out["departments_missing"].fillna(0).astype("int64")
    lo, hi = norms["coverage_min"], norms["coverage_max"]
    covered_n = out["customers_covered"]
    out["coverage_gap"] = np.where(covered_n < lo, lo - covered_n, np.where(covered_n > hi, hi - covered_n, 0))

    activity_based = ["customers_covered", "departments_covered", "profile_completeness", "profile_qualified_share",
                      "effort_on_priority", "mismatched_effort", "over_service", "cost", "own_units_change",
                      "margin_change", "roi", "progressions", "coverage_gap", "priority_uncovered",
                      "profiles_unqualified_count", "departments_missing"]
    if not has_activities:
        out[activity_based] = np.nan
        out["departments_missing_names"] = None
    if not has_comparison:
        out["progressions"] = np.nan
    out["flags"] = coaching_flags(out, norms)
    out = out.sort_values(["territory_id", "rep_id"], kind="mergesort", ignore_index=True)
    return out[COACHING_COLUMNS]


def coaching_flags(out: pd.DataFrame, norms: Mapping[str, float]) -> pd.Series:
    """The missed norms of every rep, ";"-joined codes of :data:`FLAGS` ("" when none).

    A norm whose measure is missing (no activities, no profile fields) raises no flag;
    a flag whose columns ``out`` lacks is not checked (the what-if has only the shares).
    """
    lo, hi = norms["coverage_min"], norms["coverage_max"]
    rules = {  # flag -> (the columns it needs, the rule)
        "coverage_low": (("role", "customers_covered"),
                         lambda: (out["role"] == CHRONIC) & (out["customers_covered"] < lo)),
        "coverage_high": (("role", "customers_covered"),
                          lambda: (out["role"] == CHRONIC) & (out["customers_covered"] > hi)),
        "departments_uncovered": (("role", "departments_missing"),
                                  lambda: (out["role"] == SPECIALTY) & (out["departments_missing"] > 0)),
        "profiles_unqualified": (("profile_qualified_share",),
                                 lambda: out["profile_qualified_share"] < norms["profile_qualified_share"] - EPS),
        "effort_off_priority": (("effort_on_priority",),
                                lambda: out["effort_on_priority"] < norms["effort_on_priority"] - EPS),
        "mismatched_effort": (("mismatched_effort",),
                              lambda: out["mismatched_effort"] > norms["mismatched_effort"] + EPS),
        "over_service": (("over_service",), lambda: out["over_service"] > norms["over_service"] + EPS),
    }
    text = pd.Series("", index=out.index, dtype=object)
    for name in FLAGS:  # a loop over the few flags, not over reps
        needs, rule = rules[name]
        if not all(column in out for column in needs):
            continue
        hit = pd.Series(rule(), index=out.index).fillna(False).astype(bool)
        text = text.where(~hit, text + np.where(text.eq(""), "", ";") + name)
    return text


# --------------------------------------------------------------------------- ROI


def roi_by(frame: pd.DataFrame, facts: pd.DataFrame, by: str, unit_margin_by_market, *,
           has_comparison: bool = True) -> pd.DataFrame:
    """Territory ROI by ``rep_id``, ``segment`` or ``channel``, with cost-share attribution.

    One row per territory x value of ``by`` with effort in ``facts``: cost (each
    activity's cost split evenly over the markets it counts in, so the rows of a
    territory add up to its activity cost), own_units_change and margin_change, roi
    (margin_change / cost; NaN when cost is 0) and customers (distinct customers).

    Attribution (DESIGN 4.6): only customers touched in the window count. A customer's
    change in a market (own units, analysis minus comparison, times the market's unit
    margin) is split between the values of ``by`` in proportion to the cost each spent on
    that customer (by activity count where the customer's cost is 0); a ``segment`` is a
    property of the customer x market, so the change of that market goes to it whole.
    So the rows of each ``by`` add up to the same territory totals, and no customer is
    counted twice. Without a comparison period (``has_comparison`` False) the changes
    and ROI are NaN. Effort on customers without a segment forms a row with a missing
    segment.
    """
    if by not in BY_CHOICES:
        raise ValueError(f"roi_by: by must be one of {', '.join(BY_CHOICES)}, got {by!r}")
    keys = ["territory_id", by]
    facts = facts.reset_index(drop=True)
    frame = frame.reset_index(drop=True)
    split = split_cost(facts)
    # the (many) activity rows are grouped on category codes; the (few) groups' keys are
    # then plain labels, as the customer frame's
    rows = pd.DataFrame({"territory_id": _codes(facts["territory_id"]), by: _codes(facts[by]),
                         "customer_id": _codes(facts["customer_id"]), "cost": split,
                         "_count": split_cost(facts.assign(cost=1.0))})
    cost = _labels(rows.groupby(keys, sort=False, dropna=False, observed=True)["cost"].sum().reset_index(), keys)
    changes = _unit_changes(frame, unit_margin_by_market).assign(
        territory_id=frame["territory_id"].astype(object), customer_id=frame["customer_id"],
        market=frame["market"].astype(object), segment=frame["segment"].astype(object))
    if by == "segment":
        touched = _labels(rows[["territory_id", "customer_id"]].drop_duplicates(), ["territory_id", "customer_id"])
        parts = inner_join(changes, touched, ["territory_id", "customer_id"])
    else:
        per = rows.groupby(["territory_id", "customer_id", by], sort=False, dropna=False, observed=True)[
            ["cost", "_count"]].sum()
        per = _labels(per.reset_index(), ["territory_id", "customer_id", by])
        total = per.groupby(["territory_id", "customer_id"], sort=False)[["cost", "_count"]].transform("sum")
        per["weight"] = np.where(total["cost"] > 0, per["cost"] / total["cost"].where(total["cost"] > 0),
                                 per["_count"] / total["_count"])
        change = changes.groupby(["territory_id", "customer_id"], sort=False)[
            ["own_units_change", "margin_change"]].sum().reset_index()
        parts = left_join(per, change, ["territory_id", "customer_id"])
        for column in ("own_units_change", "margin_change"):
            parts[column] = parts[column].fillna(0.0) * parts["weight"]
    units = parts.groupby(keys, sort=False, dropna=False).agg(
        own_units_change=("own_units_change", "sum"),
        margin_change=("margin_change", "sum"),
        customers=("customer_id", "nunique"),
    ).reset_index()
    out = cost.merge(units, on=keys, how="outer")
    out["cost"] = out["cost"].fillna(0.0).astype(float)
    out[["own_units_change", "margin_change"]] = out[["own_units_change", "margin_change"]].fillna(0.0).astype(float)
    if not has_comparison:
        out[["own_units_change", "margin_change"]] = np.nan
    out["customers"] = out["customers"].fillna(0).astype("int64")
    out["roi"] = _rate(out["margin_change"], out["cost"])
    out = out.sort_values(keys, kind="mergesort", na_position="last", ignore_index=True)
    return out[[*keys, *ROI_COLUMNS]]


def flag_counts(coaching: pd.DataFrame) -> pd.DataFrame:
    """Reps carrying each coaching flag, per territory: columns territory_id and one per flag."""
    flags = coaching["flags"].fillna("").astype(str).str.split(";")
    counts = {flag: flags.map(lambda codes, f=flag: f in codes) for flag in FLAGS}
    frame = pd.DataFrame({"territory_id": coaching["territory_id"].to_numpy(),
                          **{k: v.to_numpy() for k, v in counts.items()}})
    return frame.groupby("territory_id", sort=True)[list(FLAGS)].sum().astype("int64").reset_index()
