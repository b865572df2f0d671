"""Competitor shares per territory and segment, by hand."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.domain.competitors import competitor_shares

PRODUCTS = pd.DataFrame({"product_id": ["P1", "P2", "P3"], "product_name": ["Ours", "Rival", "Other"],
                         "market": "m", "is_own": [True, False, False]})
FRAME = pd.DataFrame({"territory_id": "T1", "customer_id": ["C1", "C2"], "market": "m", "segment": ["A", "B"]})
# analysis:   C1 P1 6, P2 4; C2 P2 5, P3 5 (a tie: the smaller id P2 leads)
# comparison: C1 P1 2, P2 8; C2 P3 10
SALES = pd.DataFrame({
    "customer_id": ["C1", "C1", "C2", "C2", "C1", "C1", "C2"],
    "product_id": ["P1", "P2", "P2", "P3", "P1", "P2", "P3"],
    "units": [6.0, 4.0, 5.0, 5.0, 2.0, 8.0, 10.0],
    "window": ["analysis"] * 4 + ["comparison"] * 3,
}).merge(PRODUCTS[["product_id", "market", "is_own"]], on="product_id")


def test_shares_leaders_and_change_by_hand():
    c = competitor_shares(SALES, FRAME, PRODUCTS, ("A", "B", "C", "D"))
    all_ = c[c["segment"] == "all"].set_index("product_id")
    assert all_["share"].to_dict() == pytest.approx({"P1": 0.3, "P2": 0.45, "P3": 0.25})
    assert all_["share_previous"].to_dict() == pytest.approx({"P1": 0.1, "P2": 0.4, "P3": 0.5})
    assert all_["share_change"].to_dict() == pytest.approx({"P1": 0.2, "P2": 0.05, "P3": -0.25})
    assert all_["customers_led"].to_dict() == {"P1": 1, "P2": 1, "P3": 0}
    assert all_["customers_led_previous"].to_dict() == {"P1": 0, "P2": 1, "P3": 1}
    a = c[c["segment"] == "A"].set_index("product_id")
    assert a["share"].to_dict() == pytest.approx({"P1": 0.6, "P2": 0.4, "P3": 0.0})
    assert a["share_previous"].to_dict() == pytest.approx({"P1": 0.2, "P2": 0.8, "P3": 0.0})
    assert c["segment"].drop_duplicates().tolist() == ["all", "A", "B"]
    assert c.iloc[0]["is_own"]  # our product first in each scope


def test_without_comparison_the_change_is_missing():
    c = competitor_shares(SALES[SALES["window"] == "analysis"], FRAME, PRODUCTS, ("A", "B"), has_comparison=False)
    for col in ("units_previous", "share_previous", "share_change", "customers_led_previous", "customers_led_change"):
        assert c[col].isna().all(), col
    assert not np.isnan(c["share"]).any()
