"""Properties of the national pass on random valid datasets (hypothesis)."""
from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis.contract.schema import PHASES, SALES_ONLY_PHASES
from analysis.contract.dataset import Dataset
from analysis.contract.demo import generate
from analysis.domain.national import national_pass


def dataset(tables: dict[str, pd.DataFrame]) -> Dataset:
    activities = tables["activities"].assign(date=pd.to_datetime(tables["activities"]["date"]))
    return Dataset(territories=tables["territories"], reps=tables["reps"], customers=tables["customers"],
                   products=tables["products"], markets=tables["markets"], sales=tables["sales"].assign(
                       units=tables["sales"]["units"].astype(float)),
                   activities=activities, phases=None, source=None, files={"activities": None})


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), territories=st.integers(1, 4), customers=st.integers(20, 200),
       months=st.sampled_from([3, 6, 13, 24]), period_months=st.sampled_from([1, 2, 3]),
       activities=st.floats(0.0, 3.0))
def test_invariants_hold_on_random_datasets(seed, territories, customers, months, period_months, activities):
    tables = generate(seed=seed, n_regions=min(2, territories), n_territories=territories, n_customers=customers,
                      months=months, activity_months=min(months, 12), activities_per_customer_month=activities)
    out = national_pass(dataset(tables), {"period_months": period_months})
    c = out["customers"]
    # support in [0, 1] or missing, never missing when the market has units
    assert c["support"].dropna().between(0, 1).all()
    assert (c["support"].isna() == (c["market_units"] == 0)).all()
    # segments partition the segmentable customers
    segmentable = c["customer_type"].isin(["hcp", "department", "hospital", "pharmacy"])
    assert c.loc[segmentable, "segment"].isin(list("ABCD")).all()
    assert c.loc[~segmentable, "segment"].isna().all()
    kpis = out["kpis"]
    has_activities = bool(kpis["has_activities"].iloc[0])
    has_comparison = bool(kpis["has_comparison"].iloc[0])
    assert has_activities == (len(tables["activities"]) > 0)
    # zero support is never high support (2x2: A and C are the high-support segments)
    high_support = c["segment"].isin(["A", "C"])
    assert (c.loc[high_support, "support"] > 0).all()
    # every prescribing customer has a phase on the data's ladder; the other types have none
    ladder = PHASES if has_activities else SALES_ONLY_PHASES
    assert c.loc[segmentable, "phase"].astype(object).isin(ladder).all()
    assert c.loc[~segmentable, "phase"].isna().all() and c.loc[~segmentable, "phase_previous"].isna().all()
    if has_comparison:
        assert c.loc[segmentable, "phase_previous"].astype(object).isin(ladder).all()
    else:  # no comparison period: the previous phase is missing, never a default
        assert c["phase_previous"].isna().all()
        flags = c.loc[segmentable, ["competitor_locked", "stalled", "slipping", "flags"]]
        assert flags.isna().all().all()
        assert kpis[["own_units_change", "roi", "progressions", "slipping"]].isna().all().all()
    # migration rows sum to the customers present in both periods, and there is none without a comparison
    mig = out["migration"].groupby(["territory_id", "market"])["customers"].sum()
    present = c[segmentable].groupby(["territory_id", "market"]).size()
    if has_comparison:
        assert (mig.reindex(present.index, fill_value=0) == present).all()
    else:
        assert len(out["migration"]) == 0
    if not has_activities:  # sales only: no effort, no coaching flag, no contact dates
        assert kpis[["cost", "coverage", "effort_on_priority", "mismatched_effort"]].isna().all().all()
        assert (out["coaching"]["flags"] == "").all()
        assert out["maintenance"]["overdue"].isna().all()
        assert (c["next_best_basis"] == "no_activities").all() and c["next_best_channel"].isna().all()
    else:
        # every cost adds up to the territory's activity cost, each activity counted once
        cost = kpis.set_index("territory_id")["cost"]
        for name in ("channels", "roi_rep", "roi_segment", "roi_channel"):
            sums = out[name].groupby("territory_id")["cost"].sum().reindex(cost.index, fill_value=0.0)
            assert np.allclose(sums, cost), name
        if has_comparison:
            change = kpis.set_index("territory_id")["own_units_change"]
            for name in ("roi_rep", "roi_segment", "roi_channel"):
                sums = out[name].groupby("territory_id")["own_units_change"].sum().reindex(change.index,
                                                                                         fill_value=0.0)
                assert np.allclose(sums, change), name
    # effort shares sum to one where there is effort; rates are shares
    cp = out["channel_phase"]
    if len(cp):
        spent = cp.groupby(["territory_id", "market"])["cost"].transform("sum") > 0
        sums = cp[spent].groupby(["territory_id", "market"])["effort_share"].sum()
        assert np.allclose(sums, 1.0)
        for rate in ("response_rate", "progression_rate"):
            assert cp[rate].dropna().between(0, 1).all()
    for share in ("coverage", "vip_share", "effort_on_priority", "mismatched_effort", "over_service"):
        assert out["kpis"][share].dropna().between(0, 1).all()
    assert np.isfinite(out["coaching"]["roi"].dropna()).all()


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), territories=st.integers(1, 3), customers=st.integers(10, 80),
       fmt=st.sampled_from(["csv", "parquet"]))
def test_loader_accepts_every_generated_dataset(tmp_path_factory, seed, territories, customers, fmt):
    from analysis.contract.dataset import load_dataset
    from analysis.contract.demo import write

    folder = tmp_path_factory.mktemp("fuzz")
    write(generate(seed=seed, n_regions=1, n_territories=territories, n_customers=customers), folder, fmt=fmt)
    ds = load_dataset(folder)
    assert len(ds.customers) == customers and ds.has_activities
    out = national_pass(ds, {})
    assert set(out["kpis"]["territory_id"]) == set(ds.territories["territory_id"])
