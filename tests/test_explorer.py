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
    # the territory's own order first (it ranks the next best channel), newly ticked ones after
    assert explorer.fit_overrides()["loyal"][:4] == ["f2f_visit", "chat_app", "phone", "email"]


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
    assert explorer.status.value.startswith("Saved 2 changes to overrides.T02")


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


# --- the analyst's workbench keeps what the analyst meant (one test per defect) ------------

from analysis.contract import params as parameters  # noqa: E402
from analysis.contract.schema import CHANNELS, DEFAULT_FIT  # noqa: E402


def untick(explorer, phase="loyal", channel="phone"):
    assert explorer.fit[(phase, channel)].value
    explorer.fit[(phase, channel)].value = False


# 1. a fit-matrix change saves, and says so; nested free-form keys pass in overrides

def test_untick_a_fit_box_and_save_writes_it(explorer):
    explorer.territory.value = "T02"
    untick(explorer)
    saved = explorer.save()
    loyal = [c for c in DEFAULT_FIT["loyal"] if c != "phone"]
    assert saved["overrides"]["T02"] == {"fit_matrix": {"loyal": loyal}}
    assert load_profile(explorer.profile_path)["overrides"]["T02"] == {"fit_matrix": {"loyal": loyal}}
    assert explorer.status.value.startswith("Saved 1 change") and "fit_matrix.loyal" in explorer.status.value


def test_overrides_accept_every_key_a_profile_accepts(published, tmp_path):
    profile = tmp_path / "profile.yaml"
    profile.write_text("overrides:\n  T02:\n    fit_matrix:\n      loyal: [email]\n      trial: []\n"
                       "    potential:\n      by_market: {stroke: market_sum}\n"
                       "      by_customer_type: {hospital: catchment}\n"
                       "    profile_fields: {basic: [phone]}\n    norms: {over_service: 0.4}\n")
    from analysis.contract.dataset import load_dataset

    ds = load_dataset(published["data"])
    markets = list(ds.markets["market"])
    profile.write_text(profile.read_text().replace("stroke", markets[0]))
    checked = parameters.check_against_data(load_profile(profile), ds)
    assert checked["overrides"]["T02"]["fit_matrix"] == {"loyal": ["email"], "trial": []}
    assert parameters.effective(checked, "T02")["potential"]["by_market"] == {markets[0]: "market_sum"}
    from analysis.engine.cli import main

    assert main(["validate", str(published["data"]), "--params", str(profile)]) == 0
    explorer = Explorer(published["data"], profile, territory_id="T02")
    assert [c for c in CHANNELS if explorer.fit[("loyal", c)].value] == ["email"]
    assert not any(explorer.fit[("trial", c)].value for c in CHANNELS)  # an empty list: nothing fits
    assert explorer.changes() == {}


def test_a_save_that_fails_shows_the_reason_and_keeps_the_file(explorer):
    explorer.territory.value = "T02"
    untick(explorer)
    explorer.profile_path.write_text(explorer.profile_path.read_text() + "vip_share: [\n")  # broken by hand
    before = explorer.profile_path.read_text()
    assert explorer.save() == {}
    assert explorer.profile_path.read_text() == before
    assert explorer.status.value.count("Not saved") == 1 and "not valid YAML" in explorer.status.value


def test_a_click_that_raises_shows_in_the_status_line(explorer, monkeypatch):
    import analysis.lab.explorer as module

    monkeypatch.setattr(module, "save_changes", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("disk gone")))
    explorer.territory.value = "T02"
    untick(explorer)
    explorer.save_button.click()
    assert "Not saved" in explorer.status.value and "disk gone" in explorer.status.value


# 2. the state is per territory

def test_switching_territory_loads_that_territorys_settings(explorer):
    assert (explorer.territory.value, explorer.cut.value, explorer.q.value) == ("T01", "quantile", 0.6)
    explorer.territory.value = "T02"
    assert explorer.cut.value == "median" and explorer.params["segmentation"]["cut"] == "median"
    assert explorer.changes() == {}
    explorer.territory.value = "T01"
    before = explorer.profile_path.read_bytes()
    explorer.save()  # nothing touched: nothing written, T01 keeps its own override
    assert explorer.profile_path.read_bytes() == before
    assert "Nothing changed for T01" in explorer.status.value and explorer.save_button.disabled


