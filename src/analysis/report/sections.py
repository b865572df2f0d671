"""The report's sections as display objects: which columns, in which words and formats.

Every number comes from a table of the analysis pass; this module only chooses,
labels and formats (sentences come from :mod:`analysis.report.text`). A value the
data cannot give is shown as "–", with the reason.
"""
from __future__ import annotations

import pandas as pd

from analysis.contract import params as parameters
from analysis.contract.schema import CHANNELS
from analysis.domain.channels import fit_matrix
from analysis.domain.national import MANY_TERRITORIES, rollup_distribution, rollup_flags
from analysis.report import text
from analysis.report.present import Note, Table, escape_markdown, fmt_number, table

#: Headline measures: (column, label, format, the comparison column or None).
HEADLINE = (
    ("customers", "Customers (segmentable)", "int", None),
    ("coverage", "Coverage (customers reached)", "pct1", None),
    ("potential", "Potential (boxes per month)", "int", None),
    ("own_units", "Own units", "int", "own_units_previous"),
    ("market_units", "Market units", "int", "market_units_previous"),
    ("support", "Support (our share)", "pct1", "support_previous"),
    ("vip_share", "VIP share of customers", "pct1", None),
    ("effort_on_priority", "Effort on priority segments", "pct1", None),
    ("mismatched_effort", "Mismatched effort (channel off the phase fit)", "pct1", None),
    ("over_service", "Effort on loyal customers", "pct1", None),
    ("cost", "Activity cost", "int", None),
    ("roi", "ROI (margin change per unit of cost)", "float2", None),
    ("progressions", "Customers who moved up a phase", "int", None),
    ("slipping", "Customers who slipped down", "int", None),
)
#: Headline measures that are totals of the territory, not comparable with a region's.
TOTALS = ("customers", "potential", "cost", "own_units", "market_units", "progressions", "slipping")


def _change(now: float, before: float, kind: str) -> str:
    if pd.isna(now) or pd.isna(before):
        return "–"
    delta = now - before
    if kind.startswith("pct"):
        return f"{delta * 100:+.1f} pts"
    return f"{delta:+,.0f}" + (f" ({delta / before:+.0%})" if before else "")


def readable(value) -> str:
    """A code such as ``web_interview`` as words (``web interview``) for tables."""
    return value.replace("_", " ") if isinstance(value, str) else value


def caveat_note(caveats) -> Note:
    """The data-shape caveats as a block at the top of a page ("" when none hold)."""
    sentences = text.caveat_sentences(caveats)
    return Note("\n\n".join(f"> **{escape_markdown(title)}.** {escape_markdown(body)}" for title, body in sentences))


def period_note(t) -> Note:
    """Which months the report compares, and the caveats of the data."""
    k = t.kpi
    comparison = (f"compared with **{escape_markdown(k['comparison_period'])}**" if k.get("has_comparison", True)
                  else "with no comparison period in the data")
    intro = (f"Analysis period **{escape_markdown(k['analysis_period'])}**, {comparison}. Territory "
             f"{escape_markdown(t.territory_id)} in region {escape_markdown(t.region)}.")
    caveats = caveat_note(t.caveats).markdown
    return Note(intro + ("\n\n" + caveats if caveats else ""))


def headline(t) -> Table:
    """Headline KPIs: this period, the comparison period, the change, the region, and why a value is missing."""
    k = t.kpi
    regions = t.tables.get("regions")
    found = regions is not None and (regions["region"] == t.region).any()
    region = regions[regions["region"] == t.region].iloc[0] if found else None
    rows = []
    for column, label, kind, previous in HEADLINE:
        before = k[previous] if previous else None
        region_value = region.get(column) if region is not None and column not in TOTALS else None
        missing = [c for c in (column, previous) if c and pd.isna(k.get(c))]
        note = "; ".join(dict.fromkeys(r for r in (text.missing_reason(c, t.caveats) for c in missing) if r))
        rows.append((label, fmt_number(k[column], kind), fmt_number(before, kind) if previous else "",
                     _change(k[column], before, kind) if previous else "",
                     fmt_number(region_value, kind) if region is not None and column not in TOTALS else "", note))
    comparison = f"comparison ({k['comparison_period']})"
    frame = pd.DataFrame(rows, columns=["measure", f"analysis ({k['analysis_period']})", comparison, "change",
                                        f"region {t.region}", "note"])
    if not frame["note"].str.len().any():
        frame = frame.drop(columns="note")
    return table(frame, formats={c: "text" for c in frame.columns})


