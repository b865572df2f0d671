"""The report's sections as display objects: which columns, in which words and formats.

Numbers come from the analysis tables; this module only chooses, labels and formats.
"""
from __future__ import annotations

import pandas as pd

from analysis.report.present import Note, Table, escape_markdown, fmt_number, table
from analysis.domain.channels import channel_totals
from analysis.domain.segmentation import SEGMENT_INTENT


#: Headline measures: (column, label, format, change shown as).
HEADLINE = (
    ("customers", "Customers (segmentable)", "int", None),
    ("coverage", "Coverage (customers reached)", "pct1", None),
    ("potential", "Potential (boxes per month)", "int", None),
    ("own_units", "Own units", "int", "own_units_previous"),
    ("market_units", "Market units", "int", "market_units_previous"),
    ("support", "Support (our share)", "pct1", "support_previous"),
    ("vip_share", "VIP share of customers", "pct1", None),
    ("effort_on_priority", "Effort on segments A and B", "pct1", None),
    ("mismatched_effort", "Mismatched effort (channel off the phase fit)", "pct1", None),
    ("over_service", "Effort on loyal customers", "pct1", None),
    ("cost", "Activity cost", "int", None),
    ("roi", "ROI (margin change per unit of cost)", "float2", None),
    ("progressions", "Customers who moved up a phase", "int", None),
    ("slipping", "Customers who slipped down", "int", None),
)


def _change(now: float, before: float, kind: str) -> str:
    if pd.isna(now) or pd.isna(before):
        return "–"
    delta = now - before
    if kind.startswith("pct"):
        return f"{delta * 100:+.1f} pts"
    return f"{delta:+,.0f}" + (f" ({delta / before:+.0%})" if before else "")


def headline(t) -> Table:
    """Headline KPIs: this period, the comparison period, the change, and the region."""
    k = t.kpi
    regions = t.tables.get("regions")
    region = regions[regions["region"] == t.region].iloc[0] if regions is not None and (regions["region"] == t.region).any() else None
    rows = []
    for column, label, kind, previous in HEADLINE:
        before = k[previous] if previous else None
        region_value = region[column] if region is not None and column in region and column not in (
            "customers", "potential", "cost", "own_units", "market_units", "progressions", "slipping") else None
        rows.append((label, fmt_number(k[column], kind), fmt_number(before, kind) if previous else "",
                     _change(k[column], before, kind) if previous else "",
                     fmt_number(region_value, kind) if region_value is not None else ""))
    frame = pd.DataFrame(rows, columns=["measure", f"analysis ({k['analysis_period']})",
                                        f"comparison ({k['comparison_period']})", "change", f"region {t.region}"])
    return table(frame, formats={c: "text" for c in frame.columns})


def segments(t) -> Table:
    """The segment table: customers, potential, support per market and segment."""
    s = t.segments.assign(intent=lambda d: d["segment"].map(SEGMENT_INTENT))
    cols = ["market", "segment", "customers", "customer_share", "potential", "potential_share", "support", "intent"]
    return table(s[cols], formats={"customers": "int", "customer_share": "pct", "potential": "int",
                                   "potential_share": "pct", "support": "pct1", "intent": "text"},
                 labels={"customer_share": "share of customers", "potential": "potential (boxes/month)",
                         "potential_share": "share of potential"})


def readable(value) -> str:
    """A code such as ``web_interview`` as words (``web interview``) for tables."""
    return value.replace("_", " ") if isinstance(value, str) else value


def period_note(t) -> Note:
    """One sentence saying which months the report compares."""
    k = t.kpi
    text = (f"Analysis period **{escape_markdown(k['analysis_period'])}**, compared with "
            f"**{escape_markdown(k['comparison_period'])}**. Territory {escape_markdown(t.territory_id)} "
            f"in region {escape_markdown(t.region)}.")
    if not k.get("has_activities", True):
        text += ("\n\n> **No activity data.** This dataset has sales only: coverage, effort, channels, "
                 "coaching, ROI and the phases that rest on responses need the activities table; those "
                 "sections show no effort.")
    if not k.get("has_comparison", True):
        text += ("\n\n> **No comparison period.** The data has no sales before the analysis period: changes, "
                 "phase migration, progression and ROI need it and are not meaningful here.")
    return Note(text)


