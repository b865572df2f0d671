"""The national pass: one vectorised call equals each territory computed alone."""
from __future__ import annotations

import pandas as pd
import pytest

from analysis.contract.demo import generate, write
from analysis.contract.dataset import load_dataset
from analysis.domain.channels import NEXT_BEST_COLUMNS
from analysis.domain.national import national_pass, rollup

#: Next best channel falls back to the region when a territory's data is thin, so it
#: legitimately differs when a territory is computed without its region.
REGION_DEPENDENT = set(NEXT_BEST_COLUMNS)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    folder = tmp_path_factory.mktemp("national")
    write(generate(seed=11, n_regions=2, n_territories=4, n_customers=500), folder)
    return load_dataset(folder)


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.drop(columns=[c for c in REGION_DEPENDENT if c in frame])
    keys = [c for c in frame.columns if frame[c].dtype != float and c not in ("flags", "actions")]
    return frame.sort_values(keys, kind="mergesort").reset_index(drop=True) if keys else frame


def test_national_equals_each_territory_alone(dataset):
    profile = {"overrides": {"T01": {"segmentation": {"cut": "quantile", "q": 0.6}}}}
    national = national_pass(dataset, profile)
    for tid in dataset.territories["territory_id"]:
        alone = national_pass(dataset.territory(tid), profile)
        for name, table in alone.items():
            if name in ("regions", "nation") or "territory_id" not in table:
                continue
            part = national[name][national[name]["territory_id"] == tid]
            pd.testing.assert_frame_equal(_sorted(part), _sorted(table), check_dtype=False,
                                          check_categorical=False, obj=f"{tid}/{name}")


def test_kpi_properties(dataset):
    tables = national_pass(dataset, {})
    kpis = tables["kpis"]
    for share in ("coverage", "support", "vip_share", "effort_on_priority", "mismatched_effort", "over_service"):
        assert kpis[share].dropna().between(0, 1).all(), share
    customers = tables["customers"]
    seg = customers[customers["segment"].notna()]
    assert (seg.groupby("territory_id")["customer_id"].nunique() == kpis.set_index("territory_id")["customers"]).all()
    # effort shares of a territory-market sum to one
    cp = tables["channel_phase"]
    sums = cp.groupby(["territory_id", "market"])["effort_share"].sum()
    assert ((sums - 1).abs() < 1e-9).all()


def test_rollup_recomputes_ratios_from_sums():
    kpis = pd.DataFrame({
        "territory_id": ["T1", "T2"], "region": ["R", "R"],
        "customers": [10, 30], "potential": [1.0, 3.0], "own_units": [10.0, 30.0], "own_units_previous": [5.0, 5.0],
        "market_units": [100.0, 50.0], "market_units_previous": [10.0, 10.0], "vip_customers": [2, 6],
        "customers_covered": [5, 15], "progressions": [1, 2], "slipping": [0, 1], "competitor_locked": [0, 0],
        "stalled": [1, 1], "cost": [100.0, 300.0], "maintenance_overdue": [1, 2],
        "effort_on_priority": [0.2, 0.6], "mismatched_effort": [0.5, 0.1], "over_service": [0.0, 0.4],
        "own_units_change": [40.0, 240.0], "margin_change": [100.0, 600.0], "roi": [1.0, 2.0],
        "caveats": ["", "roi_units_only"],
    })
    r = rollup(kpis, "region").iloc[0]
    # support = (10 + 30) / (100 + 50); coverage = 20 / 40; cost-weighted A+B = (0.2x100 + 0.6x300) / 400
    assert r["support"] == pytest.approx(40 / 150)
    assert r["coverage"] == pytest.approx(0.5)
    assert r["effort_on_priority"] == pytest.approx(0.5)
    # ROI from the summed margin change and cost, never a mean of the territories' ROIs (1.5)
    assert r["roi"] == pytest.approx((100 + 600) / 400)
    assert r["own_units_change"] == 280.0 and r["margin_change"] == 700.0
    assert r["territories"] == 2
    # a caveat of one territory holds for the roll-up
    assert r["caveats"] == "roi_units_only"


