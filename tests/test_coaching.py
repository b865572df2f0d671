"""Coaching and ROI tables (DESIGN 4.6): hand-built territories, every value worked out.

T1 (one market M1, unit margin 2.5):
* R80, chronic: 80 customers h00..h79, one activity of cost 10 each (cost 800), every
  share exactly at its norm (no flag).
* R62, chronic: 62 customers g00..g61, cost 10 each (620), half of the effort on loyal
  customers (flags coverage_low and over_service).
* S1, specialty: visits 2 of the 3 department customers (flag departments_uncovered).
* N, chronic: no activity at all (zeros, coverage flag only).

The table holds flag codes and the numbers behind them; the sentences come from
``analysis.report.text.coaching_action`` with the run's norms (the ``actions`` helper).

T2 (markets M1, margin 2.5, and M2, no margin -> 1):
* Q, chronic: customers k1 (in M1 and M2) and k2; several flags; k1 moves up in both
  markets and in two activities but counts as one progression.
* Z, chronic: one activity of cost 0 -> ROI missing, never inf.
"""
import numpy as np
import pandas as pd
import pytest

from analysis.domain.coaching import (NORMS, coaching_table, flag_counts, resolve_norms, roi_by, roi_tables,
                                      unit_margins)
from analysis.domain.segmentation import SCHEME_2X2, SCHEME_3X3
from analysis.report.text import coaching_action, coaching_labels

FIELDS = ["phone", "email", "university", "hometown"]
MARGINS = pd.Series({"M1": 2.5, "M2": 1.0})


def _customer(cid, ctype, territory, filled, name=None):
    """A customer whose first ``filled`` of the four profile fields are set."""
    row = {"customer_id": cid, "customer_name": name or cid.upper(), "customer_type": ctype,
           "territory_id": territory}
    row.update({f: ("x" if i < filled else "") for i, f in enumerate(FIELDS)})
    return row


def _fact(tid, market, aid, cid, rep, channel, cost, phase, segment, fits, moved_up=False, count=1):
    return {"territory_id": tid, "market": market, "activity_id": aid, "customer_id": cid, "rep_id": rep,
            "channel": channel, "cost": float(cost), "outcome": "none", "positive": False, "phase": phase,
            "phase_now": phase, "moved_up": moved_up, "segment": segment, "fits": fits,
            "on_ladder": phase is not None, "market_count": count}


def _frame_row(tid, cid, ctype, market, segment, analysis, comparison, vip=False):
    return {"territory_id": tid, "customer_id": cid, "market": market, "customer_type": ctype,
            "segment": segment, "vip": vip, "potential": 1.0, "own_units_analysis": float(analysis),
            "own_units_comparison": float(comparison), "phase_previous": "aware", "phase": "aware"}


