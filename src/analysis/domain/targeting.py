"""Decile targeting (DESIGN 4.3 deciles): does our effort follow the potential?

Per territory, market and potential decile (10 = the top tenth of the segmentable
customers with potential > 0; :func:`analysis.domain.segmentation.deciles`): customers,
potential and its share, our support, the effort (activity cost) and its share, the
contacts (activities) per customer and the coverage. The customers without a decile
form two more rows (``decile`` missing; ``band`` says which): the prescribing customers
without potential (``no_potential``) and the other customer types (``not_prescribing``:
distributors, suppliers, peripheral), so that each market's effort adds up to the territory's activity cost (activities carry no
market: a customer's cost counts in each of its markets, DESIGN 4.5).

Without activities the effort columns are missing, never 0.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.contract.schema import SEGMENTABLE_TYPES

GROUP = ["territory_id", "market"]
TARGETING_COLUMNS = ["territory_id", "market", "decile", "band", "customers", "potential", "potential_share", "own_units",
                     "market_units", "support", "effort_cost", "effort_share", "activities",
                     "contacts_per_customer", "customers_covered", "coverage"]


def decile_targeting(frame: pd.DataFrame) -> pd.DataFrame:
    """The targeting table of every territory x market of the customer frame.

    ``frame``: customers x market with decile, potential, own_units, market_units,
    activities and effort_cost (NaN without activities). Rows: deciles 10 down to 1, then
    the customers without a decile; a decile nobody falls in has no row.
    ``potential_share`` and ``effort_share`` are shares of the market's totals over all
    rows; ``support`` = own / market units (missing without market units);
    ``contacts_per_customer`` = activities / customers.
    """
    prescribing = frame["customer_type"].isin(SEGMENTABLE_TYPES).to_numpy()
    decile = frame["decile"].astype("Float64").fillna(0).astype(int).to_numpy()
    rows = frame.assign(_decile=np.where(prescribing, decile, -1),
                        _covered=(pd.to_numeric(frame["activities"]) > 0).astype(float)
                        .where(frame["activities"].notna()))
    keys = [*GROUP, "_decile"]
    grouped = rows.groupby(keys, sort=True, observed=True)
    out = grouped[["potential", "own_units", "market_units"]].sum()
    out["customers"] = grouped["customer_id"].nunique()
    sums = rows.assign(effort_cost=pd.to_numeric(rows["effort_cost"]).astype(float),
                       activities=pd.to_numeric(rows["activities"]).astype(float)).groupby(keys, sort=True, observed=True)
    out[["effort_cost", "activities", "customers_covered"]] = sums[["effort_cost", "activities", "_covered"]].sum(
        min_count=1)
    out = out.reset_index()
    totals = out.groupby(GROUP, sort=False)
    pot_total = out["potential"].where(out["_decile"] >= 0, 0.0).groupby([out[k] for k in GROUP]).transform("sum")
    cost_total = totals["effort_cost"].transform("sum").where(totals["effort_cost"].transform("count") > 0)
    out["potential_share"] = (out["potential"] / pot_total.where(pot_total > 0)).where(out["_decile"] >= 0)
    out["effort_share"] = out["effort_cost"] / cost_total.where(cost_total > 0)
    out["support"] = out["own_units"] / out["market_units"].where(out["market_units"] > 0)
    out["contacts_per_customer"] = out["activities"] / out["customers"].where(out["customers"] > 0)
    out["coverage"] = out["customers_covered"] / out["customers"].where(out["customers"] > 0)
    out["decile"] = out["_decile"].where(out["_decile"] > 0).astype("Int64")
    out["band"] = np.select([out["_decile"] > 0, out["_decile"] == 0], ["decile", "no_potential"], "not_prescribing")
    out = out.sort_values([*GROUP, "_decile"], ascending=[True, True, False], kind="mergesort")
    out["customers"] = out["customers"].astype("int64")
    return out[TARGETING_COLUMNS].reset_index(drop=True).astype(
        {c: "float64" for c in ("effort_cost", "activities", "customers_covered")})
