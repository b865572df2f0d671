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

from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import NamedTuple

import numpy as np
import pandas as pd

from analysis.contract.schema import ROLES
from analysis.domain.channels import effort_shares, split_cost
from analysis.domain.keys import factorized, floats, group_sums, grouped, mapped, positions_in

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


def _category_codes(values: pd.Series) -> np.ndarray:
    """The codes of a categorical Series (-1: missing)."""
    return values.cat.codes.to_numpy()


def _codes_among(values: pd.Series, categorical: pd.Series) -> np.ndarray:
    """The code of each of ``values`` among the categories of ``categorical``: -1 where
    missing (as a categorical's code), -2 where not a category."""
    codes = positions_in(values, categorical.cat.categories)
    return np.where(codes >= 0, codes, np.where(values.isna().to_numpy(), -1, -2))


def _labels_of(categorical: pd.Series, codes: np.ndarray) -> pd.Index:
    """The categories of ``categorical`` at ``codes`` (-1: missing) as plain labels (an
    index of them, inferred as :func:`channels._labels` infers them)."""
    return pd.Index(np.append(categorical.cat.categories.astype(object).to_numpy(), np.nan)[codes])


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
        values = pd.Series(aligned.to_numpy(), index=pd.Index(customers["customer_id"].array))
    values = pd.to_numeric(values, errors="coerce").astype(float)
    return values[~values.index.duplicated(keep="first")]


class _Coverage(NamedTuple):
    """The rep x customer pairs of the facts: each pair's rep code * len(customers) +
    customer code, codes of the categories ``reps`` and ``customers``."""

    reps: pd.Index
    customers: pd.Index
    keys: pd.Index

    def among(self, rep_ids: pd.Series, customer_ids: pd.Series) -> np.ndarray:
        """Whether each rep x customer of ``rep_ids``, ``customer_ids`` is a pair (False
        where either is missing)."""
        r, c = positions_in(rep_ids, self.reps), positions_in(customer_ids, self.customers)
        key = np.where((r >= 0) & (c >= 0), r.astype(np.int64) * len(self.customers) + c, -1)
        return self.keys.get_indexer(key) >= 0


def _rep_customers(rep: pd.Series, customer: pd.Series, moved: pd.Series) -> tuple[pd.DataFrame, _Coverage]:
    """The rep x customer pairs of the fact rows (categoricals ``rep``, ``customer``; a
    missing one is no pair), in the order they first appear: columns _rep and _customer
    (their codes) and _moved (some row of the pair moved up); and their :class:`_Coverage`."""
    groups, (r, c) = grouped([_category_codes(rep), _category_codes(customer)])
    moved_up = np.zeros(len(r), dtype=bool)
    moved_up[groups[moved.to_numpy(dtype=bool)]] = True
    kept = (r >= 0) & (c >= 0)
    pairs = pd.DataFrame({"_rep": r[kept], "_customer": c[kept], "_moved": moved_up[kept]})
    customers = customer.cat.categories
    keys = pd.Index(pairs["_rep"].to_numpy() * len(customers) + pairs["_customer"].to_numpy())
    return pairs, _Coverage(rep.cat.categories, customers, keys)


def _of_categories(categorical: pd.Series, mapping: pd.Series) -> np.ndarray:
    """``mapping``'s entry for each category of ``categorical`` (missing where it has none)."""
    return mapped(pd.Series(categorical.cat.categories), mapping).to_numpy()


def _in_own_territory_department(pairs: pd.DataFrame, rep: pd.Series, customer: pd.Series,
                                 customers: pd.DataFrame, rep_territory: pd.DataFrame) -> np.ndarray:
    """Whether the customer of each of ``pairs`` (codes of ``rep``, ``customer``) is a
    department of its rep's territory (customer type and territory from ``customers``,
    the first row of each customer; the rep's territory from ``rep_territory``)."""
    info = customers.loc[~customers["customer_id"].duplicated(), ["customer_id", "territory_id", "customer_type"]]
    found = positions_in(pd.Series(customer.cat.categories), info["customer_id"])  # of each customer category
    department = np.append((info["customer_type"] == DEPARTMENT).to_numpy(dtype=bool), False)[found]
    territories = pd.Index(rep_territory["territory_id"].dropna().unique())
    customer_territory = positions_in(info["territory_id"].array.take(found, allow_fill=True), territories)
    rep_territory_code = positions_in(_of_categories(rep, rep_territory.set_index("rep_id")["territory_id"]),
                                      territories)
    c, r = pairs["_customer"].to_numpy(), pairs["_rep"].to_numpy()
    return department[c] & (customer_territory[c] >= 0) & (customer_territory[c] == rep_territory_code[r])