def segments(t) -> Table:
    """The segment table: customers, potential, support per market and segment, with the scheme's intents."""
    s = t.segments.assign(intent=lambda d: [text.segment_intent(t.scheme, v) for v in d["segment"]],
                          priority=lambda d: d["priority"].map({True: "priority", False: ""}))
    cols = ["market", "segment", "priority", "customers", "customer_share", "potential", "potential_share",
            "support", "intent"]
    return table(s[cols], formats={"customers": "int", "customer_share": "pct", "potential": "int",
                                   "potential_share": "pct", "support": "pct1", "intent": "text", "priority": "text"},
                 labels={"customer_share": "share of customers", "potential": "potential (boxes/month)",
                         "potential_share": "share of potential", "priority": ""})


def _counts_or_missing(values: pd.Series) -> list[str]:
    return [fmt_number(v, "int") for v in values.astype("Float64").astype(float)]


def flags_summary(t) -> Table:
    """How many customers carry each 3C flag, per market (the pass's counts)."""
    f = t.three_c_flags
    frame = pd.DataFrame({"market": f["market"], "customers": _counts_or_missing(f["customers"]),
                          **{name: _counts_or_missing(f[name]) for name in ("competitor_locked", "stalled", "slipping")}})
    return table(frame, formats={c: "text" for c in frame.columns},
                 labels={"competitor_locked": "competitor-locked", "stalled": "stalled (high potential, no move)",
                         "slipping": "slipping (phase went down)"})


def _rate_text(rate: pd.Series, base: pd.Series, min_base: int) -> list[str]:
    """Rates with their base: "35% (n=12)", "too few (n=3)", "–" without a base."""
    out = []
    for r, n in zip(rate, base):
        if pd.isna(n) or n == 0 or pd.isna(r):
            out.append("–")
        elif n < min_base:
            out.append(f"too few (n={int(n)})")
        else:
            out.append(f"{fmt_number(r, 'pct')} (n={int(n):,})")
    return out


def channel_summary(t) -> Table | Note:
    """Per channel over all phases and markets (each activity once): effort, rates with their base."""
    g = t.channels
    if g.empty:
        return Note(f"*No channel table: {text.missing_reason('cost', t.caveats) or 'no activities in the period'}.*")
    min_base = int(t.params["min_rate_base"])
    frame = pd.DataFrame({
        "channel": g["channel"].astype(object).map(readable),
        "activities": g["activities"], "cost": g["cost"], "effort_share": g["effort_share"],
        "response_rate": [f"{fmt_number(r, 'pct')} (n={int(n):,})" if n else "–"
                          for r, n in zip(g["response_rate"], g["activities"])],
        "progression_rate": _rate_text(g["progression_rate"], g["customers_placed"], min_base),
        "mismatched_share": g["mismatched_share"],
    })
    return table(frame, formats={"activities": "int", "cost": "int", "effort_share": "pct", "response_rate": "text",
                                 "progression_rate": "text", "mismatched_share": "pct"},
                 labels={"effort_share": "share of effort", "response_rate": "positive response (activities)",
                         "progression_rate": "moved up (customers)", "mismatched_share": "off the fit"})


def coaching(t) -> Table:
    """The coaching table per rep, with the run's norms in the column labels."""
    c = t.coaching
    return table(c[["rep_name", "role", "customers_covered", "profile_qualified_share", "effort_on_priority",
                    "mismatched_effort", "over_service", "cost", "own_units_change", "roi", "progressions"]],
                 formats={"customers_covered": "int", "profile_qualified_share": "pct", "effort_on_priority": "pct",
                          "mismatched_effort": "pct", "over_service": "pct", "cost": "int",
                          "own_units_change": "int", "roi": "float2", "progressions": "int"},
                 labels=text.coaching_labels(t.norms, t.scheme))


