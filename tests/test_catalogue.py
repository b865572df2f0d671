"""The bad-input catalogue, part two: shapes of real exports that must *work*.

Part one (``test_data.py``, ``test_params.py``, ``test_cli.py``) covers the inputs that
are rejected with a clear error: missing tables and columns, wrong types, duplicated
ids, unknown foreign keys, negative units or costs, periods and dates in other formats,
unknown channels and outcomes, bad booleans and shares, unreadable files, unknown or
mistyped parameters, overrides for unknown territories. Here: what a real export looks
like and the tool accepts, each with its documented tolerance.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import read_text_table, write_table

from analysis.contract.dataset import load_dataset
from analysis.domain.national import national_pass


def run(folder, profile=None):
    tables = national_pass(load_dataset(folder), profile or {})
    c = tables["customers"]
    assert c["support"].dropna().between(0, 1).all()
    assert tables["kpis"]["coverage"].dropna().between(0, 1).all()
    return tables


def test_excel_style_csv_semicolons_and_decimal_commas(tiny_dataset):
    customers = read_text_table(tiny_dataset, "customers")
    customers.loc[1, "indication_share"] = "0,8"
    customers.loc[1, "customer_name"] = "Neurology, Dept"  # a comma inside text stays text
    text = customers.fillna("").to_csv(sep=";", index=False)
    (tiny_dataset / "customers.csv").write_text("\ufeff" + text, encoding="utf-8")
    ds = load_dataset(tiny_dataset)
    row = ds.customers.set_index("customer_id").loc["C0002"]
    assert row["indication_share"] == 0.8 and row["customer_name"] == "Neurology, Dept"


def test_thousands_with_dots_and_decimal_comma(tiny_dataset):
    sales = read_text_table(tiny_dataset, "sales")
    sales["units"] = sales["units"].astype(str)
    sales.loc[0, "units"] = "1.234,5"
    (tiny_dataset / "sales.csv").write_text(sales.to_csv(sep=";", index=False), encoding="utf-8")
    assert load_dataset(tiny_dataset).sales.loc[0, "units"] == 1234.5


def test_latin1_file_is_a_clear_error(tiny_dataset):
    from analysis.errors import DataValidationError

    customers = read_text_table(tiny_dataset, "customers")
    customers.loc[0, "customer_name"] = "Dr Müller"
    (tiny_dataset / "customers.csv").write_bytes(customers.fillna("").to_csv(index=False).encode("latin-1"))
    with pytest.raises(DataValidationError, match="UTF-8"):
        load_dataset(tiny_dataset)


def test_sales_only_no_activities_table(tiny_dataset):
    (tiny_dataset / "activities.csv").unlink()
    tables = run(tiny_dataset)
    assert (tables["kpis"]["has_activities"] == False).all()  # noqa: E712 - the report says so
    assert tables["channel_phase"].empty and tables["channels"].empty
    # no activity data: effort, cost, coverage and ROI are unknown (missing), never 0
    assert tables["coaching"]["cost"].isna().all() and tables["coaching"]["roi"].isna().all()
    assert (tables["coaching"]["flags"] == "").all()  # no coaching action from missing data
    kpis = tables["kpis"].set_index("territory_id")
    for column in ("cost", "coverage", "customers_covered", "effort_on_priority", "mismatched_effort",
                   "over_service", "roi", "maintenance_overdue"):
        assert kpis[column].isna().all(), column
    # the products have no unit margin, but without activities there is no ROI to qualify
    assert (kpis["caveats"] == "no_activities").all()
    # phases by hand (monthly units the same every month; before-period 2025-10..12 has no sales):
    # C0001 10/40 = 0.25 -> adopter; C0002 40/60, C0004 5/5 and C0006 8/16 = 0.5 reach loyal only in
    # the analysis period (the comparison period's "before" is absent); C0003 and C0007 have no own
    # units: below_trial (unaware..interested cannot be told apart); C0005, C0008 are no prescribers
    c = tables["customers"].set_index("customer_id")
    phases = {cid: (None if pd.isna(p0) else p0, None if pd.isna(p1) else p1)
              for cid, p0, p1 in zip(c.index, c["phase_previous"].astype(object), c["phase"].astype(object))}
    assert phases == {
        "C0001": ("adopter", "adopter"), "C0002": ("adopter", "loyal"), "C0003": ("below_trial", "below_trial"),
        "C0004": ("adopter", "loyal"), "C0005": (None, None), "C0006": ("adopter", "loyal"),
        "C0007": ("below_trial", "below_trial"), "C0008": (None, None),
    }
    assert c["effort_cost"].isna().all()
    assert (c["next_best_basis"] == "no_activities").all() and c["next_best_channel"].isna().all()
    # the sales-only ladder in the migration: 4 x 4 per territory
    migration = tables["migration"]
    assert migration.groupby("territory_id").size().to_dict() == {"T01": 16, "T02": 16}
    assert set(migration["phase"].astype(str)) == {"below_trial", "trial", "adopter", "loyal"}
    # maintenance: the last contact is unknown, not "never"
    assert tables["maintenance"]["overdue"].isna().all()


def test_single_period_no_comparison(tiny_dataset):
    sales = read_text_table(tiny_dataset, "sales")
    write_table(tiny_dataset, "sales", sales[sales["period"] == "2026-06"])
    tables = run(tiny_dataset, {"period_months": 1})
    assert (tables["kpis"]["has_comparison"] == False).all()  # noqa: E712 - the report says so
    assert tables["kpis"]["support"].notna().all()
    kpis = tables["kpis"]
    assert all("no_comparison" in c for c in kpis["caveats"])
    # everything that compares two periods is missing, never 0 or a change from 0
    for column in ("own_units_previous", "support_previous", "progressions", "slipping", "competitor_locked",
                   "own_units_change", "margin_change", "roi"):
        assert kpis[column].isna().all(), column
    assert len(tables["migration"]) == 0
    c = tables["customers"].set_index("customer_id")
    assert c["phase_previous"].isna().all()
    # June only: C0001 10/40 -> adopter; C0002, C0004, C0006 reach the loyal share but the month
    # before is absent -> adopter; C0003 and C0007 have no own units and no activity in June -> unaware
    assert c["phase"].astype(object).where(c["phase"].notna(), None).to_dict() == {
        "C0001": "adopter", "C0002": "adopter", "C0003": "unaware", "C0004": "adopter", "C0005": None,
        "C0006": "adopter", "C0007": "unaware", "C0008": None}
    prescribing = c[c["segment"].notna()]
    assert prescribing[["competitor_locked", "stalled", "slipping", "flags"]].isna().all().all()
    # the ROI tables keep the cost but have no change
    assert tables["roi_rep"]["own_units_change"].isna().all() and tables["roi_rep"]["cost"].notna().all()


def test_territory_without_customers(tiny_dataset):
    territories = read_text_table(tiny_dataset, "territories")
    territories.loc[len(territories)] = ["T03", "Empty", "North", ""]
    write_table(tiny_dataset, "territories", territories)
    tables = run(tiny_dataset)
    kpis = tables["kpis"].set_index("territory_id")
    # no customers is a true zero; shares of nothing are missing
    assert kpis.loc["T03", "customers"] == 0 and kpis.loc["T03", "potential"] == 0
    assert np.isnan(kpis.loc["T03", "support"]) and np.isnan(kpis.loc["T03", "coverage"])
    # so the region still has its totals
    region = tables["regions"].set_index("region").loc["North"]
    assert region["customers"] == kpis["customers"].sum() and region["territories"] == 3


def test_territory_with_one_customer(tiny_dataset):
    customers = read_text_table(tiny_dataset, "customers")
    customers.loc[customers["customer_id"] != "C0002", "territory_id"] = "T02"  # T01 keeps C0002 only
    write_table(tiny_dataset, "customers", customers)
    tables = run(tiny_dataset)
    t01 = tables["customers"][tables["customers"]["territory_id"] == "T01"]
    assert t01["customer_id"].nunique() == 1 and t01["segment"].notna().all()


def test_market_without_own_product(tiny_dataset):
    products = read_text_table(tiny_dataset, "products")
    products["is_own"] = "false"
    write_table(tiny_dataset, "products", products)
    c = run(tiny_dataset)["customers"]
    assert (c["own_units"] == 0).all() and (c["support"].dropna() == 0).all()


def test_all_zero_sales(tiny_dataset):
    sales = read_text_table(tiny_dataset, "sales")
    sales["units"] = "0"
    write_table(tiny_dataset, "sales", sales)
    tables = run(tiny_dataset)
    assert tables["customers"]["support"].isna().all()  # no market units: missing, not zero
    assert not tables["customers"]["vip"].any()


def test_activities_outside_the_windows_are_ignored(tiny_dataset):
    activities = read_text_table(tiny_dataset, "activities")
    activities.loc[0, "date"] = "1999-01-04"
    activities.loc[1, "date"] = "2031-12-31"
    write_table(tiny_dataset, "activities", activities)
    run(tiny_dataset)  # dated outside the three windows: not counted, not an error