def scenario():
    customers, frame, facts = [], [], []
    # --- R80: h00..h79
    for i in range(80):
        cid = f"h{i:02d}"
        segment = "B" if i < 48 else "C"          # 48 of 80 on A/B -> 480 / 800 = 0.6
        phase = "loyal" if i < 24 else "trial"    # 24 loyal -> 240 / 800 = 0.3
        fits = not (60 <= i < 80)                 # 20 mismatched -> 200 / 800 = 0.25
        filled = 4 if i < 64 else 1               # 64 qualified (1.0), 16 at 0.25 -> 64 / 80 = 0.8
        customers.append(_customer(cid, "hcp", "T1", filled))
        frame.append(_frame_row("T1", cid, "hcp", "M1", segment, 3, 2))   # +1 unit each
        facts.append(_fact("T1", "M1", f"a{cid}", cid, "R80", "phone", 10, phase, segment, fits,
                           moved_up=i < 5))
    # --- R62: g00..g61
    for i in range(62):
        cid = f"g{i:02d}"
        segment, phase = ("A", "loyal") if i < 31 else ("B", "trial")   # 310 / 620 = 0.5 loyal
        customers.append(_customer(cid, "hcp", "T1", 4))
        frame.append(_frame_row("T1", cid, "hcp", "M1", segment, 1, 1))   # no change
        facts.append(_fact("T1", "M1", f"a{cid}", cid, "R62", "f2f_visit", 10, phase, segment, True))
    # --- departments of T1; S1 visits d1 and d2, not d3
    for cid, name, analysis, comparison in (("d1", "Cardiology", 2, 0), ("d2", "Neurology", 0, 0),
                                            ("d3", "Stroke unit", 7, 0)):
        customers.append(_customer(cid, "department", "T1", 4, name))
        frame.append(_frame_row("T1", cid, "department", "M1", "A", analysis, comparison))
    facts.append(_fact("T1", "M1", "s1", "d1", "S1", "f2f_visit", 50, "trial", "A", True))
    facts.append(_fact("T1", "M1", "s2", "d2", "S1", "f2f_visit", 50, "trial", "A", True))
    # --- T2
    customers += [_customer("k1", "hcp", "T2", 4), _customer("k2", "hcp", "T2", 2),
                  _customer("k3", "hcp", "T2", 4)]
    frame += [
        _frame_row("T2", "k1", "hcp", "M1", "A", 12, 8),    # +4
        _frame_row("T2", "k1", "hcp", "M2", "C", 5, 6),     # -1
        _frame_row("T2", "k2", "hcp", "M1", "B", 2, 0),     # +2
        _frame_row("T2", "k3", "hcp", "M1", "D", 10, 0),    # +10
    ]
    facts += [
        # q1: f2f to k1, cost 40, counted in M1 and M2 (20 + 20 when summed across markets)
        _fact("T2", "M1", "q1", "k1", "Q", "f2f_visit", 40, "adopter", "A", True, True, 2),
        _fact("T2", "M2", "q1", "k1", "Q", "f2f_visit", 40, "aware", "C", False, True, 2),
        # q2: email to k2, cost 10, loyal, mismatched
        _fact("T2", "M1", "q2", "k2", "Q", "email", 10, "loyal", "B", False),
        # q3: phone to k1, cost 20 -> 10 + 10
        _fact("T2", "M1", "q3", "k1", "Q", "phone", 20, "adopter", "A", True, True, 2),
        _fact("T2", "M2", "q3", "k1", "Q", "phone", 20, "aware", "C", False, True, 2),
        # z1: free email to k3
        _fact("T2", "M1", "z1", "k3", "Z", "email", 0, "unaware", "D", True),
    ]
    reps = pd.DataFrame({
        "rep_id": ["R80", "R62", "S1", "N", "Q", "Z"],
        "rep_name": ["Ayse", "Mehmet", "Lin", "Nils", "Quinn", "Zeynep"],
        "territory_id": ["T1", "T1", "T1", "T1", "T2", "T2"],
        "role": ["chronic", "chronic", "specialty", "chronic", "chronic", "chronic"],
    })
    customers = pd.DataFrame(customers)
    return reps, customers, pd.DataFrame(frame), pd.DataFrame(facts)


def _completeness(customers):
    # share of the four profile fields filled ("" is empty), as profile.completeness does
    return (customers[FIELDS] != "").sum(axis=1) / 4


def table(margins=MARGINS, norms=None, **kwargs):
    reps, customers, frame, facts = scenario()
    out = coaching_table(reps, customers, frame, facts, _completeness(customers), margins, norms, **kwargs)
    return out.set_index("rep_id")


def actions(row, norms=None, scheme=SCHEME_2X2) -> str:
    """The rep's action sentences, as the report joins them."""
    return " ".join(coaching_action(row, resolve_norms(norms), scheme).values())


def test_columns_and_one_row_per_rep():
    out = coaching_table(*scenario()[:4], _completeness(scenario()[1]), MARGINS)
    assert out.columns.tolist() == [
        "territory_id", "rep_id", "rep_name", "role", "customers_covered", "departments_in_territory",
        "departments_covered", "profile_completeness", "profile_qualified_share", "effort_on_priority",
        "mismatched_effort", "over_service", "cost", "own_units_change", "margin_change", "roi",
        "progressions", "flags", "coverage_gap", "priority_uncovered", "profiles_unqualified_count",
        "departments_missing", "departments_missing_names"]
    assert "actions" not in out.columns  # sentences come from the report's text module
    assert out["rep_id"].tolist() == ["N", "R62", "R80", "S1", "Q", "Z"]  # by territory, then rep