def coaching_actions(t) -> Note:
    """Each rep's missed norms as plain-language actions."""
    lines = [f"- **{escape_markdown(name)}** ({escape_markdown(role)}): {escape_markdown(sentence)}"
             for name, role, sentence in text.coaching_actions(t.coaching, t.norms, t.scheme, t.caveats)]
    return Note("\n".join(lines) if lines else "*No reps in this territory.*")


ROI_KEYS = {"rep": ("rep_id", "rep"), "segment": ("segment", "segment"), "channel": ("channel", "channel")}


def roi(t, by: str) -> Table | Note:
    """ROI by rep, segment or channel (cost-share attribution: the rows add up to the territory)."""
    column, label = ROI_KEYS[by]
    r = t.tables[f"roi_{by}"].copy()
    if r.empty:
        return Note(f"*No ROI table: {text.missing_reason('roi', t.caveats) or 'no activities in the period'}.*")
    if by == "rep":
        r[column] = r[column].map(t.coaching.set_index("rep_id")["rep_name"]).fillna(r[column])
    r[column] = r[column].astype(object).where(r[column].notna(), "no segment").map(readable)
    r = r.sort_values("cost", ascending=False)
    return table(r[[column, "customers", "cost", "own_units_change", "margin_change", "roi"]],
                 formats={"customers": "int", "cost": "int", "own_units_change": "int", "margin_change": "int",
                          "roi": "float2"},
                 labels={column: label, "own_units_change": "own units change", "margin_change": "margin change"})


def roi_note(t) -> Note:
    parts = ["ROI = (own units change x unit margin) / activity cost, analysis period against comparison period. "
             "Each customer's change is split between the reps and channels that touched it in proportion to their "
             "cost, so every ROI table adds up to the territory's. It is a before/after association, not a "
             "measured causal effect."]
    if "roi_units_only" in text.codes(t.caveats):
        parts.append(text.caveat_sentence("roi_units_only"))
    return Note(" ".join(f"*{escape_markdown(p)}*" for p in parts))


def action_list(t, max_rows: int = 12) -> Table | Note:
    """The customers to work on next."""
    a = t.actions.head(max_rows).copy()
    if a.empty:
        return Note("*No customer of the priority segments is below loyal.*")
    min_base = int(t.params["min_rate_base"])
    a["phase"] = a["phase"].map(text.phase_word)
    a["why"] = [text.next_best_reason(row, min_base) for row in a.to_dict("records")]
    a["next_best_channel"] = a["next_best_channel"].map(readable)
    columns = ["rank", "customer_name", *(["city"] if "city" in a and a["city"].notna().any() else []), "market",
               "segment", "phase", "potential", "support", "untapped_potential", "next_best_channel", "why"]
    return table(a[columns],
                 formats={"rank": "int", "potential": "int", "support": "pct", "untapped_potential": "int",
                          "why": "text", "phase": "text"},
                 labels={"customer_name": "customer", "untapped_potential": "untapped (boxes/month)",
                         "next_best_channel": "next best channel"})


def maintenance(t, max_rows: int = 20) -> Table:
    """Relationship maintenance: overdue first; id and city tell customers named alike apart."""
    m = t.maintenance.copy()
    has_activities = bool(t.kpi.get("has_activities", True))
    m["vip"] = m["vip"].map({True: "VIP", False: ""})
    m["last_contact"] = m["last_contact"].map(
        lambda d: ("never" if has_activities else "–") if pd.isna(d) else pd.Timestamp(d).strftime("%Y-%m-%d"))
    m["overdue"] = m["overdue"].astype("boolean").map({True: "yes", False: "no"}).astype(object).fillna("–")
    columns = ["customer_name", "customer_id", *(["city"] if m["city"].notna().any() else []), "customer_type", "vip",
               "last_contact", "days_since", "cadence_days", "overdue"]
    return table(m[columns], formats={"last_contact": "text", "days_since": "int", "cadence_days": "int",
                                      "overdue": "text", "customer_id": "text"},
                 labels={"customer_name": "customer", "customer_id": "id", "customer_type": "type",
                         "days_since": "days since contact", "cadence_days": "cadence (days)"}, max_rows=max_rows)


