"""Drill-downs: the customers behind the 3C flags and the incomplete profiles."""
from __future__ import annotations

import pandas as pd
import pytest

from analysis.domain.drilldowns import flag_customers, profile_gaps
from analysis.domain.profile import completeness

FIELDS = {"basic": ["phone", "email"], "education": ["university"], "surrounding": ["hometown"]}
CUSTOMERS = pd.DataFrame({
    "customer_id": ["C1", "C2", "C3", "C4"], "customer_name": ["One", "Two", "Three", "Four"],
    "customer_type": ["hcp", "hcp", "hcp", "distributor"], "territory_id": "T1", "city": "X",
    "phone": ["1", "2", None, None], "email": ["a", "", None, None], "university": ["u", None, "u", None],
    "hometown": ["h", None, None, None],
})


def test_flag_rows_one_per_flag_held_with_facts():
    frame = pd.DataFrame({
        "territory_id": "T1", "customer_id": ["C1", "C2", "C3"], "market": "m", "segment": ["B", "A", "B"],
        "potential": [5.0, 50.0, 20.0], "potential_level": "high", "support": [0.0, 0.3, 0.1],
        "phase_previous": ["aware", "adopter", "trial"], "phase": ["aware", "trial", "trial"],
        "competitor_position": ["competitor_dominant", "contested", "contested"], "leading_competitor": "P2",
        "competitor_share": [0.8, 0.4, 0.5], "activities": [0, 3, 2], "effort_cost": [0.0, 30.0, 20.0],
        "competitor_locked": pd.array([True, False, None], dtype="boolean"),
        "stalled": pd.array([False, False, True], dtype="boolean"),
        "slipping": pd.array([False, True, False], dtype="boolean"),
    })
    products = pd.DataFrame({"product_id": ["P2"], "product_name": ["Rival"]})
    f = flag_customers(frame, CUSTOMERS, products)
    assert list(zip(f["flag"], f["customer_id"])) == [("competitor_locked", "C1"), ("stalled", "C3"),
                                                     ("slipping", "C2")]
    assert (f["leading_competitor_name"] == "Rival").all() and f["customer_name"].tolist() == ["One", "Three", "Two"]


def test_profiles_below_threshold_with_missing_fields():
    g = profile_gaps(CUSTOMERS, FIELDS, completeness(CUSTOMERS, FIELDS), 0.6, pd.Index(["C3"]))
    # C1 4/4 qualified; C2 1/4 (email blank); C3 1/4 (priority first); C4 is a distributor
    assert g["customer_id"].tolist() == ["C3", "C2"]
    assert g["profile_completeness"].tolist() == pytest.approx([0.25, 0.25])
    assert g["missing_fields"].tolist() == ["phone;email;hometown", "email;university;hometown"]
    assert g["missing_groups"].tolist() == ["basic;surrounding", "basic;education;surrounding"]
    assert g["fields_filled"].tolist() == [1, 1] and g["priority"].tolist() == [True, False]
    none = profile_gaps(CUSTOMERS, {}, completeness(CUSTOMERS, {}), 0.6)
    assert none.empty
