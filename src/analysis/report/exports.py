"""The exported tables (DESIGN 6): a contract for downstream BI tools.

``export_tables`` writes every table of the pass that a report shows: for the tables of
the contract (DESIGN 6) its columns first, then the further columns the analysis
produced; the other tables as they are (full precision, one row per key). The roll-up
tables (``regions``, ``nation``) belong to the roll-up reports.
"""
from __future__ import annotations

import datetime
from collections.abc import Mapping

import numpy as np
import pandas as pd

from analysis.contract.params import DEFAULTS

EXPORT_COLUMNS: dict[str, list[str]] = {
    "customers": ["territory_id", "customer_id", "market", "potential", "potential_method", "own_units",
                  "market_units", "support", "segment", "vip", "decile", "phase_previous", "phase", "flags",
                  "next_best_channel"],
    "three_c": ["market", "phase", "competitor_position", "customers", "potential", "effort_cost"],
    "migration": ["market", "phase_previous", "phase", "customers"],
    "channel_phase": ["market", "channel", "phase", "activities", "cost", "effort_share", "response_rate",
                      "progression_rate", "fits"],
    "coaching": ["rep_id", "role", "customers_covered", "profile_completeness", "profile_qualified_share",
                 "effort_on_priority", "mismatched_effort", "over_service", "cost", "own_units_change", "roi",
                 "progressions", "flags"],
    "maintenance": ["customer_id", "customer_type", "vip", "last_contact", "days_since", "cadence_days", "overdue"],
}

#: Extra columns kept after the contract columns, when present.
EXTRA_COLUMNS: dict[str, list[str]] = {
    "customers": ["customer_type", "region", "potential_level", "support_level", "potential_cut", "support_cut", "potential_cut_1", "support_cut_1",
                  "competitor_position", "leading_competitor", "competitor_share", "own_share", "activities",
                  "effort_cost", "competitor_locked", "stalled", "slipping", "next_best_basis",
                  "next_best_rate_kind", "next_best_rate", "next_best_base", "own_units_comparison",
                  "market_units_comparison", "phase_source", "phase_previous_source"],
    "three_c": ["territory_id"],
    "migration": ["territory_id", "rate"],
    "channel_phase": ["territory_id", "customers_touched", "responses", "customers_moved_up"],
    "coaching": ["territory_id", "rep_name", "departments_in_territory", "departments_covered", "margin_change",
                 "coverage_gap", "priority_uncovered", "profiles_unqualified_count", "departments_missing",
                 "departments_missing_names"],
    "maintenance": ["territory_id", "customer_name", "city"],
}
#: Tables of the pass that are not territory tables (exported with the roll-ups).
ROLLUP_TABLES = ("regions", "nation")


def export_tables(tables: Mapping[str, pd.DataFrame],
                  min_rate_base: int = DEFAULTS["min_rate_base"]) -> dict[str, pd.DataFrame]:
    """Every territory table present in ``tables``; contract tables with their columns
    first; the drill-downs with their reasons (``min_rate_base``: the run's, which the call
    plan's reasons quote)."""
    out = {}
    for name, frame in tables.items():
        if name in ROLLUP_TABLES:
            continue
        if name not in EXPORT_COLUMNS:
            out[name] = _with_reasons(name, frame.reset_index(drop=True), min_rate_base)
            continue
        columns = EXPORT_COLUMNS[name]
        missing = [c for c in columns if c not in frame]
        if missing:
            frame = frame.assign(**{c: pd.NA for c in missing})
        extra = [c for c in EXTRA_COLUMNS.get(name, []) if c in frame and c not in columns]
        out[name] = frame[columns + extra].reset_index(drop=True)
    return out


# ------------------------------------------------------------------ deeper tables

#: Sentences added to exported drill-down tables (made by the text module, from the row's facts).
def _with_reasons(name: str, frame: pd.DataFrame, min_rate_base: int = DEFAULTS["min_rate_base"]) -> pd.DataFrame:
    from analysis.report import text
    if name == "flag_customers" and len(frame):
        return frame.assign(why=[text.flag_reason(r) for r in frame.to_dict("records")])
    if name == "call_plan" and len(frame):
        return frame.assign(why=[text.call_plan_reason(r, min_rate_base) for r in frame.to_dict("records")])
    return frame


#: The call plan workbook's columns: pass column -> the header a CRM import maps
#: (Salesforce / Veeva style names: the account, its owner, the call and its due date).
CRM_COLUMNS: dict[str, str] = {
    "rank": "Priority",
    "customer_id": "Account ID",
    "customer_name": "Account Name",
    "city": "City",
    "customer_type": "Account Type",
    "market": "Product Market",
    "segment": "Segment",
    "phase": "Adoption Phase",
    "next_best_channel": "Channel",
    "why": "Reason",
    "contacts_per_month": "Calls Per Month",
    "interval_days": "Call Interval Days",
    "last_contact": "Last Call Date",
    "due_date": "Next Call Due Date",
    "overdue": "Overdue",
    "rep_id": "Owner ID",
    "rep_name": "Owner Name",
    "territory_id": "Territory ID",
}
#: Characters Excel does not allow in a sheet name.
_SHEET_FORBIDDEN = str.maketrans({c: "_" for c in "[]:*?/\\"})