def quality(t) -> Table:
    q = t.quality.copy()
    q["value"] = [fmt_number(v, "pct" if k == "share" else "int") for v, k in zip(q["value"], q["kind"])]
    return table(q[["check", "value", "note"]], formats={"value": "text"})


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
    priority = ", ".join(t.scheme.priority)
    return Note(f"Cut points ({escape_markdown(how)}, {escape_markdown(seg['grid'])} grid): " + "; ".join(parts)
                + ". A customer who never uses our product (support 0 or none) is never high support. "
                f"Priority segments: {escape_markdown(priority)}.")


# ----------------------------------------------------------------------- roll-ups

#: Roll-up columns: (column, label, format).
RANKING = (
    ("customers", "customers", "int"), ("coverage", "coverage", "pct"), ("support", "support", "pct1"),
    ("support_change", "support change", "text"), ("vip_share", "VIP share", "pct"),
    ("effort_on_priority", "priority effort", "pct"), ("mismatched_effort", "mismatched", "pct"),
    ("over_service", "on loyal", "pct"), ("roi", "ROI", "float2"), ("progressions", "moved up", "int"),
    ("maintenance_overdue", "contacts overdue", "int"),
)


def scope_note(s) -> Note:
    """The caveats that hold for any territory of the scope."""
    return caveat_note(s.summary.get("caveats"))


def scope_headline(s) -> Table:
    """The scope's totals (ratios recomputed from the territories' sums by the pass's roll-up)."""
    k = s.summary
    rows = [(label, fmt_number(k[column], kind if kind != "text" else "pct1"))
            for column, label, kind in RANKING if column in k and column != "support_change"]
    rows.insert(0, ("territories", fmt_number(k["territories"], "int")))
    return table(pd.DataFrame(rows, columns=["measure", "value"]), formats={"measure": "text", "value": "text"})


def _caveat_words(values: pd.Series) -> list[str]:
    return [", ".join(text.SHORT_REASONS.get(c, readable(c)) for c in text.codes(v)) for v in values]


#: Above :data:`MANY_TERRITORIES`, the ranking lists this many territories at each end.
TOP = 10


def summarises(s, many: int | None = MANY_TERRITORIES) -> bool:
    """Whether the roll-up summarises its territories (more than ``many``; None: never)."""
    return many is not None and len(s.kpis) > many


def _ranked(s, by: str) -> pd.DataFrame:
    k = s.kpis.sort_values(by, ascending=False, kind="mergesort", na_position="last").reset_index(drop=True)
    return k.assign(rank=range(1, len(k) + 1))


def territory_ranking(s, by: str = "support", many: int | None = MANY_TERRITORIES, top: int = TOP) -> Table:
    """Territories side by side, ranked by ``by`` (highest first), with each one's caveats.

    Above ``many`` territories only the ``top`` highest and ``top`` lowest of those with
    a value of ``by`` are listed, with their rank among them (see :func:`ranking_note`).
    """
    k = _ranked(s, by)
    if summarises(s, many):
        known = k[k[by].notna()]
        k = known if len(known) <= 2 * top else pd.concat([known.head(top), known.tail(top)])
    k = k.assign(support_change=[_change(a, b, "pct") for a, b in zip(k["support"], k["support_previous"])],
                 data=_caveat_words(k["caveats"]) if "caveats" in k else "")
    columns = ["rank", "territory_id", "territory_name", *[c for c, _, _ in RANKING]]
    if k["data"].nunique() > 1:  # the same caveats everywhere are said once, at the top
        columns.append("data")
    if s.scope == "all":
        columns.insert(3, "region")
    return table(k[columns], formats={"rank": "int", "data": "text", **{c: f for c, _, f in RANKING}},
                 labels={"territory_id": "id", "territory_name": "territory", "data": "missing data",
                         **{c: label for c, label, _ in RANKING}})


def _label(column: str) -> str:
    return next((label for c, label, _ in RANKING if c == column), readable(column))