def flags_summary(t) -> Table:
    """How many customers carry each 3C flag, per market."""
    c = t.customers
    seg = c[c["segment"].notna()]
    rows = seg.groupby("market").agg(customers=("customer_id", "nunique"),
                                     competitor_locked=("competitor_locked", "sum"),
                                     stalled=("stalled", "sum"), slipping=("slipping", "sum")).reset_index()
    return table(rows, formats={k: "int" for k in ("customers", "competitor_locked", "stalled", "slipping")},
                 labels={"competitor_locked": "competitor-locked", "stalled": "stalled (high potential, no move)",
                         "slipping": "slipping (phase went down)"})


def channel_summary(t) -> Table:
    """Per channel over all phases and markets: activities, cost, shares and rates."""
    g = channel_totals(t.channel_phase)
    g["channel"] = g["channel"].astype(object).map(readable)
    return table(g[["channel", "activities", "cost", "effort_share", "response_rate", "progression_rate",
                    "mismatched_share"]],
                 formats={"activities": "int", "cost": "int", "effort_share": "pct", "response_rate": "pct",
                          "progression_rate": "pct", "mismatched_share": "pct"},
                 labels={"effort_share": "share of effort", "response_rate": "positive response",
                         "progression_rate": "moved up", "mismatched_share": "off the fit"})


def coaching(t) -> Table:
    """The coaching table per rep, with the norms in the column labels."""
    c = t.coaching
    return table(c[["rep_name", "role", "customers_covered", "profile_qualified_share", "effort_on_priority",
                    "mismatched_effort", "over_service", "cost", "own_units_change", "roi", "progressions"]],
                 formats={"customers_covered": "int", "profile_qualified_share": "pct", "effort_on_priority": "pct",
                          "mismatched_effort": "pct", "over_service": "pct", "cost": "int",
                          "own_units_change": "int", "roi": "float2", "progressions": "int"},
                 labels={"rep_name": "rep", "customers_covered": "covered (80-120)",
                         "profile_qualified_share": "profiles ≥60% (≥80%)", "effort_on_priority": "A+B effort (≥60%)",
                         "mismatched_effort": "mismatched (≤25%)", "over_service": "on loyal (≤30%)",
                         "own_units_change": "own units change", "progressions": "moved up"})


def coaching_actions(t) -> Note:
    """Each rep's missed norms as plain-language actions."""
    lines = []
    for _, row in t.coaching.iterrows():
        text = row["actions"] if isinstance(row["actions"], str) and row["actions"] else "All norms met: keep going."
        lines.append(f"- **{escape_markdown(row['rep_name'])}** ({escape_markdown(row['role'])}): {escape_markdown(text)}")
    return Note("\n".join(lines) if lines else "*No reps in this territory.*")


def roi(t, by: str) -> Table:
    """ROI by segment or by channel."""
    r = t.tables[f"roi_{by}"].copy()
    r[by] = r[by].astype(object).where(r[by].notna(), "no segment").map(readable)
    r = r.sort_values("cost", ascending=False)
    return table(r[[by, "customers", "cost", "own_units_change", "margin_change", "roi"]],
                 formats={"customers": "int", "cost": "int", "own_units_change": "int", "margin_change": "int",
                          "roi": "float2"},
                 labels={"own_units_change": "own units change", "margin_change": "margin change"})


def roi_note(t) -> Note:
    if bool(t.kpi.get("roi_units_only", False)):
        return Note("*The products table has no unit margin: ROI is own units gained per unit of cost.*")
    return Note("ROI = (own units change x unit margin) / activity cost, analysis period against comparison period.")


def action_list(t, max_rows: int = 12) -> Table:
    """The customers to work on next."""
    a = t.actions.head(max_rows).copy()
    a["next_best_channel"] = a["next_best_channel"].map(readable)
    # the channel is in its own column: the reason starts after it
    a["next_best_reason"] = [r[len(c):].strip() if isinstance(r, str) and isinstance(c, str) and r.startswith(c) else r
                             for r, c in zip(a["next_best_reason"], a["next_best_channel"])]
    return table(a[["rank", "customer_name", "market", "segment", "phase", "potential", "support",
                    "untapped_potential", "next_best_channel", "next_best_reason"]],
                 formats={"rank": "int", "potential": "int", "support": "pct", "untapped_potential": "int",
                          "next_best_reason": "text"},
                 labels={"customer_name": "customer", "untapped_potential": "untapped (boxes/month)",
                         "next_best_channel": "next best channel", "next_best_reason": "why"})


