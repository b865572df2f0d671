"""Monthly trend: a two-customer, three-month example."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.contract.reduction import contacts, sales_by_month
from analysis.domain.periods import Window
from analysis.domain.trend import monthly_activity, monthly_trend

CUSTOMERS = pd.DataFrame({"customer_id": ["C1", "C2"], "customer_type": ["hcp", "pharmacy"],
                          "territory_id": ["T1", "T1"]})
PRODUCTS = pd.DataFrame({"product_id": ["P1", "P2"], "market": ["m", "m"], "is_own": [True, False]})
# Jan: C1 own 10 + comp 10, C2 comp 5 -> own 10, market 25, support .4, 1 prescribing
# Feb: C2 own 4 + comp 4            -> own 4, market 8, support .5, 1 prescribing
# Mar: C1 own 6, C2 own 2           -> own 8, market 8, support 1, 2 prescribing
SALES = pd.DataFrame({
    "customer_id": ["C1", "C1", "C2", "C2", "C2", "C1", "C2"],
    "product_id": ["P1", "P2", "P2", "P1", "P2", "P1", "P1"],
    "period": ["2026-01", "2026-01", "2026-01", "2026-02", "2026-02", "2026-03", "2026-03"],
    "units": [10.0, 10.0, 5.0, 4.0, 4.0, 6.0, 2.0],
})
ACTIVITIES = pd.DataFrame({"customer_id": ["C1", "C1", "C2"], "rep_id": "R1",
                           "date": pd.to_datetime(["2026-01-05", "2026-01-20", "2026-03-02"]),
                           "cost": [100.0, 50.0, 30.0]})
WINDOW = Window("2026-03", 1)


def test_units_support_and_prescribers_per_month():
    t = monthly_trend(sales_by_month(SALES, PRODUCTS, CUSTOMERS), ["T1"], ["m"], WINDOW)
    assert t["period"].tolist() == ["2026-01", "2026-02", "2026-03"]
    assert t["own_units"].tolist() == [10, 4, 8]
    assert t["market_units"].tolist() == [25, 8, 8]
    assert t["support"].tolist() == pytest.approx([0.4, 0.5, 1.0])
    assert t["prescribing_customers"].tolist() == [1, 1, 2]
    assert t["window"].tolist() == ["before", "comparison", "analysis"]


def test_a_month_the_data_lacks_is_absent_and_a_quiet_territory_is_zero():
    t = monthly_trend(sales_by_month(SALES[SALES["period"] != "2026-02"], PRODUCTS, CUSTOMERS), ["T1", "T2"], ["m"], WINDOW)
    assert t.loc[t["territory_id"] == "T1", "period"].tolist() == ["2026-01", "2026-03"]
    quiet = t[t["territory_id"] == "T2"]
    assert quiet["own_units"].tolist() == [0, 0] and quiet["support"].isna().all()


def test_effort_coverage_and_contacts_per_month():
    a = monthly_activity(contacts(ACTIVITIES), CUSTOMERS, ["T1"], WINDOW)
    assert a["period"].tolist() == ["2026-01", "2026-02", "2026-03"]
    assert a["activities"].tolist() == [2, 0, 1]
    assert a["cost"].tolist() == [150, 0, 30]
    assert a["customers_contacted"].tolist() == [1, 0, 1]
    assert a["coverage"].tolist() == pytest.approx([0.5, 0.0, 0.5])
    assert a["contacts_per_customer"].iloc[0] == 2 and np.isnan(a["contacts_per_customer"].iloc[1])
    assert monthly_activity(contacts(ACTIVITIES), CUSTOMERS, ["T1"], WINDOW, has_activities=False).empty
