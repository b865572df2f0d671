"""Competitor position, the 3C matrix and the customer flags (DESIGN 4.4)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis.contract.schema import PHASES
from analysis.domain.periods import Window
from analysis.domain.phases import PHASE_DTYPE
from analysis.domain.three_c import (
    POSITION_DTYPE,
    POSITIONS,
    attach_competitor_position,
    attach_effort,
    competitor_position,
    customer_effort,
    flag_counts,
    flags,
    three_c_matrix,
)
from analysis.contract.schema import SALES_ONLY_PHASES

WINDOW = Window("2026-06", 3)   # analysis 2026-04..2026-06


def product_frame(rows: list[tuple]) -> pd.DataFrame:
    """Product units from (customer_id, product_id, is_own, units) tuples, market M1."""
    return pd.DataFrame({
        "customer_id": [r[0] for r in rows],
        "market": "M1",
        "product_id": [r[1] for r in rows],
        "is_own": [r[2] for r in rows],
        "units": [float(r[3]) for r in rows],
    })


PRODUCT_UNITS = product_frame([
    # C1: 30 + 60 + 10 = 100; leading competitor P2 60/100 = 0.6 >= 0.6 -> competitor_dominant
    ("C1", "P1", True, 30), ("C1", "P2", False, 60), ("C1", "P3", False, 10),
    # C2: 40 + 30 + 30 = 100; P2 and P3 tie at 30, P2 (smaller id) leads, 0.3; own 0.4 >= 0.3 -> own_led
    ("C2", "P1", True, 40), ("C2", "P3", False, 30), ("C2", "P2", False, 30),
    # C3: 20 + 40 + 40 = 100; tie again, P2 leads with 0.4; own 0.2 < 0.4 -> contested
    ("C3", "P1", True, 20), ("C3", "P3", False, 40), ("C3", "P2", False, 40),
    # C4: rows but no units -> no_sales, shares missing
    ("C4", "P1", True, 0), ("C4", "P2", False, 0),
    # C5: own 50 = competitor 50 -> own share 0.5 >= every competitor's -> own_led
    ("C5", "P1", True, 50), ("C5", "P2", False, 50),
    # C6: only our product -> own_led, no leading competitor, competitor share 0
    ("C6", "P1", True, 10),
    # C7: only a competitor -> its share 5/5 = 1.0 -> competitor_dominant, own share 0
    ("C7", "P2", False, 5),
    # C8: no own units, P2 50 / P3 50 -> 0.5 < 0.6, own share 0 -> contested
    ("C8", "P2", False, 50), ("C8", "P3", False, 50),
])


def by_customer(out: pd.DataFrame) -> dict:
    return {row.customer_id: row for row in out.itertuples(index=False)}


def test_competitor_positions():
    out = competitor_position(PRODUCT_UNITS)
    assert list(out.columns) == ["customer_id", "market", "leading_competitor", "competitor_share",
                                 "own_share", "competitor_position"]
    assert out["competitor_position"].dtype == POSITION_DTYPE
    got = by_customer(out)
    assert {c: str(r.competitor_position) for c, r in got.items()} == {
        "C1": "competitor_dominant", "C2": "own_led", "C3": "contested", "C4": "no_sales",
        "C5": "own_led", "C6": "own_led", "C7": "competitor_dominant", "C8": "contested",
    }
    assert got["C1"].leading_competitor == "P2" and got["C1"].competitor_share == pytest.approx(0.6)
    assert got["C1"].own_share == pytest.approx(0.3)
    assert got["C2"].leading_competitor == "P2" and got["C2"].competitor_share == pytest.approx(0.3)
    assert got["C3"].leading_competitor == "P2" and got["C3"].competitor_share == pytest.approx(0.4)
    assert pd.isna(got["C4"].leading_competitor)
    assert np.isnan(got["C4"].competitor_share) and np.isnan(got["C4"].own_share)
    assert pd.isna(got["C6"].leading_competitor) and got["C6"].competitor_share == 0.0
    assert got["C6"].own_share == 1.0
    assert got["C7"].competitor_share == 1.0 and got["C7"].own_share == 0.0
    assert got["C8"].leading_competitor == "P2"


def test_dominance_threshold_is_a_parameter():
    # dominant=0.7: C1's 0.6 is no longer dominant; own 0.3 < 0.6 -> contested
    got = by_customer(competitor_position(PRODUCT_UNITS, dominant=0.7))
    assert str(got["C1"].competitor_position) == "contested"
    assert str(got["C7"].competitor_position) == "competitor_dominant"


def test_competitor_position_sums_duplicate_product_rows():
    # P2 appears twice (e.g. two periods): 35 + 35 = 70 of 100 -> leads P3 (30) with 0.7
    out = competitor_position(product_frame([("C1", "P2", False, 35), ("C1", "P2", False, 35),
                                             ("C1", "P3", False, 30)]))
    row = out.iloc[0]
    assert row["leading_competitor"] == "P2" and row["competitor_share"] == pytest.approx(0.7)
    assert row["competitor_position"] == "competitor_dominant"


def test_attach_competitor_position_defaults_to_no_sales():
    frame = pd.DataFrame({"territory_id": "T1", "customer_id": ["C1", "C9"], "market": "M1"})
    out = attach_competitor_position(frame, competitor_position(PRODUCT_UNITS))
    assert out["competitor_position"].astype(str).tolist() == ["competitor_dominant", "no_sales"]
    assert out["competitor_position"].dtype == POSITION_DTYPE
    assert np.isnan(out["own_share"].iloc[1])


def test_customer_effort():
    acts = pd.DataFrame({
        "activity_id": ["A1", "A2", "A3", "A4"],
        "customer_id": ["C1", "C1", "C2", "C1"],
        "rep_id": "R1",
        "date": pd.to_datetime(["2026-04-01", "2026-06-30", "2026-05-01", "2026-03-31"]),
        "channel": "phone",
        "cost": [10.0, 2.5, 4.0, 100.0],   # A4 is in the comparison window
    })
    effort = customer_effort(acts, WINDOW)
    # C1: A1 + A2 = 2 activities, 10 + 2.5 = 12.5; C2: 1 activity, 4
    assert effort.to_dict("list") == {"customer_id": ["C1", "C2"], "activities": [2, 1], "effort_cost": [12.5, 4.0]}
    frame = pd.DataFrame({"customer_id": ["C1", "C1", "C3"], "market": ["M1", "M2", "M1"]})
    out = attach_effort(frame, effort)
    assert out["activities"].tolist() == [2, 2, 0] and out["effort_cost"].tolist() == [12.5, 12.5, 0.0]


# ------------------------------------------------------------------- 3C matrix


def matrix_frame() -> pd.DataFrame:
    rows = [
        ("T1", "C1", "aware", "competitor_dominant", 100.0, 50.0),
        ("T1", "C2", "aware", "competitor_dominant", 40.0, 0.0),
        ("T1", "C3", "loyal", "own_led", 200.0, 120.5),
        ("T1", "C4", "unaware", None, np.nan, 10.0),    # no position -> no_sales; no potential -> 0
        ("T2", "C5", "trial", "contested", 10.0, 5.0),
    ]
    return pd.DataFrame({
        "territory_id": [r[0] for r in rows],
        "customer_id": [r[1] for r in rows],
        "market": "M1",
        "phase": pd.Categorical([r[2] for r in rows], dtype=PHASE_DTYPE),
        "competitor_position": pd.Series([r[3] for r in rows], dtype=object),
        "potential": [r[4] for r in rows],
        "effort_cost": [r[5] for r in rows],
    })


def test_three_c_matrix_sums():
    table = three_c_matrix(matrix_frame())
    assert list(table.columns) == ["territory_id", "market", "phase", "competitor_position", "customers",
                                   "potential", "effort_cost"]
    assert len(table) == 2 * 6 * 4          # complete grid for T1/M1 and T2/M1
    assert table["phase"].dtype == PHASE_DTYPE and table["competitor_position"].dtype == POSITION_DTYPE
    cells = {(t, str(p), str(c)): (n, pot, eff)
             for t, _, p, c, n, pot, eff in table.itertuples(index=False) if n}
    assert cells == {
        ("T1", "aware", "competitor_dominant"): (2, 140.0, 50.0),    # 100 + 40, 50 + 0
        ("T1", "loyal", "own_led"): (1, 200.0, 120.5),
        ("T1", "unaware", "no_sales"): (1, 0.0, 10.0),
        ("T2", "trial", "contested"): (1, 10.0, 5.0),
    }
    empty = table[table["customers"] == 0]
    assert (empty["potential"] == 0).all() and (empty["effort_cost"] == 0).all()
    assert table["customers"].sum() == 5
    t1 = table[table["territory_id"] == "T1"]
    assert t1["phase"].astype(str).tolist()[::4] == list(PHASES)
    assert t1["competitor_position"].astype(str).tolist()[:4] == list(POSITIONS)


# ----------------------------------------------------------------------- flags


def flag_frame() -> pd.DataFrame:
    rows = [
        # id,  position,              level,  previous,     phase,        activities
        ("L1", "competitor_dominant", "low", "aware", "aware", 0),            # locked: aware, no progress
        ("L2", "competitor_dominant", "low", "unaware", "aware", 0),          # progress 0 -> 1: not locked
        ("L3", "competitor_dominant", "low", "interested", "unaware", 0),     # locked and slipping
        ("L4", "competitor_dominant", "low", "interested", "interested", 0),  # interested > aware: not locked
        ("L5", "contested", "low", "aware", "aware", 0),                      # not dominant: not locked
        ("S1", "own_led", "high", "trial", "trial", 3),                       # stalled
        ("S2", "own_led", "high", "trial", "trial", 0),                       # no effort: not stalled
        ("S3", "own_led", "high", "loyal", "loyal", 2),                       # loyal: not stalled
        ("S4", "own_led", "low", "trial", "trial", 2),                        # low potential: not stalled
        ("S5", "own_led", None, "trial", "trial", 2),                         # no level: not stalled
        ("S6", "own_led", "high", "aware", "trial", 2),                       # moved: not stalled
        ("P1", "own_led", "high", "adopter", "trial", 2),                     # slipping 4 -> 3
        ("N1", "competitor_dominant", "high", None, "unaware", 2),            # unknown previous: NA
    ]
    return pd.DataFrame({
        "customer_id": [r[0] for r in rows],
        "competitor_position": [r[1] for r in rows],
        "potential_level": pd.Series([r[2] for r in rows], dtype=object),
        "phase_previous": pd.Categorical([r[3] for r in rows], dtype=PHASE_DTYPE),
        "phase": pd.Categorical([r[4] for r in rows], dtype=PHASE_DTYPE),
        "activities": [r[5] for r in rows],
    })


def test_flags():
    out = flags(flag_frame())
    got = dict(zip(out["customer_id"], out["flags"]))
    assert {k: v for k, v in got.items() if k != "N1"} == {
        "L1": "competitor_locked", "L2": "", "L3": "competitor_locked;slipping", "L4": "", "L5": "",
        "S1": "stalled", "S2": "", "S3": "", "S4": "", "S5": "", "S6": "",
        "P1": "slipping",
    }
    # N1 has no previous phase: none of the three flags can be computed, so they are NA
    # (never "no flag"), and so is the flags text
    assert pd.isna(got["N1"])
    n1 = out.loc[out["customer_id"] == "N1", ["competitor_locked", "stalled", "slipping"]].iloc[0]
    assert n1.isna().all()
    for col in ("competitor_locked", "stalled", "slipping"):
        assert out[col].dtype == "boolean"  # nullable
        assert out.loc[out["customer_id"] != "N1", col].notna().all()
    assert out.loc[out["customer_id"] == "L3", ["competitor_locked", "stalled", "slipping"]].iloc[0].tolist() == \
        [True, False, True]


def test_flag_thresholds_are_parameters():
    out = flags(flag_frame(), locked_max_phase="interested", min_activities=5)
    got = dict(zip(out["customer_id"], out["flags"]))
    assert got["L4"] == "competitor_locked"      # interested is now at or below the cap
    assert got["S1"] == ""                       # 3 activities < 5
    with pytest.raises(ValueError, match="unknown phase"):
        flags(flag_frame(), stalled_below="champion")


def test_flags_are_missing_where_the_data_cannot_show_them():
    nan = np.nan
    rows = [
        # id,  position,              level,  previous,      phase,         activities
        # sales-only data: no activities (effort unknown) and below_trial phases
        ("B1", "competitor_dominant", "high", "below_trial", "below_trial", nan),  # locked? stalled? unknown
        ("B2", "own_led", "high", "trial", "trial", nan),              # locked: False; stalled: unknown
        ("B3", "own_led", "low", "adopter", "below_trial", nan),       # slipping 4 -> 2; the rest unknown
        # a distributor: no phase at all (not on the ladder): False, never NA
        ("D1", "competitor_dominant", None, None, None, 2),
    ]
    frame = pd.DataFrame({
        "customer_id": [r[0] for r in rows],
        "competitor_position": [r[1] for r in rows],
        "potential_level": pd.Series([r[2] for r in rows], dtype=object),
        "phase_previous": pd.Categorical([r[3] for r in rows], dtype=PHASE_DTYPE),
        "phase": pd.Categorical([r[4] for r in rows], dtype=PHASE_DTYPE),
        "activities": [r[5] for r in rows],
    })
    out = flags(frame).set_index("customer_id")

    def triple(cid):
        return [None if pd.isna(v) else bool(v) for v in out.loc[cid, ["competitor_locked", "stalled", "slipping"]]]

    # below_trial may or may not be at or below aware: locked is NA; no effort known: stalled NA
    assert triple("B1") == [None, None, False]
    assert triple("B2") == [False, None, False]
    # (the documented rule: a below_trial phase or unknown effort makes the flag NA, whatever
    # the position or potential level)
    assert triple("B3") == [None, None, True]
    assert triple("D1") == [False, False, False]
    # the flags text lists the flags known to hold (NA only when none of the three is known)
    assert out["flags"].tolist() == ["", "", "slipping", ""]


def test_without_comparison_every_flag_is_missing():
    frame = flag_frame().assign(phase_previous=pd.Categorical([None] * len(flag_frame()), dtype=PHASE_DTYPE))
    out = flags(frame)
    for col in ("competitor_locked", "stalled", "slipping", "flags"):
        assert out[col].isna().all(), col


def test_flag_counts_are_missing_not_zero_when_unknown():
    frame = flags(flag_frame()).assign(territory_id="T1", market="M1", segment="A")
    counts = flag_counts(frame).iloc[0]
    # 13 customers; locked L1, L3; stalled S1; slipping L3, P1 (N1 unknown: not counted)
    assert (counts["customers"], counts["competitor_locked"], counts["stalled"], counts["slipping"]) == (13, 2, 1, 2)
    # without a comparison period no flag can be known for anyone: NA, never 0
    none = flag_frame().assign(phase_previous=pd.Categorical([None] * 13, dtype=PHASE_DTYPE))
    counts = flag_counts(flags(none).assign(territory_id="T1", market="M1", segment="A")).iloc[0]
    assert counts["customers"] == 13
    assert pd.isna(counts["competitor_locked"]) and pd.isna(counts["stalled"]) and pd.isna(counts["slipping"])


def test_three_c_matrix_keeps_customers_without_a_phase():
    frame = matrix_frame()
    extra = pd.DataFrame({"territory_id": ["T1"], "customer_id": ["D1"], "market": ["M1"],
                          "phase": pd.Categorical([None], dtype=PHASE_DTYPE),
                          "competitor_position": pd.Series(["contested"], dtype=object),
                          "potential": [np.nan], "effort_cost": [30.0]})
    table = three_c_matrix(pd.concat([frame, extra], ignore_index=True))
    # (6 phases + the missing phase) x 4 positions, for T1/M1 and T2/M1
    assert len(table) == 2 * 7 * 4
    unplaced = table[table["phase"].isna() & (table["territory_id"] == "T1")]
    cell_ = unplaced[unplaced["competitor_position"] == "contested"].iloc[0]
    assert (cell_["customers"], cell_["potential"], cell_["effort_cost"]) == (1, 0.0, 30.0)
    # T1's effort adds up to its activity cost: 50 + 0 + 120.5 + 10 + 30 (the distributor)
    assert table.loc[table["territory_id"] == "T1", "effort_cost"].sum() == pytest.approx(210.5)


def test_three_c_matrix_of_customers_without_any_phase():
    # e.g. a parameter group whose only customers are distributors and suppliers
    frame = pd.DataFrame({"territory_id": ["T1"], "customer_id": ["D1"], "market": ["M1"],
                          "phase": pd.Categorical([None], dtype=PHASE_DTYPE),
                          "competitor_position": pd.Series(["contested"], dtype=object),
                          "potential": [0.0], "effort_cost": [5.0]})
    table = three_c_matrix(frame)
    assert len(table) == 7 * 4 and table["customers"].sum() == 1 and table["effort_cost"].sum() == 5.0


def test_three_c_matrix_without_activities_has_no_effort():
    frame = matrix_frame().assign(effort_cost=np.nan,
                                  phase=pd.Categorical(["below_trial", "below_trial", "loyal", "below_trial",
                                                        "trial"], dtype=PHASE_DTYPE))
    table = three_c_matrix(frame, SALES_ONLY_PHASES)
    # the sales-only ladder: below_trial, trial, adopter, loyal
    assert len(table) == 2 * 4 * 4
    assert table["phase"].astype(str).drop_duplicates().tolist() == list(SALES_ONLY_PHASES)
    # our effort is unknown, not zero
    assert table["effort_cost"].isna().all()
    below = table[(table["territory_id"] == "T1") & (table["phase"] == "below_trial")]
    assert below.set_index(below["competitor_position"].astype(str))["customers"].to_dict() == {
        "competitor_dominant": 2, "contested": 0, "own_led": 0, "no_sales": 1}


# ------------------------------------------------------------------- properties

matrix_rows = st.lists(
    st.tuples(
        st.sampled_from(["T1", "T2", "T3"]),
        st.sampled_from(["M1", "M2"]),
        st.sampled_from([*PHASES, None]),   # None: a customer type without a phase
        st.sampled_from([*POSITIONS, None]),
        st.one_of(st.none(), st.floats(0, 1000)),
        st.floats(0, 500),
    ),
    min_size=1, max_size=30,
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(matrix_rows)
def test_property_three_c_counts_every_customer(rows):
    frame = pd.DataFrame({
        "territory_id": [r[0] for r in rows],
        "customer_id": [f"C{i}" for i in range(len(rows))],
        "market": [r[1] for r in rows],
        "phase": pd.Categorical([r[2] for r in rows], dtype=PHASE_DTYPE),
        "competitor_position": pd.Series([r[3] for r in rows], dtype=object),
        "potential": [np.nan if r[4] is None else r[4] for r in rows],
        "effort_cost": [r[5] for r in rows],
    })
    if frame["phase"].isna().all():  # see test_three_c_matrix_of_customers_without_any_phase
        return
    table = three_c_matrix(frame)
    assert table["customers"].sum() == len(frame)
    assert table["potential"].sum() == pytest.approx(frame["potential"].sum())
    assert table["effort_cost"].sum() == pytest.approx(frame["effort_cost"].sum())
    groups = frame.groupby(["territory_id", "market"]).size()
    # customers without a phase get cells of their own, so every customer and cost is counted
    phases = len(PHASES) + int(frame["phase"].isna().any())
    assert len(table) == len(groups) * phases * len(POSITIONS)
    per_group = table.groupby(["territory_id", "market"])["customers"].sum()
    assert per_group.to_dict() == groups.to_dict()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(["C1", "C2", "C3"]), st.sampled_from(["P1", "P2", "P3", "P4"]),
                          st.integers(0, 30)), min_size=1, max_size=20))
def test_property_competitor_shares(rows):
    # P1 is ours, the rest competitors
    product_units = product_frame([(c, p, p == "P1", u) for c, p, u in rows])
    out = competitor_position(product_units)
    assert set(out["competitor_position"].astype(str)) <= set(POSITIONS)
    sales = out[out["competitor_position"] != "no_sales"]
    assert ((sales["own_share"] + sales["competitor_share"]) <= 1 + 1e-9).all()
    assert out.loc[out["competitor_position"] == "no_sales", "own_share"].isna().all()


@pytest.mark.parametrize("seed", range(3))
def test_customer_effort_is_the_sorted_groupby(seed):
    from analysis.domain.periods import Window
    from analysis.domain.three_c import customer_effort

    rng = np.random.default_rng(seed)
    n = 200
    acts = pd.DataFrame({"customer_id": pd.Series([f"c{i}" for i in rng.integers(0, 30, n)], dtype="str"),
                         "date": pd.Timestamp("2026-01-01") + pd.to_timedelta(rng.integers(0, 200, n), unit="D"),
                         "cost": rng.random(n) * 50})
    acts.loc[[3, 4], "customer_id"] = None
    acts.loc[5, "cost"] = np.nan
    window = Window("2026-06", 3)
    for rows in (acts, acts.iloc[:0]):
        inside = window.assign_dates(rows["date"]) == "analysis"
        kept = pd.DataFrame({"customer_id": rows["customer_id"][inside].reset_index(drop=True),
                             "cost": rows["cost"][inside].fillna(0.0).to_numpy()})
        expected = kept.groupby("customer_id", sort=True).agg(activities=("cost", "size"), effort_cost=("cost", "sum"))
        expected = expected.reset_index().astype({"activities": "int64", "effort_cost": "float64"})
        pd.testing.assert_frame_equal(customer_effort(rows, window), expected, check_exact=True)


@pytest.mark.parametrize("seed", range(3))
def test_competitor_position_of_the_window_rows_is_that_of_their_product_units(seed):
    """The pass hands the analysis window's rows over unsummed: the same table, to the bit
    (repeated rows, a missing units value, -0.0, rows of other windows left out)."""
    from analysis.domain.market import product_units

    rng = np.random.default_rng(seed)
    n = 300
    rows = pd.DataFrame({
        "customer_id": pd.Series([f"c{i}" for i in rng.integers(0, 20, n)], dtype="str"),
        "product_id": pd.Series(rng.choice(["own", "p2", "p3"], n), dtype="str"),
        "window": pd.Series(rng.choice(["comparison", "analysis"], n), dtype="str"),
        "units": rng.choice([0.0, -0.0, 1.5, 2.25, 7.0, np.nan], n)})
    rows["market"] = pd.Series(np.where(rows["product_id"] == "p3", "n", "m"), dtype="str")
    rows["is_own"] = rows["product_id"] == "own"
    analysis = rows.loc[(rows["window"] == "analysis").to_numpy()]
    pd.testing.assert_frame_equal(competitor_position(analysis), competitor_position(product_units(rows)),
                                  check_exact=True)


def _effort_case(order: str, seed: int = 0) -> tuple[pd.DataFrame, pd.Index]:
    """Activities of one window (order: shuffled, or in runs of one customer in another
    order than the frame's), with costs whose plain and compensated sums differ, and the
    frame's customer ids."""
    rng = np.random.default_rng(seed)
    ids = pd.Index([f"c{i:02d}" for i in range(25)], dtype="str")
    customer = rng.integers(0, 20, 400)  # (five of the frame's customers have no activity)
    customer = np.sort(customer)[::-1] if order == "runs" else customer
    cost = rng.choice([1e16, 1.0, -1e16, 0.1, 3.3], 400)
    acts = pd.DataFrame({"customer_id": pd.Series(ids.to_numpy()[customer], dtype="str"),
                         "date": pd.Timestamp("2026-05-01"), "cost": cost})
    acts.loc[[7, 8], "customer_id"] = None  # no one's effort
    acts.loc[9, "cost"] = np.nan  # costs nothing
    return acts, ids


@pytest.mark.parametrize("order", ["shuffled", "runs"])
def test_effort_from_the_rows_codes_is_customer_effort_to_the_bit(order):
    from analysis.domain.channels import activity_customers
    from analysis.domain.three_c import _costs, _effort, customer_effort, effort_of_codes

    acts, ids = _effort_case(order)
    found = activity_customers(acts, pd.DataFrame({"customer_id": pd.Series(ids, dtype="str")}))
    expected = customer_effort(acts, WINDOW)
    pd.testing.assert_frame_equal(effort_of_codes(acts, found.codes, found.ids), expected, check_exact=True)
    assert len(expected) == 20 and expected["activities"].sum() == len(acts) - 2
    if order == "runs":  # the frame's codes decrease run after run: pandas sums them another way
        known = found.codes >= 0
        unnumbered = _effort(found.codes[known], found.ids, _costs(acts)[known])
        assert not unnumbered["effort_cost"].equals(expected["effort_cost"])  # (why they are renumbered)


def test_effort_from_codes_gives_way_when_a_customer_is_not_in_the_frame():
    from analysis.domain.channels import activity_customers
    from analysis.domain.three_c import effort_of_codes

    acts, ids = _effort_case("shuffled")
    found = activity_customers(acts, pd.DataFrame({"customer_id": pd.Series(ids[1:], dtype="str")}))
    assert effort_of_codes(acts, found.codes, found.ids) is None  # (c00's rows are looked up instead)
    empty = acts.iloc[:0]
    found = activity_customers(empty, pd.DataFrame({"customer_id": pd.Series(ids, dtype="str")}))
    pd.testing.assert_frame_equal(effort_of_codes(empty, found.codes, found.ids), customer_effort_of(empty),
                                  check_exact=True)


def customer_effort_of(acts: pd.DataFrame) -> pd.DataFrame:
    from analysis.domain.three_c import customer_effort

    return customer_effort(acts, WINDOW)