def test_rep_exactly_at_every_norm_is_not_flagged():
    r = table().loc["R80"]
    assert r["customers_covered"] == 80                       # the bottom of 80-120
    assert r["profile_qualified_share"] == pytest.approx(0.8)  # 64 / 80
    # profile completeness: (64 x 1.0 + 16 x 0.25) / 80 = 68 / 80 = 0.85
    assert r["profile_completeness"] == pytest.approx(0.85)
    assert r["effort_on_priority"] == pytest.approx(0.6)      # 480 / 800
    assert r["mismatched_effort"] == pytest.approx(0.25)      # 200 / 800
    assert r["over_service"] == pytest.approx(0.3)            # 240 / 800
    assert r["cost"] == 800.0
    assert r["own_units_change"] == 80.0                      # 80 x (3 - 2)
    assert r["margin_change"] == 200.0                        # 80 x 2.5
    assert r["roi"] == pytest.approx(0.25)                    # 200 / 800
    assert r["progressions"] == 5
    assert r["flags"] == "" and actions(r) == ""
    assert r["coverage_gap"] == 0
    assert r["departments_in_territory"] == 3 and r["departments_covered"] == 0


def test_chronic_rep_below_coverage_and_over_serving():
    r = table().loc["R62"]
    assert r["customers_covered"] == 62
    assert r["over_service"] == pytest.approx(0.5)            # 310 / 620
    assert r["effort_on_priority"] == 1.0 and r["profile_qualified_share"] == 1.0
    assert r["flags"] == "coverage_low;over_service"
    # 80 - 62 = 18 customers to add; T1's A/B customers R62 did not cover: h00..h47 (48) + d1..d3 (3)
    assert (r["coverage_gap"], r["priority_uncovered"]) == (18, 51)
    assert actions(r) == ("Covers 62 customers, below the 80-120 norm: add 18 customers. Start with the 18 "
                          "uncovered A and B customers in the action list. "
                          "50% of effort goes to loyal customers (norm ≤ 30%): move calls to A and B customers "
                          "not yet loyal.")
    assert r["roi"] == 0.0 and r["own_units_change"] == 0.0   # 62 x (1 - 1)


def test_specialty_rep_missing_a_department():
    r = table().loc["S1"]
    assert (r["departments_in_territory"], r["departments_covered"], r["customers_covered"]) == (3, 2, 2)
    assert r["flags"] == "departments_uncovered"              # no 80-120 norm for specialty reps
    assert (r["departments_missing"], r["departments_missing_names"]) == (1, "Stroke unit")
    assert actions(r) == "Covers 2 of 3 department customers in the territory (norm: all): add Stroke unit."
    # d1 +2, d2 0 -> 2 units x 2.5 = 5 over cost 100 -> 0.05
    assert r["own_units_change"] == 2.0 and r["roi"] == pytest.approx(0.05)


def test_specialty_rep_covering_every_department_is_not_flagged():
    reps, customers, frame, facts = scenario()
    extra = pd.DataFrame([_fact("T1", "M1", "s3", "d3", "S1", "f2f_visit", 50, "trial", "A", True)])
    out = coaching_table(reps, customers, frame, pd.concat([facts, extra], ignore_index=True),
                         _completeness(customers), MARGINS).set_index("rep_id")
    assert out.loc["S1", "departments_covered"] == 3 and out.loc["S1", "flags"] == ""


def test_rep_without_activities_gets_a_row():
    r = table().loc["N"]
    assert (r["customers_covered"], r["cost"], r["own_units_change"], r["progressions"]) == (0, 0.0, 0.0, 0)
    assert np.isnan(r["roi"]) and np.isnan(r["effort_on_priority"]) and np.isnan(r["profile_qualified_share"])
    assert r["flags"] == "coverage_low"
    # none of T1's 48 + 62 + 3 = 113 A/B customers is covered by N: start with 80 of them
    assert (r["coverage_gap"], r["priority_uncovered"]) == (80, 113)
    assert actions(r) == ("Covers 0 customers, below the 80-120 norm: add 80 customers. Start with the 80 "
                          "uncovered A and B customers in the action list.")


