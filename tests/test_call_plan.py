"""Call plan per rep: a five-customer example worked by hand."""
from __future__ import annotations

import pandas as pd
import pytest

from analysis.contract.reduction import contacts
from analysis.domain.call_plan import call_plan
from analysis.domain.maintenance import maintenance_list

REPS = pd.DataFrame({"rep_id": ["R1", "R2"], "rep_name": ["Ann", "Bo"], "territory_id": "T1",
                     "role": ["chronic", "specialty"]})
CUSTOMERS = pd.DataFrame({"customer_id": ["C1", "C2", "C3", "C4", "C5"],
                          "customer_name": ["Dr One", "Two Dept", "Three Dept", "Four Pharmacy", "Five Dist"],
                          "customer_type": ["hcp", "department", "department", "pharmacy", "distributor"],
                          "territory_id": "T1", "city": "X"})
FRAME = pd.DataFrame({
    "territory_id": "T1", "customer_id": ["C1", "C2", "C3", "C4", "C5"], "market": "m",
    "customer_type": ["hcp", "department", "department", "pharmacy", "distributor"],
    "segment": ["A", "B", "B", "D", None], "phase": ["trial", "aware", "interested", "unaware", None],
    "potential": [10.0, 20.0, 30.0, 1.0, 50.0], "support": [0.5, 0.0, 0.1, 0.0, 0.2], "vip": False,
    "next_best_channel": ["f2f_visit", "email", "phone", "email", None],
    "next_best_basis": ["fit", "fit", "fit", "fit", None],
    "next_best_rate_kind": None, "next_best_rate": None, "next_best_base": None,
})
ACTIVITIES = pd.DataFrame({
    "customer_id": ["C1", "C3", "C3", "C3", "C5"], "rep_id": ["R1", "R2", "R2", "R1", "R1"],
    "date": pd.to_datetime(["2026-03-20", "2026-03-25", "2026-02-01", "2026-03-01", "2026-01-15"]),
    "cost": 10.0,
})
AS_OF = pd.Timestamp("2026-03-31")
CONTACTS = {"A": 2, "B": 3, "C": 1, "D": 0}


def plan(has_activities=True):
    maint = maintenance_list(CUSTOMERS, FRAME, contacts(ACTIVITIES), AS_OF, {"distributor": 60},
                             has_activities=has_activities)
    return call_plan(FRAME, CUSTOMERS, REPS, contacts(ACTIVITIES), maint, AS_OF, CONTACTS, ("A", "B"),
                     has_activities=has_activities)


def test_five_customers_by_hand():
    p = plan().set_index("customer_id")
    # C4 is segment D (0 contacts a month, not on the maintenance list): not called
    assert sorted(p.index) == ["C1", "C2", "C3", "C5"]
    # owners: C1 and C5 contacted by R1; C3 twice by R2, once by R1 -> R2; C2 never contacted,
    # a department -> the territory's specialty rep R2
    assert p["rep_id"].to_dict() == {"C1": "R1", "C2": "R2", "C3": "R2", "C5": "R1"}
    assert p.loc["C2", "assigned_by"] == "territory" and p.loc["C3", "assigned_by"] == "contacts"
    # interval: 30 / contacts a month (A 2 -> 15 days, B 3 -> 10 days); distributor: cadence 60
    assert p["interval_days"].to_dict() == {"C1": 15, "C2": 10, "C3": 10, "C5": 60}
    # due: C1 03-20 + 15 = 04-04; C2 never contacted -> the plan's first day 04-01 (overdue);
    # C3 03-25 + 10 = 04-04; C5 01-15 + 60 = 03-16 (overdue)
    due = p["due_date"].dt.strftime("%Y-%m-%d").to_dict()
    assert due == {"C1": "2026-04-04", "C2": "2026-04-01", "C3": "2026-04-04", "C5": "2026-03-16"}
    assert p["overdue"].astype(bool).to_dict() == {"C1": False, "C2": True, "C3": False, "C5": True}
    assert p["reason"].to_dict() == {"C1": "target", "C2": "target", "C3": "target", "C5": "maintenance"}
    # ranked per rep by due date
    assert p.sort_values(["rep_id", "rank"]).index.tolist() == ["C5", "C1", "C2", "C3"]
    assert p["rank"].to_dict() == {"C5": 1, "C1": 2, "C2": 1, "C3": 2}
    assert p.loc["C1", "contacts_per_month"] == 2 and p.loc["C1", "next_best_channel"] == "f2f_visit"
    assert p.loc["C3", "untapped_potential"] == pytest.approx(27.0)


