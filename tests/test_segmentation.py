"""Segmentation (DESIGN 4.3): hand-computed grid, VIPs, deciles, and properties."""
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.domain.segmentation import deciles, lorenz, segment, segment_summary, vip


def customers():
    return pd.DataFrame({
        "territory_id": ["T"] * 6,
        "market": ["m"] * 6,
        "customer_id": ["c1", "c2", "c3", "c4", "c5", "c6"],
        "customer_type": ["hcp", "hcp", "hcp", "pharmacy", "department", "supplier"],
        "potential": [10.0, 20.0, 20.0, 0.0, 40.0, 100.0],
        "support": [0.5, 0.1, np.nan, 0.9, 0.6, 1.0],
        "own_units": [5.0, 2.0, 0.0, 9.0, 24.0, 100.0],
        "market_units": [10.0, 20.0, 0.0, 10.0, 40.0, 100.0],
    })


def test_median_grid_with_ties_and_missing_support():
    out = segment(customers())
    # potential cut: median of [10, 20, 20, 40] (segmentable, > 0) = 20; c2 and c3 tie at the cut -> high
    # support cut: median of [0.1, 0.5, 0.6, 0.9] (segmentable, present) = 0.55
    assert out["potential_cut"].iloc[0] == 20.0
    assert out["support_cut"].iloc[0] == pytest.approx(0.55)
    # c1 low/low=D, c2 high/low=B, c3 high/missing(low)=B, c4 zero potential/high=C, c5 high/high=A,
    # c6 supplier: not segmented
    assert out["segment"].tolist()[:5] == ["D", "B", "B", "C", "A"]
    assert pd.isna(out["segment"].iloc[5])


def test_quantile_and_absolute_cuts():
    q = segment(customers(), cut="quantile", q=0.75)
    # 0.75 quantile of [10, 20, 20, 40]: position 2.25 -> 20 + 0.25 x 20 = 25; only c5 is high
    assert q["potential_cut"].iloc[0] == pytest.approx(25.0)
    assert q["potential_level"].tolist()[:5] == ["low", "low", "low", "low", "high"]
    a = segment(customers(), cut="absolute", potential_cut=15, support_cut=0.5)
    # high potential: c2, c3, c5 (>= 15); high support: c1 (0.5 at the cut), c4, c5
    assert a["segment"].tolist()[:5] == ["C", "B", "B", "C", "A"]
    with pytest.raises(ValueError, match="absolute"):
        segment(customers(), cut="absolute")


def test_three_by_three_grid():
    out = segment(customers(), grid="3x3")
    # tertiles of [10, 20, 20, 40]: positions 1 and 2 -> 20 and 20: c2, c3, c5 high; c1 low
    assert out["potential_level"].tolist()[:5] == ["low", "high", "high", "low", "high"]
    assert out["segment"].iloc[4].startswith("high/")


def test_vip_smallest_prefix_reaching_80_percent():
    # ranking: c5 40, c2 20, c3 20 (tie broken by id), c1 10, c4 0; total 90, 80% = 72
    # cumulative before each: 0, 40, 60, 80 -> c5, c2, c3 are VIPs (reach 80 >= 72)
    assert vip(customers()).tolist() == [False, True, True, False, True, False]


def test_vip_exact_reach_stops():
    f = customers().assign(potential=[8.0, 2.0, 0.0, 0.0, 0.0, 0.0])
    # total 10, target 8: c1 alone reaches it exactly
    assert vip(f).tolist() == [True, False, False, False, False, False]


def test_deciles_top_tenth_is_10():
    d = deciles(customers())
    # descending ranking c5, c2, c3 (tie by id), c1 -> ascending positions c1 1, c3 2, c2 3, c5 4 of 4
    # decile = ceil(10 x position / 4): c1 3, c3 5, c2 8, c5 10. c4 (zero) and c6 (supplier): none
    assert d.tolist()[:3] == [3, 8, 5]
    assert d.iloc[0] == 3 and d.iloc[4] == 10 and pd.isna(d.iloc[3]) and pd.isna(d.iloc[5])


def test_lorenz_points():
    points = lorenz(customers())
    # c5 first: 1 of 5 customers, 40 of 90 potential
    first = points.iloc[0]
    assert first["customer_id"] == "c5" and first["customer_share"] == pytest.approx(0.2)
    assert first["value_share"] == pytest.approx(40 / 90)
    assert points["value_share"].iloc[-1] == pytest.approx(1.0)


def test_segment_summary_shares():
    s = segment_summary(segment(customers())).set_index("segment")
    assert s.loc["B", "customers"] == 2 and s.loc["B", "potential"] == 40.0
    # 5 segmentable customers; potential total 90
    assert s["customer_share"].sum() == pytest.approx(1.0)
    assert s.loc["A", "potential_share"] == pytest.approx(40 / 90)


@st.composite
def territories(draw):
    n = draw(st.integers(1, 40))
    potential = draw(st.lists(st.one_of(st.just(0.0), st.floats(0.01, 1e6)), min_size=n, max_size=n))
    support = draw(st.lists(st.one_of(st.just(np.nan), st.floats(0, 1)), min_size=n, max_size=n))
    types = draw(st.lists(st.sampled_from(["hcp", "pharmacy", "supplier", "department"]), min_size=n, max_size=n))
    terr = draw(st.lists(st.sampled_from(["T1", "T2"]), min_size=n, max_size=n))
    return pd.DataFrame({"territory_id": terr, "market": "m", "customer_id": [f"c{i:03d}" for i in range(n)],
                         "customer_type": types, "potential": potential, "support": support})


@settings(max_examples=60, deadline=None)
@given(territories())
def test_properties_partition_and_vip_reach(frame):
    out = segment(frame)
    seg = frame["customer_type"] != "supplier"
    # segments partition the segmentable customers
    assert out.loc[seg, "segment"].isin(["A", "B", "C", "D"]).all()
    assert out.loc[~seg, "segment"].isna().all()
    is_vip = vip(frame)
    for _, group in frame[seg].assign(vip=is_vip[seg]).groupby("territory_id"):
        total = group["potential"].sum()
        if total == 0:
            assert not group["vip"].any()
            continue
        reached = group.loc[group["vip"], "potential"].sum()
        assert reached >= 0.8 * total - 1e-6 * total
        # smallest prefix: without the smallest VIP the share is below 80%
        smallest = group.loc[group["vip"], "potential"].min()
        assert reached - smallest < 0.8 * total + 1e-6 * total