def maintenance(t, max_rows: int = 20) -> Table:
    """Relationship maintenance: overdue first."""
    m = t.maintenance.copy()
    m["vip"] = m["vip"].map({True: "VIP", False: ""})
    m["last_contact"] = m["last_contact"].map(lambda d: "never" if pd.isna(d) else pd.Timestamp(d).strftime("%Y-%m-%d"))
    return table(m[["customer_name", "customer_type", "vip", "last_contact", "days_since", "cadence_days", "overdue"]],
                 formats={"last_contact": "text", "days_since": "int", "cadence_days": "int"},
                 labels={"customer_name": "customer", "customer_type": "type", "days_since": "days since contact",
                         "cadence_days": "cadence (days)"}, max_rows=max_rows)


def quality(t) -> Table:
    q = t.quality.copy()
    q["value"] = [fmt_number(v, "pct" if k == "share" else "int") for v, k in zip(q["value"], q["kind"])]
    return table(q[["check", "value", "note"]], formats={"value": "text"})


#: Roll-up columns: (column, label, format).
RANKING = (
    ("customers", "customers", "int"), ("coverage", "coverage", "pct"), ("support", "support", "pct1"),
    ("support_change", "support change", "text"), ("vip_share", "VIP share", "pct"),
    ("effort_on_priority", "A+B effort", "pct"), ("mismatched_effort", "mismatched", "pct"),
    ("over_service", "on loyal", "pct"), ("roi", "ROI", "float2"), ("progressions", "moved up", "int"),
    ("maintenance_overdue", "contacts overdue", "int"),
)


def scope_headline(s) -> Table:
    """The scope's totals (ratios recomputed from the territories' sums)."""
    k = s.summary
    rows = [(label, fmt_number(k[column], kind if kind != "text" else "pct1"))
            for column, label, kind in RANKING if column in k and column != "support_change"]
    rows.insert(0, ("territories", fmt_number(k["territories"], "int")))
    return table(pd.DataFrame(rows, columns=["measure", "value"]), formats={"measure": "text", "value": "text"})


def territory_ranking(s, by: str = "support") -> Table:
    """Territories side by side, ranked by ``by`` (highest first)."""
    k = s.kpis.sort_values(by, ascending=False, kind="mergesort").reset_index(drop=True)
    k = k.assign(rank=range(1, len(k) + 1),
                 support_change=[_change(a, b, "pct") for a, b in zip(k["support"], k["support_previous"])])
    columns = ["rank", "territory_id", "territory_name", *[c for c, _, _ in RANKING]]
    if s.scope == "all":
        columns.insert(3, "region")
    return table(k[columns], formats={"rank": "int", **{c: f for c, _, f in RANKING}},
                 labels={"territory_id": "id", "territory_name": "territory", **{c: label for c, label, _ in RANKING}})


def region_table(s) -> Table:
    """Regions side by side (national roll-up)."""
    r = s.regions.sort_values("support", ascending=False)
    columns = ["region", "territories", *[c for c, _, _ in RANKING if c != "support_change"]]
    return table(r[columns], formats={"territories": "int", **{c: f for c, _, f in RANKING}},
                 labels={c: label for c, label, _ in RANKING})


def coaching_flags(s) -> Table:
    """How many reps carry each coaching flag, per territory."""
    from analysis.domain.coaching import FLAGS

    c = s.coaching
    counts = {flag: c["flags"].fillna("").str.split(";").apply(lambda fs, f=flag: f in fs) for flag in FLAGS}
    frame = pd.DataFrame({"territory_id": c["territory_id"], **counts}).groupby("territory_id").sum().reset_index()
    total = frame[list(FLAGS)].sum()
    keep = ["territory_id", *[f for f in FLAGS if total[f] > 0]]
    return table(frame[keep], formats={f: "int" for f in FLAGS},
                 labels={"territory_id": "territory", **{f: f.replace("_", " ") for f in FLAGS}})


CUT_WORDS = {"median": "the territory median", "quantile": "the territory's {q:.0%} quantile",
             "absolute": "a fixed value from the run profile"}


def cut_note(t) -> Note:
    """Which cut points split the segments, and how they were chosen."""
    seg = t.params["segmentation"]
    how = CUT_WORDS[seg["cut"]].format(q=seg.get("q") or 0.5)
    rows = t.customers.dropna(subset=["potential_cut"]).groupby("market", observed=True)[
        ["potential_cut", "support_cut"]].first()
    parts = [f"{escape_markdown(m)}: potential ≥ {fmt_number(r['potential_cut'], 'float1')} boxes per month, "
             f"support ≥ {fmt_number(r['support_cut'], 'pct1')}" for m, r in rows.iterrows()]
    return Note(f"Cut points ({escape_markdown(how)}, {escape_markdown(seg['grid'])} grid): " + "; ".join(parts) + ".")