def _missing_departments(reps: pd.DataFrame, customers: pd.DataFrame, coverage: _Coverage) -> pd.DataFrame:
    """Per specialty rep: the territory's department customers the rep did not cover
    (``coverage``: the rep x customer pairs of the facts).

    Returns rep_id, departments_missing (count) and departments_missing_names (their
    names, alphabetical, "; "-joined: data for the text module, not a sentence).
    """
    specialty = reps.loc[reps["role"] == SPECIALTY, ["rep_id", "territory_id"]]
    depts = customers.loc[customers["customer_type"] == DEPARTMENT].drop_duplicates("customer_id")
    names = depts["customer_name"] if "customer_name" in depts else depts["customer_id"]
    depts = depts[["territory_id", "customer_id"]].assign(
        _name=names.astype(object).where(names.notna(), depts["customer_id"]).astype(str))
    cand = specialty.merge(depts, on="territory_id", how="inner")
    missing = cand[~coverage.among(cand["rep_id"], cand["customer_id"])]
    missing = missing.sort_values(["rep_id", "_name", "customer_id"], kind="mergesort")
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
    rep, customer = _codes(facts["rep_id"]), _codes(facts["customer_id"])
    pairs, coverage = _rep_customers(rep, customer, _as_bool(facts["moved_up"]))
    by_customer = _completeness_by_customer(customers, completeness)
    pairs["_completeness"] = _of_categories(customer, by_customer).astype(float)[pairs["_customer"].to_numpy()]
    pairs["_known"] = pairs["_completeness"].notna()
    pairs["_qualified"] = pairs["_known"] & (pairs["_completeness"] >= threshold - EPS)
    pairs["_unqualified"] = pairs["_known"] & ~pairs["_qualified"]
    pairs["_department"] = _in_own_territory_department(pairs, rep, customer, customers, rep_territory)
    covered = pairs.groupby("_rep", sort=False).agg(
        customers_covered=("_customer", "size"),
        departments_covered=("_department", "sum"),
        profile_completeness=("_completeness", "mean"),
        _known=("_known", "sum"),
        _qualified=("_qualified", "sum"),
        profiles_unqualified_count=("_unqualified", "sum"),
        progressions=("_moved", "sum"),
    )
    covered.index = _labels_of(rep, covered.index.to_numpy()).rename("rep_id")
    covered["profile_qualified_share"] = _rate(covered["_qualified"], covered["_known"])

    departments = (customers.loc[customers["customer_type"] == DEPARTMENT]
                   .groupby("territory_id")["customer_id"].nunique().rename("departments_in_territory"))
    prioritised = frame.loc[frame["segment"].isin(list(priority)), ["territory_id", "customer_id"]].drop_duplicates()
    cand = rep_territory.merge(prioritised, on="territory_id", how="inner")
    uncovered = ~coverage.among(cand["rep_id"], cand["customer_id"])
    priority_uncovered = cand[uncovered].groupby("rep_id").size().rename("priority_uncovered")
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
    missing = _missing_departments(base, customers, coverage)
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
    return roi_tables(frame, facts, [by], unit_margin_by_market, has_comparison=has_comparison)[by]


def roi_tables(frame: pd.DataFrame, facts: pd.DataFrame, bys: Sequence[str], unit_margin_by_market, *,
               has_comparison: bool = True) -> dict[str, pd.DataFrame]:
    """:func:`roi_by` of each of ``bys`` (by name), what they share made once: each fact
    row's split cost and activity share, each frame row's change, each territory x
    customer's change."""
    unknown = [by for by in bys if by not in BY_CHOICES]
    if unknown:
        raise ValueError(f"roi_by: by must be one of {', '.join(BY_CHOICES)}, got {unknown[0]!r}")
    base = _RoiBase(facts.reset_index(drop=True), frame.reset_index(drop=True), unit_margin_by_market)
    made = {}
    for by in sorted(dict.fromkeys(bys), key=lambda by: by == "segment"):  # the segment's last: it reads less
        if by == "segment":  # what only the others read let go (millions of fact rows)
            base.let_go("share", "customer_changes")
        made[by] = _roi_of(base, by, has_comparison)
    return {by: made[by] for by in bys}


