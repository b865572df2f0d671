"""The report's sections as display objects: which columns, in which words and formats.

Numbers come from the analysis tables; this module only chooses, labels and formats.
"""
from __future__ import annotations

import pandas as pd

from .present import Note, Table, escape_markdown, fmt_number, table
from .segmentation import SEGMENT_INTENT


def _change(now: float, before: float, kind: str) -> str:
    if pd.isna(now) or pd.isna(before):
        return "–"
    delta = now - before
    if kind == "pct":
        return f"{delta * 100:+.1f} pts"
    return f"{delta:+,.0f}" + (f" ({delta / before:+.0%})" if before else "")


def headline(t) -> Table:
    """Headline KPIs with the change against the comparison period."""
    k = t.kpi
    rows = [
        ("Customers (segmentable)", fmt_number(k["customers"], "int"), "", ""),
        ("Potential (boxes per month)", fmt_number(k["potential"], "int"), "", ""),
        ("Own units", fmt_number(k["own_units"], "int"), fmt_number(k["own_units_previous"], "int"),
         _change(k["own_units"], k["own_units_previous"], "int")),
        ("Market units", fmt_number(k["market_units"], "int"), fmt_number(k["market_units_previous"], "int"),
         _change(k["market_units"], k["market_units_previous"], "int")),
        ("Support (our share)", fmt_number(k["support"], "pct1"), fmt_number(k["support_previous"], "pct1"),
         _change(k["support"], k["support_previous"], "pct")),
        ("VIP customers (reach 80% of potential)", fmt_number(k["vip_customers"], "int"), "", ""),
        ("VIP share of customers", fmt_number(k["vip_share"], "pct1"), "", ""),
    ]
    frame = pd.DataFrame(rows, columns=["measure", f"analysis ({k['analysis_period']})",
                                        f"comparison ({k['comparison_period']})", "change"])
    return table(frame, formats={c: "text" for c in frame.columns})


def segments(t) -> Table:
    """The segment table: customers, potential, support per market and segment."""
    s = t.segments.assign(intent=lambda d: d["segment"].map(SEGMENT_INTENT))
    cols = ["market", "segment", "customers", "customer_share", "potential", "potential_share", "support", "intent"]
    return table(s[cols], formats={"customers": "int", "customer_share": "pct", "potential": "int",
                                   "potential_share": "pct", "support": "pct1", "intent": "text"},
                 labels={"customer_share": "share of customers", "potential": "potential (boxes/month)",
                         "potential_share": "share of potential"})


def period_note(t) -> Note:
    """One sentence saying which months the report compares."""
    k = t.kpi
    return Note(f"Analysis period **{escape_markdown(k['analysis_period'])}**, compared with "
                f"**{escape_markdown(k['comparison_period'])}**. Territory {escape_markdown(t.territory_id)} "
                f"in region {escape_markdown(t.region)}.")
