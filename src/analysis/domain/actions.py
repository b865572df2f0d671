"""The action list: which customers to work on next, with the next best channel.

Ranks the customers of the priority segments (2x2: A and B; 3x3: the high-potential
row) who are not yet loyal by untapped potential, potential x (1 - support): the boxes
per month they use that are not ours.
"""
from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

PRIORITY = ("A", "B")  # the 2x2 scheme's priority segments (the default)


def untapped(frame: pd.DataFrame) -> pd.Series:
    """potential x (1 - support); missing support counts as none of it ours."""
    return (frame["potential"] * (1 - frame["support"].fillna(0.0))).rename("untapped_potential")


def action_list(frame: pd.DataFrame, customers: pd.DataFrame, per_territory: int = 15,
                priority: Sequence[str] = PRIORITY) -> pd.DataFrame:
    """Top ``per_territory`` customer x market rows per territory to work on next.

    Rows: the ``priority`` segments, phase below ``loyal``; ranked by untapped potential
    (ties by customer id). Columns: territory_id, rank, customer_id, customer_name, city
    (when the customers table has it), market, segment, phase, potential, support,
    untapped_potential, flags and the next best channel columns.
    """
    columns = ["territory_id", "rank", "customer_id", "customer_name", "city", "market", "segment", "phase",
               "potential", "support", "untapped_potential", "flags", "next_best_channel", "next_best_basis",
               "next_best_rate_kind", "next_best_rate", "next_best_base"]
    chosen = frame["segment"].isin(list(priority)) & (frame["phase"].astype(str) != "loyal")
    rows = frame.loc[chosen, [c for c in frame.columns if c in columns]]  # the columns of the list only
    rows = rows.assign(untapped_potential=untapped(rows))
    rows = rows.sort_values(["territory_id", "untapped_potential", "customer_id"], ascending=[True, False, True],
                            kind="mergesort")
    rows = rows.assign(rank=rows.groupby("territory_id").cumcount() + 1)
    rows = rows[rows["rank"] <= per_territory]
    info = [c for c in ("customer_id", "customer_name", "city") if c in customers]
    rows = rows.merge(customers[info], on="customer_id", how="left")
    return rows[[c for c in columns if c in rows]].reset_index(drop=True)
