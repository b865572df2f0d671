"""Run profiles (DESIGN 5): defaults <- profile <- territory overrides; typos are errors."""
import pytest

from analysis.contract import params
from analysis.errors import ParameterError


def test_effective_overlays_profile_then_override():
    profile = {"period_months": 6, "segmentation": {"cut": "quantile", "q": 0.7},
               "overrides": {"T01": {"segmentation": {"q": 0.9}, "vip_share": 0.7}}}
    params.check(profile)
    base = params.effective(profile)
    assert base["period_months"] == 6 and base["segmentation"]["q"] == 0.7
    assert base["segmentation"]["grid"] == "2x2"  # default kept inside a merged mapping
    t01 = params.effective(profile, "T01")
    assert t01["segmentation"] == {**params.DEFAULTS["segmentation"], "cut": "quantile", "q": 0.9}
    assert t01["vip_share"] == 0.7 and "overrides" not in t01
    assert params.effective(profile, "T02")["vip_share"] == 0.8


def test_unknown_key_suggests_the_close_one():
    with pytest.raises(ParameterError, match="unknown parameter 'period_month'.*'period_months'"):
        params.check({"period_month": 3})
    with pytest.raises(ParameterError, match="segmentation.cutt"):
        params.check({"segmentation": {"cutt": "median"}})
    with pytest.raises(ParameterError, match="overrides.T01.vip_shar"):
        params.check({"overrides": {"T01": {"vip_shar": 0.7}}})


def test_bad_choice_is_an_error():
    with pytest.raises(ParameterError, match="expected one of median, quantile, absolute"):
        params.check({"segmentation": {"cut": "mean"}})


def test_override_for_unknown_territory(tmp_path):
    with pytest.raises(ParameterError, match="T99"):
        params.check_territories({"overrides": {"T99": {}}}, ["T01", "T02"])