def test_unsaved_changes_stay_with_their_territory(explorer):
    explorer.q.value = 0.8  # T01
    assert "T01: unsaved: segmentation.q = 0.8" in explorer.pending.value
    explorer.territory.value = "T02"
    assert explorer.cut.value == "median" and explorer.changes() == {}
    explorer.cut.value = "quantile"
    explorer.save()
    saved = load_profile(explorer.profile_path)
    assert saved["overrides"]["T02"] == {"segmentation": {"cut": "quantile"}}
    assert saved["overrides"]["T01"] == {"segmentation": {"cut": "quantile", "q": 0.6}}  # T01's draft not saved
    explorer.territory.value = "T01"
    assert explorer.q.value == 0.8 and explorer.changes() == {("segmentation", "q"): 0.8}
    explorer.save()
    assert load_profile(explorer.profile_path)["overrides"]["T01"] == {"segmentation": {"cut": "quantile", "q": 0.8}}


def test_region_change_loads_the_first_territory_of_the_region(published, tmp_path):
    from analysis.contract.demo import generate, write

    data = tmp_path / "data"
    write(generate(seed=3, n_regions=2, n_territories=2, n_customers=80), data)
    explorer = Explorer(data, None)
    other = [r for r in explorer.region.options if r != explorer.region.value][0]
    count = explorer.refresh_count
    explorer.region.value = other
    assert explorer.territory.value == explorer._territories_of(other)[0]
    assert explorer.refresh_count == count + 1  # one refresh, not one per control
    assert explorer.save() == {} and "no run profile" in explorer.status.value


# 3. period_end is written only when the analyst moved it

def test_period_end_is_not_written_after_switching_territories(explorer):
    explorer.territory.value = "T02"
    explorer.territory.value = "T01"
    explorer.q.value = 0.7
    explorer.save()
    explorer.territory.value = "T02"
    untick(explorer)
    explorer.save()
    text = explorer.profile_path.read_text()
    assert "period_end" not in text


def test_period_end_moved_back_to_the_latest_month_is_removed(explorer):
    periods = list(explorer.period_end.options)
    explorer.territory.value = "T02"
    explorer.period_end.value = periods[-2]
    explorer.save()
    assert load_profile(explorer.profile_path)["overrides"]["T02"] == {"period_end": periods[-2]}
    explorer.territory.value = "T01"
    explorer.territory.value = "T02"
    assert explorer.period_end.value == periods[-2]  # its own month, loaded
    explorer.period_end.value = periods[-1]
    assert explorer.plan() == ({}, [("period_end",)])
    explorer.save()
    assert "T02" not in load_profile(explorer.profile_path)["overrides"]  # back to following the data
    assert "period_end.removed" not in explorer.status.value and "period_end removed" in explorer.status.value


# 4. saves edit the override in place

HAND_WRITTEN = """\
# the team's profile
segmentation: {cut: median}
overrides:
  T01:   # Anna's territory
    # the 3x3 grid for the hospital-heavy north
    segmentation:
      grid: 3x3
      cut: quantile
      q: 0.6   # agreed in March
    norms: {over_service: 0.4}
  T02:
    fit_matrix:
      loyal:
        - f2f_visit
        - chat_app
"""


@pytest.fixture()
def hand_written(published, tmp_path):
    profile = tmp_path / "profile.yaml"
    profile.write_text(HAND_WRITTEN)
    return profile


def changed_lines(before: str, after: str) -> list[str]:
    import difflib

    return [line for line in difflib.ndiff(before.splitlines(), after.splitlines()) if line[:1] in "+-"]


def test_save_changes_only_the_changed_key_in_place(published, hand_written):
    explorer = Explorer(published["data"], hand_written)
    assert (explorer.grid.value, explorer.cut.value, explorer.q.value) == ("3x3", "quantile", 0.6)
    assert "absolute" not in explorer.cut.options  # the 3x3 grid takes no absolute cut
    explorer.q.value = 0.75
    explorer.save()
    after = hand_written.read_text()
    assert changed_lines(HAND_WRITTEN, after) == ["-       q: 0.6   # agreed in March", "+       q: 0.75  # agreed in March"]
    assert load_profile(hand_written)["overrides"]["T01"]["segmentation"]["grid"] == "3x3"


