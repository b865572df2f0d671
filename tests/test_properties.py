"""Properties of the national pass on random valid datasets (hypothesis)."""
from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis.contract.schema import PHASES
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
    # every customer has a phase on the ladder in both periods
    assert c["phase"].astype(str).isin(PHASES).all() and c["phase_previous"].astype(str).isin(PHASES).all()
    # migration rows sum to the customers present in both periods
    mig = out["migration"].groupby(["territory_id", "market"])["customers"].sum()
    present = c.groupby(["territory_id", "market"]).size()
    assert (mig.reindex(present.index, fill_value=0) == present).all()
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