def test_yaml_loaded_safely(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("period_months: !!python/object/apply:os.system ['echo hacked']\n")
    with pytest.raises(ParameterError, match="not valid YAML"):
        params.load_profile(path)
    path.write_text("period_end: 2026-06\nmarkets: [lipid_lowering]\n")
    loaded = params.load_profile(path)
    assert loaded["period_end"] == "2026-06"


def test_demo_profile_is_valid():
    from pathlib import Path
    profile = params.load_profile(Path(__file__).parents[1] / "params" / "demo.yaml")
    assert params.effective(profile, "T01")["segmentation"]["cut"] == "quantile"


# --- the typed model: every error names the key, the value and what is allowed ----------

def error_of(profile) -> str:
    with pytest.raises(ParameterError) as info:
        params.check(profile, source="p.yaml")
    return str(info.value)


@pytest.mark.parametrize("value, shown", [("three", "'three'"), (0, "0"), (-1, "-1"), (1.5, "1.5"), (True, "True"),
                                          (37, "37"), ("3", "'3'")])
def test_period_months_must_be_a_whole_number_of_months(value, shown):
    message = error_of({"period_months": value})
    assert message.startswith("p.yaml: parameter 'period_months' is " + shown)
    assert "expected a whole number from 1 to 36" in message


def test_true_is_not_a_number():
    assert "true/false is not a number" in error_of({"vip_share": True})
    assert "true/false is not a number" in error_of({"norms": {"over_service": False}})


def test_whole_floats_and_dates_are_normalized():
    import datetime
    checked = params.check({"period_months": 6.0, "period_end": datetime.date(2026, 6, 1)})
    assert checked == {"period_months": 6, "period_end": "2026-06"}
    assert type(checked["period_months"]) is int
    stamp = params.check({"period_end": datetime.datetime(2026, 6, 30, 12)})
    assert stamp["period_end"] == "2026-06"


@pytest.mark.parametrize("value", ["2026-13", "June", "2026-6", "2026/06", 202606])
def test_period_end_is_a_month(value):
    message = error_of({"period_end": value})
    assert f"parameter 'period_end' is {value!r}" in message
    assert "a month written YYYY-MM" in message


@pytest.mark.parametrize("value", [1.5, 0, -0.1, "80%"])
def test_vip_share_is_a_share_above_zero(value):
    message = error_of({"vip_share": value})
    assert f"'vip_share' is {value!r}" in message and "greater than 0 and at most 1" in message


@pytest.mark.parametrize("q", [0, 1, 1.2, -0.5])
def test_quantile_is_strictly_between_zero_and_one(q):
    message = error_of({"segmentation": {"cut": "quantile", "q": q}})
    assert f"'segmentation.q' is {q!r}" in message and "strictly between 0 and 1" in message


def test_absolute_cut_needs_both_cut_points():
    message = error_of({"segmentation": {"cut": "absolute", "potential": 10}})
    assert "'segmentation.cut' is 'absolute'" in message
    assert "segmentation.potential" in message and "segmentation.support" in message
    params.check({"segmentation": {"cut": "absolute", "potential": 10, "support": 0.3}})
    # an override that switches to absolute without its cut points is named as such
    message = error_of({"overrides": {"T01": {"segmentation": {"cut": "absolute"}}}})
    assert "'overrides.T01.segmentation.cut' is 'absolute'" in message
    # a profile whose cut points are set lets an override switch to absolute
    params.check({"segmentation": {"potential": 10, "support": 0.3},
                  "overrides": {"T01": {"segmentation": {"cut": "absolute"}}}})
    assert "'segmentation.support' is 1.3" in error_of(
        {"segmentation": {"cut": "absolute", "potential": 10, "support": 1.3}})


def test_absolute_cut_has_no_3x3_grid():
    message = error_of({"segmentation": {"cut": "absolute", "potential": 1, "support": 0.2, "grid": "3x3"}})
    assert "'segmentation.grid' is '3x3'" in message and "2x2" in message
    assert "expected one of 2x2, 3x3" in error_of({"segmentation": {"grid": "4x4"}})


@pytest.mark.parametrize("key", ["territories", "markets"])
@pytest.mark.parametrize("value", ["T01", [], ["T01", None], {"T01": 1}])
def test_selections_are_all_or_a_list(key, value):
    message = error_of({key: value})
    assert f"parameter {key!r} is {value!r}" in message and "'all' or a list of" in message


def test_selections_keep_ids_as_text():
    assert params.check({"territories": ["T01", 101]})["territories"] == ["T01", "101"]
    assert params.check({"overrides": {101: {"vip_share": 0.7}}})["overrides"] == {"101": {"vip_share": 0.7}}


def test_min_rate_base_replaces_next_best_min_customers():
    assert params.DEFAULTS["min_rate_base"] == 5 and "next_best_min_customers" not in params.DEFAULTS
    message = error_of({"next_best_min_customers": 5})
    assert "'next_best_min_customers'" in message and "'min_rate_base'" in message
    for value in (0, 2.5, "five"):
        assert "'min_rate_base'" in error_of({"min_rate_base": value})
        assert "a whole number >= 1" in error_of({"min_rate_base": value})
    params.check({"min_rate_base": 1, "overrides": {"T01": {"min_rate_base": 10}}})


def test_norms():
    assert "'norms.effort_on_priority' is 1.2; expected a number from 0 to 1" in error_of(
        {"norms": {"effort_on_priority": 1.2}})
    assert "'norms.coverage_min' is -5; expected a whole number >= 0" in error_of({"norms": {"coverage_min": -5}})
    assert "'norms.coverage_max' is 99.5" in error_of({"norms": {"coverage_max": 99.5}})
    message = error_of({"norms": {"coverage_min": 130}})  # above the default maximum 120
    assert "'norms.coverage_min' is 130; expected at most norms.coverage_max (120)" in message
    params.check({"norms": {"coverage_min": 130, "coverage_max": 150}})


def test_cadence_days_are_positive_whole_numbers():
    assert "'cadence.vip' is 0; expected a whole number >= 1" in error_of({"cadence": {"vip": 0}})
    assert "'cadence.supplier' is 'quarterly'" in error_of({"cadence": {"supplier": "quarterly"}})
    assert "unknown parameter 'cadence.hcp'" in error_of({"cadence": {"hcp": 30}})


def test_phase_thresholds():
    assert "'phases.loyal' is 0; expected a number greater than 0 and at most 1" in error_of({"phases": {"loyal": 0}})
    assert "'phases.adopter' is 1.5" in error_of({"phases": {"adopter": 1.5}})
    assert "'phases.interested_positive' is -1; expected a whole number >= 0" in error_of(
        {"phases": {"interested_positive": -1}})
    assert "'phases.aware_responses' is 0.5" in error_of({"phases": {"aware_responses": 0.5}})
    assert "'competitor_dominant' is 0; expected a number greater than 0 and at most 1" in error_of(
        {"competitor_dominant": 0})


def test_choices():
    assert "'privacy' is 'pseudonymize'; expected one of none, pseudonymise" in error_of({"privacy": "pseudonymize"})
    assert "'privacy' is False" in error_of({"privacy": False})  # YAML 1.1 reads `privacy: no` as false
    assert "'potential.default' is 'guess'; expected one of market_sum, patient_flow, catchment" in error_of(
        {"potential": {"default": "guess"}})
    assert "'vip_by' is 'sales'; expected one of potential, own_units" in error_of({"vip_by": "sales"})


def test_free_mappings_are_checked_at_every_level():
    by_market = {"potential": {"by_market": {"stroke": "patient_flows"}}}
    assert "'potential.by_market.stroke' is 'patient_flows'; expected one of market_sum" in error_of(by_market)
    assert "'overrides.T01.potential.by_market.stroke' is 'patient_flows'" in error_of({"overrides": {"T01": by_market}})
    message = error_of({"potential": {"by_customer_type": {"clinic": "catchment"}}})
    assert "'potential.by_customer_type' names customer type 'clinic'; expected one of hcp, department" in message
    message = error_of({"overrides": {"T01": {"fit_matrix": {"loyal": ["f2f_visit", "fax"]}}}})
    assert "'overrides.T01.fit_matrix.loyal' is 'fax'; expected a known channel: f2f_visit" in message
    assert "extra_channels" in message
    message = error_of({"fit_matrix": {"curious": ["email"]}})
    assert "'fit_matrix' names phase 'curious'; expected one of unaware, aware, interested" in message
    assert "'fit_matrix.loyal' is 5; expected a list of channels" in error_of({"fit_matrix": {"loyal": 5}})
    assert "'profile_fields.basic' is [1, 2]" in error_of({"profile_fields": {"basic": [1, 2]}})
    assert "'overrides.T02.profile_fields' is 'phone'" in error_of({"overrides": {"T02": {"profile_fields": "phone"}}})
    assert "'overrides.T01' is 0.7; expected a mapping with keys" in error_of({"overrides": {"T01": 0.7}})
    # accepted inside overrides: every free mapping, with a declared extra channel
    checked = params.check({"extra_channels": ["wechat"], "overrides": {"T01": {
        "fit_matrix": {"loyal": ["wechat", "phone"], "aware": "email"},
        "potential": {"by_market": {"stroke": "patient_flow"}, "by_customer_type": {"hospital": "catchment"}},
        "profile_fields": {"basic": ["phone"], "education": None}}}})
    assert checked["overrides"]["T01"]["fit_matrix"] == {"loyal": ["wechat", "phone"], "aware": ["email"]}


def test_below_trial_is_not_a_fit_phase():
    """below_trial only occurs without activities, where no channel is proposed."""
    message = error_of({"fit_matrix": {"below_trial": ["email"]}})
    assert "'fit_matrix' names phase 'below_trial'; expected one of unaware, aware, interested, trial" in message


def test_run_level_keys_cannot_be_overridden():
    message = error_of({"overrides": {"T01": {"privacy": "pseudonymise"}}})
    assert "'overrides.T01.privacy': 'privacy' is set for the whole run, not per territory" in message


def test_every_problem_is_listed_at_once():
    message = error_of({"period_months": "three", "vip_share": 2, "overrides": {"T01": {"period_end": "June"}}})
    assert message.startswith("p.yaml: 3 problems with the parameters:")
    assert "'period_months'" in message and "'vip_share'" in message and "'overrides.T01.period_end'" in message


def test_spec_covers_every_default_and_the_defaults_pass():
    def keys(mapping, spec, prefix=""):
        assert set(mapping) == set(spec), prefix
        for key, param in spec.items():
            if isinstance(param, params.Group):
                keys(mapping[key], param.fields, f"{prefix}{key}.")

    keys(params.DEFAULTS, params.SPEC)
    assert params.check(params.DEFAULTS) == params.DEFAULTS
    reference = params.reference()
    assert {"period_months", "segmentation.q", "norms.coverage_min", "overrides"} <= set(reference["key"])
    assert reference["description"].str.len().gt(0).all()


def test_check_does_not_change_its_input():
    profile = {"period_months": 3.0, "overrides": {"T01": {"fit_matrix": {"loyal": "phone"}}}}
    params.check(profile)
    assert profile == {"period_months": 3.0, "overrides": {"T01": {"fit_matrix": {"loyal": "phone"}}}}


# --- profile files ---------------------------------------------------------------------------

def test_profile_file_must_be_utf8(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_bytes("period_months: 3\nterritories: [T01]  # Gen\xe8ve\n".encode("latin-1"))
    with pytest.raises(ParameterError, match=r"p.yaml: line 2: not UTF-8 text.*save the run profile as UTF-8"):
        params.load_profile(path)


def test_profile_file_refuses_anchors_and_aliases(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("a: &x [1, 2]\nperiod_months: *x\n")
    with pytest.raises(ParameterError, match=r"p.yaml: line 1: YAML anchors and aliases .* not allowed"):
        params.load_profile(path)
    bomb = "a: &a [x, x]\nb: &b [*a, *a]\nc: &c [*b, *b]\n"
    path.write_text(bomb)
    with pytest.raises(ParameterError, match="anchors and aliases"):
        params.load_profile(path)


def test_profile_file_refuses_duplicate_keys(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("period_months: 3\nvip_share: 0.7\nperiod_months: 6\n")
    with pytest.raises(ParameterError, match=r"p.yaml: line 3: the key 'period_months' is given twice"):
        params.load_profile(path)


def test_profile_file_type_errors_name_the_file(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("period_months: three\nperiod_end: 2026-06-30\n")
    with pytest.raises(ParameterError, match=rf"^{path}: parameter 'period_months' is 'three'; expected a whole"):
        params.load_profile(path)
    path.write_text("period_end: 2026-06-30\n")  # YAML reads a date: it stands for its month
    assert params.load_profile(path) == {"period_end": "2026-06"}
    path.write_text("")
    assert params.load_profile(path) == {}
    path.write_text("- period_months\n")
    with pytest.raises(ParameterError, match="must be a mapping of parameters"):
        params.load_profile(path)


# --- against the data ----------------------------------------------------------------------------

@pytest.fixture()
def tiny(tiny_dataset):
    from analysis.contract.dataset import load_dataset
    return load_dataset(tiny_dataset)


def test_check_against_data_accepts_what_the_data_has(tiny):
    periods = sorted(tiny.sales["period"].unique())
    checked = params.check_against_data({"territories": ["T01"], "markets": ["stroke"], "period_end": periods[-1],
                                         "potential": {"by_market": {"stroke": "patient_flow"}},
                                         "overrides": {"T02": {"period_end": periods[-2]}}}, tiny)
    assert checked["territories"] == ["T01"]


def test_check_against_data_names_key_value_and_what_the_data_has(tiny):
    periods = sorted(tiny.sales["period"].unique())

    def data_error(profile):
        with pytest.raises(ParameterError) as info:
            params.check_against_data(profile, tiny, source="p.yaml")
        return str(info.value)

    message = data_error({"territories": ["T01", "T99"]})
    assert "'territories' names 'T99'" in message and "a territory id of the data: T01, T02" in message
    assert "'overrides' names territory 'T98'" in data_error({"overrides": {"T98": {"vip_share": 0.7}}})
    assert "quote ids" in data_error({"territories": [7]})  # YAML read 007 as 7
    message = data_error({"markets": ["oncology"]})
    assert "'markets' names 'oncology'" in message and "a market of the data: stroke" in message
    message = data_error({"overrides": {"T01": {"markets": ["oncology"]}}})
    assert "'overrides.T01.markets' names 'oncology'" in message
    message = data_error({"potential": {"by_market": {"oncology": "market_sum"}}})
    assert "'potential.by_market' names 'oncology'" in message and "stroke" in message
    message = data_error({"period_end": "2031-01"})
    assert f"'period_end' is '2031-01'; expected a month of the sales data: {periods[0]} to {periods[-1]}" in message
    assert "'overrides.T02.period_end' is '2031-01'" in data_error({"overrides": {"T02": {"period_end": "2031-01"}}})
    # the type check runs first
    assert "'period_months' is 'three'" in data_error({"period_months": "three"})


def test_check_territories_still_works():
    params.check_territories({"territories": ["T01"], "overrides": {"T02": {}}}, ["T01", "T02"])
    with pytest.raises(ParameterError, match="'territories' names 'T03'"):
        params.check_territories({"territories": ["T03"]}, ["T01", "T02"], source="--territories")


def test_effective_parameters_pass_the_check_again():
    # the notebooks receive effective parameters and check them: they must pass unchanged
    from pathlib import Path
    profile = params.load_profile(Path(__file__).parents[1] / "params" / "demo.yaml")
    for tid in (None, "T01", "T02"):
        eff = params.effective(profile, tid)
        assert params.check(eff, source="notebook parameters") == eff