def test_a_saved_fit_matrix_is_cleared_by_ticking_the_defaults_back(published, hand_written):
    explorer = Explorer(published["data"], hand_written, territory_id="T02")
    assert not explorer.fit[("loyal", "phone")].value
    explorer.fit[("loyal", "phone")].value = True  # the design's default again
    assert explorer.plan() == ({}, [("fit_matrix", "loyal")])
    explorer.save()
    saved = load_profile(hand_written)
    assert "T02" not in saved["overrides"] and saved["overrides"]["T01"]["norms"] == {"over_service": 0.4}
    assert changed_lines(HAND_WRITTEN, hand_written.read_text()) == [
        "-   T02:", "-     fit_matrix:", "-       loyal:", "-         - f2f_visit", "-         - chat_app"]
    assert "fit_matrix.loyal removed" in explorer.status.value


def test_undo_puts_the_file_back_and_the_changes_become_unsaved(published, hand_written):
    explorer = Explorer(published["data"], hand_written)
    assert explorer.undo_button.disabled
    explorer.q.value = 0.75
    explorer.save()
    assert not explorer.undo_button.disabled and explorer.changes() == {}
    explorer.territory.value = "T02"
    explorer.undo_button.click()
    assert hand_written.read_text() == HAND_WRITTEN
    assert "Undone" in explorer.status.value and explorer.undo_button.disabled
    explorer.territory.value = "T01"
    assert explorer.q.value == 0.75 and explorer.changes() == {("segmentation", "q"): 0.75}


def test_undo_is_refused_when_the_file_changed_since(published, hand_written):
    explorer = Explorer(published["data"], hand_written)
    explorer.q.value = 0.75
    explorer.save()
    edited = hand_written.read_text() + "vip_share: 0.7\n"
    hand_written.write_text(edited)
    assert explorer.undo() is False
    assert hand_written.read_text() == edited and "changed since the save" in explorer.status.value


def test_save_into_a_new_profile_and_undo_removes_it(published, tmp_path):
    profile = tmp_path / "new.yaml"
    explorer = Explorer(published["data"], profile)
    explorer.cut.value = "quantile"
    explorer.save()
    assert load_profile(profile) == {"overrides": {"T01": {"segmentation": {"cut": "quantile"}}}}
    explorer.undo()
    assert not profile.exists()


# 5. what the widgets show

def test_the_save_message_goes_when_the_territory_changes(explorer):
    explorer.territory.value = "T02"
    untick(explorer)
    explorer.save()
    assert explorer.status.value.startswith("Saved")
    explorer.territory.value = "T01"
    assert explorer.status.value == "" and "T01: no unsaved changes" in explorer.pending.value


def test_controls_of_the_other_cut_are_hidden_and_inert(explorer):
    explorer.territory.value = "T02"  # median
    assert explorer.q.disabled and explorer.q.layout.display == "none"
    assert explorer.potential_cut.layout.display == "none" and explorer.support_cut.disabled
    count = explorer.refresh_count
    explorer.q.value = 0.8
    explorer.support_cut.value = 0.9
    assert explorer.refresh_count == count and explorer.changes() == {}
    explorer.cut.value = "absolute"
    assert not explorer.potential_cut.disabled and explorer.q.layout.display == "none"
    assert explorer.grid.disabled  # no 3x3 with an absolute cut
    assert set(explorer.changes()) == {("segmentation", "cut"), ("segmentation", "potential"),
                                       ("segmentation", "support")}  # started at the median cut points
    assert explorer.save()["overrides"]["T02"]["segmentation"]["cut"] == "absolute"


def test_sliders_update_on_release_and_labels_fit(explorer):
    for slider in (explorer.q, explorer.support_cut, explorer.move_share):
        assert slider.continuous_update is False
    for control in (explorer.region, explorer.territory, explorer.market, explorer.period_end, explorer.cut,
                    explorer.q, explorer.potential_cut, explorer.support_cut, explorer.move_by, explorer.move_from,
                    explorer.move_to, explorer.move_share):
        assert control.style.description_width == "initial", control.description
    for button in (explorer.save_button, explorer.undo_button):
        assert button.layout.width == "auto" and button.layout.min_width == "max-content"


def test_what_if_lists_every_group(explorer):
    assert list(explorer.move_from.options) == ["A", "B", "C", "D"] and explorer.move_from.rows == 4
    assert explorer.move_from.value == ("C", "D") and explorer.move_to.value == "B"
    explorer.grid.value = "3x3"
    assert len(explorer.move_from.options) == 9 and explorer.move_from.rows == 9
    assert explorer.move_to.value == "high/low"
    explorer.move_by.value = "channel"
    assert list(explorer.move_from.options) == list(CHANNELS) and explorer.move_from.rows == len(CHANNELS)