def test_rollup_of_a_missing_figure_is_missing():
    nan = float("nan")
    kpis = pd.DataFrame({
        "territory_id": ["T1", "T2", "T3"], "region": ["R", "R", "S"],
        "customers": [10, 30, 5], "potential": [1.0, 3.0, 1.0], "own_units": [10.0, 30.0, 5.0],
        # T2 has no comparison period: its previous figures and changes are missing
        "own_units_previous": [5.0, nan, 4.0], "market_units": [100.0, 50.0, 10.0],
        "market_units_previous": [10.0, nan, 8.0], "vip_customers": [2, 6, 1], "customers_covered": [5, 15, 2],
        "progressions": [1, nan, 0], "slipping": [0, nan, 1], "competitor_locked": [0, nan, 0],
        "stalled": [1, nan, 0], "cost": [100.0, 300.0, 50.0], "maintenance_overdue": [1, 2, 0],
        "effort_on_priority": [0.2, 0.6, nan], "mismatched_effort": [0.5, 0.1, nan], "over_service": [0.0, 0.4, nan],
        "own_units_change": [5.0, nan, 1.0], "margin_change": [5.0, nan, 1.0], "roi": [0.05, nan, 0.02],
        "caveats": ["", "no_comparison", ""],
    })
    regions = rollup(kpis, "region").set_index("region")
    # R: a sum over T1 and T2, one of which lacks the figure, is missing (not T1's part shown as the whole)
    for column in ("own_units_previous", "support_previous", "progressions", "slipping", "own_units_change",
                   "margin_change", "roi"):
        assert pd.isna(regions.loc["R", column]), column
    # what both have is summed: 10 + 30 own units, cost 400
    assert regions.loc["R", "own_units"] == 40.0 and regions.loc["R", "cost"] == 400.0
    assert regions.loc["R", "caveats"] == "no_comparison"
    # S: complete; T3's shares are missing (no placed cost), so the cost-weighted mean is missing too
    assert regions.loc["S", "support_previous"] == pytest.approx(4 / 8)
    assert regions.loc["S", "roi"] == pytest.approx(1 / 50)
    assert pd.isna(regions.loc["S", "effort_on_priority"]) and regions.loc["S", "caveats"] == ""
    nation = rollup(kpis, None).iloc[0]
    assert pd.isna(nation["own_units_change"]) and nation["caveats"] == "no_comparison"
    assert nation["effort_on_priority"] == pytest.approx(0.5)  # (0.2 x 100 + 0.6 x 300) / 400


def test_region_rates_cover_every_territory_whatever_its_overrides(dataset):
    # T01 has its own parameters and forms its own group; the region's channel rates are still
    # computed once over all of North's territories, so the next best channel of every
    # customer is the same as in a run without overrides (a segmentation cut changes no phase)
    plain = national_pass(dataset, {})["customers"]
    profile = {"overrides": {"T01": {"segmentation": {"cut": "quantile", "q": 0.6}}}}
    grouped = national_pass(dataset, profile)["customers"]
    keys = ["territory_id", "customer_id", "market"]
    columns = [*keys, *NEXT_BEST_COLUMNS]
    left = plain[columns].sort_values(keys, ignore_index=True)
    right = grouped[columns].sort_values(keys, ignore_index=True)
    pd.testing.assert_frame_equal(left, right, check_dtype=False)
    assert (plain["next_best_basis"] == "region").any()  # the region matters in this data


@pytest.mark.parametrize("profile", [{}, {"overrides": {"T01": {"segmentation": {"cut": "quantile", "q": 0.6}}}}])
def test_region_counts_summed_from_territories_are_those_counted(dataset, profile, monkeypatch):
    """The region's channel counts added up from its territories' give every table the
    counts over the facts give (the way taken when customer or territory ids repeat)."""
    import analysis.domain.national as national

    summed = national_pass(dataset, profile)
    monkeypatch.setattr(national, "_regions_add_up", lambda ds: False)
    counted = national_pass(dataset, profile)
    assert set(summed) == set(counted)
    for name in summed:
        pd.testing.assert_frame_equal(summed[name], counted[name], obj=name)
    assert (summed["customers"]["next_best_basis"] == "region").any()  # the region's counts are read


def test_roi_and_channel_tables_add_up_to_the_territory(dataset):
    tables = national_pass(dataset, {})
    kpis = tables["kpis"].set_index("territory_id")
    for name in ("roi_rep", "roi_segment", "roi_channel"):
        sums = tables[name].groupby("territory_id")[["cost", "own_units_change", "margin_change"]].sum()
        assert sums["cost"].to_dict() == pytest.approx(kpis["cost"].to_dict()), name
        assert sums["own_units_change"].to_dict() == pytest.approx(kpis["own_units_change"].to_dict()), name
        assert sums["margin_change"].to_dict() == pytest.approx(kpis["margin_change"].to_dict()), name
    # the channel summary counts each activity once: its costs add up to the territory's cost
    channels = tables["channels"].groupby("territory_id")["cost"].sum()
    assert channels.to_dict() == pytest.approx(kpis["cost"].to_dict())
    # the coaching table takes the rep split too
    coaching = tables["coaching"].groupby("territory_id")["own_units_change"].sum()
    assert coaching.to_dict() == pytest.approx(kpis["own_units_change"].to_dict())
    assert set(kpis["grid"]) == {"2x2"}
    assert set(tables) >= {"channels", "roi_rep", "three_c_flags", "coaching_flags"}


def test_parameter_groups_by_hand():
    """Territories without overrides share the profile's parameters (made once); an
    override equal to the profile's value joins them; groups keep first-seen order."""
    from analysis.contract.params import effective
    from analysis.domain.national import parameter_groups

    profile = {"period_months": 2, "overrides": {"T2": {"period_months": 4}, "T4": {"period_months": 2},
                                                 "T5": {"period_months": 4}}}
    groups = parameter_groups(["T1", "T2", "T3", "T4", "T5", "T6"], profile)
    assert [ids for _, ids in groups] == [["T1", "T3", "T4", "T6"], ["T2", "T5"]]
    assert groups[0][0] == effective(profile) and groups[1][0] == effective(profile, "T2")
    assert groups[0][0]["period_months"] == 2 and groups[1][0]["period_months"] == 4
    assert parameter_groups([], profile) == []