def test_multi_market_rep_shares_roi_and_progressions():
    r = table().loc["Q"]
    # cost 40 + 10 + 20 = 70; split across markets: q1 20/20, q2 10, q3 10/10
    assert r["cost"] == 70.0
    assert r["effort_on_priority"] == pytest.approx(40 / 70)  # q1 M1 20 + q2 10 + q3 M1 10
    assert r["mismatched_effort"] == pytest.approx(40 / 70)   # q1 M2 20 + q2 10 + q3 M2 10
    assert r["over_service"] == pytest.approx(10 / 70)        # q2
    # k1 moved up in M1 and M2, in q1 and q3: one progression
    assert r["progressions"] == 1
    # k1: +4 (M1) - 1 (M2), k2: +2 -> 5 units; margin 4 x 2.5 - 1 x 1 + 2 x 2.5 = 14
    assert r["own_units_change"] == 5.0 and r["margin_change"] == 14.0
    assert r["roi"] == pytest.approx(0.2)                     # 14 / 70
    # k1 completeness 1.0, k2 0.5 -> mean 0.75, qualified 1 of 2
    assert r["profile_completeness"] == pytest.approx(0.75) and r["profile_qualified_share"] == 0.5
    assert r["flags"] == "coverage_low;profiles_unqualified;effort_off_priority;mismatched_effort"
    # T2's A/B customers are k1 and k2, both covered: nothing of A and B left to add
    assert (r["coverage_gap"], r["priority_uncovered"], r["profiles_unqualified_count"]) == (78, 0, 1)
    assert actions(r) == (
        "Covers 2 customers, below the 80-120 norm: add 78 customers. No A and B customer of the territory is "
        "left uncovered: add from the other segments. "
        "Only 50% of profiles are qualified (norm ≥ 80%): complete the profiles of 1 customer below 60% "
        "completeness. "
        "Only 57% of effort goes to A and B customers (norm ≥ 60%): move calls to the A and B customers of the "
        "action list. "
        "57% of effort uses channels that do not fit the customer's phase (norm ≤ 25%): use the next best "
        "channel listed for each customer.")


def test_roi_without_unit_margin_is_units_per_cost():
    r = table(margins=None).loc["Q"]
    assert r["margin_change"] == 5.0 and r["roi"] == pytest.approx(5 / 70)
    margins, defaulted = unit_margins(pd.DataFrame({"product_id": ["p1", "p2"], "market": ["M1", "M2"],
                                                    "is_own": [True, True]}))
    assert defaulted and margins.to_dict() == {"M1": 1.0, "M2": 1.0}
    assert table(margins=margins).loc["Q", "roi"] == pytest.approx(5 / 70)


def test_zero_cost_roi_is_missing_not_inf():
    r = table().loc["Z"]
    assert r["cost"] == 0.0 and r["margin_change"] == 25.0    # k3 +10 x 2.5
    assert np.isnan(r["roi"])
    assert np.isnan(r["effort_on_priority"]) and np.isnan(r["over_service"])
    assert r["flags"] == "coverage_low"                       # shares undefined: not flagged


def test_unit_margins_from_products():
    products = pd.DataFrame({
        "product_id": ["p1", "p2", "p3", "p4", "p5"],
        "market": ["M1", "M1", "M2", "M2", "M3"],
        "is_own": [True, False, True, False, False],
        "unit_margin": [2.5, 9.0, np.nan, 3.0, np.nan],
    })
    margins, defaulted = unit_margins(products)
    # M1: own p1 -> 2.5 (competitor p2 ignored); M2: own p3 without margin -> 1.0 (a default);
    # M3: no own product -> 1.0, not a default
    assert margins.to_dict() == {"M1": 2.5, "M2": 1.0, "M3": 1.0}
    assert defaulted
    products.loc[2, "unit_margin"] = 4.0
    margins, defaulted = unit_margins(products)
    assert margins["M2"] == 4.0 and not defaulted


def test_norms_are_overridable_and_checked():
    assert NORMS["coverage_min"] == 80 and NORMS["over_service"] == 0.3
    out = table(norms={"coverage_min": 60, "over_service": 0.5})
    # 62 >= 60 and 0.5 <= 0.5: R62 is no longer flagged
    assert out.loc["R62", "flags"] == ""
    with pytest.raises(ValueError, match="coverage_minimum"):
        table(norms={"coverage_minimum": 60})