def ranking_note(s, by: str = "support", many: int | None = MANY_TERRITORIES, top: int = TOP) -> Note:
    """What the ranking shows: every territory, or (above ``many``) the top and bottom ``top``."""
    n = len(s.kpis)
    measure = escape_markdown(_label(by))
    missing = int(s.kpis[by].isna().sum()) if by in s.kpis else n
    ranked = n - missing
    if not n:
        return Note("*No territories.*")
    if not summarises(s, many):
        shown = f"All {n:,} territories, ranked by {measure}"
    elif ranked > 2 * top:
        shown = (f"{n:,} territories (more than {many:,}): the {top:,} with the highest and the {top:,} with the "
                 f"lowest {measure}, with their rank among the {ranked:,} ranked")
    else:
        shown = f"{n:,} territories (more than {many:,}): the {ranked:,} with a {measure} value, ranked"
    unranked = ""
    if missing:
        unranked = (f" {missing:,} {'territory has' if missing == 1 else 'territories have'} no {measure} value "
                    f"(missing, not 0) and {'is' if missing == 1 else 'are'} listed last" if not summarises(s, many)
                    else f" {missing:,} {'territory has' if missing == 1 else 'territories have'} no {measure} "
                         "value (missing, not 0) and {} not ranked".format('is' if missing == 1 else 'are'))
        unranked += "."
    every = " Every territory is in tables/territories.csv." if summarises(s, many) else ""
    return Note(f"*{shown}.{unranked}{every}*")


#: How each measure's spread is shown (``pts``: a change in percentage points).
_SPREAD_FORMATS = {"support_change": "pts", "customers": "float1", "progressions": "float1",
                   "maintenance_overdue": "float1"}
_SPREAD_COLUMNS = (("min", "lowest"), ("p10", "10%"), ("p25", "25%"), ("median", "median"), ("p75", "75%"),
                   ("p90", "90%"), ("max", "highest"))


def _spread_value(value, kind: str) -> str:
    if kind == "pts":
        return "–" if pd.isna(value) else f"{value * 100:+.1f} pts"
    return fmt_number(value, kind)


def _scope_distribution(s) -> pd.DataFrame:
    d = getattr(s, "distribution", None)
    if d is None:
        key = "scope" if s.scope == "all" else "region"
        d = rollup_distribution(s.kpis.assign(scope=s.scope) if key == "scope" else s.kpis, key)
        d = d.rename(columns={"region": "scope"})
    return d[d["scope"].astype(str) == str(s.scope)]


def distribution_table(s) -> Table | Note:
    """The spread of each key measure over the scope's territories (the pass's quantiles);
    a territory without a value is counted under "no data", never as 0."""
    d = _scope_distribution(s)
    if d.empty:
        return Note("*No territories.*")
    formats = {c: f if f != "text" else "pct1" for c, _, f in RANKING}
    rows = []
    for r in d.to_dict("records"):
        kind = _SPREAD_FORMATS.get(r["measure"], formats.get(r["measure"], "float2"))
        rows.append((_label(r["measure"]), fmt_number(r["known"], "int"), fmt_number(r["missing"], "int"),
                     *[_spread_value(r[c], kind) for c, _ in _SPREAD_COLUMNS]))
    frame = pd.DataFrame(rows, columns=["measure", "with data", "no data", *[label for _, label in _SPREAD_COLUMNS]])
    return table(frame, formats={c: "text" for c in frame.columns})


def region_table(s) -> Table:
    """Regions side by side (national roll-up)."""
    r = s.regions.sort_values("support", ascending=False)
    columns = ["region", "territories", *[c for c, _, _ in RANKING if c != "support_change"]]
    return table(r[columns], formats={"territories": "int", **{c: f for c, _, f in RANKING}},
                 labels={c: label for c, label, _ in RANKING})