class _RoiBase:
    """What :func:`roi_by` reads whatever its ``by``, each part made when first read and
    kept until :meth:`let_go`."""

    def __init__(self, facts: pd.DataFrame, frame: pd.DataFrame, unit_margin_by_market):
        self.facts, self.frame = facts, frame
        # the (many) activity rows are grouped on the codes of their categories
        self.territory, self.customer = _codes(facts["territory_id"]), _codes(facts["customer_id"])
        self.t, self.c = _category_codes(self.territory), _category_codes(self.customer)
        self.changes = _unit_changes(frame, unit_margin_by_market)

    @cached_property
    def split(self) -> np.ndarray:
        """Each fact row's cost, split over the markets its activity counts in."""
        return split_cost(self.facts).to_numpy()

    @cached_property
    def share(self) -> np.ndarray:
        """Each fact row's share of its activity (:func:`_activity_share`)."""
        return _activity_share(self.facts)

    @cached_property
    def customer_changes(self) -> CustomerChanges:
        """:func:`_customer_change_sums` of the frame."""
        return _customer_change_sums(self.frame, self.changes, self.territory, self.customer)

    def let_go(self, *parts: str) -> None:
        """Drop the ``parts`` made (made again if read again)."""
        for part in parts:
            self.__dict__.pop(part, None)  # (where a cached_property keeps its value)


def _roi_of(base: _RoiBase, by: str, has_comparison: bool) -> pd.DataFrame:
    """:func:`roi_by` of ``by`` from its :class:`_RoiBase`."""
    keys = ["territory_id", by]
    frame, facts, territory, customer = base.frame, base.facts, base.territory, base.customer
    value = _codes(facts[by])
    t, v, c = base.t, _category_codes(value), base.c
    if by == "segment":
        groups, (group_t, group_v) = grouped([t, v])
        cost = group_sums({"cost": base.split}, groups, len(group_t))
        del groups
        units = _segment_units(frame, base.changes, territory, customer)
    else:  # the territory x value groups of the customer x value groups, in the same order of appearance
        per, (per_t, per_c, per_v) = grouped([t, c, v])
        spent = group_sums({"cost": base.split, "_count": base.share}, per, len(per_t))
        per_group, (group_t, group_v) = grouped([per_t, per_v])
        cost = group_sums({"cost": base.split}, per_group[per], len(group_t))
        del per
        units = _attributed_units(base.customer_changes, per_t, per_c, per_group, spent)
        units = units.assign(territory_id=_labels_of(territory, group_t), **{by: _labels_of(value, group_v)})
    cost = pd.DataFrame({"territory_id": _labels_of(territory, group_t), by: _labels_of(value, group_v),
                         "cost": cost["cost"].to_numpy()})
    out = cost.merge(units, on=keys, how="outer")
    out["cost"] = out["cost"].fillna(0.0).astype(float)
    out[["own_units_change", "margin_change"]] = out[["own_units_change", "margin_change"]].fillna(0.0).astype(float)
    if not has_comparison:
        out[["own_units_change", "margin_change"]] = np.nan
    out["customers"] = out["customers"].fillna(0).astype("int64")
    out["roi"] = _rate(out["margin_change"], out["cost"])
    out = out.sort_values(keys, kind="mergesort", na_position="last", ignore_index=True)
    return out[[*keys, *ROI_COLUMNS]]


def _attributed_units(customer_changes: CustomerChanges, per_t: np.ndarray, per_c: np.ndarray,
                      units: np.ndarray, spent: pd.DataFrame) -> pd.DataFrame:
    """Per group of ``units`` (the unit group of each customer x value group): the
    own_units_change and margin_change of the customers, each customer's change split
    between the values in proportion to their cost on it (activity count where that cost
    is 0), and customers (distinct customers). ``customer_changes``: the changes of each
    territory x customer (:func:`_customer_change_sums`); ``per_t``, ``per_c``: each
    customer x value group's territory and customer codes (of the categories of the
    facts' territory and customer); ``spent``: each such group's cost and _count (activities)."""
    placed = (per_t >= 0) & (per_c >= 0)  # a customer x value with a missing territory or customer has no total
    pair, _ = grouped([per_t, per_c])
    total = group_sums(spent, pair, int(pair.max(initial=-1)) + 1).iloc[pair].reset_index(drop=True)
    total = total.where(pd.Series(placed), axis=0)
    weight = np.where(total["cost"] > 0, spent["cost"] / total["cost"].where(total["cost"] > 0),
                      spent["_count"] / total["_count"])
    found = _changes_per_customer(customer_changes, np.where(placed, per_t, -1), per_c)
    n = int(units.max(initial=-1)) + 1
    sums = group_sums({column: found[column].fillna(0.0).to_numpy() * weight
                  for column in ("own_units_change", "margin_change")}, units, n)
    return sums.assign(customers=np.bincount(units[per_c >= 0], minlength=n))


