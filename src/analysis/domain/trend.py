"""Monthly trend: every month of the data, not just the two windows.

* :func:`monthly_trend`: per territory, market and month: own units, market units,
  support (own / market units; missing without market units) and prescribing customers
  (customers with own units > 0), over the prescribing (segmentable) customer types, as
  the headline counts them. The months are those the sales data holds (nationally), up
  to ``period_end``: a month the data does not hold is absent, never a month of zeros; a
  territory without sales in a month the data holds has 0 units (a true zero).
* :func:`monthly_activity`: per territory and month (activities carry no market, so
  each is counted once): activities and cost (every customer type), customers
  contacted (prescribing types), coverage (contacted / the territory's prescribing
  customers) and contacts per contacted customer (their activities / their number). The months run from the first to the last month of the
  activities data (nationally), up to ``period_end``. Without activities: no rows.

``window`` names the analysis, comparison or "before" window a month falls in (missing
otherwise), so the months of the analysis window add up to the headline's figures.
"""
from __future__ import annotations

import pandas as pd

from analysis.contract.schema import SEGMENTABLE_TYPES
from analysis.domain.keys import inner_join
from analysis.domain.periods import Window

TREND_COLUMNS = ["territory_id", "market", "period", "window", "own_units", "market_units", "support",
                 "prescribing_customers"]
ACTIVITY_COLUMNS = ["territory_id", "period", "window", "activities", "cost", "customers_contacted",
                    "customers", "coverage", "contacts_per_customer"]


def _grid(territories, markets, periods) -> pd.DataFrame:
    index = pd.MultiIndex.from_product([list(territories), list(markets), list(periods)],
                                       names=["territory_id", "market", "period"])
    return index.to_frame(index=False)


def monthly_trend(sales_by_month: pd.DataFrame, territories, markets, window: Window) -> pd.DataFrame:
    """Own and market units, support and prescribing customers per territory x market x month.

    ``sales_by_month``: :func:`analysis.contract.reduction.sales_by_month` of the sales.
    """
    rows = sales_by_month
    periods = sorted(p for p in pd.unique(rows["period"].astype(str)) if p <= window.period_end)
    rows = rows[rows["prescribing"].astype(bool) & rows["market"].isin(list(markets))
                & (rows["period"].astype(str) <= window.period_end)]
    sums = rows.groupby(["territory_id", "market", "period"], sort=False).agg(
        own_units=("own_units", "sum"), market_units=("market_units", "sum"),
        prescribing_customers=("prescribing_customers", "sum")).reset_index()
    out = _grid(territories, markets, periods).merge(sums, on=["territory_id", "market", "period"], how="left")
    out = out.fillna({"own_units": 0.0, "market_units": 0.0, "prescribing_customers": 0})
    out["support"] = out["own_units"] / out["market_units"].where(out["market_units"] > 0)
    out["window"] = window.assign(out["period"])
    out = out.astype({"own_units": "float64", "market_units": "float64", "prescribing_customers": "int64"})
    return out[TREND_COLUMNS].sort_values(["territory_id", "market", "period"], ignore_index=True)


def monthly_activity(contacts: pd.DataFrame, customers: pd.DataFrame, territories, window: Window,
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

