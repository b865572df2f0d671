"""Segmentation (DESIGN 4.3): hand-computed grid, VIPs, deciles, and properties."""
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.domain.segmentation import (SCHEME_2X2, SCHEME_3X3, SCHEMES, deciles, lorenz, ranking, scheme_of,
                                          segment, segment_summary, vip)


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


def zero_support():
    """A territory where most customers never buy our product: the support median is 0."""
    return pd.DataFrame({
        "territory_id": "T", "market": "m",
        "customer_id": ["z1", "z2", "z3", "z4", "z5"],
        "customer_type": ["hcp", "hcp", "hcp", "hcp", "pharmacy"],
        "potential": [10.0, 20.0, 30.0, 40.0, 0.0],
        "support": [0.0, 0.0, 0.0, 0.4, 0.5],
    })


def test_zero_support_is_never_high_support_2x2():
    out = segment(zero_support())
    # potential cut: median of [10, 20, 30, 40] (> 0) = 25; support cut: median of [0, 0, 0, 0.4, 0.5] = 0
    assert out["potential_cut"].iloc[0] == 25.0 and out["support_cut"].iloc[0] == 0.0
    # support 0 >= 0 would be "high"; a customer who never uses our product is low support:
    # z1, z2 low/low = D; z3 high/low = B (not A); z4 high/high = A; z5 zero potential, 0.5 -> C
    assert out["support_level"].tolist() == ["low", "low", "low", "high", "high"]
    assert out["segment"].tolist() == ["D", "D", "B", "A", "C"]
    # absolute cuts of 0: potential 0 is still low, support 0 still low
    absolute = segment(zero_support(), cut="absolute", potential_cut=0, support_cut=0)
    assert absolute["segment"].tolist() == ["B", "B", "B", "A", "C"]


def test_zero_support_is_never_high_support_3x3():
    frame = pd.DataFrame({
        "territory_id": "T", "market": "m", "customer_id": [f"c{i}" for i in range(1, 7)],
        "customer_type": "hcp",
        "potential": [10.0, 20.0, 30.0, 40.0, 50.0, 60.0],
        "support": [0.6, 0.0, 0.0, 0.05, 0.0, 0.3],
    })
    out = segment(frame, grid="3x3")
    # potential tertiles of [10..60]: positions 5/3 and 10/3 -> 26.67 and 43.33
    assert out["potential_cut"].iloc[0] == pytest.approx(80 / 3)
    assert out["potential_cut_1"].iloc[0] == pytest.approx(130 / 3)
    # support tertiles of [0, 0, 0, 0.05, 0.3, 0.6]: 0 and 0.05 + (1/3) x 0.25 = 0.1333
    assert out["support_cut"].iloc[0] == 0.0
    assert out["support_cut_1"].iloc[0] == pytest.approx(0.05 + 0.25 / 3)
    # zero support is at the lower cut (0) but never medium or high: it is low
    assert out["potential_level"].tolist() == ["low", "low", "medium", "medium", "high", "high"]
    assert out["support_level"].tolist() == ["high", "low", "low", "medium", "low", "high"]
    assert out["segment"].tolist() == ["low/high", "low/low", "medium/low", "medium/medium", "high/low",
                                       "high/high"]


def test_segment_schemes():
    assert set(SCHEMES) == {"2x2", "3x3"}
    assert SCHEME_2X2.labels == ("A", "B", "C", "D") and SCHEME_2X2.priority == ("A", "B")
    # 3x3: the priority segments are the high-potential row
    assert SCHEME_3X3.priority == ("high/high", "high/medium", "high/low")
    assert SCHEME_3X3.labels[:3] == SCHEME_3X3.priority and len(SCHEME_3X3.labels) == 9
    assert SCHEME_3X3.labels[-1] == "low/low"
    assert scheme_of({}) is SCHEME_2X2
    assert scheme_of({"segmentation": {"cut": "median", "grid": "3x3"}}) is SCHEME_3X3
    with pytest.raises(ValueError, match="4x4"):
        scheme_of({"segmentation": {"grid": "4x4"}})
    segments = pd.Series(["A", "C", "high/low", "medium/high", None])
    assert SCHEME_2X2.is_priority(segments).tolist() == [True, False, False, False, False]
    assert SCHEME_3X3.is_priority(segments).tolist() == [False, False, True, False, False]


def test_segment_summary_follows_the_scheme():
    frame = pd.DataFrame({
        "territory_id": "T", "market": "m", "customer_id": [f"c{i}" for i in range(1, 7)],
        "customer_type": "hcp",
        "potential": [10.0, 20.0, 30.0, 40.0, 50.0, 60.0],
        "support": [0.6, 0.0, 0.0, 0.05, 0.0, 0.3],
        "own_units": [6.0, 0.0, 0.0, 1.0, 0.0, 3.0], "market_units": [10.0, 5.0, 5.0, 20.0, 5.0, 10.0],
    })
    summary = segment_summary(segment(frame, grid="3x3"), SCHEME_3X3)
    # in the scheme's label order; only the segments present
    assert summary["segment"].tolist() == ["high/high", "high/low", "medium/medium", "medium/low", "low/high",
                                           "low/low"]
    assert summary["priority"].tolist() == [True, True, False, False, False, False]
    two = segment_summary(segment(zero_support().assign(own_units=0.0, market_units=1.0)), SCHEME_2X2)
    assert two["segment"].tolist() == ["A", "B", "C", "D"] and two["priority"].tolist() == [True, True, False, False]
    assert two.set_index("segment")["customers"].to_dict() == {"A": 1, "B": 1, "C": 1, "D": 2}


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


def test_one_ranking_serves_vip_deciles_and_lorenz():
    f = customers()
    ranked = ranking(f, "potential")
    assert ranked["customer_id"].tolist() == ["c5", "c2", "c3", "c1", "c4"]  # descending, ties by id
    assert vip(f, ranked=ranked).equals(vip(f)) and deciles(f, ranked=ranked).equals(deciles(f))
    pd.testing.assert_frame_equal(lorenz(f, ranked=ranked), lorenz(f))
    with pytest.raises(ValueError, match="not of this frame by 'own_units'"):
        vip(f, "own_units", ranked=ranked)
    with pytest.raises(ValueError, match="not of this frame"):
        deciles(f, ranked=ranked.iloc[1:])


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
    # zero or missing support is never high support, zero potential never high potential
    assert (out.loc[out["segment"].isin(["A", "C"]), "support"] > 0).all()
    assert (out.loc[out["segment"].isin(["A", "B"]), "potential"] > 0).all()
    nine = segment(frame, grid="3x3")
    assert (nine.loc[nine["support_level"].isin(["medium", "high"]), "support"] > 0).all()
    assert (nine.loc[nine["potential_level"].isin(["medium", "high"]), "potential"] > 0).all()
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