def test_roi_by_segment_totals():
    reps, customers, frame, facts = scenario()
    out = roi_by(frame, facts, "segment", MARGINS)
    assert out.columns.tolist() == ["territory_id", "segment", "cost", "own_units_change", "margin_change",
                                    "roi", "customers"]
    t2 = out[out["territory_id"] == "T2"].set_index("segment")
    # A: q1 M1 20 + q3 M1 10 = 30 cost; k1 M1 +4 units, x 2.5 = 10 -> roi 1/3
    # B: q2 10; k2 +2, x 2.5 = 5 -> 0.5
    # C: q1 M2 20 + q3 M2 10 = 30; k1 M2 -1, x 1 = -1 -> -1/30
    # D: z1 0; k3 +10, x 2.5 = 25 -> roi missing
    assert t2["cost"].to_dict() == {"A": 30.0, "B": 10.0, "C": 30.0, "D": 0.0}
    assert t2["own_units_change"].to_dict() == {"A": 4.0, "B": 2.0, "C": -1.0, "D": 10.0}
    assert t2["margin_change"].to_dict() == {"A": 10.0, "B": 5.0, "C": -1.0, "D": 25.0}
    assert t2.loc["A", "roi"] == pytest.approx(1 / 3) and t2.loc["C", "roi"] == pytest.approx(-1 / 30)
    assert np.isnan(t2.loc["D", "roi"])
    assert t2["customers"].to_dict() == {"A": 1, "B": 1, "C": 1, "D": 1}
    # the segments add up to the territory's cost: 70 (Q) + 0 (Z); T1: 800 + 620 + 100
    assert t2["cost"].sum() == 70.0
    t1 = out[out["territory_id"] == "T1"].set_index("segment")
    assert t1["cost"].sum() == 1520.0
    # T1 A: g00..g30 (31 x 10) + d1, d2 (100) = 410; B: h00..h47 (480) + g31..g61 (310) = 790; C: 320
    assert t1["cost"].to_dict() == {"A": 410.0, "B": 790.0, "C": 320.0}
    # d3 was never touched: its +7 is not in A's change (d1 +2 only)
    assert t1.loc["A", "own_units_change"] == 2.0 and t1.loc["A", "customers"] == 33


def test_roi_by_channel_totals():
    reps, customers, frame, facts = scenario()
    out = roi_by(frame, facts, "channel", MARGINS)
    t2 = out[out["territory_id"] == "T2"].set_index("channel")
    # k1 (+4 - 1 = 3 units, 4 x 2.5 - 1 = 9 margin) is touched by f2f_visit (q1, 40) and phone
    # (q3, 20): split 40/60 and 20/60, never counted twice
    # f2f_visit: 2 units, 6 margin -> 6 / 40; phone: 1 unit, 3 margin -> 3 / 20
    # email: q2 10 + z1 0; k2 +2 and k3 +10 = 12 units, 5 + 25 = 30 margin -> 3.0
    assert t2["cost"].to_dict() == {"email": 10.0, "f2f_visit": 40.0, "phone": 20.0}
    assert t2["own_units_change"].to_dict() == pytest.approx({"email": 12.0, "f2f_visit": 2.0, "phone": 1.0})
    assert t2["margin_change"].to_dict() == pytest.approx({"email": 30.0, "f2f_visit": 6.0, "phone": 3.0})
    assert t2["roi"].to_dict() == pytest.approx({"email": 3.0, "f2f_visit": 0.15, "phone": 0.15})
    assert t2["customers"].to_dict() == {"email": 2, "f2f_visit": 1, "phone": 1}
    # the channels add up to the territory: 3 + 2 + 10 = 15 units, 9 + 5 + 25 = 39 margin
    assert t2["own_units_change"].sum() == pytest.approx(15.0) and t2["margin_change"].sum() == pytest.approx(39.0)
    t1 = out[out["territory_id"] == "T1"].set_index("channel")
    # phone: R80's 800 (80 x +1); f2f_visit: R62's 620 (no change) + S1's 100 (d1 +2)
    assert t1["cost"].to_dict() == {"f2f_visit": 720.0, "phone": 800.0}
    assert t1["own_units_change"].to_dict() == {"f2f_visit": 2.0, "phone": 80.0}
    with pytest.raises(ValueError):
        roi_by(frame, facts, "rep", MARGINS)


