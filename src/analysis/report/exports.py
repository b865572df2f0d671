"""The exported tables (DESIGN 6): a contract for downstream BI tools.

``export_tables`` writes every table of the pass that a report shows: for the tables of
the contract (DESIGN 6) its columns first, then the further columns the analysis
produced; the other tables as they are (full precision, one row per key). The roll-up
tables (``regions``, ``nation``) belong to the roll-up reports.
"""
from __future__ import annotations

import datetime
from collections.abc import Mapping

import pandas as pd

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


def export_tables(tables: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Every territory table present in ``tables``; contract tables with their columns first."""
    out = {}
    for name, frame in tables.items():
        if name in ROLLUP_TABLES:
            continue
        if name not in EXPORT_COLUMNS:
            out[name] = _with_reasons(name, frame.reset_index(drop=True))
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
def _with_reasons(name: str, frame: pd.DataFrame, min_rate_base: int = 5) -> pd.DataFrame:
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


def call_plan_workbook(plan: pd.DataFrame, path, min_rate_base: int = 5):
    """Write the call plan as an Excel workbook: one sheet per rep, CRM-mappable headers.

    ``plan``: the pass's ``call_plan`` table (one territory or several). Each sheet holds
    the rep's rows in rank order with :data:`CRM_COLUMNS` headers; dates are Excel dates;
    customers no rep could be given to are on a sheet "unassigned". A plan without rows
    writes one sheet saying so. Needs ``openpyxl``. Returns the path.

    The file is the same bytes for the same plan (no creation time inside; the zip
    entries carry a fixed date), so an unchanged report republishes an unchanged workbook.
    """
    from pathlib import Path

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = _with_reasons("call_plan", plan.reset_index(drop=True), min_rate_base)
    keys = rows[["rep_id", "rep_name"]].astype(object).where(rows[["rep_id", "rep_name"]].notna(), None)
    reps = list(dict.fromkeys((r if r is not None else "unassigned", n if n is not None else "")
                              for r, n in keys.itertuples(index=False, name=None)))
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        if not len(rows):
            pd.DataFrame({"Note": ["No customer is due for a call under this run's call plan."]}).to_excel(
                writer, sheet_name="call plan", index=False)
        for (rep_id, _), sheet in zip(reps, _sheet_names(reps)):
            mine = rows[rows["rep_id"].astype(object).fillna("unassigned") == rep_id]
            mine = mine.sort_values("rank", kind="mergesort")
            out = pd.DataFrame({label: mine[col] if col in mine else pd.NA for col, label in CRM_COLUMNS.items()})
            for col in ("Last Call Date", "Next Call Due Date"):
                out[col] = pd.to_datetime(out[col]).dt.date
            out["Overdue"] = out["Overdue"].astype(object).map({True: "yes", False: "no"})
            out.to_excel(writer, sheet_name=sheet, index=False)
            ws = writer.sheets[sheet]
            ws.freeze_panes = "A2"
            for cells in ws.columns:
                width = max(len(str(c.value)) if c.value is not None else 0 for c in cells[:200])
                ws.column_dimensions[cells[0].column_letter].width = min(max(width + 2, 8), 60)
        book = writer.book
        book.properties.created = book.properties.modified = FIXED_TIME
        book.properties.creator = "territory-reports"
    _fix_zip_times(path)
    return path


#: The one time written inside a workbook (Excel needs one; the real time would make
#: every re-render a different file).
FIXED_TIME = datetime.datetime(2000, 1, 1)


def _fix_zip_times(path) -> None:
    """Rewrite the zip at ``path`` with every entry dated :data:`FIXED_TIME`, in the same order
    (and the document's "modified" time, which openpyxl sets while saving, fixed too)."""
    import io
    import re
    import zipfile

    stamp = FIXED_TIME.strftime("%Y-%m-%dT%H:%M:%SZ").encode()

    source = zipfile.ZipFile(path)
    buffer = io.BytesIO()
    with source, zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=FIXED_TIME.timetuple()[:6])
            fixed.compress_type, fixed.external_attr = zipfile.ZIP_DEFLATED, info.external_attr
            data = source.read(info.filename)
            if info.filename == "docProps/core.xml":
                data = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)", rb"\g<1>" + stamp + rb"\g<2>", data)
            target.writestr(fixed, data)
    path.write_bytes(buffer.getvalue())
