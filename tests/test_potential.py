"""Potential (DESIGN 4.1): the worked examples and the fallback."""
import numpy as np
import pandas as pd
import pytest

from analysis.domain.potential import FALLBACK, catchment, choose_method, market_sum, patient_flow, potential
from analysis.domain.support import support


def test_patient_flow_worked_example():
    # 90 beds x 2 turnovers x 0.8 stroke patients x (2 + 4) boxes = 864 boxes per month
    assert patient_flow(90, 2, 0.8, 2 + 4) == pytest.approx(864.0)


def test_catchment_worked_example():
    # 2,000,000 people x 6% = 120,000 patients a year; x 6 boxes / 12 = 60,000 boxes per month
    assert 2_000_000 * 0.06 == pytest.approx(120_000)
    assert catchment(2_000_000, 0.06, 6) == pytest.approx(60_000.0)


def test_market_sum_is_per_month():
    # 300 units over a 3-month window = 100 per month
    assert market_sum(pd.Series([300.0]), 3).iloc[0] == 100.0


def frame():
    return pd.DataFrame({
        "customer_id": ["d1", "d2", "h1", "p1"],
        "customer_type": ["department", "department", "hospital", "pharmacy"],
        "market": ["m", "m", "m", "m"],
        "market_units": [30.0, 60.0, 90.0, 120.0],
        "beds": [90, np.nan, np.nan, np.nan],
        "bed_turnover_per_month": [2, 3, np.nan, np.nan],
        "indication_share": [0.8, 0.5, np.nan, np.nan],
        "catchment_population": [np.nan, np.nan, 2_000_000, np.nan],
        "incidence_rate": [np.nan, np.nan, 0.06, np.nan],
        "boxes_per_patient": [6.0, 6.0, 6.0, 6.0],
    })


def test_potential_by_customer_type_with_fallback():
    out = potential(frame(), months=3, by_customer_type={"department": "patient_flow", "hospital": "catchment"})
    # d1: 864 by patient flow; d2 lacks beds: falls back to 60 / 3 = 20; h1: 60,000; p1: 120 / 3 = 40
    assert out["potential"].tolist() == pytest.approx([864.0, 20.0, 60_000.0, 40.0])
    assert out["potential_method"].tolist() == ["patient_flow", FALLBACK, "catchment", "market_sum"]


def test_customer_type_wins_over_market():
    f = frame()
    chosen = choose_method(f, "market_sum", by_market={"m": "catchment"}, by_customer_type={"department": "patient_flow"})
    assert chosen.tolist() == ["patient_flow", "patient_flow", "catchment", "catchment"]


@pytest.mark.parametrize("mappings", [{}, {"by_market": {}, "by_customer_type": {}},
                                      {"by_market": {"other": "patient_flow"}}])
def test_without_a_mapping_that_applies_every_row_keeps_the_default(mappings):
    chosen = choose_method(frame(), "catchment", **mappings)
    assert chosen.tolist() == ["catchment"] * 4 and chosen.name == "method" and chosen.dtype == object


def test_unknown_method_is_an_error():
    with pytest.raises(ValueError, match="unknown potential method 'flow'"):
        choose_method(frame(), "flow")


def test_support_missing_not_zero():
    s = support(pd.Series([5.0, 0.0, 0.0]), pd.Series([20.0, 10.0, 0.0]))
    # 5 / 20 = 0.25; 0 / 10 = 0; no market units: missing
    assert s.iloc[0] == 0.25 and s.iloc[1] == 0.0 and np.isnan(s.iloc[2])
