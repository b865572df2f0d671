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

from analysis.domain.channels import split_cost
from analysis.contract.schema import PHASES, ROLES

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
LOYAL = PHASES[-1]  # the top of the ladder: "loyal"
PRIORITY_SEGMENTS = ("A", "B")
BY_CHOICES = ("segment", "channel")
EPS = 1e-9  # tolerance of the inclusive share norms

#: Coaching flags in report order, with what each means.
FLAGS: dict[str, str] = {
    "coverage_low": "chronic rep covers fewer customers than the coverage norm",
    "coverage_high": "chronic rep covers more customers than the coverage norm",
    "departments_uncovered": "specialty rep leaves department customers of the territory uncovered",
    "profiles_unqualified": "too few of the rep's customers have a qualified profile",
    "effort_off_priority": "too little effort on segments A and B",
    "mismatched_effort": "too much effort on channels that do not fit the customer's phase",
    "over_service": "too much effort on customers already loyal",
}

COACHING_COLUMNS = [
    "territory_id", "rep_id", "rep_name", "role", "customers_covered", "departments_in_territory",
    "departments_covered", "profile_completeness", "profile_qualified_share", "effort_on_priority",
    "mismatched_effort", "over_service", "cost", "own_units_change", "margin_change", "roi",
    "progressions", "flags", "actions",
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
    margin = frame["market"].astype(object).map(margins).astype(float).fillna(1.0)
    return pd.DataFrame({"own_units_change": change, "margin_change": change * margin}, index=frame.index)


# ---------------------------------------------------------------------- helpers


def _rate(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    """numerator / denominator as float; NaN where the denominator is zero or missing."""
    denominator = denominator.astype(float)
    return numerator.astype(float) / denominator.where(denominator > 0)


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


# -------------------------------------------------------------------- formatting


def _count(values: pd.Series) -> pd.Series:
    """Integers for humans: 1234 -> '1,234'."""
    return values.round().astype("int64").map("{:,}".format).astype(object)


def _number(value: float) -> str:
    """A norm for humans: 80 -> '80', 0.3 -> '30' (percent when called on value * 100)."""
    return f"{value:,.10g}"


def _percent(share: pd.Series, norm: float) -> pd.Series:
    """Shares as whole percents ('38%'); one decimal where a whole percent would read as the norm."""
    whole = np.floor(share * 100 + 0.5)         # half up, as channels._percent
    decimal = np.floor(share * 1000 + 0.5) / 10
    same = whole.eq(round(norm * 100))
    text = whole.fillna(0).astype("int64").astype(str).astype(object)
    text = text.where(~same, decimal.fillna(0).map("{:.1f}".format).astype(object))
    return text + "%"


def _plural(count: pd.Series, one: str, many: str) -> pd.Series:
    return pd.Series(np.where(count.round() == 1, one, many), index=count.index, dtype=object)


def _join(parts: Mapping[str, pd.Series], masks: Mapping[str, pd.Series], sep: str,
          index: pd.Index) -> pd.Series:
    """Per row, ``sep``-join of ``parts[name]`` for the names whose mask is True."""
    out = pd.Series("", index=index, dtype=object)
    for name, text in parts.items():  # a loop over the few flags, not over reps
        hit = masks[name].reindex(index, fill_value=False).astype(bool)
        glue = pd.Series(np.where(out.eq(""), "", sep), index=index, dtype=object)
        out = out.where(~hit, out + glue + text.astype(object))
    return out


def _missing_departments(reps: pd.DataFrame, customers: pd.DataFrame,
                         pairs: pd.DataFrame) -> pd.DataFrame:
    """Per specialty rep: the territory's department customers the rep did not cover.

    Returns rep_id, departments_missing (count) and missing_names (the first three
    names alphabetically, "A, B and C", then "and N more").
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
    missing = missing.assign(_rank=missing.groupby("rep_id", sort=False).cumcount(),
                             _count=missing.groupby("rep_id", sort=False)["customer_id"].transform("size"))
    shown = missing[missing["_rank"] < 3]
    last = (shown["_rank"] == shown["_count"] - 1) & (shown["_rank"] > 0)
    glue = pd.Series(np.where(shown["_rank"] == 0, "", np.where(last, " and ", ", ")), index=shown.index)
    text = (glue + shown["_name"].astype(object)).groupby(shown["rep_id"], sort=False).agg("".join)
    out = pd.DataFrame({"departments_missing": missing.groupby("rep_id", sort=False).size(),
                        "missing_names": text}).rename_axis("rep_id").reset_index()
    more = out["departments_missing"] - 3
    out["missing_names"] = out["missing_names"].astype(object).where(
        more <= 0, out["missing_names"].astype(object) + " and " + more.astype(str) + " more")
    return out


# ---------------------------------------------------------------------- coaching


def coaching_table(reps: pd.DataFrame, customers: pd.DataFrame, frame: pd.DataFrame, facts: pd.DataFrame,
                   completeness: pd.Series | None, unit_margin_by_market,
                   norms: Mapping[str, float] | None = None) -> pd.DataFrame:
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
    * effort_on_priority, mismatched_effort, over_service: cost shares of the rep's fact
      rows on segments A/B, with ``fits`` False, and with ``phase`` (at the start of the
      period) ``loyal``; each activity's cost split evenly over its markets. NaN when
      the rep's cost is 0.
    * cost: the rep's activity cost (each activity once).
    * own_units_change: sum over covered customers and all their markets in ``frame``
      of own_units_analysis - own_units_comparison (a customer covered by two reps
      counts for both); margin_change: the same times the unit margin of the market's
      own product (``unit_margin_by_market``: a Series market -> margin, a mapping, the
      :func:`unit_margins` result, or None; markets without a margin use 1).
    * roi: margin_change / cost; NaN (never inf) when cost is 0.
    * progressions: distinct covered customers who moved up at least one phase in any
      market (``moved_up`` in ``facts``).
    * flags: the missed norms, ";"-joined names of :data:`FLAGS` ("" when none).
    * actions: one plain-language sentence per flag, joined with a space.

    Norms (:data:`NORMS`, overlaid by ``norms``) are inclusive: exactly at a norm is not
    flagged. The coverage norm (80-120) applies to ``chronic`` reps; ``specialty`` reps
    must cover every department customer of their territory. A rep without activities
    gets a row with zero counts and cost, NaN shares and ROI, and only coverage flags.
    """
    norms = resolve_norms(norms)
    threshold = float(norms["profile_completeness"])
    base = reps[["territory_id", "rep_id", "rep_name", "role"]].drop_duplicates("rep_id").reset_index(drop=True)
    rep_territory = base[["rep_id", "territory_id"]]

    facts = facts.reset_index(drop=True)
    frame = frame.reset_index(drop=True)

    # effort shares and cost (fact rows, cost split over markets)
    split = split_cost(facts)
    parts = facts[["rep_id"]].assign(
        cost=split,
        _priority=split.where(facts["segment"].isin(PRIORITY_SEGMENTS), 0.0),
        _mismatched=split.where(~_as_bool(facts["fits"]), 0.0),
        _loyal=split.where(facts["phase"].astype(object) == LOYAL, 0.0),
    )
    effort = parts.groupby("rep_id", sort=False).sum()
    effort["effort_on_priority"] = _rate(effort["_priority"], effort["cost"])
    effort["mismatched_effort"] = _rate(effort["_mismatched"], effort["cost"])
    effort["over_service"] = _rate(effort["_loyal"], effort["cost"])

    # covered customers: one row per rep x customer
    pairs = facts[["rep_id", "customer_id"]].assign(_moved=_as_bool(facts["moved_up"]))
    pairs = pairs.groupby(["rep_id", "customer_id"], sort=False)["_moved"].any().reset_index()
    by_customer = _completeness_by_customer(customers, completeness)
    pairs["_completeness"] = pairs["customer_id"].map(by_customer).astype(float)
    pairs["_known"] = pairs["_completeness"].notna()
    pairs["_qualified"] = pairs["_known"] & (pairs["_completeness"] >= threshold - EPS)
    pairs["_unqualified"] = pairs["_known"] & ~pairs["_qualified"]
    info = customers[["customer_id", "territory_id", "customer_type"]].drop_duplicates("customer_id").rename(
        columns={"territory_id": "_customer_territory"})
    pairs = pairs.merge(info, on="customer_id", how="left").merge(rep_territory, on="rep_id", how="left")
    pairs["_department"] = ((pairs["customer_type"] == DEPARTMENT)
                            & (pairs["_customer_territory"] == pairs["territory_id"])).astype(bool)
    changes = _unit_changes(frame, unit_margin_by_market).assign(customer_id=frame["customer_id"])
    per_customer = changes.groupby("customer_id", sort=False)[["own_units_change", "margin_change"]].sum()
    pairs = pairs.join(per_customer, on="customer_id")
    covered = pairs.groupby("rep_id", sort=False).agg(
        customers_covered=("customer_id", "size"),
        departments_covered=("_department", "sum"),
        profile_completeness=("_completeness", "mean"),
        _known=("_known", "sum"),
        _qualified=("_qualified", "sum"),
        _unqualified=("_unqualified", "sum"),
        own_units_change=("own_units_change", "sum"),
        margin_change=("margin_change", "sum"),
        progressions=("_moved", "sum"),
    )
    covered["profile_qualified_share"] = _rate(covered["_qualified"], covered["_known"])

    departments = (customers.loc[customers["customer_type"] == DEPARTMENT]
                   .groupby("territory_id")["customer_id"].nunique().rename("departments_in_territory"))

    out = base.join(effort[["cost", "effort_on_priority", "mismatched_effort", "over_service"]], on="rep_id")
    out = out.join(covered, on="rep_id").join(departments, on="territory_id")
    counts = ["customers_covered", "departments_in_territory", "departments_covered", "progressions",
              "_unqualified"]
    out[counts] = out[counts].fillna(0).astype("int64")
    for column in ("cost", "own_units_change", "margin_change"):
        out[column] = out[column].fillna(0.0).astype(float)
    out["roi"] = _rate(out["margin_change"], out["cost"])
    missing = _missing_departments(base, customers, pairs)
    out = out.merge(missing, on="rep_id", how="left")
    out["departments_missing"] = out["departments_missing"].fillna(0).astype("int64")

    masks, texts = _flags(out, norms)
    out["flags"] = _join({k: pd.Series(k, index=out.index) for k in FLAGS}, masks, ";", out.index)
    out["actions"] = _join(texts, masks, " ", out.index)
    out = out.sort_values(["territory_id", "rep_id"], kind="mergesort", ignore_index=True)
    return out[COACHING_COLUMNS]


def _flags(out: pd.DataFrame, norms: Mapping[str, float]) -> tuple[dict[str, pd.Series], dict[str, pd.Series]]:
    """The flag masks and the action sentence of every flag, for every rep."""
    lo, hi = norms["coverage_min"], norms["coverage_max"]
    covered = out["customers_covered"]
    chronic = out["role"] == CHRONIC
    span = f"{_number(lo)}-{_number(hi)}"
    q_norm, p_norm = norms["profile_qualified_share"], norms["effort_on_priority"]
    m_norm, o_norm = norms["mismatched_effort"], norms["over_service"]
    masks = {
        "coverage_low": chronic & (covered < lo),
        "coverage_high": chronic & (covered > hi),
        "departments_uncovered": (out["role"] == SPECIALTY) & (out["departments_missing"] > 0),
        "profiles_unqualified": (out["profile_qualified_share"] < q_norm - EPS).fillna(False),
        "effort_off_priority": (out["effort_on_priority"] < p_norm - EPS).fillna(False),
        "mismatched_effort": (out["mismatched_effort"] > m_norm + EPS).fillna(False),
        "over_service": (out["over_service"] > o_norm + EPS).fillna(False),
    }
    add = (lo - covered).clip(lower=0)
    drop = (covered - hi).clip(lower=0)
    unqualified = out["_unqualified"]
    texts = {
        "coverage_low": ("Covers " + _count(covered) + " " + _plural(covered, "customer", "customers")
                         + ", below the " + span + " norm: add " + _count(add) + " B-segment "
                         + _plural(add, "customer", "customers") + " from the action list."),
        "coverage_high": ("Covers " + _count(covered) + " customers, above the " + span
                          + " norm: move " + _count(drop) + " C/D-segment "
                          + _plural(drop, "customer", "customers") + " to remote channels."),
        "departments_uncovered": ("Covers " + _count(out["departments_covered"]) + " of "
                                  + _count(out["departments_in_territory"])
                                  + " department customers in the territory (norm: all): add "
                                  + out["missing_names"].fillna("").astype(object) + "."),
        "profiles_unqualified": ("Only " + _percent(out["profile_qualified_share"], q_norm)
                                 + " of profiles are qualified (norm >= " + _number(q_norm * 100)
                                 + "%): complete the profiles of " + _count(unqualified) + " "
                                 + _plural(unqualified, "customer", "customers") + " below "
                                 + _number(norms["profile_completeness"] * 100) + "% completeness."),
        "effort_off_priority": ("Only " + _percent(out["effort_on_priority"], p_norm)
                                + " of effort goes to A/B-segment customers (norm >= " + _number(p_norm * 100)
                                + "%): move calls from C/D-segment to B-segment customers."),
        "mismatched_effort": (_percent(out["mismatched_effort"], m_norm)
                              + " of effort uses channels that do not fit the customer's phase (norm <= "
                              + _number(m_norm * 100) + "%): use the next best channel listed for each customer."),
        "over_service": (_percent(out["over_service"], o_norm) + " of effort goes to loyal customers (norm <= "
                         + _number(o_norm * 100) + "%): move calls to B-segment customers."),
    }
    return ({k: v.astype(bool) for k, v in masks.items()},
            {k: v.astype(object) for k, v in texts.items()})


# --------------------------------------------------------------------------- ROI


def roi_by(frame: pd.DataFrame, facts: pd.DataFrame, by: str, unit_margin_by_market) -> pd.DataFrame:
    """Territory ROI totals by ``segment`` or by ``channel``.

    One row per territory x value of ``by`` with effort in ``facts``: cost (each
    activity's cost split evenly over the markets it counts in, so the rows of a
    territory add up to its activity cost), own_units_change and margin_change (as in
    :func:`coaching_table`), roi (margin_change / cost; NaN when cost is 0) and
    customers (distinct customers).

    * ``segment``: cost by the segment of the customer in the activity's market; units
      change of the customer x market rows of ``frame`` in that segment, over the
      customers touched in the window (each touched customer x market counted once);
      customers = touched customers with that segment in some market. Effort on
      customers without a segment (distributors, suppliers, ...) forms a row with a
      missing segment.
    * ``channel``: the units change attributed to a channel is the change (all markets)
      of the customers that channel touched; a customer touched by two channels counts
      in both, so the channel rows do not add up to the territory's change.
    """
    if by not in BY_CHOICES:
        raise ValueError(f"roi_by: by must be one of {', '.join(BY_CHOICES)}, got {by!r}")
    keys = ["territory_id", by]
    facts = facts.reset_index(drop=True)
    frame = frame.reset_index(drop=True)
    cost = (facts[["territory_id"]].assign(**{by: facts[by].astype(object), "cost": split_cost(facts)})
            .groupby(keys, sort=False, dropna=False)["cost"].sum().reset_index())
    changes = _unit_changes(frame, unit_margin_by_market).assign(
        territory_id=frame["territory_id"], customer_id=frame["customer_id"])
    if by == "segment":
        changes["segment"] = frame["segment"].astype(object)
        touched = facts[["territory_id", "customer_id"]].drop_duplicates()
        rows = changes.merge(touched, on=["territory_id", "customer_id"], how="inner")
    else:
        touched = facts[["territory_id", "customer_id"]].assign(channel=facts["channel"].astype(object))
        rows = touched.drop_duplicates().merge(changes, on=["territory_id", "customer_id"], how="left")
    units = rows.groupby(keys, sort=False, dropna=False).agg(
        own_units_change=("own_units_change", "sum"),
        margin_change=("margin_change", "sum"),
        customers=("customer_id", "nunique"),
    ).reset_index()
    out = cost.merge(units, on=keys, how="outer")
    out["cost"] = out["cost"].fillna(0.0).astype(float)
    out[["own_units_change", "margin_change"]] = out[["own_units_change", "margin_change"]].fillna(0.0).astype(float)
    out["customers"] = out["customers"].fillna(0).astype("int64")
    out["roi"] = _rate(out["margin_change"], out["cost"])
    out = out.sort_values(keys, kind="mergesort", na_position="last", ignore_index=True)
    return out[[*keys, *ROI_COLUMNS]]
