"""Channel-phase mapping (DESIGN 4.5): hand-worked examples and properties."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis.domain.channels import (
    DEFAULT_FIT,
    KEY_COLUMNS,
    PASS_FACT_COLUMNS,
    activity_facts,
    activity_rows,
    facts_of,
    channel_phase,
    fit_matrix,
    channel_summary,
    effort_shares,
    mismatched_effort,
    next_best_channel,
    over_service,
    rate_cells,
)
from analysis.contract.schema import CHANNELS, PHASES

# --------------------------------------------------------------------- builders

FRAME_COLUMNS = ["territory_id", "region", "customer_id", "market", "phase_previous", "phase"]


def make_frame(rows) -> pd.DataFrame:
    """Customer frame from (territory, region, customer, market, phase_previous, phase)."""
    frame = pd.DataFrame(rows, columns=FRAME_COLUMNS)
    frame.insert(3, "customer_type", "hcp")
    frame["segment"] = "B"
    return frame


def make_activities(rows) -> pd.DataFrame:
    """Activities from (activity_id, customer_id, rep_id, channel, cost, outcome)."""
    acts = pd.DataFrame(rows, columns=["activity_id", "customer_id", "rep_id", "channel", "cost", "outcome"])
    acts.insert(3, "date", pd.Timestamp("2026-05-15"))
    acts["cost"] = acts["cost"].astype(float)
    return acts


def cell(table: pd.DataFrame, **keys) -> pd.Series:
    """The single row of ``table`` matching ``keys``."""
    mask = np.ones(len(table), dtype=bool)
    for column, value in keys.items():
        mask &= (table[column] == value).to_numpy()
    rows = table[mask]
    assert len(rows) == 1, f"{keys}: {len(rows)} rows"
    return rows.iloc[0]


def by_customer(table: pd.DataFrame, customer_id: str, market: str = "m1") -> pd.Series:
    return cell(table, customer_id=customer_id, market=market)


# -------------------------------------------------------------------- fit matrix


def test_default_fit_is_the_design_table():
    assert DEFAULT_FIT == {
        "unaware": ("email", "web_lecture", "social", "edetailing"),
        "aware": ("email", "web_lecture", "web_interview", "edetailing", "chat_app"),
        "interested": ("web_interview", "briefing_session", "offline_lecture", "phone"),
        "trial": ("f2f_visit", "phone", "offline_lecture", "web_interview"),
        "adopter": ("f2f_visit", "offline_lecture", "phone"),
        "loyal": ("f2f_visit", "chat_app", "phone"),
    }
    assert list(DEFAULT_FIT) == list(PHASES)


def test_fit_matrix_default_grid():
    fit = fit_matrix()
    assert list(fit.columns[:3]) == ["phase", "channel", "fits"]
    # 6 phases x 10 channels, phases in ladder order, channels in DESIGN order
    assert len(fit) == 60
    assert list(fit["phase"].drop_duplicates()) == list(PHASES)
    assert list(fit.loc[fit["phase"] == "aware", "channel"]) == list(CHANNELS)
    assert fit["fits"].dtype == bool
    # 4 + 5 + 4 + 4 + 3 + 3 fitting cells
    assert int(fit["fits"].sum()) == 23
    for phase, channels in DEFAULT_FIT.items():
        rows = fit[(fit["phase"] == phase) & fit["fits"]].sort_values("fit_order")
        assert tuple(rows["channel"]) == channels
        assert list(rows["fit_order"]) == list(range(1, len(channels) + 1))
    assert not cell(fit, phase="loyal", channel="email")["fits"]


def test_fit_matrix_overrides_replace_named_phases_only():
    fit = fit_matrix({"loyal": ["phone", "email"]})
    loyal = fit[(fit["phase"] == "loyal") & fit["fits"]].sort_values("fit_order")
    assert list(loyal["channel"]) == ["phone", "email"]  # override order kept
    assert not cell(fit, phase="loyal", channel="f2f_visit")["fits"]
    # channels outside the fit follow in CHANNELS order: f2f_visit is the first of them
    assert cell(fit, phase="loyal", channel="f2f_visit")["fit_order"] == 3
    # other phases keep the default
    unaware = fit[(fit["phase"] == "unaware") & fit["fits"]].sort_values("fit_order")
    assert tuple(unaware["channel"]) == DEFAULT_FIT["unaware"]
    # an empty list leaves the phase with no fitting channel
    assert not fit_matrix({"trial": []}).query("phase == 'trial'")["fits"].any()


def test_fit_matrix_rejects_unknown_names():
    with pytest.raises(ValueError, match="champion"):
        fit_matrix({"champion": ["email"]})
    with pytest.raises(ValueError, match="fax"):
        fit_matrix({"aware": ["email", "fax"]})
    # a channel declared by the run profile is accepted
    fit = fit_matrix({"aware": ["fax"]}, channels=[*CHANNELS, "fax"])
    assert cell(fit, phase="aware", channel="fax")["fits"]


# ------------------------------------------------------------------------ facts


def test_facts_use_comparison_phase_and_count_in_each_market():
    frame = make_frame([
        ("T1", "R1", "c1", "m1", "aware", "interested"),
        ("T1", "R1", "c1", "m2", "loyal", "loyal"),
        ("T1", "R1", "c2", "m1", "interested", "aware"),
    ])
    acts = make_activities([
        ("a1", "c1", "r1", "email", 10, "engaged"),
        ("a2", "c2", "r1", "phone", 30, "none"),
        ("a3", "c9", "r1", "phone", 99, "engaged"),  # customer not in the frame: dropped
    ])
    facts = activity_facts(acts, frame, fit_matrix())
    for column in ["territory_id", "region", "market", "activity_id", "customer_id", "rep_id", "channel",
                   "cost", "outcome", "positive", "phase", "phase_now", "moved_up", "segment", "fits"]:
        assert column in facts.columns
    # a1 counts in both markets of c1, a2 in c2's one market: 3 rows
    assert len(facts) == 3
    a1_m1 = cell(facts, activity_id="a1", market="m1")
    assert a1_m1["phase"] == "aware" and a1_m1["phase_now"] == "interested"
    assert a1_m1["moved_up"]  # aware (1) -> interested (2)
    assert a1_m1["fits"]  # email fits aware
    assert a1_m1["positive"]  # engaged
    assert a1_m1["cost"] == 10 and a1_m1["region"] == "R1" and a1_m1["segment"] == "B"
    a1_m2 = cell(facts, activity_id="a1", market="m2")
    assert a1_m2["phase"] == "loyal" and not a1_m2["moved_up"]
    assert not a1_m2["fits"]  # email does not fit loyal
    a2 = cell(facts, activity_id="a2")
    assert a2["phase"] == "interested" and a2["phase_now"] == "aware"
    assert not a2["moved_up"]  # slipped down, not up
    assert a2["fits"]  # phone fits interested
    assert not a2["positive"]  # none
    assert facts["positive"].dtype == bool and facts["moved_up"].dtype == bool and facts["fits"].dtype == bool


@pytest.mark.parametrize("columns", ["all", "pass"])
def test_facts_of_activity_rows_made_before_the_phases(columns):
    """The activity side is made from the frame's keys alone (before segments and phases
    are known); the customer side added later gives the same facts."""
    columns = PASS_FACT_COLUMNS if columns == "pass" else None
    keys_only = make_frame([("T1", "R1", "c1", "m1", None, None), ("T1", "R1", "c1", "m2", None, None),
                            ("T2", "R1", "c2", "m1", None, None)])
    frame = keys_only.assign(phase_previous=["aware", "loyal", "interested"], phase=["interested", "loyal", "aware"],
                             segment=["A", "A", "C"])
    acts = make_activities([("a2", "c2", "r1", "phone", 30, "none"), ("a1", "c1", "r2", "email", 10, "engaged"),
                            ("a3", "c9", "r1", "phone", 99, "engaged")])
    args = () if columns is None else (columns,)
    rows = activity_rows(acts, keys_only[list(KEY_COLUMNS)], *args)
    pd.testing.assert_frame_equal(facts_of(rows, frame, fit_matrix()), activity_facts(acts, frame, fit_matrix(), *args))
    with pytest.raises(ValueError, match="3 customer rows, not the frame's 2"):
        facts_of(rows, frame.head(2), fit_matrix())


def test_facts_missing_outcome_is_not_positive():
    frame = make_frame([("T1", "R1", "c1", "m1", "aware", "aware")])
    acts = make_activities([("a1", "c1", "r1", "email", 5, None)])
    facts = activity_facts(acts, frame, fit_matrix())
    assert facts.loc[0, "outcome"] == "missing"
    assert not facts.loc[0, "positive"]


# ---------------------------------------------------------------- channel x phase

CP_FRAME = make_frame([
    ("T1", "R1", "c1", "m1", "aware", "interested"),  # moved up
    ("T1", "R1", "c2", "m1", "aware", "aware"),
    ("T1", "R1", "c3", "m1", "interested", "trial"),  # moved up
    ("T1", "R1", "c4", "m1", "loyal", "loyal"),
    ("T2", "R1", "c9", "m1", "unaware", "unaware"),
])
CP_ACTS = make_activities([
    ("a1", "c1", "r1", "email", 10, "engaged"),
    ("a2", "c1", "r1", "email", 10, "none"),
    ("a3", "c2", "r1", "email", 20, "opened"),
    ("a4", "c3", "r1", "phone", 40, "attended"),
    ("a5", "c4", "r1", "f2f_visit", 20, "engaged"),
    ("a6", "c9", "r2", "email", 5, "none"),
])


def test_channel_phase_counts_costs_shares_rates():
    table = channel_phase(activity_facts(CP_ACTS, CP_FRAME, fit_matrix()), fit_matrix())
    assert list(table.columns[:11]) == ["territory_id", "market", "channel", "phase", "activities", "cost",
                                         "effort_share", "response_rate", "progression_rate",
                                         "customers_touched", "fits"]
    # complete grid: 2 territory-markets x 10 channels x 6 phases
    assert len(table) == 120
    t1 = table[table["territory_id"] == "T1"]
    # T1 total cost = 10 + 10 + 20 + 40 + 20 = 100
    email_aware = cell(t1, channel="email", phase="aware")
    assert email_aware["activities"] == 3  # a1, a2, a3
    assert email_aware["cost"] == 40  # 10 + 10 + 20
    assert email_aware["effort_share"] == pytest.approx(0.4)  # 40 / 100
    assert email_aware["response_rate"] == pytest.approx(1 / 3)  # a1 engaged; a3 "opened" is not positive
    assert email_aware["customers_touched"] == 2  # c1, c2 (c1 twice counts once)
    assert email_aware["progression_rate"] == pytest.approx(0.5)  # c1 moved up, c2 did not
    assert email_aware["fits"]
    phone_interested = cell(t1, channel="phone", phase="interested")
    assert (phone_interested["activities"], phone_interested["cost"]) == (1, 40)
    assert phone_interested["effort_share"] == pytest.approx(0.4)  # 40 / 100
    assert phone_interested["response_rate"] == 1.0  # attended
    assert phone_interested["progression_rate"] == 1.0  # c3 interested -> trial
    f2f_loyal = cell(t1, channel="f2f_visit", phase="loyal")
    assert f2f_loyal["effort_share"] == pytest.approx(0.2)  # 20 / 100
    assert f2f_loyal["response_rate"] == 1.0
    assert f2f_loyal["progression_rate"] == 0.0  # loyal cannot move up
    # an empty cell: zeros, share 0 of a positive total, rates missing
    empty = cell(t1, channel="social", phase="trial")
    assert (empty["activities"], empty["cost"], empty["customers_touched"]) == (0, 0, 0)
    assert empty["effort_share"] == 0.0
    assert math.isnan(empty["response_rate"]) and math.isnan(empty["progression_rate"])
    assert not empty["fits"]
    assert t1["effort_share"].sum() == pytest.approx(1.0)
    # T2 on its own: its one activity is all of its effort
    t2 = table[table["territory_id"] == "T2"]
    assert cell(t2, channel="email", phase="unaware")["effort_share"] == 1.0
    assert t2["activities"].sum() == 1


def test_zero_cost_gives_missing_shares_not_errors():
    acts = CP_ACTS.assign(cost=0.0)
    facts = activity_facts(acts, CP_FRAME, fit_matrix())
    table = channel_phase(facts, fit_matrix())
    assert table["effort_share"].isna().all()
    # response still counts activities: T1 email x aware is 1 positive of 3
    assert cell(table, territory_id="T1", channel="email", phase="aware")["response_rate"] == pytest.approx(1 / 3)
    mismatch = mismatched_effort(facts)
    assert mismatch["cost"].eq(0).all() and mismatch["mismatched_effort"].isna().all()
    assert not mismatch["mismatched_flag"].any()
    over = over_service(facts)
    assert over["over_service"].isna().all() and not over["over_service_flag"].any()


# ------------------------------------------------------------ per-rep shares


def test_rep_exactly_at_the_norms_is_not_flagged():
    frame = make_frame([
        ("T1", "R1", "cl", "m1", "loyal", "loyal"),
        ("T1", "R1", "ca", "m1", "aware", "aware"),
    ])
    acts = make_activities([
        # r1: 30 on a loyal customer (fits), 45 email to aware (fits), 25 f2f to aware (misfit)
        ("a1", "cl", "r1", "f2f_visit", 30, "none"),
        ("a2", "ca", "r1", "email", 45, "none"),
        ("a3", "ca", "r1", "f2f_visit", 25, "none"),
        # r2: one unit over each norm: 31 loyal, 43 fitting, 26 misfit
        ("b1", "cl", "r2", "f2f_visit", 31, "none"),
        ("b2", "ca", "r2", "email", 43, "none"),
        ("b3", "ca", "r2", "f2f_visit", 26, "none"),
    ])
    facts = activity_facts(acts, frame, fit_matrix())
    mismatch = mismatched_effort(facts)
    assert list(mismatch.columns) == ["territory_id", "rep_id", "cost", "mismatched_cost", "mismatched_effort",
                                      "mismatched_flag"]
    r1 = cell(mismatch, rep_id="r1")
    assert (r1["cost"], r1["mismatched_cost"]) == (100, 25)
    assert r1["mismatched_effort"] == 0.25  # 25 / 100: at the norm, inclusive
    assert not r1["mismatched_flag"]
    r2 = cell(mismatch, rep_id="r2")
    assert r2["mismatched_effort"] == pytest.approx(0.26) and r2["mismatched_flag"]  # 26 / 100
    over = over_service(facts)
    assert list(over.columns) == ["territory_id", "rep_id", "cost", "loyal_cost", "over_service",
                                  "over_service_flag"]
    r1 = cell(over, rep_id="r1")
    assert (r1["cost"], r1["loyal_cost"]) == (100, 30)
    assert r1["over_service"] == pytest.approx(0.3) and not r1["over_service_flag"]  # 30 / 100, at the cap
    r2 = cell(over, rep_id="r2")
    assert r2["over_service"] == pytest.approx(0.31) and r2["over_service_flag"]  # 31 / 100
    # by territory: (25 + 26) / 200 mismatched, (30 + 31) / 200 loyal
    territory = mismatched_effort(facts, by=("territory_id",))
    assert territory.loc[0, "mismatched_effort"] == pytest.approx(51 / 200)
    assert over_service(facts, by=["territory_id"]).loc[0, "over_service"] == pytest.approx(61 / 200)


def test_multi_market_activity_cost_counted_once_per_rep():
    frame = make_frame([
        ("T1", "R1", "c1", "m1", "aware", "aware"),
        ("T1", "R1", "c1", "m2", "loyal", "loyal"),
    ])
    acts = make_activities([("a1", "c1", "r1", "email", 40, "none")])
    facts = activity_facts(acts, frame, fit_matrix())
    # per rep: 40 split 20 + 20 over the two markets; email misfits loyal (m2)
    rep = mismatched_effort(facts).iloc[0]
    assert (rep["cost"], rep["mismatched_cost"], rep["mismatched_effort"]) == (40, 20, 0.5)
    assert over_service(facts).iloc[0]["over_service"] == 0.5  # the m2 half goes to a loyal customer
    # per market: each market sees the whole activity
    per_market = mismatched_effort(facts, by=("territory_id", "market", "rep_id"))
    assert list(per_market["cost"]) == [40, 40]
    assert list(per_market["mismatched_effort"]) == [0.0, 1.0]


# ----------------------------------------------------------- next best channel


def nbc_data():
    """T1 and T2 in region R1, T3 in region R2; every customer in market m1.

    Cells (comparison phase x channel) in T1:
      interested x web_interview: i1 up, i2 not  -> 1/2 = 50%, 2 touched
      interested x phone:         i3 up, i4 up   -> 2/2 = 100%, 2 touched
      interested x briefing:      i5 up          -> 100% but 1 touched (< min 2)
      aware x email:              a1, a2 not     -> 0/2 = 0%
      aware x web_lecture:        a3 up, a4 not  -> 1/2 = 50%
      adopter x offline_lecture:  p1, p2 up      -> 100%, 2 touched (fit order 2)
      adopter x phone:            p3, p4 up      -> 100%, 2 touched (fit order 3)
      loyal x f2f_visit:          l1 engaged, l2 none     -> response 1/2 = 50%
      loyal x chat_app:           l3, l4 engaged          -> response 2/2 = 100%
    T2: aware x edetailing: y2 up (1 touched) -> too thin in T2 and in R1.
    """
    rows = [
        ("T1", "R1", "i1", "m1", "interested", "trial"),
        ("T1", "R1", "i2", "m1", "interested", "interested"),
        ("T1", "R1", "i3", "m1", "interested", "trial"),
        ("T1", "R1", "i4", "m1", "interested", "adopter"),
        ("T1", "R1", "i5", "m1", "interested", "trial"),
        ("T1", "R1", "a1", "m1", "aware", "aware"),
        ("T1", "R1", "a2", "m1", "aware", "unaware"),
        ("T1", "R1", "a3", "m1", "aware", "interested"),
        ("T1", "R1", "a4", "m1", "aware", "aware"),
        ("T1", "R1", "p1", "m1", "adopter", "loyal"),
        ("T1", "R1", "p2", "m1", "adopter", "loyal"),
        ("T1", "R1", "p3", "m1", "adopter", "loyal"),
        ("T1", "R1", "p4", "m1", "adopter", "loyal"),
        ("T1", "R1", "l1", "m1", "loyal", "loyal"),
        ("T1", "R1", "l2", "m1", "loyal", "loyal"),
        ("T1", "R1", "l3", "m1", "loyal", "loyal"),
        ("T1", "R1", "l4", "m1", "loyal", "loyal"),
        # the customers we ask about
        ("T1", "R1", "x1", "m1", "aware", "interested"),
        ("T1", "R1", "w1", "m1", "trial", "adopter"),
        ("T1", "R1", "v1", "m1", "loyal", "loyal"),
        ("T2", "R1", "y1", "m1", "unaware", "aware"),
        ("T2", "R1", "y2", "m1", "aware", "interested"),
        ("T3", "R2", "z1", "m1", "interested", "trial"),
        ("T3", "R2", "n1", "m1", None, None),
    ]
    acts = [
        ("e1", "i1", "r1", "web_interview", 10, "engaged"),
        ("e2", "i2", "r1", "web_interview", 10, "none"),
        ("e3", "i3", "r1", "phone", 10, "none"),
        ("e4", "i4", "r1", "phone", 10, "none"),
        ("e5", "i5", "r1", "briefing_session", 10, "attended"),
        ("e6", "a1", "r1", "email", 10, "opened"),
        ("e7", "a2", "r1", "email", 10, "opened"),
        ("e8", "a3", "r1", "web_lecture", 10, "attended"),
        ("e9", "a4", "r1", "web_lecture", 10, "none"),
        ("e10", "p1", "r1", "offline_lecture", 10, "attended"),
        ("e11", "p2", "r1", "offline_lecture", 10, "attended"),
        ("e12", "p3", "r1", "phone", 10, "engaged"),
        ("e13", "p4", "r1", "phone", 10, "engaged"),
        ("e14", "l1", "r1", "f2f_visit", 10, "engaged"),
        ("e15", "l2", "r1", "f2f_visit", 10, "none"),
        ("e16", "l3", "r1", "chat_app", 10, "engaged"),
        ("e17", "l4", "r1", "chat_app", 10, "engaged"),
        ("e18", "y2", "r2", "edetailing", 10, "engaged"),
    ]
    frame = make_frame(rows)
    frame.index = frame.index + 100  # the caller's index must survive
    return frame, make_activities(acts)


@pytest.fixture(scope="module")
def nbc():
    frame, acts = nbc_data()
    fit = fit_matrix()
    facts = activity_facts(acts, frame, fit)
    return frame, next_best_channel(frame, facts, fit, min_rate_base=2)


def evidence(row: pd.Series) -> tuple:
    """(channel, basis, rate kind, rate, base) of one next-best-channel row."""
    rate = None if pd.isna(row["next_best_rate"]) else round(float(row["next_best_rate"]), 10)
    base = None if pd.isna(row["next_best_base"]) else int(row["next_best_base"])
    channel = None if pd.isna(row["next_best_channel"]) else row["next_best_channel"]
    kind = None if pd.isna(row["next_best_rate_kind"]) else row["next_best_rate_kind"]
    return channel, row["next_best_basis"], kind, rate, base


def test_next_best_channel_keeps_the_frame(nbc):
    frame, out = nbc
    assert out.index.equals(frame.index)
    # codes and numbers only: the sentence is made by the report's text module
    assert list(out.columns) == [*frame.columns, "next_best_channel", "next_best_basis", "next_best_rate_kind",
                                 "next_best_rate", "next_best_base"]
    assert "next_best_reason" not in out.columns
    assert out["next_best_channel"].notna().sum() == len(frame) - 1  # all but n1 (no phase)
    assert set(out["next_best_basis"]) <= {"territory", "region", "fit", "no_phase", "no_fit", "no_activities"}


def test_next_best_channel_from_territory(nbc):
    _, out = nbc
    # x1 now interested (progression-ranked): phone 2/2 moved up beats web_interview 1/2;
    # briefing_session moved 1/1 but has 1 customer touched, below min_rate_base 2
    assert evidence(by_customer(out, "x1")) == ("phone", "territory", "progression", 1.0, 2)


def test_next_best_channel_ties_go_to_fit_order(nbc):
    _, out = nbc
    # w1 now adopter: offline_lecture (fit order 2) and phone (3) both moved 2/2 up
    assert evidence(by_customer(out, "w1")) == ("offline_lecture", "territory", "progression", 1.0, 2)


def test_next_best_channel_from_region(nbc):
    _, out = nbc
    # y1 (T2) now aware, ranked by positive response: T2 has only edetailing x aware with 1
    # customer touched, so the region R1 decides: email 0/2 positive ("opened" is not),
    # web_lecture 1/2 (a3 attended), edetailing 1/1 but 1 touched -> web_lecture 50%, 2 touched
    assert evidence(by_customer(out, "y1")) == ("web_lecture", "region", "response", 0.5, 2)
    # y2 (T2) now interested: nothing in T2; R1's interested cells are T1's -> phone 2/2
    assert evidence(by_customer(out, "y2")) == ("phone", "region", "progression", 1.0, 2)


def test_next_best_channel_from_fit_order(nbc):
    _, out = nbc
    # z1: T3 / R2 has no data at all: first fitting channel for trial, no rate, no base
    assert evidence(by_customer(out, "z1")) == ("f2f_visit", "fit", "progression", None, None)
    n1 = by_customer(out, "n1")
    assert evidence(n1) == (None, "no_phase", None, None, None)


def test_next_best_channel_for_loyal_uses_response_rate(nbc):
    _, out = nbc
    # v1 loyal: chat_app 2/2 positive responses beats f2f_visit 1/2 (nobody moves above loyal)
    assert evidence(by_customer(out, "v1")) == ("chat_app", "territory", "response", 1.0, 2)


def test_next_best_channel_default_minimum_falls_back_to_fit_order():
    frame, acts = nbc_data()
    facts = activity_facts(acts, frame, fit_matrix())
    out = next_best_channel(frame, facts, fit_matrix())  # min_rate_base=5: every cell is too thin
    assert evidence(by_customer(out, "x1")) == ("web_interview", "fit", "progression", None, None)
    assert set(out["next_best_basis"]) == {"fit", "no_phase"}


def test_next_best_channel_follows_overridden_fit():
    frame, acts = nbc_data()
    fit = fit_matrix({"interested": ["briefing_session", "web_interview"]})
    facts = activity_facts(acts, frame, fit)
    out = next_best_channel(frame, facts, fit, min_rate_base=2)
    # phone no longer fits; briefing_session has 1 touched; web_interview (1/2, 2 touched) is left
    assert evidence(by_customer(out, "x1")) == ("web_interview", "territory", "progression", 0.5, 2)


def test_ordered_categorical_phases_give_the_same_answers():
    # phases.py hands phases over as ordered categoricals; the results must not change
    frame, acts = nbc_data()
    ladder = pd.CategoricalDtype(list(PHASES), ordered=True)
    categorical = frame.astype({"phase_previous": ladder, "phase": ladder})
    fit = fit_matrix()
    plain_facts = activity_facts(acts, frame, fit)
    cat_facts = activity_facts(acts, categorical, fit)
    pd.testing.assert_frame_equal(channel_phase(cat_facts, fit), channel_phase(plain_facts, fit))
    plain = next_best_channel(frame, plain_facts, fit, min_rate_base=2)
    cat = next_best_channel(categorical, cat_facts, fit, min_rate_base=2)
    columns = ["next_best_channel", "next_best_basis", "next_best_rate_kind", "next_best_rate", "next_best_base"]
    pd.testing.assert_frame_equal(cat[columns], plain[columns])


def test_no_activities_gives_empty_tables_and_no_channel():
    frame, acts = nbc_data()
    facts = activity_facts(acts.iloc[:0], frame, fit_matrix())
    assert len(facts) == 0
    assert len(channel_phase(facts, fit_matrix())) == 0
    assert len(mismatched_effort(facts)) == 0 and len(over_service(facts)) == 0
    # an activities table without rows in the window: no rate anywhere, fall back to the fit order
    out = next_best_channel(frame, facts, fit_matrix(), min_rate_base=1)
    assert evidence(by_customer(out, "x1")) == ("web_interview", "fit", "progression", None, None)
    # no activities table at all (DESIGN 4.4): no channel is proposed, never a default
    out = next_best_channel(frame, facts, fit_matrix(), min_rate_base=1, has_activities=False)
    assert out["next_best_channel"].isna().all()
    assert (out["next_best_basis"] == "no_activities").all()
    assert out["next_best_rate"].isna().all() and out["next_best_base"].isna().all()


def rank_data():
    """Rates that disagree: the response rate and the progression rate pick different channels.

    T1 (region R1), market m1, phases given by hand:
      aware x email:          q1, q2 both moved up, no positive response -> response 0/2, progression 2/2
      aware x web_lecture:    q3, q4 engaged, neither moved               -> response 2/2, progression 0/2
      interested x web_int.:  s1, s2 attended, neither moved              -> response 2/2, progression 0/2
      interested x phone:     s3, s4 no response, both moved up           -> response 0/2, progression 2/2
    T2 (region R1) has one aware customer k1 touched by chat_app (1 touched: too thin).
    Asked: u1 (T1, now aware), t1 (T1, now interested), u2 (T2, now aware).
    """
    frame = make_frame([
        ("T1", "R1", "q1", "m1", "aware", "interested"),
        ("T1", "R1", "q2", "m1", "aware", "trial"),
        ("T1", "R1", "q3", "m1", "aware", "aware"),
        ("T1", "R1", "q4", "m1", "aware", "aware"),
        ("T1", "R1", "s1", "m1", "interested", "interested"),
        ("T1", "R1", "s2", "m1", "interested", "interested"),
        ("T1", "R1", "s3", "m1", "interested", "trial"),
        ("T1", "R1", "s4", "m1", "interested", "adopter"),
        ("T1", "R1", "u1", "m1", "unaware", "aware"),
        ("T1", "R1", "t1", "m1", "aware", "interested"),
        ("T2", "R1", "k1", "m1", "aware", "aware"),
        ("T2", "R1", "u2", "m1", "unaware", "aware"),
    ])
    acts = make_activities([
        ("e1", "q1", "r1", "email", 10, "none"),
        ("e2", "q2", "r1", "email", 10, "opened"),
        ("e3", "q3", "r1", "web_lecture", 10, "engaged"),
        ("e4", "q4", "r1", "web_lecture", 10, "engaged"),
        ("e5", "s1", "r1", "web_interview", 10, "attended"),
        ("e6", "s2", "r1", "web_interview", 10, "attended"),
        ("e7", "s3", "r1", "phone", 10, "none"),
        ("e8", "s4", "r1", "phone", 10, "none"),
        ("e9", "k1", "r2", "chat_app", 10, "engaged"),
    ])
    return frame, acts


def test_next_best_channel_ranks_aware_by_response_and_interested_by_progression():
    frame, acts = rank_data()
    facts = activity_facts(acts, frame, fit_matrix())
    out = next_best_channel(frame, facts, fit_matrix(), min_rate_base=2)
    # aware: web_lecture 2/2 positive responses beats email 0/2, although email moved 2/2 up
    # and is first in the aware fit order
    assert evidence(by_customer(out, "u1")) == ("web_lecture", "territory", "response", 1.0, 2)
    # interested: phone moved 2/2 up beats web_interview 0/2, although web_interview answered
    # 2/2 and is first in the interested fit order
    assert evidence(by_customer(out, "t1")) == ("phone", "territory", "progression", 1.0, 2)
    # T2's only aware cell (chat_app) has 1 customer touched: the region R1 decides, where
    # T1's aware cells (2 touched each) count: web_lecture by response
    assert evidence(by_customer(out, "u2")) == ("web_lecture", "region", "response", 1.0, 2)


def test_next_best_channel_region_cells_cover_every_territory():
    # the national pass computes the region's rates once over all territories (whatever
    # their overrides) and hands them to each group: T2 alone still sees T1's evidence
    frame, acts = rank_data()
    fit = fit_matrix()
    facts = activity_facts(acts, frame, fit)
    region = rate_cells(facts, ["region", "market"])
    web_lecture = cell(region, region="R1", market="m1", channel="web_lecture", phase="aware")
    assert (web_lecture["rate_kind"], web_lecture["rate"], web_lecture["base"]) == ("response", 1.0, 2)
    email = cell(region, region="R1", market="m1", channel="email", phase="aware")
    assert (email["response_rate"], email["progression_rate"], email["rate"]) == (0.0, 1.0, 0.0)
    phone = cell(region, region="R1", market="m1", channel="phone", phase="interested")
    assert (phone["rate_kind"], phone["rate"]) == ("progression", 1.0)
    t2 = frame[frame["territory_id"] == "T2"]
    t2_facts = facts[facts["territory_id"] == "T2"]
    alone = next_best_channel(t2, t2_facts, fit, min_rate_base=2)
    # from T2's own facts the region has only chat_app x aware (1 touched): fit order
    assert evidence(by_customer(alone, "u2")) == ("email", "fit", "response", None, None)
    with_region = next_best_channel(t2, t2_facts, fit, min_rate_base=2, region_cells=region)
    assert evidence(by_customer(with_region, "u2")) == ("web_lecture", "region", "response", 1.0, 2)
    # a bigger minimum than any cell's base: the fit order, whatever the region says
    strict = next_best_channel(t2, t2_facts, fit, min_rate_base=3, region_cells=region)
    assert evidence(by_customer(strict, "u2")) == ("email", "fit", "response", None, None)
    # region cells listing a cell twice: the better scored one is the evidence, as if
    # each candidate had been joined to both; a cell no customer could use changes nothing
    worse = region[(region["channel"] == "web_lecture") & (region["phase"] == "aware")].assign(rate=0.5, base=7)
    other = region.iloc[[0]].assign(region="R9")
    twice = pd.concat([worse, region, other], ignore_index=True)
    with_twice = next_best_channel(t2, t2_facts, fit, min_rate_base=2, region_cells=twice)
    assert evidence(by_customer(with_twice, "u2")) == ("web_lecture", "region", "response", 1.0, 2)


def test_next_best_sentences_come_from_the_text_module(nbc):
    from analysis.report.text import next_best_reason

    _, out = nbc
    assert next_best_reason(by_customer(out, "x1"), 2) == (
        "moved 100% of 'interested' customers up a phase in this territory (n=2)")
    assert next_best_reason(by_customer(out, "y1"), 2) == (
        "50% positive responses from 'aware' customers in the region (n=2)")
    assert next_best_reason(by_customer(out, "z1"), 2) == (
        "first fitting channel for 'trial': no fitting channel reached 2 or more 'trial' customers here "
        "or in the region")
    assert next_best_reason(by_customer(out, "n1"), 2) == "no phase known for this customer in this market"


# ------------------------------------------------------------------ properties


@st.composite
def territories(draw):
    n_customers = draw(st.integers(1, 6))
    rows = []
    for i in range(n_customers):
        territory = draw(st.sampled_from(["T1", "T2"]))
        for market in draw(st.lists(st.sampled_from(["m1", "m2"]), min_size=1, max_size=2, unique=True)):
            rows.append((territory, "R1", f"c{i}", market,
                         draw(st.sampled_from(PHASES)), draw(st.sampled_from(PHASES))))
    acts = draw(st.lists(st.tuples(
        st.integers(0, n_customers - 1),
        st.sampled_from(["r1", "r2"]),
        st.sampled_from(CHANNELS),
        st.one_of(st.just(0.0), st.floats(0.01, 1000, allow_nan=False)),
        st.sampled_from(["none", "opened", "engaged", "attended", None]),
    ), min_size=1, max_size=25))
    activities = make_activities([(f"a{k}", f"c{c}", rep, ch, cost, out)
                                  for k, (c, rep, ch, cost, out) in enumerate(acts)])
    return make_frame(rows), activities


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(territories())
def test_effort_shares_sum_to_one_and_rates_are_shares(data):
    frame, acts = data
    facts = activity_facts(acts, frame, fit_matrix())
    table = channel_phase(facts, fit_matrix())
    for (_, _), group in table.groupby(["territory_id", "market"]):
        assert len(group) == len(CHANNELS) * len(PHASES)
        if group["cost"].sum() > 0:
            assert group["effort_share"].sum() == pytest.approx(1.0)
        else:
            assert group["effort_share"].isna().all()
    for rate in ["effort_share", "response_rate", "progression_rate"]:
        values = table[rate].dropna()
        assert ((values >= 0) & (values <= 1 + 1e-12)).all()
    assert (table["response_rate"].isna() == (table["activities"] == 0)).all()
    # every fact lands in exactly one cell
    assert table["activities"].sum() == len(facts)
    for table_ in (mismatched_effort(facts), over_service(facts)):
        share = table_.iloc[:, 4].dropna()
        assert ((share >= 0) & (share <= 1 + 1e-12)).all()
    # per-rep cost is the activities' cost, each counted once across markets
    assert mismatched_effort(facts)["cost"].sum() == pytest.approx(acts.loc[acts["customer_id"].isin(
        frame["customer_id"]), "cost"].sum())
    nbc = next_best_channel(frame, facts, fit_matrix(), min_rate_base=1)
    fits = fit_matrix()
    chosen = nbc.merge(fits, left_on=["phase", "next_best_channel"], right_on=["phase", "channel"], how="left")
    assert chosen["fits"].all()  # the next best channel always fits the current phase


# ------------------------------------------------- territory x channel summary


def summary_data():
    """T1, one rep; c1 is in two markets, c3 is a distributor without a phase.

      c1: m1 aware -> interested (moved up), m2 loyal -> loyal
      c2: m1 interested -> interested
      c3: m1, no phase (not on the ladder), no segment
      a1: c1 email 40 engaged   (counts in m1 and m2: once in any total)
      a2: c2 phone 70 none
      a3: c3 email 20 none
    Territory cost 40 + 70 + 20 = 130.
    """
    frame = make_frame([
        ("T1", "R1", "c1", "m1", "aware", "interested"),
        ("T1", "R1", "c1", "m2", "loyal", "loyal"),
        ("T1", "R1", "c2", "m1", "interested", "interested"),
        ("T1", "R1", "c3", "m1", None, None),
    ])
    frame.loc[frame["customer_id"] == "c3", ["customer_type", "segment"]] = ["distributor", None]
    acts = make_activities([
        ("a1", "c1", "r1", "email", 40, "engaged"),
        ("a2", "c2", "r1", "phone", 70, "none"),
        ("a3", "c3", "r1", "email", 20, "none"),
    ])
    return frame, acts


def test_channel_summary_counts_an_activity_of_a_two_market_customer_once():
    frame, acts = summary_data()
    facts = activity_facts(acts, frame, fit_matrix())
    assert len(facts) == 4  # a1 twice (m1, m2), a2, a3
    assert facts["on_ladder"].sum() == 3
    assert not cell(facts, activity_id="a3")["on_ladder"]
    out = channel_summary(facts)
    assert list(out.columns) == ["territory_id", "channel", "activities", "cost", "effort_share", "responses",
                                 "response_rate", "customers_touched", "customers_placed", "customers_moved_up",
                                 "progression_rate", "mismatched_share"]
    # phone (70) before email (60); channels without activities are left out
    assert list(out["channel"]) == ["phone", "email"]
    email = cell(out, channel="email")
    # a1 once (not once per market) + a3: 2 activities, cost 40 + 20 = 60 of 130
    assert (email["activities"], email["cost"]) == (2, 60)
    assert email["effort_share"] == pytest.approx(60 / 130)
    assert (email["responses"], email["response_rate"]) == (1, 0.5)  # a1 engaged
    # c1 and c3 touched; only c1 has a phase (the base of progression), and c1 moved up in m1
    assert (email["customers_touched"], email["customers_placed"], email["customers_moved_up"]) == (2, 1, 1)
    assert email["progression_rate"] == 1.0
    # of email's placed cost (a1: 20 in m1, 20 in m2; a3 has no phase), m2's 20 misfits loyal
    assert email["mismatched_share"] == pytest.approx(20 / 40)
    phone = cell(out, channel="phone")
    assert (phone["activities"], phone["cost"], phone["responses"]) == (1, 70, 0)
    assert phone["effort_share"] == pytest.approx(70 / 130)
    assert (phone["customers_touched"], phone["customers_placed"], phone["customers_moved_up"]) == (1, 1, 0)
    assert phone["progression_rate"] == 0.0
    assert phone["mismatched_share"] == 0.0  # phone fits interested
    # the territory's channel costs add up to its activity cost, each activity once
    assert out["cost"].sum() == pytest.approx(130)
    assert out["activities"].sum() == 3
    assert out["effort_share"].sum() == pytest.approx(1.0)
    assert len(channel_summary(facts.iloc[:0])) == 0


def test_channel_phase_keeps_activities_without_a_phase():
    frame, acts = summary_data()
    fit = fit_matrix()
    table = channel_phase(activity_facts(acts, frame, fit), fit)
    # 10 channels x (6 phases + the missing phase) per market
    assert len(table) == 2 * len(CHANNELS) * (len(PHASES) + 1)
    m1 = table[table["market"] == "m1"]
    unplaced = m1[m1["phase"].isna() & (m1["channel"] == "email")].iloc[0]
    assert (unplaced["activities"], unplaced["cost"]) == (1, 20)  # a3, c3 has no phase
    assert not unplaced["fits"]  # a channel cannot fit an unknown phase
    # nobody can be said to have moved up from an unknown phase: missing, not 0%
    assert math.isnan(unplaced["progression_rate"]) and unplaced["response_rate"] == 0.0
    assert unplaced["effort_share"] == pytest.approx(20 / 130)
    # each market's cost adds up to the territory's activity cost of its customers:
    # m1 sees a1, a2 and a3 (130), m2 sees a1 (40)
    assert m1["cost"].sum() == pytest.approx(130)
    assert m1["effort_share"].sum() == pytest.approx(1.0)
    m2 = table[table["market"] == "m2"]
    assert m2["cost"].sum() == pytest.approx(40)
    assert cell(m2, channel="email", phase="loyal")["cost"] == 40
    # the unplaced cell has no rate for the next best channel
    cells = rate_cells(activity_facts(acts, frame, fit), ["territory_id", "market"])
    assert cells["phase"].notna().all()


def test_effort_shares_are_shares_of_the_cost_of_placed_activities():
    frame, acts = summary_data()
    facts = activity_facts(acts, frame, fit_matrix())
    out = effort_shares(facts, ["territory_id"], ("A", "B")).iloc[0]
    # cost 130; priority (segment B): a1 + a2 = 110; placed (a phase known): a1 + a2 = 110
    assert (out["cost"], out["priority_cost"], out["placed_cost"]) == (130, 110, 110)
    # mismatched: a1's m2 half (20, email misfits loyal) of the placed 110, not of 130
    assert out["mismatched_cost"] == 20 and out["mismatched_effort"] == pytest.approx(20 / 110)
    # over-service: a1's m2 half goes to a loyal customer
    assert out["loyal_cost"] == 20 and out["over_service"] == pytest.approx(20 / 110)
    assert out["effort_on_priority"] == pytest.approx(110 / 130)
    # the same function per rep (one rep here) and the wrappers agree with it
    rep = effort_shares(facts, ["territory_id", "rep_id"], ("A", "B")).iloc[0]
    assert rep["mismatched_effort"] == pytest.approx(20 / 110)
    assert mismatched_effort(facts).iloc[0]["mismatched_effort"] == pytest.approx(20 / 110)
    assert over_service(facts).iloc[0]["over_service"] == pytest.approx(20 / 110)
    # only unplaced activities: the shares have no base and are missing, never 0
    only_c3 = activity_facts(acts[acts["customer_id"] == "c3"], frame, fit_matrix())
    none_placed = effort_shares(only_c3, ["territory_id"], ("A", "B")).iloc[0]
    assert none_placed["cost"] == 20 and none_placed["effort_on_priority"] == 0.0
    assert math.isnan(none_placed["mismatched_effort"]) and math.isnan(none_placed["over_service"])
    assert not mismatched_effort(only_c3)["mismatched_flag"].any()


def test_join_positions_is_the_inner_merge():
    """The facts' join on positions gives exactly pandas' inner merge: its rows, in its order
    (left rows in order, each with its matching right rows in theirs), with keys repeated on
    both sides and absent from the other; a missing key matches nothing (pandas pairs missing
    with missing; customer ids are never missing)."""
    from analysis.domain.channels import _join_positions

    rng = np.random.default_rng(3)
    for _ in range(20):
        left = pd.Series(rng.choice(["a", "b", "c", "d", None], size=int(rng.integers(0, 40))), dtype="str")
        right = pd.Series(rng.choice(["b", "c", "e", None], size=int(rng.integers(0, 12))), dtype="str")
        merged = pd.DataFrame({"k": left, "i": np.arange(len(left))}).dropna().merge(
            pd.DataFrame({"k": right, "j": np.arange(len(right))}).dropna(), on="k", how="inner")
        rows, matches = _join_positions(left, right)
        assert rows.tolist() == merged["i"].tolist() and matches.tolist() == merged["j"].tolist()


@pytest.mark.parametrize("seed", range(4))
def test_first_rows_are_those_duplicated_does_not_flag(seed):
    """Each territory x activity once: by the activity's first row where every activity is
    of one territory, else by pairs; missing ids and territories are values, as there."""
    from analysis.domain.channels import _first_rows

    rng = np.random.default_rng(seed)
    n = 300
    activity = pd.Series([f"A{i}" for i in rng.integers(0, 80, n)], dtype="str")
    territory_of = {f"A{i}": f"T{i % 3}" for i in range(80)}
    facts = pd.DataFrame({"activity_id": activity, "territory_id": activity.map(territory_of).astype("category")})
    facts.loc[[5, 9], "activity_id"] = None
    moved = facts["territory_id"].astype(object).where(facts.index != 7, "T9").astype("category")  # in two
    for frame in (facts, facts.assign(territory_id=moved)):
        expected = ~frame.duplicated(["territory_id", "activity_id"]).to_numpy()
        assert (_first_rows(frame) == expected).all()
        assert (_first_rows(frame.assign(territory_id=frame["territory_id"].astype(object))) == expected).all()


@pytest.mark.parametrize("shape", ["distinct ids", "a repeated id", "a customer in two territories", "missing ids"])
def test_facts_first_row_counts_each_activity_once(shape):
    """first_row is ``~duplicated(["territory_id", "activity_id"])`` of the facts, whatever the ids."""
    rows = [("T1", "R1", "c1", "m1", "aware", "aware"), ("T1", "R1", "c1", "m2", "aware", "trial"),
            ("T2", "R1", "c2", "m1", "loyal", "loyal"), ("T2", "R1", "c2", "m2", "aware", "aware")]
    if shape == "a customer in two territories":
        rows.append(("T3", "R1", "c2", "m1", "aware", "aware"))
    ids = {"distinct ids": ["a1", "a2", "a3"], "a repeated id": ["a1", "a2", "a1"],
           "a customer in two territories": ["a1", "a2", "a3"], "missing ids": [None, "a2", None]}[shape]
    acts = make_activities([(ids[0], "c1", "r1", "email", 10, "engaged"), (ids[1], "c2", "r1", "phone", 30, "none"),
                            (ids[2], "c2", "r2", "email", 5, "opened")])
    facts = activity_facts(acts, make_frame(rows), fit_matrix())
    assert facts["first_row"].dtype == bool
    assert facts["first_row"].tolist() == (~facts.duplicated(["territory_id", "activity_id"])).tolist()
    if shape == "distinct ids":  # by hand: each activity's row of its first market
        assert facts.loc[facts["first_row"], "market"].tolist() == ["m1", "m1", "m1"]
    summary = channel_summary(facts)
    assert summary["activities"].tolist() == channel_summary(facts.drop(columns="first_row"))["activities"].tolist()
    # the pass's facts (no activity id nor date) are the same columns, also when the ids repeat
    made = activity_facts(acts, make_frame(rows), fit_matrix(), PASS_FACT_COLUMNS)
    assert list(made.columns) == PASS_FACT_COLUMNS and "activity_id" not in made
    pd.testing.assert_frame_equal(made, facts[PASS_FACT_COLUMNS])


def test_facts_of_some_columns_in_their_order_and_unknown_refused():
    rows = [("T1", "R1", "c1", "m1", "aware", "trial"), ("T1", "R1", "c1", "m2", "aware", "aware")]
    acts = make_activities([("a1", "c1", "r1", "email", 10, "engaged"), ("a2", "c1", "r1", "phone", 30, "none")])
    full = activity_facts(acts, make_frame(rows), fit_matrix())
    some = activity_facts(acts, make_frame(rows), fit_matrix(), ["cost", "fits", "customer_id"])
    pd.testing.assert_frame_equal(some, full[["cost", "fits", "customer_id"]])
    with pytest.raises(ValueError, match="unknown fact column 'units'"):
        activity_facts(acts, make_frame(rows), fit_matrix(), ["cost", "units"])


@pytest.mark.parametrize("seed", range(3))
def test_distinct_customers_are_those_a_groupby_counts(seed):
    """Per group: the distinct customers of its rows, and of them those with a flag on at
    least one of their rows (not only the first): a pandas groupby's nunique and any."""
    from analysis.domain.channels import _distinct_customers

    rng = np.random.default_rng(seed)
    n, n_groups = 500, 12
    groups = rng.integers(-1, n_groups - 2, n)  # -1: in no group; the last two groups empty
    customers = rng.integers(0, 40, n)
    flags = [rng.random(n) < 0.2, rng.random(n) < 0.6]
    rows = pd.DataFrame({"g": groups, "c": customers, "f0": flags[0], "f1": flags[1]})
    rows = rows[rows["g"] >= 0]
    per_pair = rows.groupby(["g", "c"])[["f0", "f1"]].any().reset_index()
    expected = [per_pair.groupby("g")["c"].size(), per_pair.groupby("g")["f0"].sum(),
                per_pair.groupby("g")["f1"].sum()]
    counts = _distinct_customers(groups, n_groups, customers, *flags)
    for got, want in zip(counts, expected):
        assert got.dtype == np.int64 and len(got) == n_groups
        assert got.tolist() == want.reindex(range(n_groups), fill_value=0).astype(int).tolist()
    assert _distinct_customers(groups, n_groups, customers)[0].tolist() == counts[0].tolist()


