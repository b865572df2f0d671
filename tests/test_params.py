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