def test_market_count_is_recomputed_when_absent():
    reps, customers, frame, facts = scenario()
    without = coaching_table(reps, customers, frame, facts.drop(columns="market_count"),
                             _completeness(customers), MARGINS)
    with_count = coaching_table(reps, customers, frame, facts, _completeness(customers), MARGINS)
    pd.testing.assert_frame_equal(without, with_count)


def test_missing_departments_are_named():
    reps, customers, frame, facts = scenario()
    extra = pd.DataFrame([_customer(f"e{i}", "department", "T1", 4, name) for i, name in
                          enumerate(["Oncology", "Ear, nose and throat", "Urology"])])
    out = coaching_table(reps, pd.concat([customers, extra], ignore_index=True), frame, facts,
                         None, MARGINS).set_index("rep_id")
    # missing: d3 Stroke unit, Oncology, "Ear, nose and throat", Urology -> 4, three named alphabetically
    assert out.loc["S1", "departments_in_territory"] == 6
    assert out.loc["S1", "departments_missing"] == 4
    assert out.loc["S1", "departments_missing_names"] == "Ear, nose and throat; Oncology; Stroke unit; Urology"
    assert actions(out.loc["S1"]) == ("Covers 2 of 6 department customers in the territory (norm: all): add "
                                      "Ear, nose and throat, Oncology, Stroke unit and 1 more.")
    # without completeness the profile columns are missing and never flagged
    assert out["profile_completeness"].isna().all() and "profiles_unqualified" not in out["flags"].str.cat()
    drop = pd.concat([customers, extra.iloc[:1]], ignore_index=True)
    two = coaching_table(reps, drop, frame, facts, None, MARGINS).set_index("rep_id")
    assert actions(two.loc["S1"]).endswith("add Oncology and Stroke unit.")


# ------------------------------------------------ cost-share attribution, by hand


def shared():
    """One customer touched by two reps: the DESIGN 4.6 split by cost.

    T9, market M1 (unit margin 2.5): c1 (segment B) has own units 5 -> 15 (+10); rep RA
    spends 30 on it by phone, rep RB 70 by f2f_visit. c2 (segment D) is touched by RB only
    (email, cost 0) and goes 4 -> 1 (-3).
    """
    reps = pd.DataFrame({"rep_id": ["RA", "RB"], "rep_name": ["Ann", "Bob"], "territory_id": ["T9", "T9"],
                         "role": ["chronic", "chronic"]})
    customers = pd.DataFrame([_customer("c1", "hcp", "T9", 4), _customer("c2", "hcp", "T9", 4)])
    frame = pd.DataFrame([_frame_row("T9", "c1", "hcp", "M1", "B", 15, 5),
                          _frame_row("T9", "c2", "hcp", "M1", "D", 1, 4)])
    facts = pd.DataFrame([
        _fact("T9", "M1", "x1", "c1", "RA", "phone", 30, "trial", "B", True),
        _fact("T9", "M1", "x2", "c1", "RB", "f2f_visit", 70, "trial", "B", True),
        _fact("T9", "M1", "x3", "c2", "RB", "email", 0, "trial", "D", False),
    ])
    return reps, customers, frame, facts


def test_roi_by_rep_splits_a_shared_customer_30_70():
    reps, customers, frame, facts = shared()
    out = roi_by(frame, facts, "rep_id", MARGINS).set_index("rep_id")
    # c1's +10 split 30/100 and 70/100: RA 3, RB 7; c2's -3 goes to RB alone
    assert out["own_units_change"].to_dict() == pytest.approx({"RA": 3.0, "RB": 7.0 - 3.0})
    assert out["margin_change"].to_dict() == pytest.approx({"RA": 7.5, "RB": 17.5 - 7.5})
    assert out["cost"].to_dict() == {"RA": 30.0, "RB": 70.0}
    assert out["roi"].to_dict() == pytest.approx({"RA": 7.5 / 30, "RB": 10.0 / 70})
    assert out["customers"].to_dict() == {"RA": 1, "RB": 2}
    # the coaching table takes the same split (not c1's +10 "counted for both reps")
    coaching = coaching_table(reps, customers, frame, facts, _completeness(customers), MARGINS).set_index("rep_id")
    assert coaching["own_units_change"].to_dict() == pytest.approx({"RA": 3.0, "RB": 4.0})
    assert coaching["margin_change"].to_dict() == pytest.approx({"RA": 7.5, "RB": 10.0})
    assert coaching.loc["RA", "roi"] == pytest.approx(0.25)