def coaching_flags(s, many: int | None = MANY_TERRITORIES) -> Table | Note:
    """How many reps carry each coaching flag: per territory, or (above ``many``
    territories) for the whole scope, with how many territories have such a rep."""
    frame = s.coaching_flags
    flags = [c for c in frame.columns if c != "territory_id"]
    keep = ["territory_id", *[f for f in flags if frame[f].sum() > 0]]
    if len(keep) == 1:
        if "no_activities" in text.codes(s.summary.get("caveats")):
            return Note("*No activity data: the coaching norms cannot be checked.*")
        return Note("*No rep misses a coaching norm.*")
    if summarises(s, many):
        summary = getattr(s, "flag_summary", None)
        if summary is None:
            summary = rollup_flags(frame, s.kpis.assign(scope=s.scope), "scope")
        summary = summary[summary["flag"].isin(keep[1:])]
        out = pd.DataFrame({"flag": [text.FLAG_WORDS.get(f, readable(f)) for f in summary["flag"]],
                            "reps": summary["reps"].to_numpy(),
                            "territories_flagged": summary["territories_flagged"].to_numpy(),
                            "share": (summary["territories_flagged"] / summary["territories"].where(
                                summary["territories"] > 0)).to_numpy()})
        return table(out, formats={"flag": "text", "reps": "int", "territories_flagged": "int", "share": "pct"},
                     labels={"reps": "reps with the flag", "territories_flagged": "territories with such a rep",
                             "share": "share of territories"})
    return table(frame[keep], formats={f: "int" for f in flags},
                 labels={"territory_id": "territory", **{f: text.FLAG_WORDS.get(f, readable(f)) for f in flags}})


def coaching_flags_note(s, many: int | None = MANY_TERRITORIES) -> Note:
    """Where the per-territory flag counts are when the roll-up summarises them."""
    if not summarises(s, many):
        return Note("")
    return Note(f"*{len(s.kpis):,} territories: the reps flagged in the whole scope; the counts per territory are in "
                "tables/coaching\\_flags.csv.*")


def placeholder_reason(t, what: str) -> str | None:
    """Why a figure of ``what`` ("migration", "channels") has nothing to draw, from the caveats."""
    codes = text.codes(t.caveats)
    if what == "migration" and "no_comparison" in codes:
        return text.caveat_sentence("no_comparison")
    if what == "channels" and "no_activities" in codes:
        return text.caveat_sentence("no_activities")
    if what == "channels" and "no_comparison" in codes:
        return text.UNPLACED_EFFORT
    if what == "trend" and "no_activities" in codes:
        return text.NO_TREND_ACTIVITY
    return None



# ------------------------------------------------------------- deeper sections (territory)


def _get(t, name: str) -> pd.DataFrame:
    """A table of the pass, or an empty one when the store predates it."""
    frame = t.tables.get(name)
    return frame if frame is not None else pd.DataFrame()


def _tables_note(name: str, shown: int, total: int) -> str:
    return (f"*The top {shown:,} of {total:,} rows; all are in tables/{escape_markdown(name)}.csv.*"
            if total > shown else "")


def targeting(t) -> Table | Note:
    """Decile targeting per market: does effort follow potential?"""
    d = _get(t, "targeting")
    if d.empty:
        return Note("*No customers with potential in this territory.*")
    has_activities = bool(t.kpi.get("has_activities", True))
    band = {"no_potential": "no potential", "not_prescribing": "not prescribing"}
    frame = pd.DataFrame({
        "market": d["market"],
        "decile": [band.get(b, fmt_number(x, "int")) for b, x in zip(d["band"], d["decile"].astype("Float64"))],
        "customers": d["customers"], "potential_share": d["potential_share"], "support": d["support"],
        **({"effort_share": d["effort_share"], "contacts_per_customer": d["contacts_per_customer"],
            "coverage": d["coverage"]} if has_activities else {}),
    })
    return table(frame, formats={"decile": "text", "customers": "int", "potential_share": "pct",
                                 "support": "pct", "effort_share": "pct", "contacts_per_customer": "float1",
                                 "coverage": "pct"},
                 labels={"decile": "potential decile", "potential_share": "share of potential",
                         "effort_share": "share of effort", "contacts_per_customer": "contacts per customer"})


def targeting_note(t) -> Note:
    """How to read the targeting table (and why the effort columns are absent)."""
    parts = ["Decile 10 is the tenth of the customers with the highest potential. Where effort follows potential, "
             "the share of effort falls from decile 10 down."]
    if not bool(t.kpi.get("has_activities", True)):
        parts.append(text.caveat_sentence("no_activities"))
    return Note(" ".join(f"*{escape_markdown(p)}*" for p in parts))