@pytest.mark.parametrize("seed", range(4))
def test_best_in_runs_is_the_first_of_a_lexsort(seed):
    """The best candidate of each row (runs of rows one after the other, of any length):
    the highest score (-inf: none, last), then the lowest fit order, then the first."""
    from analysis.domain.channels import _best_in_runs

    rng = np.random.default_rng(seed)
    runs = np.repeat(np.sort(rng.choice(200, 60, replace=False)), rng.integers(1, 6, 60))
    score = np.where(rng.random(len(runs)) < 0.3, -np.inf, rng.integers(0, 4, len(runs)) / 4)
    order = rng.integers(0, 3, len(runs))  # ties too
    lexsorted = np.lexsort((order, -score, runs))
    expected = lexsorted[np.flatnonzero(np.diff(runs[lexsorted], prepend=-1))]
    assert _best_in_runs(runs, score, order).tolist() == expected.tolist()
    assert _best_in_runs(runs[:0], score[:0], order[:0]).tolist() == []


@pytest.mark.parametrize("seed", range(4))
def test_summed_cells_are_the_region_cells(seed):
    """A region's cell counts summed from its territories' are those counted on the facts
    (each customer in one territory, each territory in one region), distinct customers
    included; the cost to 1e-12; the same rows in the same order and dtypes."""
    from analysis.domain.channels import cell_stats, summed_cells

    rng = np.random.default_rng(seed)
    region_of = {"T1": "R1", "T2": "R1", "T3": "R2", "T4": None}
    rows = []
    for i in range(30):
        territory = str(rng.choice(list(region_of)))
        for market in rng.choice(["m1", "m2"], size=int(rng.integers(1, 3)), replace=False):
            rows.append((territory, region_of[territory], f"c{i}", str(market),
                         rng.choice([*PHASES, None]), rng.choice(PHASES)))
    acts = make_activities([(f"a{k}", f"c{rng.integers(0, 30)}", "r1", str(rng.choice(CHANNELS)),
                             float(rng.integers(0, 50)), str(rng.choice(["none", "engaged", "opened"])))
                            for k in range(300)])
    facts = activity_facts(acts, make_frame(rows), fit_matrix())
    by_territory = cell_stats(facts, ["territory_id", "region", "market"])
    pd.testing.assert_frame_equal(by_territory.drop(columns="region"), cell_stats(facts, ["territory_id", "market"]))
    expected = cell_stats(facts, ["region", "market"])
    got = summed_cells(by_territory, ["region", "market"])
    pd.testing.assert_frame_equal(got.drop(columns="cost"), expected.drop(columns="cost"))
    assert np.allclose(got["cost"], expected["cost"], rtol=1e-12, atol=0)
