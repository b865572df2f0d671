"""Data quality checks: values counted by hand on a small dataset."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.domain.quality import data_quality


def _data(outcomes):
    customers = pd.DataFrame({"customer_id": ["c1", "c2", "c3", "c4"], "territory_id": ["T1", "T1", "T2", "T3"]})
    frame = pd.DataFrame({"territory_id": ["T1", "T1", "T2", "T3"], "customer_id": ["c1", "c2", "c3", "c4"],
                          "market_units": [5.0, 0.0, 1.0, 0.0], "potential_method": ["beds"] * 4})
    activities = pd.DataFrame({"customer_id": ["c1", "c2", "c1", "c3", "c3", "c2"], "outcome": outcomes})
    return frame, customers, activities, pd.Series([1.0, 0.5, np.nan, 0.0])


def _check(table, name):
    return table[table["check"] == name].set_index("territory_id")["value"].to_dict()


@pytest.mark.parametrize("string", [False, True])
def test_activities_without_outcome_are_counted_in_their_customers_territory(string):
    outcomes = [None, "opened", None, "none", None, "engaged"]
    frame, customers, activities, completeness = _data(outcomes)
    if string:  # as loaded: Arrow text
        activities = activities.astype({"customer_id": "string[pyarrow]", "outcome": "string[pyarrow]"})
        customers = customers.astype("string[pyarrow]")
    table = data_quality(frame, customers, activities, completeness)
    # c1 twice (T1), c3 once (T2); T3 has no activity: 0, not missing
    assert _check(table, "activities without outcome") == {"T1": 2.0, "T2": 1.0, "T3": 0.0}


def test_no_activity_without_outcome_counts_zero_and_no_activities_is_missing():
    frame, customers, activities, completeness = _data(["opened"] * 6)
    assert _check(data_quality(frame, customers, activities, completeness),
                  "activities without outcome") == {"T1": 0.0, "T2": 0.0, "T3": 0.0}
    counted = _check(data_quality(frame, customers, activities.iloc[:0], completeness, has_activities=False),
                     "activities without outcome")
    assert set(counted) == {"T1", "T2", "T3"} and all(np.isnan(v) for v in counted.values())