class CustomerChanges(NamedTuple):
    """The changes of each territory x customer of a frame, keyed by ``t * width + c``
    (their codes among some categories of territories and customers, ``width`` the count
    of the customers'): the keys, and the sums of own_units_change and margin_change."""

    keys: pd.Index
    sums: pd.DataFrame
    width: int


def _customer_change_sums(frame: pd.DataFrame, changes: pd.DataFrame, territory: pd.Series,
                          customer: pd.Series) -> CustomerChanges:
    """own_units_change and margin_change summed over the markets of each territory x
    customer of the frame (codes among the categories of ``territory`` and ``customer``)."""
    frame_t = positions_in(frame["territory_id"], territory.cat.categories)
    frame_c = positions_in(frame["customer_id"], customer.cat.categories)
    known = (frame_t >= 0) & (frame_c >= 0)
    width = len(customer.cat.categories)
    rows, pairs = pd.factorize(frame_t[known].astype(np.int64) * width + frame_c[known])
    sums = group_sums({k: changes[k].to_numpy()[known] for k in ("own_units_change", "margin_change")}, rows,
                      len(pairs))
    return CustomerChanges(pd.Index(pairs), sums, width)


def _changes_per_customer(customer_changes: CustomerChanges, t: np.ndarray, c: np.ndarray) -> pd.DataFrame:
    """The territory x customer changes (:func:`_customer_change_sums`) of the codes
    ``t``, ``c``; missing where the frame has no such row (or a code is -1)."""
    pairs, sums, width = customer_changes
    wanted = np.where((t >= 0) & (c >= 0), t.astype(np.int64) * width + c, -1)
    found = pairs.get_indexer(wanted)
    return pd.DataFrame({k: sums[k].array.take(found, allow_fill=True) for k in sums.columns})


def _segment_units(frame: pd.DataFrame, changes: pd.DataFrame, territory: pd.Series,
                   customer: pd.Series) -> pd.DataFrame:
    """Per territory x segment of the customer frame rows of customers touched in the
    facts (codes of ``territory``, ``customer``): own_units_change, margin_change and
    customers (distinct customers); a missing segment is a segment of its own."""
    frame_t, frame_c = (_codes_among(frame[k], values) for k, values in (("territory_id", territory),
                                                                          ("customer_id", customer)))
    width = len(customer.cat.categories) + 1
    touched = pd.unique((_category_codes(territory).astype(np.int64) + 1) * width + _category_codes(customer) + 1)
    key = np.where((frame_t >= -1) & (frame_c >= -1), (frame_t.astype(np.int64) + 1) * width + frame_c + 1, -1)
    kept = pd.Index(touched).get_indexer(key) >= 0
    segment, segments = factorized(frame["segment"])
    units, (unit_t, unit_s) = grouped([frame_t[kept], segment[kept]])
    n = len(unit_t)
    sums = group_sums({k: changes[k].to_numpy()[kept] for k in ("own_units_change", "margin_change")}, units, n)
    c = frame_c[kept]
    _, (customer_unit, _) = grouped([units[c >= 0], c[c >= 0]])
    return pd.DataFrame({"territory_id": _labels_of(territory, unit_t),
                         "segment": pd.Index(np.append(np.asarray(segments, dtype=object), np.nan)[unit_s]),
                         "own_units_change": sums["own_units_change"].to_numpy(),
                         "margin_change": sums["margin_change"].to_numpy(),
                         "customers": np.bincount(customer_unit, minlength=n)})


def _activity_share(facts: pd.DataFrame) -> np.ndarray:
    """Each fact row's share of its activity: :func:`split_cost` of a cost of 1."""
    if "market_count" in facts.columns:
        return 1.0 / floats(facts["market_count"])
    return split_cost(facts[["territory_id", "activity_id"]].assign(cost=1.0)).to_numpy()


def flag_counts(coaching: pd.DataFrame) -> pd.DataFrame:
    """Reps carrying each coaching flag, per territory: columns territory_id and one per flag."""
    flags = coaching["flags"].fillna("").astype(str).str.split(";")
    counts = {flag: flags.map(lambda codes, f=flag: f in codes) for flag in FLAGS}
    frame = pd.DataFrame({"territory_id": coaching["territory_id"].to_numpy(),
                          **{k: v.to_numpy() for k, v in counts.items()}})
    return frame.groupby("territory_id", sort=True)[list(FLAGS)].sum().astype("int64").reset_index()
