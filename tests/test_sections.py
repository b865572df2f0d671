"""The report's sections: the changes they print are computed right."""
import pandas as pd

from analysis.report.sections import _change, _rate_text
from analysis.report.text import caveat_sentences, missing_reason, percent, phase_word


def test_change_of_counts_and_shares():
    # 5,395 now against 6,486 before: -1,091, which is -16.8% -> "-17%"
    assert _change(5395, 6486, "int") == "-1,091 (-17%)"
    # support 33.6% against 34.2%: -0.6 percentage points
    assert _change(0.336, 0.342, "pct1") == "-0.6 pts"
    assert _change(float("nan"), 1.0, "int") == "–"
    assert _change(5.0, 0.0, "int") == "+5"


def test_no_comparison_is_a_dash_never_a_change_from_zero():
    # without a comparison period the previous figure is missing (NaN), not 0
    assert _change(5395, float("nan"), "int") == "–"
    assert _change(0.336, float("nan"), "pct1") == "–"


def test_rates_carry_their_base():
    # min_rate_base 5: 12 customers -> the rate; 3 -> "too few"; no base or no rate -> "–"
    rates = pd.Series([0.35, 1.0, 0.5, float("nan")])
    bases = pd.Series([12, 3, 0, 7])
    assert _rate_text(rates, bases, 5) == ["35% (n=12)", "too few (n=3)", "–", "–"]
    assert _rate_text(pd.Series([0.25]), pd.Series([5]), 5) == ["25% (n=5)"]  # at the minimum: shown


def test_missing_figures_say_why():
    assert missing_reason("roi", "no_comparison;no_activities") == "no comparison period; no activity data"
    assert missing_reason("coverage", "no_comparison") == ""
    assert missing_reason("coverage", "no_activities") == "no activity data"
    assert caveat_sentences("") == [] and len(caveat_sentences("no_comparison;roi_units_only")) == 2
    assert phase_word("below_trial") == "not yet prescribing" and phase_word(None) == "–"
    assert phase_word("aware") == "aware"
    # a share that would round onto its norm keeps one decimal
    assert percent(0.296, 0.3) == "29.6%" and percent(0.296) == "30%"
