"""The synthetic demo data: contract shape, integrity and the realism the reports show."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.contract import demo
COLUMNS = {
    "territories": ["territory_id", "territory_name", "region", "manager"],
    "reps": ["rep_id", "rep_name", "territory_id", "role", "cost_per_day"],
    "customers": ["customer_id", "customer_name", "customer_type", "territory_id", "specialty",
                  "account_id", "department", "city", "beds", "bed_turnover_per_month",
                  "indication_share", "catchment_population", "incidence_rate", "phone",
                  "email", "university", "hometown"],
    "products": ["product_id", "product_name", "market", "is_own", "units_per_box", "unit_margin"],
    "markets": ["market", "boxes_per_patient"],
    "sales": ["customer_id", "product_id", "period", "units"],
    "activities": ["activity_id", "customer_id", "rep_id", "date", "channel", "cost", "outcome",
                   "content"],
}
PROFILE = ["phone", "email", "university", "hometown"]


@pytest.fixture(scope="module")
def tables() -> dict[str, pd.DataFrame]:
    return demo.generate()


@pytest.fixture(scope="module")
def sales(tables) -> pd.DataFrame:
    """Sales with market, is_own, territory and the 3-month window (0 = latest)."""
    frame = tables["sales"].merge(tables["products"][["product_id", "market", "is_own"]], on="product_id")
    customers = tables["customers"][["customer_id", "territory_id", "customer_type"]]
    frame = frame.merge(customers, on="customer_id")
    periods = sorted(frame["period"].unique())
    back = {p: (len(periods) - 1 - i) // 3 for i, p in enumerate(periods)}
    frame["window"] = frame["period"].map(back)
    frame["own_units"] = frame["units"].where(frame["is_own"], 0)
    return frame


@pytest.fixture(scope="module")
def support(sales) -> pd.DataFrame:
    """Support per customer x market in the last three 3-month windows (columns 0, 1, 2)."""
    recent = sales[sales["window"] <= 2]
    sums = recent.groupby(["customer_id", "market", "window"])[["own_units", "units"]].sum()
    share = (sums["own_units"] / sums["units"].where(sums["units"] > 0)).unstack("window")
    return share.reindex(columns=[0, 1, 2])


def test_deterministic_for_a_seed(tables):
    again = demo.generate()
    for name in demo.TABLES:
        pd.testing.assert_frame_equal(tables[name], again[name])
    other = demo.generate(seed=8)
    assert not other["sales"].equals(tables["sales"])
    assert not other["activities"].equals(tables["activities"])


def test_tables_and_columns(tables):
    assert list(tables) == list(demo.TABLES)
    for name, columns in COLUMNS.items():
        assert list(tables[name].columns) == columns, name


def test_counts(tables):
    territories, reps, customers = tables["territories"], tables["reps"], tables["customers"]
    assert territories["region"].nunique() == 3
    assert territories["territory_id"].tolist() == [f"T{i:02d}" for i in range(1, 13)]
    assert len(reps) == 12 and sorted(reps["territory_id"]) == sorted(territories["territory_id"])
    assert set(reps["role"]) == {"chronic", "specialty"}
    assert (reps["role"] == "chronic").mean() == pytest.approx(2 / 3, abs=0.1)
    assert len(customers) == 1500 and customers["customer_id"].is_unique
    assert set(customers["customer_type"]) == {"hcp", "department", "hospital", "pharmacy",
                                               "distributor", "supplier", "peripheral"}
    kinds = customers["customer_type"].value_counts()
    assert kinds.index[0] == "hcp" and kinds["pharmacy"] > kinds["department"] > kinds["hospital"]
    upstream = customers[customers["customer_type"].isin(["supplier", "distributor", "peripheral"])]
    per_territory = upstream.groupby(["territory_id", "customer_type"]).size()
    assert per_territory.between(2, 4).all() and len(per_territory) == 36

    products, markets = tables["products"], tables["markets"]
    assert len(markets) == 2 and set(products["market"]) == set(markets["market"])
    for _, group in products.groupby("market"):
        assert group["is_own"].sum() == 1
        assert 2 <= (~group["is_own"]).sum() <= 3
    assert products["is_own"].dtype == bool

    periods = sorted(tables["sales"]["period"].unique())
    assert len(periods) == 24 and periods[-1] == "2026-10" and periods[0] == "2024-11"
    assert set(tables["activities"]["channel"]) == set(demo.CHANNELS)
    assert 20_000 <= len(tables["activities"]) <= 40_000
    assert 50_000 <= len(tables["sales"]) <= 120_000


def test_ids_are_padded_to_the_count():
    small = demo.generate(n_regions=4, n_territories=120, n_customers=2000, months=6, activity_months=3)
    assert small["territories"]["territory_id"].iloc[[0, -1]].tolist() == ["T001", "T120"]
    assert small["territories"]["region"].nunique() == 4
    assert small["activities"]["activity_id"].iloc[0] == "A0000001"


def test_referential_integrity(tables):
    customers = tables["customers"].set_index("customer_id")
    assert set(customers["territory_id"]) <= set(tables["territories"]["territory_id"])
    assert set(tables["sales"]["customer_id"]) <= set(customers.index)
    assert set(tables["sales"]["product_id"]) <= set(tables["products"]["product_id"])
    activities = tables["activities"]
    assert activities["activity_id"].is_unique
    assert set(activities["customer_id"]) <= set(customers.index)
    rep_territory = tables["reps"].set_index("rep_id")["territory_id"]
    assert activities["rep_id"].isin(rep_territory.index).all()
    assert (activities["rep_id"].map(rep_territory).to_numpy()
            == activities["customer_id"].map(customers["territory_id"]).to_numpy()).all()
    buyers = customers.loc[tables["sales"]["customer_id"].unique(), "customer_type"]
    assert set(buyers) <= {"hcp", "department", "hospital", "pharmacy", "distributor"}
    assert buyers.eq("distributor").sum() < (customers["customer_type"] == "distributor").sum()


def test_values_in_range(tables):
    sales, activities = tables["sales"], tables["activities"]
    assert sales["units"].dtype.kind == "i" and (sales["units"] >= 0).all()
    assert (sales["units"] > 0).mean() > 0.9                       # sparse: mostly positive rows
    assert not sales.duplicated(["customer_id", "product_id", "period"]).any()
    assert (activities["cost"] >= 0).all()
    dates = pd.to_datetime(activities["date"], format="%Y-%m-%d")
    assert dates.min() >= pd.Timestamp("2025-11-01") and dates.max() <= pd.Timestamp("2026-10-31")
    assert (dates.dt.day_of_week < 5).all()
    assert set(activities["outcome"]) == {"none", "opened", "engaged", "attended"}
    attended = activities.loc[activities["outcome"] == "attended", "channel"]
    assert set(attended) <= set(demo.EVENT_CHANNELS)
    cost = activities.groupby("channel")["cost"].mean()
    assert cost["email"] == pytest.approx(0.5, abs=0.1) and cost["social"] == pytest.approx(0.2, abs=0.05)
    assert 60 <= cost["f2f_visit"] <= 120
    assert cost["offline_lecture"] > cost["f2f_visit"] > cost["phone"] > cost["email"] > cost["social"]


def test_customer_details(tables):
    customers = tables["customers"]
    kind = customers["customer_type"]
    assert customers.loc[kind == "hcp", "customer_name"].str.startswith("Dr. ").all()
    assert customers.loc[kind == "pharmacy", "customer_name"].str.endswith(" Pharmacy").all()
    assert customers.loc[kind == "department", "customer_name"].str.contains(" Hospital - ").all()
    departments = customers[kind == "department"]
    flow = departments[["beds", "bed_turnover_per_month", "indication_share"]]
    assert flow.notna().all(axis=1).mean() > 0.7
    assert customers.loc[kind != "department", "beds"].isna().all()
    hospitals = customers[kind == "hospital"]
    assert hospitals["catchment_population"].notna().mean() > 0.6
    assert hospitals["incidence_rate"].dropna().between(0.004, 0.06).all()
    assert customers.loc[kind != "hospital", "incidence_rate"].isna().all()


def test_potential_is_pareto_skewed(sales):
    units = sales.groupby("customer_id")["units"].sum().sort_values(ascending=False)
    top = units.iloc[: round(len(units) * 0.2)].sum() / units.sum()
    assert top >= 0.6


def test_competitor_strongholds(sales):
    by_product = sales.groupby(["territory_id", "market", "product_id", "is_own"])["units"].sum()
    share = by_product / by_product.groupby(level=["territory_id", "market"]).transform("sum")
    share = share.reset_index()
    own = share[share["is_own"]].set_index(["territory_id", "market"])["units"]
    leader = share[~share["is_own"]].groupby(["territory_id", "market"])["units"].max()
    held = (own < 0.2) & (leader.reindex(own.index) >= 0.5)
    assert held.groupby(level="territory_id").any().sum() >= 2
    assert (own >= 0.2).mean() > 0.7                                # elsewhere we compete


def test_profile_completeness_varies_by_territory(tables):
    customers = tables["customers"]
    completeness = customers[PROFILE].notna().mean(axis=1).groupby(customers["territory_id"]).mean()
    assert completeness.min() <= 0.4 and completeness.max() >= 0.85


def test_support_moves_both_ways(support):
    """Between the comparison and the analysis window, customers cross the adopter and
    loyal cut points upwards and downwards (DESIGN 4.4 phases move)."""
    before, now = support[1], support[0]
    for cut in (0.2, 0.5):
        assert ((before < cut) & (now >= cut)).sum() >= 20
        assert ((before >= cut) & (now < cut)).sum() >= 20
    assert ((before.fillna(0) == 0) & (now > 0)).sum() >= 10            # new trials


def test_loyal_customers_are_over_served(tables, support):
    activities = tables["activities"]
    loyal = ((support[1] >= 0.5) & (support[2] >= 0.5)).groupby(level="customer_id").any()
    low = (support[1].fillna(0) < 0.2).groupby(level="customer_id").all()
    recent = activities[activities["date"] >= "2026-08-01"]
    per_customer = recent.groupby("customer_id").size()
    loyal_rate = per_customer.reindex(loyal.index[loyal], fill_value=0).mean()
    low_rate = per_customer.reindex(low.index[low], fill_value=0).mean()
    assert loyal_rate > 1.3 * low_rate
    visits = recent[recent["channel"] == "f2f_visit"].groupby("customer_id").size()
    assert (visits.reindex(loyal.index[loyal], fill_value=0).mean()
            > 1.5 * visits.reindex(low.index[low], fill_value=0).mean())


def test_reps_focus_by_role(tables):
    activities = tables["activities"].merge(tables["reps"][["rep_id", "role"]], on="rep_id")
    activities = activities.merge(tables["customers"][["customer_id", "customer_type"]], on="customer_id")
    on_hospitals = activities["customer_type"].isin(["department", "hospital"])
    hospital_share = on_hospitals.groupby(activities["role"]).mean()
    assert hospital_share["specialty"] > 0.5 > hospital_share["chronic"]


def test_responses_depend_on_fit(tables, support):
    """A face-to-face visit (fits trial and above) lands better with users of our product
    than with non-users (unaware / aware / interested, where it does not fit)."""
    visits = tables["activities"].query("channel == 'f2f_visit' and date >= '2026-08-01'")
    engaged = visits["outcome"].eq("engaged").groupby(visits["customer_id"]).mean()
    users = (support[0] >= 0.2).groupby(level="customer_id").any()
    non_users = (support[[0, 1]].fillna(0) == 0).all(axis=1).groupby(level="customer_id").all()
    users_rate = engaged.reindex(users.index[users]).mean()
    non_users_rate = engaged.reindex(non_users.index[non_users]).mean()
    assert users_rate > 1.5 * non_users_rate


def test_relationship_customers_some_overdue(tables):
    customers = tables["customers"].set_index("customer_id")
    cadence = {"supplier": 90, "distributor": 60, "peripheral": 180}
    upstream = customers[customers["customer_type"].isin(list(cadence))]
    last = pd.to_datetime(tables["activities"].groupby("customer_id")["date"].max())
    days = (pd.Timestamp("2026-10-31") - last.reindex(upstream.index)).dt.days
    overdue = days.isna() | (days > upstream["customer_type"].map(cadence))
    assert 0.1 < overdue.mean() < 0.8
    assert days.notna().mean() > 0.7


def test_write_round_trips(tables, tmp_path):
    small = {name: frame.head(500) for name, frame in tables.items()}
    csv_paths = demo.write(small, tmp_path / "csv")
    assert [p.name for p in csv_paths] == [f"{name}.csv" for name in demo.TABLES]
    for name, frame in small.items():
        back = pd.read_csv(tmp_path / "csv" / f"{name}.csv")
        pd.testing.assert_frame_equal(back, frame, check_dtype=False)
    text = (tmp_path / "csv" / "customers.csv").read_text().splitlines()[1]
    assert ",," in text                                             # missing values: empty cells
    pytest.importorskip("pyarrow")
    parquet_paths = demo.write(small, tmp_path / "parquet", fmt="parquet")
    assert all(p.suffix == ".parquet" for p in parquet_paths)
    for name, frame in small.items():
        back = pd.read_parquet(tmp_path / "parquet" / f"{name}.parquet")
        back = back.where(back.notna(), np.nan)                     # pandas 2.2 reads None
        pd.testing.assert_frame_equal(back, frame, check_dtype=False)


def test_write_rejects_unknown_format(tables, tmp_path):
    with pytest.raises(ValueError, match="fmt"):
        demo.write(tables, tmp_path, fmt="xlsx")