def test_without_activities_due_dates_are_unknown_not_now():
    p = plan(has_activities=False).set_index("customer_id")
    assert p["due_date"].isna().all() and p["overdue"].isna().all() and p["last_contact"].isna().all()
    # owners by role: departments to the specialty rep, the others to the chronic rep
    assert p["rep_id"].to_dict() == {"C1": "R1", "C2": "R2", "C3": "R2", "C5": "R1"}
    assert (p["assigned_by"] == "territory").all()
    # ranked by contacts a month, then untapped potential: R2: C3 (27) before C2 (20)
    assert p.sort_values(["rep_id", "rank"]).index.tolist() == ["C1", "C5", "C3", "C2"]


def test_no_activity_before_the_plan_starts_means_never_contacted():
    """Every activity after as_of (a period end before the activity data starts): no last contact."""
    later = ACTIVITIES.assign(date=ACTIVITIES["date"] + pd.Timedelta(days=365))
    maint = maintenance_list(CUSTOMERS, FRAME, contacts(later), AS_OF, {"distributor": 60})
    p = call_plan(FRAME, CUSTOMERS, REPS, contacts(later), maint, AS_OF, CONTACTS, ("A", "B")).set_index("customer_id")
    assert p["last_contact"].isna().all()
    assert (p["due_date"] == pd.Timestamp("2026-04-01")).all() and p["overdue"].astype(bool).all()


def test_workbook_one_sheet_per_rep_with_crm_headers(tmp_path):
    import openpyxl

    from analysis.report.exports import CRM_COLUMNS, call_plan_workbook

    path = call_plan_workbook(plan(), tmp_path / "call_plan.xlsx")
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["Ann (R1)", "Bo (R2)"]
    ws = wb["Bo (R2)"]
    header = [c.value for c in ws[1]]
    assert header == list(CRM_COLUMNS.values())
    rows = [dict(zip(header, [c.value for c in r])) for r in ws.iter_rows(min_row=2)]
    assert [r["Account ID"] for r in rows] == ["C2", "C3"] and [r["Priority"] for r in rows] == [1, 2]
    assert rows[0]["Next Call Due Date"].strftime("%Y-%m-%d") == "2026-04-01" and rows[0]["Overdue"] == "yes"
    assert rows[0]["Owner ID"] == "R2" and rows[0]["Calls Per Month"] == 3
    assert "segment B" in rows[0]["Reason"]


def test_workbook_is_the_same_bytes_for_the_same_plan(tmp_path):
    import time

    from analysis.report.exports import call_plan_workbook

    first = call_plan_workbook(plan(), tmp_path / "a.xlsx").read_bytes()
    time.sleep(1.1)  # zip entries and document properties would carry the time
    assert call_plan_workbook(plan(), tmp_path / "b.xlsx").read_bytes() == first


def test_workbook_text_is_never_a_formula_or_a_link(tmp_path):
    import openpyxl

    from analysis.report.exports import call_plan_workbook

    texts = ["=HYPERLINK(\"http://x\")", "http://example.org", "+1-2", "=1+1"]
    hostile = plan().assign(customer_name=texts)
    book = openpyxl.load_workbook(call_plan_workbook(hostile, tmp_path / "plan.xlsx"))
    cells = [c for ws in book.worksheets for c in ws["C"][1:]]
    assert sorted(c.value for c in cells) == sorted(texts)  # as written, not evaluated
    assert {c.data_type for c in cells} == {"s"}  # text cells, none a formula ("f")
    assert not any(ws._hyperlinks for ws in book.worksheets)


def test_the_csv_and_the_workbook_give_the_runs_min_rate_base_in_the_same_reasons(tmp_path):
    """One producer of the reasons: export_tables with the run's min_rate_base; the workbook
    writes the exported table's (before, the CSV quoted the default 5 whatever the run's)."""
    import openpyxl

    from analysis.report.exports import call_plan_workbook, export_tables

    raw = plan().assign(next_best_channel="email", next_best_basis="fit")  # the first fitting channel
    exported = export_tables({"call_plan": raw}, min_rate_base=12)["call_plan"]
    assert exported["why"].str.contains("no fitting channel reached 12 or more").all()
    book = openpyxl.load_workbook(call_plan_workbook(exported, tmp_path / "plan.xlsx", min_rate_base=12))
    reasons = sorted(row[9] for ws in book.worksheets for row in ws.iter_rows(min_row=2, values_only=True))
    assert reasons == sorted(exported["why"])
    # the pass's own table: the workbook makes the same reasons from the same parameter
    again = openpyxl.load_workbook(call_plan_workbook(raw, tmp_path / "raw.xlsx", min_rate_base=12))
    assert sorted(row[9] for ws in again.worksheets for row in ws.iter_rows(min_row=2, values_only=True)) == reasons