def test_what_if_reports_effort_it_cannot_place(published, tmp_path):
    profile = tmp_path / "profile.yaml"
    profile.write_text("extra_channels: [podcast]\n")
    explorer = Explorer(published["data"], profile)
    assert ("loyal", "podcast") in explorer.fit
    explorer.move_by.value = "channel"
    explorer.move_to.value = "podcast"  # nobody has a podcast activity
    explorer.move_share.value = 0.5
    rep = explorer.ds.reps.set_index("rep_id").loc[explorer.whatif_table["rep_id"].iloc[0], "rep_name"]
    assert "Not placed" in explorer.unplaced.value and rep in explorer.unplaced.value
    assert "not placed (cost)" in explorer.whatif.value
    explorer.move_to.value = "phone"
    assert explorer.unplaced.value == ""


def test_a_period_before_the_activities_says_so(published, tmp_path):
    from analysis.contract.dataset import load_dataset

    ds = load_dataset(published["data"])
    first_activity = pd.to_datetime(ds.activities["date"]).min().to_period("M")
    early = [p for p in sorted(ds.sales["period"].unique()) if pd.Period(p, "M") < first_activity]
    if not early:
        pytest.skip("the demo data has no sales before its activities")
    explorer = Explorer(published["data"], None)
    assert explorer.notice.value == ""
    explorer.period_end.value = early[0]
    assert "No activities between" in explorer.notice.value and "the activity data covers" in explorer.notice.value


# 6. the notebook: registered kernel, working copy, clean saves

NOTEBOOKS = ROOT / "notebooks"


def test_the_explorer_notebook_runs_on_the_registered_kernel():
    import jupytext
    import nbformat

    assert nbformat.read(NOTEBOOKS / "explorer.ipynb", as_version=4).metadata.kernelspec.name == "territory-reports"
    assert jupytext.read(NOTEBOOKS / "explorer.py").metadata["kernelspec"]["name"] == "territory-reports"
    makefile = (ROOT / "Makefile").read_text()
    lab = makefile[makefile.index("\nlab:"):].split("\n\n")[0]
    assert "--name territory-reports" in lab and "analysis.lab.workcopy" in lab and "pre_save_hook" in lab
    assert ".lab/" in (ROOT / ".gitignore").read_text().splitlines()


def test_jupytext_writes_the_pair_without_version_lines():
    import jupytext

    nb = jupytext.read(NOTEBOOKS / "explorer.ipynb")
    assert jupytext.writes(nb, fmt="py:percent") == (NOTEBOOKS / "explorer.py").read_text()


def test_the_working_copy_is_unpaired_and_kept_while_the_source_is_unchanged(tmp_path):
    import nbformat

    from analysis.lab.workcopy import working_copy

    source = tmp_path / "explorer.ipynb"
    shutil.copy(NOTEBOOKS / "explorer.ipynb", source)
    copy = working_copy(source, tmp_path / ".lab", {"profile_path": "/x/p.yaml"})
    nb = nbformat.read(copy, as_version=4)
    assert "jupytext" not in nb.metadata and nb.metadata.kernelspec.name == "territory-reports"
    assert "language_info" in nb.metadata  # the kernel's report on open changes nothing
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])][0].source
    assert "profile_path = '/x/p.yaml'  # the run profile" in params and 'data_path = "../data/demo"' in params
    nb.cells[-1].source += "\nexplorer.status"  # the analyst's edit
    nbformat.write(nb, copy)
    assert working_copy(source, tmp_path / ".lab", {"profile_path": "/x/p.yaml"}).read_text() == copy.read_text()
    original = nbformat.read(source, as_version=4)
    original.cells[0].source += "\n\nNew text."
    nbformat.write(original, source)
    working_copy(source, tmp_path / ".lab", {"profile_path": "/x/p.yaml"})
    assert "New text." in copy.read_text() and "explorer.status" in (tmp_path / ".lab" / "explorer.ipynb.bak").read_text()


def test_the_pre_save_hook_strips_outputs_and_widget_state():
    import nbformat

    from analysis.lab.workcopy import pre_save_hook

    nb = nbformat.read(NOTEBOOKS / "explorer.ipynb", as_version=4)
    clean = nbformat.writes(nb)
    nb.cells[-1].outputs = [nbformat.v4.new_output("display_data", data={"text/plain": "VBox()"})]
    nb.cells[-1].execution_count = 3
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    nb.metadata["language_info"] = {"name": "python"}
    model = {"type": "notebook", "content": nb}
    pre_save_hook(model, "notebooks/explorer.ipynb")
    assert nbformat.writes(model["content"]) == clean