def flag_customers(t, max_rows: int = 15) -> Table | Note:
    """The customers behind the 3C flags, largest potential first within each flag."""
    f = _get(t, "flag_customers")
    if f.empty:
        if "no_comparison" in text.codes(t.caveats):
            return Note(f"*{escape_markdown(text.caveat_sentence('no_comparison'))}*")
        return Note("*No customer carries a 3C flag.*")
    top = f.groupby("flag", sort=False).head(max_rows // 3 or 1)
    frame = pd.DataFrame({
        "flag": top["flag"].map(lambda v: text.FLAG_WORDS.get(v, readable(v))), "customer": top["customer_name"],
        "market": top["market"], "segment": top["segment"], "potential": top["potential"],
        "why": [text.flag_reason(r) for r in top.to_dict("records")],
    })
    note = _tables_note("flag_customers", len(top), len(f))
    return _with_note(table(frame, formats={"potential": "int", "why": "text", "segment": "text"},
                            labels={"potential": "potential (boxes/month)"}), note)


class _Combined:
    """A table with a line of text above it (both renderers)."""

    def __init__(self, tbl: Table, note: str):
        self.tbl, self.note = tbl, note

    def _repr_markdown_(self) -> str:
        return (self.note + "\n\n" if self.note else "") + self.tbl._repr_markdown_()

    def _repr_html_(self) -> str:
        import html as _html
        note = f"<p><em>{_html.escape(self.note.strip('*').replace(chr(92), ''))}</em></p>" if self.note else ""
        return note + self.tbl._repr_html_()


def _with_note(tbl: Table, note: str):
    return _Combined(tbl, note) if note else tbl


def profile_gaps(t, max_rows: int = 12) -> Table | Note:
    """The customers whose profile is below the completeness threshold, with what is missing."""
    g = _get(t, "profile_gaps")
    if "no_profile_fields" in text.codes(t.caveats):
        return Note(f"*{escape_markdown(text.caveat_sentence('no_profile_fields'))}*")
    if g.empty:
        return Note("*Every prescribing customer's profile reaches the completeness threshold.*")
    top = g.head(max_rows)
    frame = pd.DataFrame({
        "customer": top["customer_name"], "type": top["customer_type"],
        "priority": top["priority"].map({True: "priority", False: ""}),
        "completeness": top["profile_completeness"],
        "missing": [text.missing_fields_words(f, gr) for f, gr in zip(top["missing_fields"], top["missing_groups"])],
    })
    note = _tables_note("profile_gaps", len(top), len(g))
    return _with_note(table(frame, formats={"completeness": "pct", "missing": "text", "priority": "text"},
                            labels={"missing": "missing fields (groups)", "priority": ""}), note)


def phase_forecast(t) -> Table | Note:
    """The phase mix now, next period and where it settles, per market."""
    f = _get(t, "phase_forecast")
    if f.empty:
        return Note(f"*{escape_markdown(text.NO_FORECAST)}*")
    frame = pd.DataFrame({
        "market": f["market"], "phase": f["phase"].map(text.phase_word), "customers": f["customers"],
        "share": f["share"], "customers_next": f["customers_next"], "share_next": f["share_next"],
        "share_steady": f["share_steady"],
    })
    return table(frame, formats={"phase": "text", "customers": "int", "share": "pct", "customers_next": "int",
                                 "share_next": "pct", "share_steady": "pct"},
                 labels={"customers": "customers now", "share": "share now", "customers_next": "next period",
                         "share_next": "share next", "share_steady": "settles at"})


def forecast_note(t) -> Note:
    f = _get(t, "phase_forecast")
    if f.empty:
        return Note("")
    parts = [text.FORECAST_ASSUMPTION]
    if "converged" in f and not f["converged"].astype(bool).all():
        parts.append("Where the rates cycle instead of settling, \"settles at\" shows –.")
    return Note(" ".join(f"*{escape_markdown(p)}*" for p in parts))


def competitors(t) -> Table | Note:
    """Each product's share of the territory's market, its change and the customers it leads."""
    c = _get(t, "competitors")
    c = c[(c["segment"] == "all") & ((c["units"] > 0) | (c["units_previous"].fillna(0) > 0))] if len(c) else c
    if c.empty:
        return Note("*No sales of any product in the analysed markets in this territory.*")
    frame = pd.DataFrame({
        "market": c["market"], "product": c["product_name"], "ours": c["is_own"].map({True: "ours", False: ""}),
        "share": c["share"], "change": [("–" if pd.isna(v) else f"{v * 100:+.1f} pts") for v in c["share_change"]],
        "customers_led": c["customers_led"],
        "led_change": [("–" if pd.isna(v) else f"{v:+,.0f}") for v in c["customers_led_change"]],
    })
    return table(frame, formats={"ours": "text", "share": "pct1", "change": "text", "customers_led": "int",
                                 "led_change": "text"},
                 labels={"ours": "", "share": "share of the territory", "change": "change",
                         "customers_led": "customers it leads", "led_change": "change in customers led"})


def call_plan(t, per_rep: int = 8) -> Table | Note:
    """Each rep's next calls: the top of the ranked plan (all rows are exported)."""
    c = _get(t, "call_plan")
    if c.empty:
        return Note("*No customer is due for a call under this run's call plan.*")
    min_base = int(t.params["min_rate_base"])
    has_activities = bool(t.kpi.get("has_activities", True))
    top = c[c["rank"] <= per_rep]
    due = [("–" if pd.isna(d) else pd.Timestamp(d).strftime("%Y-%m-%d") + (" (overdue)" if o is True else ""))
           for d, o in zip(top["due_date"], top["overdue"].astype(object))]
    frame = pd.DataFrame({
        "rep": top["rep_name"].fillna("unassigned"), "rank": top["rank"], "customer": top["customer_name"],
        "segment": top["segment"].astype(object).where(top["segment"].notna(), "–"),
        "phase": top["phase"].map(text.phase_word), "per_month": top["contacts_per_month"],
        "due": due,
        **({"channel": top["next_best_channel"].map(readable)} if has_activities else {}),
        "why": [text.call_plan_reason(r, min_base) for r in top.to_dict("records")],
    })
    note = (f"*The first {per_rep} calls of each rep; the whole plan ({len(c):,} customers) is in tables/call\\_plan.csv "
            "and call\\_plan.xlsx (one sheet per rep).*")
    return _with_note(table(frame, formats={"rank": "int", "segment": "text", "phase": "text", "per_month": "float1",
                                            "due": "text", "why": "text"},
                            labels={"per_month": "contacts per month", "due": "due", "channel": "next best channel"}),
                      note)


def methodology(t) -> Note:
    """The methodology appendix with this run's values (cut points, rules, fit, norms, cadences, caveats)."""
    cuts = None
    customers = _get(t, "customers")
    if not customers.empty and "potential_cut" in customers:
        cols = [c for c in ("potential_cut", "potential_cut_1", "support_cut", "support_cut_1") if c in customers]
        cuts = customers.groupby("market", observed=True)[cols].first().reset_index()
        cuts["market"] = cuts["market"].map(escape_markdown)
    try:
        fit = fit_matrix(t.params.get("fit_matrix") or None, channels=(*CHANNELS, *t.params.get("extra_channels", ())))
    except ValueError:
        fit = None
    k = t.kpi
    window = {"analysis": escape_markdown(k["analysis_period"]), "comparison": escape_markdown(k["comparison_period"])}
    return Note(text.methodology(t.params, cuts=cuts, caveats=t.caveats, fit=fit, window=window))


# ------------------------------------------------------------- deeper sections (roll-ups)


def scope_methodology(s, params) -> Note:
    """The methodology appendix of a roll-up: the run's parameters and the caveats of any territory."""
    eff = parameters.effective(parameters.check(dict(params or {}), source="parameters"))
    try:
        fit = fit_matrix(eff.get("fit_matrix") or None, channels=(*CHANNELS, *eff.get("extra_channels", ())))
    except ValueError:
        fit = None
    return Note(text.methodology(eff, caveats=s.summary.get("caveats"), fit=fit))
