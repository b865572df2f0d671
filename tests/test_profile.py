"""Profile completeness (DESIGN 3 profile fields, 4.6): hand-computed shares."""
import numpy as np
import pandas as pd
import pytest

from analysis.domain.profile import completeness, profile_columns, qualified

FIELDS = {"basic": ["phone", "email"], "education": ["university"], "surrounding": ["hometown"]}


def customers():
    # no ``university`` column at all: it counts as empty for everyone (denominator stays 4)
    return pd.DataFrame({
        "customer_id": ["c1", "c2", "c3", "c4"],
        "phone": ["0212 555", "", "0312 111", None],
        "email": ["a@x.org", None, np.nan, "d@x.org"],
        "hometown": ["Izmir", "   ", "", "Bursa"],
    }, index=[10, 11, 12, 13])


def test_absent_column_and_empty_strings():
    out = completeness(customers(), FIELDS)
    # c1: phone, email, hometown filled; university absent -> 3 / 4 = 0.75
    # c2: "" phone, None email, blank hometown                -> 0 / 4 = 0
    # c3: phone only (email NaN, hometown "")                 -> 1 / 4 = 0.25
    # c4: email and hometown (phone None)                     -> 2 / 4 = 0.5
    assert out.tolist() == [0.75, 0.0, 0.25, 0.5]
    assert out.index.tolist() == [10, 11, 12, 13]  # aligned with the customers table
    assert out.name == "profile_completeness"


def test_no_fields_configured_is_nan():
    for fields in (None, {}, {"basic": [], "education": None}):
        out = completeness(customers(), fields)
        assert out.isna().all() and len(out) == 4


def test_duplicates_and_single_string_group():
    # "phone" listed twice counts once; a group may be a single column name -> 2 columns
    fields = {"basic": ["phone", "phone"], "surrounding": "hometown"}
    assert profile_columns(fields) == ["phone", "hometown"]
    # c1 2/2, c2 0/2, c3 1/2, c4 1/2
    assert completeness(customers(), fields).tolist() == [1.0, 0.0, 0.5, 0.5]


def test_non_string_values_count_when_present():
    frame = pd.DataFrame({"beds": [90, np.nan], "phone": ["1", "2"]})
    # row 0: 2 / 2; row 1: beds missing -> 1 / 2
    assert completeness(frame, {"basic": ["beds", "phone"]}).tolist() == [1.0, 0.5]


def test_qualified_threshold_is_inclusive():
    values = pd.Series([0.6, 3 / 5, 0.59, 1.0, np.nan, 0.0])
    # 0.6 and 3/5 are at the threshold -> qualified; NaN (no fields) -> not qualified
    assert qualified(values).tolist() == [True, True, False, True, False, False]
    assert qualified(values, threshold=0.5).tolist() == [True, True, True, True, False, False]
    assert qualified(values).dtype == bool


@pytest.mark.parametrize("filled,expected", [(3, True), (2, False)])
def test_three_of_five_fields_is_qualified(filled, expected):
    columns = ["a", "b", "c", "d", "e"]
    row = {c: ("x" if i < filled else "") for i, c in enumerate(columns)}
    out = completeness(pd.DataFrame([row]), {"basic": columns[:2], "education": columns[2:4],
                                             "surrounding": columns[4:]})
    # 3 / 5 = 0.6 (at the threshold); 2 / 5 = 0.4
    assert out.iloc[0] == pytest.approx(filled / 5)
    assert bool(qualified(out).iloc[0]) == expected