def test_roi_tables_add_up_to_the_territory():
    reps, customers, frame, facts = shared()
    by = {key: roi_by(frame, facts, key, MARGINS) for key in ("rep_id", "segment", "channel")}
    channel = by["channel"].set_index("channel")
    # c1's +10 split by cost between its channels: phone 3, f2f_visit 7; c2's -3 to email
    assert channel["own_units_change"].to_dict() == pytest.approx({"email": -3.0, "f2f_visit": 7.0, "phone": 3.0})
    segment = by["segment"].set_index("segment")
    # a segment is a property of the customer x market: c1's +10 goes to B whole
    assert segment["own_units_change"].to_dict() == {"B": 10.0, "D": -3.0}
    assert segment["cost"].to_dict() == {"B": 100.0, "D": 0.0}
    # every table adds up to the territory: cost 100, units +10 - 3 = 7, margin 7 x 2.5 = 17.5
    for table_ in by.values():
        assert table_["cost"].sum() == pytest.approx(100.0)
        assert table_["own_units_change"].sum() == pytest.approx(7.0)
        assert table_["margin_change"].sum() == pytest.approx(17.5)
    # the scenario's territories add up too: T1 82 units (R80 80 + S1 2), T2 15 (k1 3 + k2 2 + k3 10)
    reps, customers, frame, facts = scenario()
    for key in ("rep_id", "segment", "channel"):
        totals = roi_by(frame, facts, key, MARGINS).groupby("territory_id")[["cost", "own_units_change"]].sum()
        assert totals.to_dict("index") == {"T1": {"cost": 1520.0, "own_units_change": 82.0},
                                           "T2": {"cost": 70.0, "own_units_change": pytest.approx(15.0)}}


@pytest.mark.parametrize("has_comparison", [True, False])
def test_roi_tables_are_roi_by_of_each_key(has_comparison):
    """Made together (what the keys share made once), each table is roi_by's, in the order asked."""
    for data in (shared(), scenario()):
        _, _, frame, facts = data
        for keys in (("rep_id", "segment", "channel"), ("segment", "channel"), ("channel", "rep_id")):
            made = roi_tables(frame, facts, keys, MARGINS, has_comparison=has_comparison)
            assert list(made) == list(keys)
            for key in keys:
                pd.testing.assert_frame_equal(made[key], roi_by(frame, facts, key, MARGINS,
                                                                has_comparison=has_comparison))
    with pytest.raises(ValueError, match="'rep'"):
        roi_tables(frame, facts, ("rep_id", "rep"), MARGINS)


def test_roi_by_zero_cost_customer_splits_by_activity_count():
    reps, customers, frame, facts = shared()
    free = pd.DataFrame([
        _fact("T9", "M1", "y1", "c1", "RA", "email", 0, "trial", "B", True),
        _fact("T9", "M1", "y2", "c1", "RB", "email", 0, "trial", "B", True),
        _fact("T9", "M1", "y3", "c1", "RB", "email", 0, "trial", "B", True),
        _fact("T9", "M1", "y4", "c1", "RB", "chat_app", 0, "trial", "B", True),
    ])
    out = roi_by(frame.iloc[:1], free, "rep_id", MARGINS).set_index("rep_id")
    # c1's cost is 0: its +10 is split by activities, 1 (RA) to 3 (RB)
    assert out["own_units_change"].to_dict() == pytest.approx({"RA": 2.5, "RB": 7.5})
    assert out["roi"].isna().all()  # no cost: ROI missing, never inf
    channel = roi_by(frame.iloc[:1], free, "channel", MARGINS).set_index("channel")
    assert channel["own_units_change"].to_dict() == pytest.approx({"chat_app": 2.5, "email": 7.5})


