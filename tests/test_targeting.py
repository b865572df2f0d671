"""Decile targeting: effort against potential, on a hand-made territory."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.domain.targeting import decile_targeting


def frame(activities=True) -> pd.DataFrame:
    f = pd.DataFrame({
        "territory_id": "T1", "market": "m",
        "customer_id": ["C1", "C2", "C3", "C4"],
        "customer_type": ["hcp", "hcp", "hcp", "distributor"],
        "decile": pd.array([10, 5, None, None], dtype="Int64"),
        "potential": [60.0, 30.0, 0.0, 10.0], "own_units": [6.0, 0.0, 0.0, 0.0],
        "market_units": [20.0, 10.0, 0.0, 5.0], "activities": [4, 0, 1, 0], "effort_cost": [400.0, 0.0, 100.0, 0.0],
    })
    if not activities:
        f[["activities", "effort_cost"]] = np.nan
    return f


def test_targeting_by_hand():
    t = decile_targeting(frame())
    assert t["band"].tolist() == ["decile", "decile", "no_potential", "not_prescribing"]
    assert t["decile"].tolist()[:2] == [10, 5]
    assert t["potential_share"].tolist()[:3] == pytest.approx([60 / 90, 30 / 90, 0.0])
    assert np.isnan(t["potential_share"].iloc[3])  # distributors are not targets
    assert t["effort_share"].tolist() == pytest.approx([0.8, 0.0, 0.2, 0.0])
    assert t["effort_cost"].sum() == 500.0  # adds up to the territory's cost
    assert t["support"].tolist()[:2] == pytest.approx([0.3, 0.0]) and np.isnan(t["support"].iloc[2])
    assert t["contacts_per_customer"].tolist() == pytest.approx([4, 0, 1, 0])
    assert t["coverage"].tolist() == pytest.approx([1, 0, 1, 0])


def test_without_activities_effort_is_missing_not_zero():
    t = decile_targeting(frame(activities=False))
    for col in ("effort_cost", "effort_share", "activities", "contacts_per_customer", "coverage"):
        assert t[col].isna().all(), col
    assert t["potential_share"].iloc[0] == pytest.approx(60 / 90)
