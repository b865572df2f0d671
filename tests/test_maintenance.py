"""Relationship maintenance (DESIGN 4.7): cadence by type and VIP, overdue list."""
import numpy as np
import pandas as pd
import pytest

from analysis.contract.reduction import contacts
from analysis.domain.maintenance import DEFAULT_CADENCE, maintenance_list

AS_OF = pd.Timestamp("2026-06-30")


def days_ago(n):
    return AS_OF - pd.Timedelta(days=n)


def data():
    customers = pd.DataFrame({
        "customer_id": ["s1", "s2", "w1", "p1", "h1", "h2"],
        "customer_name": ["Supplier One", "Supplier Two", "Wholesale", "Clinic", "Dr Aydin", "Dr Berg"],
        "customer_type": ["supplier", "supplier", "distributor", "peripheral", "hcp", "hcp"],
        "territory_id": ["T1", "T1", "T1", "T2", "T1", "T1"],
    })
    frame = pd.DataFrame({  # customer x market; s1 is a VIP in M2 only, h1 in M1
        "territory_id": ["T1", "T1", "T1", "T1", "T1", "T2", "T1", "T1"],
        "customer_id": ["s1", "s1", "s2", "w1", "h1", "p1", "h2", "h2"],
        "market": ["M1", "M2", "M1", "M1", "M1", "M1", "M1", "M2"],
        "vip": [False, True, False, False, True, False, False, False],
    })
    activities = pd.DataFrame({
        "activity_id": ["a1", "a2", "a3", "a4", "a5", "a6", "a7"],
        "customer_id": ["s1", "s1", "s2", "p1", "p1", "h1", "h2"],
        "date": [days_ago(100), days_ago(30), days_ago(91), days_ago(10), AS_OF + pd.Timedelta(days=3),
                 days_ago(31), days_ago(400)],
        "rep_id": "R1", "cost": 10.0,
    })
    return customers, frame, activities


def test_maintenance_list():
    customers, frame, activities = data()
    out = maintenance_list(customers, frame, contacts(activities), as_of=AS_OF)
    assert out.columns.tolist() == ["territory_id", "customer_id", "customer_name", "city", "customer_type", "vip",
                                    "last_contact", "days_since", "cadence_days", "overdue"]
    assert out["city"].isna().all()  # the customers table has no city: missing
    # h2 is an hcp and no VIP: not listed. Order: overdue first (never contacted first),
    # then days since descending.
    assert out["customer_id"].tolist() == ["w1", "s2", "h1", "s1", "p1"]
    rows = out.set_index("customer_id")
    # s1: VIP supplier -> min(30, 90) = 30; last contact 30 days ago (a2, not a1) -> exactly at cadence
    assert rows.loc["s1", "cadence_days"] == 30 and rows.loc["s1", "vip"]
    assert rows.loc["s1", "last_contact"] == days_ago(30)
    assert rows.loc["s1", "days_since"] == 30 and not rows.loc["s1", "overdue"]
    # s2: supplier, 91 > 90 -> overdue
    assert rows.loc["s2", "cadence_days"] == 90 and rows.loc["s2", "overdue"]
    # w1: distributor (60) never contacted -> overdue, no days
    assert rows.loc["w1", "cadence_days"] == 60 and rows.loc["w1", "overdue"]
    assert pd.isna(rows.loc["w1", "last_contact"]) and np.isnan(rows.loc["w1", "days_since"])
    # p1: peripheral (180); the activity after as_of is ignored -> 10 days
    assert rows.loc["p1", "days_since"] == 10 and rows.loc["p1", "cadence_days"] == 180
    assert not rows.loc["p1", "overdue"] and rows.loc["p1", "territory_id"] == "T2"
    # h1: VIP hcp -> 30; 31 > 30 -> overdue
    assert rows.loc["h1", "cadence_days"] == 30 and rows.loc["h1", "overdue"]
    assert out["vip"].tolist() == [False, False, True, True, False]


def test_cadence_override_and_string_date():
    customers, frame, activities = data()
    activities = activities.assign(date=activities["date"].dt.strftime("%Y-%m-%d"))
    out = maintenance_list(customers, frame, contacts(activities), as_of="2026-06-30",
                           cadence={"vip": 31, "supplier": 91}).set_index("customer_id")
    # h1: 31 days against a 31-day VIP cadence -> not overdue; s2: 91 against 91 -> not overdue
    assert out.loc["h1", "cadence_days"] == 31 and not out.loc["h1", "overdue"]
    assert out.loc["s2", "cadence_days"] == 91 and not out.loc["s2", "overdue"]
    assert out.loc["w1", "cadence_days"] == DEFAULT_CADENCE["distributor"]
    with pytest.raises(ValueError):
        maintenance_list(customers, frame, contacts(activities), AS_OF, cadence={"vip": -1})


def test_no_activities():
    customers, frame, activities = data()
    out = maintenance_list(customers, frame, contacts(activities.iloc[:0]), AS_OF)
    # an activities table without rows: nobody was ever contacted, so everyone listed is overdue
    assert out["overdue"].all() and out["days_since"].isna().all() and len(out) == 5


def test_without_activity_data_contact_is_unknown_not_never():
    customers, frame, activities = data()
    out = maintenance_list(customers, frame, contacts(activities.iloc[:0]), AS_OF, has_activities=False)
    # DESIGN 4.4: no activities table -> maintenance due dates are not available (NA), never "overdue"
    assert len(out) == 5 and out["overdue"].isna().all()
    assert out["last_contact"].isna().all() and out["days_since"].isna().all()
    # the cadence is still known: it depends on the type and VIP status only
    assert out.set_index("customer_id")["cadence_days"].to_dict() == {
        "s1": 30, "s2": 90, "w1": 60, "p1": 180, "h1": 30}


def test_city_tells_customers_named_alike_apart():
    customers, frame, activities = data()
    customers = customers.assign(customer_name="Clinic", city=["Izmir", "Ankara", "Bursa", "Adana", "Konya", "Rize"])
    out = maintenance_list(customers, frame, contacts(activities), AS_OF).set_index("customer_id")
    assert out["city"].to_dict() == {"w1": "Bursa", "s2": "Ankara", "h1": "Konya", "s1": "Izmir", "p1": "Adana"}