def _sheet_names(reps: list[tuple[str, str]]) -> list[str]:
    """One unique Excel sheet name (at most 31 characters) per (rep_id, rep_name)."""
    out, seen = [], set()
    for rep_id, name in reps:
        base = f"{name} ({rep_id})" if name else str(rep_id)
        base = base.translate(_SHEET_FORBIDDEN).strip("'")[:31] or "rep"
        candidate, n = base, 2
        while candidate.lower() in seen:
            suffix = f" {n}"
            candidate, n = base[:31 - len(suffix)] + suffix, n + 1
        seen.add(candidate.lower())
        out.append(candidate)
    return out


def call_plan_workbook(plan: pd.DataFrame, path, min_rate_base: int = DEFAULTS["min_rate_base"]):
    """Write the call plan as an Excel workbook: one sheet per rep, CRM-mappable headers.

    ``plan``: the pass's ``call_plan`` table (one territory or several), or the one
    :func:`export_tables` made, whose reasons (``why``) it then writes. Each sheet holds
    the rep's rows in rank order with :data:`CRM_COLUMNS` headers (bold, framed, the row
    frozen); dates are Excel dates; customers no rep could be given to are on a sheet
    "unassigned". A plan without rows writes one sheet saying so. Text is written as text,
    never as a formula or a link (a name starting with "=" stays a name). Written with
    XlsxWriter, cell by cell, without pandas' Excel formatter (a territory's plan at
    300,000 customers: 0.08 s against 0.18 s through pandas and openpyxl, the mean of 41
    territories; it was the largest part of a tables-only job). Returns the path.

    The file is the same bytes for the same plan (no creation time inside; the zip
    entries carry a fixed date), so an unchanged report republishes an unchanged workbook.
    """
    import xlsxwriter
    from pathlib import Path

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = plan.reset_index(drop=True)
    rows = rows if "why" in rows else _with_reasons("call_plan", rows, min_rate_base)
    keys = rows[["rep_id", "rep_name"]].astype(object).where(rows[["rep_id", "rep_name"]].notna(), None)
    reps = list(dict.fromkeys((r if r is not None else "unassigned", n if n is not None else "")
                              for r, n in keys.itertuples(index=False, name=None)))
    # (in memory: each part zipped from memory, not from a temporary file: a fifth of the
    # workbook's time; the same parts, their zip entries dated 1980-01-01)
    book = xlsxwriter.Workbook(str(path), {"strings_to_formulas": False, "strings_to_urls": False,
                                           "strings_to_numbers": False, "nan_inf_to_errors": True,
                                           "in_memory": True})
    try:
        header = book.add_format({"bold": True, "border": 1, "align": "center", "valign": "top"})
        dates = book.add_format({"num_format": "yyyy-mm-dd"})
        book.set_properties({"author": "territory-reports", "created": FIXED_TIME})
        if not len(rows):
            _sheet(book.add_worksheet("call plan"), ["Note"],
                   [["No customer is due for a call under this run's call plan."]], header, dates)
        owners = rows["rep_id"].astype(object).fillna("unassigned")
        for (rep_id, _), name in zip(reps, _sheet_names(reps)):
            mine = rows[(owners == rep_id).to_numpy()].sort_values("rank", kind="mergesort")
            columns = []
            for col in CRM_COLUMNS:
                values = mine[col] if col in mine else pd.Series([None] * len(mine), dtype=object)
                if col in ("last_contact", "due_date"):
                    values = pd.to_datetime(values).dt.date
                elif col == "overdue":
                    values = values.astype(object).map({True: "yes", False: "no"})
                columns.append(values.astype(object).tolist())
            _sheet(book.add_worksheet(name), list(CRM_COLUMNS.values()), list(zip(*columns)), header, dates)
    finally:
        book.close()
    return path


def _sheet(sheet, labels: list[str], rows: list, header, dates) -> None:
    """One sheet: ``labels`` as its framed header, frozen, then ``rows`` (missing values
    blank, dates in ``dates``' format), each column as wide as its first 200 cells' text
    (8 to 60 characters)."""
    sheet.write_row(0, 0, labels, header)
    widths = [len(label) for label in labels]
    for r, row in enumerate(rows, start=1):
        for c, value in enumerate(row):
            if pd.isna(value):
                continue  # (a blank cell)
            if isinstance(value, datetime.date):
                sheet.write_datetime(r, c, value, dates)
            elif isinstance(value, (bool, np.bool_)):
                sheet.write_boolean(r, c, bool(value))
            elif isinstance(value, (int, float, np.integer, np.floating)):
                sheet.write_number(r, c, value)
            else:
                sheet.write_string(r, c, str(value))
            if r < 200:
                widths[c] = max(widths[c], len(str(value)))
    sheet.freeze_panes(1, 0)
    for c, width in enumerate(widths):
        sheet.set_column(c, c, min(max(width + 2, 8), 60))


#: The one time written inside a workbook (Excel needs one; the real time would make
#: every re-render a different file).
FIXED_TIME = datetime.datetime(2000, 1, 1)