def test_without_comparison_changes_and_roi_are_missing():
    out = table(has_comparison=False)
    # DESIGN 4.4: no comparison period -> no change, no ROI, no progressions (missing, not 0)
    assert out["own_units_change"].isna().all() and out["margin_change"].isna().all()
    assert out["roi"].isna().all() and out["progressions"].isna().all()
    # what the analysis period shows is still there
    assert out.loc["R80", "cost"] == 800.0 and out.loc["R62", "flags"] == "coverage_low;over_service"
    reps, customers, frame, facts = scenario()
    for key in ("rep_id", "segment", "channel"):
        roi = roi_by(frame, facts, key, MARGINS, has_comparison=False)
        assert roi["own_units_change"].isna().all() and roi["roi"].isna().all()
        assert roi["cost"].sum() == pytest.approx(1590.0)  # cost is known: 1520 + 70


def test_without_activities_no_activity_based_number_and_no_flag():
    reps, customers, frame, facts = scenario()
    out = coaching_table(reps, customers, frame, facts.iloc[:0], _completeness(customers), MARGINS,
                         has_activities=False).set_index("rep_id")
    for column in ("customers_covered", "effort_on_priority", "mismatched_effort", "over_service", "cost",
                   "own_units_change", "roi", "progressions", "coverage_gap", "profile_qualified_share"):
        assert out[column].isna().all(), column
    # no coaching flag is raised from missing data (N would be "coverage_low" with zeros)
    assert (out["flags"] == "").all()
    assert flag_counts(out.reset_index())[["coverage_low", "over_service"]].sum().sum() == 0


def test_actions_carry_the_norms_passed():
    norms = {"coverage_min": 50, "coverage_max": 70, "over_service": 0.4}
    out = table(norms=norms)
    # R62 covers 62: inside 50-70; on loyal 50% > 40%
    assert out.loc["R62", "flags"] == "over_service"
    assert actions(out.loc["R62"], norms) == ("50% of effort goes to loyal customers (norm ≤ 40%): move calls to "
                                              "A and B customers not yet loyal.")
    # R80 covers 80 > 70: move 10
    assert out.loc["R80", "flags"] == "coverage_high" and out.loc["R80", "coverage_gap"] == -10
    assert actions(out.loc["R80"], norms) == ("Covers 80 customers, above the 50-70 norm: move 10 customers "
                                              "outside the A and B segments to remote channels.")
    # N covers none: add 50, of T1's 113 uncovered A/B customers
    assert actions(out.loc["N"], norms) == ("Covers 0 customers, below the 50-70 norm: add 50 customers. Start "
                                            "with the 50 uncovered A and B customers in the action list.")
    # the sentence says the norm that was passed, not the package default
    assert "80-120" not in actions(out.loc["N"], norms)
    labels = coaching_labels(resolve_norms(norms), SCHEME_2X2)
    assert labels["customers_covered"] == "covered (50-70)" and labels["over_service"] == "on loyal (≤40%)"


def test_actions_name_the_scheme_priority_and_do_not_round_onto_the_norm():
    row = {"flags": "effort_off_priority;over_service", "effort_on_priority": 0.596, "over_service": 0.304}
    text = coaching_action(row, resolve_norms(None), SCHEME_3X3)
    # 59.6% would read "60%", the norm itself: one decimal instead
    assert text["effort_off_priority"] == ("Only 59.6% of effort goes to high-potential customers (norm ≥ 60%): "
                                           "move calls to the high-potential customers of the action list.")
    assert text["over_service"] == ("30.4% of effort goes to loyal customers (norm ≤ 30%): move calls to "
                                    "high-potential customers not yet loyal.")
    assert coaching_action({"flags": ""}, resolve_norms(None), SCHEME_2X2) == {}


def test_coaching_reads_the_roi_table_it_is_given():
    """The pass hands its ROI-by-rep table to the coaching table (one producer): the same
    table as the one it makes itself."""
    reps, customers, frame, facts = scenario()[:4]
    made = coaching_table(reps, customers, frame, facts, _completeness(customers), MARGINS)
    given = coaching_table(reps, customers, frame, facts, _completeness(customers), MARGINS,
                           roi_rep=roi_by(frame, facts, "rep_id", MARGINS))
    pd.testing.assert_frame_equal(given, made, check_exact=True)
