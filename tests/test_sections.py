"""The report's sections: the changes they print are computed right."""
from analysis.report.sections import _change


def test_change_of_counts_and_shares():
    # 5,395 now against 6,486 before: -1,091, which is -16.8% -> "-17%"
    assert _change(5395, 6486, "int") == "-1,091 (-17%)"
    # support 33.6% against 34.2%: -0.6 percentage points
    assert _change(0.336, 0.342, "pct1") == "-0.6 pts"
    assert _change(float("nan"), 1.0, "int") == "–"
    assert _change(5.0, 0.0, "int") == "+5"
