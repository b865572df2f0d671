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

import numpy as np
import pandas as pd

from analysis.contract.schema import SEGMENTABLE_TYPES
from analysis.domain.keys import factorized, positions_in
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


class _TerritoryMonths:
    """The activities of ``contacts`` in ``periods`` per territory x month, the territory of
    a customer its row of ``base`` (distinct customer ids).

    ``sums``: territory_id, period, activities and cost (every customer type) per
    territory x month with activities; ``contacted`` (the prescribing customers contacted)
    and ``contacts`` (their activities): Series indexed by the cell (territory code x
    number of periods + month), see :meth:`cells`.
    """

    def __init__(self, contacts: pd.DataFrame, month: pd.Series, base: pd.DataFrame, periods: list[str]):
        self.months = len(periods)
        territory, self.territories = factorized(base["territory_id"])
        period = positions_in(month, periods)
        customer = positions_in(contacts["customer_id"], base["customer_id"])
        rows = np.flatnonzero((period >= 0) & (customer >= 0))
        rows = rows[territory[customer[rows]] >= 0]  # (a missing territory is no group)
        customer, period = customer[rows], period[rows]
        cell = territory[customer] * self.months + period
        activities = contacts["activities"].to_numpy()[rows]
        first = np.unique(cell, return_index=True)[1]  # the first row of each cell, by cell
        self.sums = pd.DataFrame({
            "territory_id": base["territory_id"].array.take(customer[first]),
            "period": contacts["period"].array.take(rows[first]),
            "activities": pd.Series(activities).groupby(cell).sum().to_numpy(),
            "cost": pd.Series(contacts["cost"].to_numpy()[rows]).groupby(cell).sum().to_numpy()})
        prescribing = base["customer_type"].isin(SEGMENTABLE_TYPES).to_numpy()[customer]
        self.contacts = pd.Series(activities[prescribing]).groupby(cell[prescribing], sort=False).sum()
        counted = prescribing & base["customer_id"].notna().to_numpy()[customer]
        visits = customer[counted] * self.months + period[counted]  # customer x month
        # a customer's month is in one cell (its territory's): each counted once, where first seen
        first_visits = ~pd.Series(visits).duplicated().to_numpy()
        self.contacted = pd.Series(cell[counted][first_visits]).value_counts(sort=False)

    def cells(self, territory_ids: pd.Series) -> np.ndarray:
        """The cell of each row of a territory x month grid (each territory's months in turn;
        -1: a territory without activities)."""
        territory = positions_in(territory_ids, self.territories)
        month = np.tile(np.arange(self.months), len(territory) // max(self.months, 1))
        return np.where(territory >= 0, territory * self.months + month, -1)


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
    cells = _TerritoryMonths(contacts, month, base, periods)
    index = pd.MultiIndex.from_product([list(territories), periods], names=["territory_id", "period"])
    out = index.to_frame(index=False).merge(cells.sums, on=["territory_id", "period"], how="left")
    grid = cells.cells(out["territory_id"])
    out["customers_contacted"] = cells.contacted.reindex(grid).to_numpy()
    out["_contacts"] = cells.contacts.reindex(grid).to_numpy()
    out = out.fillna({"activities": 0, "cost": 0.0, "customers_contacted": 0, "_contacts": 0})
    size = base[base["customer_type"].isin(SEGMENTABLE_TYPES)].groupby("territory_id").size()
    out["customers"] = out["territory_id"].map(size).fillna(0).astype("int64")
    out["coverage"] = out["customers_contacted"] / out["customers"].where(out["customers"] > 0)
    out["contacts_per_customer"] = out["_contacts"] / out["customers_contacted"].where(out["customers_contacted"] > 0)
    out["window"] = window.assign(out["period"])
    out = out.astype({"activities": "int64", "cost": "float64", "customers_contacted": "int64"})
    return out[ACTIVITY_COLUMNS].sort_values(["territory_id", "period"], ignore_index=True)

