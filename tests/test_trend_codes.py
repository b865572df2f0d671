"""The monthly activity on integer codes equals the pandas join and groupbys it replaced."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.contract.schema import SEGMENTABLE_TYPES
from analysis.domain.keys import inner_join
from analysis.domain.periods import Window
from analysis.domain.trend import ACTIVITY_COLUMNS, monthly_activity

# the pandas implementation the codes replaced (reference)
def reference_activity(contacts: pd.DataFrame, customers: pd.DataFrame, territories, window: Window,
                     has_activities: bool = True) -> pd.DataFrame:
    """Effort, coverage and contacts per territory x month (no rows without activities).

    ``contacts``: :func:`analysis.contract.reduction.contacts` of the activities.
    """
    if not has_activities or contacts is None or len(contacts) == 0:
        return pd.DataFrame({c: pd.Series(dtype="float64" if c not in ("territory_id", "period", "window")
                                          else object) for c in ACTIVITY_COLUMNS})
    month = contacts["period"].astype(str)
    first, last = month.min(), min(month.max(), window.period_end)
    periods = [p.strftime("%Y-%m") for p in pd.period_range(first, last, freq="M")] if first <= last else []
    base = customers[["customer_id", "territory_id", "customer_type"]].drop_duplicates("customer_id")
    rows = contacts[month.isin(periods).to_numpy()][["customer_id", "period", "activities", "cost"]]
    rows = inner_join(rows, base, ["customer_id"])
    rows["prescribing"] = rows["customer_type"].isin(SEGMENTABLE_TYPES)
    sums = rows.groupby(["territory_id", "period"], sort=False).agg(
        activities=("activities", "sum"), cost=("cost", "sum")).reset_index()
    prescribing = rows[rows["prescribing"]].groupby(["territory_id", "period"], sort=False)
    contacted = pd.DataFrame({"customers_contacted": prescribing["customer_id"].nunique(),
                              "_contacts": prescribing["activities"].sum()})
    index = pd.MultiIndex.from_product([list(territories), periods], names=["territory_id", "period"])
    out = index.to_frame(index=False).merge(sums, on=["territory_id", "period"], how="left")
    out = out.join(contacted, on=["territory_id", "period"])
    out = out.fillna({"activities": 0, "cost": 0.0, "customers_contacted": 0, "_contacts": 0})
    size = base[base["customer_type"].isin(SEGMENTABLE_TYPES)].groupby("territory_id").size()
    out["customers"] = out["territory_id"].map(size).fillna(0).astype("int64")
    out["coverage"] = out["customers_contacted"] / out["customers"].where(out["customers"] > 0)
    out["contacts_per_customer"] = out["_contacts"] / out["customers_contacted"].where(out["customers_contacted"] > 0)
    out["window"] = window.assign(out["period"])
    out = out.astype({"activities": "int64", "cost": "float64", "customers_contacted": "int64"})
    return out[ACTIVITY_COLUMNS].sort_values(["territory_id", "period"], ignore_index=True)



def _data(seed: int, customers: int = 30):
    rng = np.random.default_rng(seed)
    ids = [f"C{i:02d}" for i in range(customers)]
    base = pd.DataFrame({"customer_id": ids, "territory_id": rng.choice(["T2", "T1", "T3", None], customers),
                         "customer_type": rng.choice(["hcp", "pharmacy", "supplier"], customers)})
    base = pd.concat([base, base.head(2).assign(territory_id="T1")], ignore_index=True)  # listed twice: the first
    n = customers * 4
    contacts = pd.DataFrame({"customer_id": rng.choice(ids + ["C99"], n), "rep_id": "R1",
                             "period": rng.choice(["2025-12", "2026-01", "2026-02", "2026-04"], n),
                             "activities": rng.integers(1, 5, n), "cost": rng.choice([0.1, 0.2, 0.3, 7.0], n)})
    return contacts, base


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("end", ["2026-03", "2026-01", "2025-11"])
@pytest.mark.parametrize("categorical", [False, True])
def test_equals_the_pandas_reference(seed, end, categorical):
    contacts, customers = _data(seed)
    if categorical:
        contacts = contacts.astype({"customer_id": "category", "period": "category"})
        customers = customers.astype({"customer_type": "category", "territory_id": "category"})
    window = Window(end, 1)
    territories = pd.Series(["T1", "T2", "T4", "T3"])
    pd.testing.assert_frame_equal(monthly_activity(contacts, customers, territories, window),
                                  reference_activity(contacts, customers, territories, window))


def test_without_customers_or_territories():
    contacts, customers = _data(1)
    window = Window("2026-03", 1)
    for c, t in ((customers.head(0), ["T1"]), (customers, [])):
        pd.testing.assert_frame_equal(monthly_activity(contacts, c, t, window),
                                      reference_activity(contacts, c, t, window))
