"""The explorer, driven from Python: set widget values, read the outputs."""
from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

pytest.importorskip("ipywidgets")

from analysis.lab.explorer import Explorer  # noqa: E402
from analysis.contract.params import load_profile  # noqa: E402
from analysis.lab.whatif import effort_profile, move_effort, what_if  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def explorer(published, tmp_path):
    profile = tmp_path / "profile.yaml"
    shutil.copy(ROOT / "params" / "demo.yaml", profile)
    return Explorer(published["data"], profile)


def test_cut_points_update_the_segmentation(explorer):
    median_cut = explorer.tables["customers"]["potential_cut"].iloc[0]
    before = explorer.segment_table.set_index("segment")["customers"]
    explorer.territory.value = "T02"  # T01 has a quantile override in the demo profile
    explorer.cut.value = "quantile"
    explorer.q.value = 0.8
    after = explorer.tables["customers"]
    assert (explorer.params["segmentation"]["cut"], explorer.params["segmentation"]["q"]) == ("quantile", 0.8)
    assert after["potential_cut"].iloc[0] != median_cut
    high = after[after["segment"].isin(["A", "B"])]["customer_id"].nunique()
    low = after[after["segment"].isin(["C", "D"])]["customer_id"].nunique()
    assert high < low  # the top 20% of potential are "high" now
    assert "VIPs" in explorer.vip.value and "<table" in explorer.segments.value
    assert explorer.figure.axes[0].get_title().startswith(explorer.market.value)
    assert before.sum() > 0


def test_fit_matrix_changes_mismatched_effort(explorer):
    before = explorer.mismatch_table["mismatched_effort"].iloc[0]
    for channel in ("f2f_visit", "phone", "email", "offline_lecture", "web_interview", "chat_app"):
        for phase in ("unaware", "aware", "interested", "trial", "adopter", "loyal"):
            explorer.fit[(phase, channel)].value = True  # everything fits: nothing is mismatched
    after = explorer.mismatch_table["mismatched_effort"].iloc[0]
    assert after < before
    assert explorer.fit_overrides()["loyal"][:2] == ["f2f_visit", "phone"]


def test_what_if_moves_effort_to_priority_segments(explorer):
    explorer.move_share.value = 0.5
    row = explorer.whatif_table.iloc[0]
    assert row["effort_on_priority_after"] > row["effort_on_priority_before"]
    assert "<table" in explorer.whatif.value


def test_save_writes_a_valid_override_and_keeps_the_profile(explorer):
    original = yaml.safe_load(explorer.profile_path.read_text())
    explorer.territory.value = "T02"
    explorer.cut.value = "quantile"
    explorer.q.value = 0.7
    explorer.save()
    saved = load_profile(explorer.profile_path)  # valid for the batch
    assert saved["overrides"]["T02"]["segmentation"] == {"cut": "quantile", "q": 0.7}
    assert saved["overrides"]["T01"] == original["overrides"]["T01"]  # existing content kept
    assert saved["potential"] == original["potential"]
    assert "# Run profile for the bundled demo data" in explorer.profile_path.read_text()  # comments kept
    assert "Saved overrides.T02" in explorer.status.value


def facts():
    # one rep, three activities in one market: B 100 (fits, trial), C 50 (off-fit, loyal), D 50 (off-fit, aware)
    return pd.DataFrame({
        "territory_id": ["T"] * 3, "rep_id": ["R"] * 3, "activity_id": ["a1", "a2", "a3"], "market": ["m"] * 3,
        "market_count": [1, 1, 1], "segment": ["B", "C", "D"], "channel": ["f2f_visit", "email", "social"],
        "cost": [100.0, 50.0, 50.0], "fits": [True, False, False], "phase": ["trial", "loyal", "aware"],
        "on_ladder": [True, True, True],  # every phase is known
    })


def test_move_effort_by_hand():
    moved = move_effort(facts(), "segment", ["C", "D"], "B", 0.5)
    # half of C (50) and D (50) = 50 moves to B: 150, 25, 25; total unchanged
    assert moved["cost"].tolist() == [150.0, 25.0, 25.0]
    before = effort_profile(facts()).iloc[0]
    # priority 100/200 = 50% (< 60%: flag), mismatched 100/200 = 50% (> 25%: flag), loyal 50/200 = 25%
    assert (before["effort_on_priority"], before["mismatched_effort"], before["over_service"]) == (0.5, 0.5, 0.25)
    assert before["flags"] == "effort_off_priority;mismatched_effort"
    result = what_if(facts(), "segment", ["C", "D"], "B", 0.5).iloc[0]
    # after: priority 150/200 = 75%, mismatched 50/200 = 25% (at the norm: no flag), loyal 25/200 = 12.5%
    assert result["effort_on_priority_after"] == 0.75 and result["mismatched_effort_after"] == 0.25
    assert result["over_service_after"] == 0.125 and result["flags_after"] == ""
    assert result["unplaced_cost"] == 0.0


def test_move_to_an_empty_target_is_unplaced():
    result = what_if(facts(), "segment", ["C"], "A", 1.0).iloc[0]
    # no A activity: the 50 moved away from C cannot be placed
    assert result["unplaced_cost"] == 50.0


def test_save_leaves_an_untouched_period_end_out(explorer):
    explorer.territory.value = "T02"
    explorer.cut.value = "quantile"
    explorer.save()
    saved = load_profile(explorer.profile_path)
    assert "period_end" not in saved["overrides"]["T02"]  # T02 keeps following the latest month
    assert "period_end" not in saved["overrides"]["T01"]


def test_save_writes_a_period_end_the_analyst_changed(explorer):
    periods = list(explorer.period_end.options)
    explorer.territory.value = "T02"
    explorer.period_end.value = periods[-2]
    assert explorer.override()["period_end"] == periods[-2]
    explorer.save()
    saved = load_profile(explorer.profile_path)
    assert saved["overrides"]["T02"]["period_end"] == periods[-2]
    # moved back to the month it had when loaded: not part of a fresh override any more...
    explorer.period_end.value = periods[-1]
    explorer.territory.value = "T01"
    assert "period_end" not in explorer.override()


def test_save_keeps_a_period_end_the_override_already_has(published, tmp_path):
    periods = sorted(load_dataset_periods(published["data"]))
    profile = tmp_path / "profile.yaml"
    profile.write_text(f"overrides:\n  T01: {{period_end: '{periods[-1]}'}}\n")
    explorer = Explorer(published["data"], profile, territory_id="T01")
    assert explorer.period_end.value == periods[-1]
    explorer.save()  # untouched, but the override sets it: it stays
    assert load_profile(profile)["overrides"]["T01"]["period_end"] == periods[-1]


def test_save_refuses_a_bad_value_and_keeps_the_file(explorer):
    before = explorer.profile_path.read_text()
    explorer.territory.value = "T02"
    explorer.cut.value = "absolute"
    explorer.potential_cut.value = -5.0
    assert explorer.save() == {}
    assert explorer.profile_path.read_text() == before
    assert "Not saved" in explorer.status.value and "segmentation.potential" in explorer.status.value


def test_explorer_checks_the_profile_against_the_data(published, tmp_path):
    from analysis.errors import ParameterError

    profile = tmp_path / "profile.yaml"
    profile.write_text("period_end: 2031-01\n")
    with pytest.raises(ParameterError, match="'period_end' is '2031-01'; expected a month of the sales data"):
        Explorer(published["data"], profile)


def load_dataset_periods(data) -> list[str]:
    from analysis.contract.dataset import load_dataset
    return list(load_dataset(data).sales["period"].unique())
