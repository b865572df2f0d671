"""Customer phases and phase migration (DESIGN 4.4)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis.contract.reduction import contacts
from analysis.contract.schema import BELOW_TRIAL, PHASE_LEVELS, PHASES, SALES_ONLY_PHASES
from analysis.domain.periods import WINDOWS, Window, window_codes
from analysis.domain.phases import (
    PHASE_DTYPE,
    PHASE_RANK,
    derive_phases,
    migration,
    migration_rates,
    phase_change,
    phase_rank,
    phases_from_table,
    responses_by_window,
)

# analysis 2026-04..2026-06, comparison 2026-01..2026-03, before 2025-10..2025-12
WINDOW = Window("2026-06", 3)


def customer_frame(rows: list[dict]) -> pd.DataFrame:
    """A customer frame; units not given are 0. Units as {window: (own, market)}."""
    records = []
    for row in rows:
        units = row.get("units", {})
        record = {
            "territory_id": row.get("territory_id", "T1"),
            "customer_id": row["customer_id"],
            "market": row.get("market", "M1"),
            "customer_type": row.get("customer_type", "hcp"),
            "potential": row.get("potential", 0.0),
            "potential_level": row.get("potential_level"),
            "segment": None,
        }
        for w in WINDOWS:
            own, market = units.get(w, (0.0, 0.0))
            record[f"own_units_{w}"] = float(own)
            record[f"market_units_{w}"] = float(market)
        records.append(record)
    return pd.DataFrame(records)


def activities_frame(rows: list[tuple]) -> pd.DataFrame:
    """Activities from (customer_id, date, outcome) tuples."""
    return pd.DataFrame({
        "activity_id": [f"A{i}" for i in range(len(rows))],
        "customer_id": [r[0] for r in rows],
        "rep_id": "R1",
        "date": pd.to_datetime([r[1] for r in rows]),
        "channel": "f2f_visit",
        "cost": 10.0,
        "outcome": pd.Series([r[2] for r in rows], dtype=object),
    })


def phases_of(frame: pd.DataFrame) -> dict:
    return {(c, m): (str(p0) if pd.notna(p0) else None, str(p1) if pd.notna(p1) else None)
            for c, m, p0, p1 in frame[["customer_id", "market", "phase_previous", "phase"]].itertuples(index=False)}


# ----------------------------------------------------------------------- ladder


def test_rank_follows_the_ladder():
    assert list(PHASES) == ["unaware", "aware", "interested", "trial", "adopter", "loyal"]
    # below_trial (sales-only data) stands for the rungs below trial: it ranks just below trial
    assert BELOW_TRIAL == "below_trial"
    assert PHASE_RANK == {"unaware": 0, "aware": 1, "interested": 2, "trial": 3, "adopter": 4, "loyal": 5,
                          "below_trial": 2}
    assert list(PHASE_LEVELS) == ["unaware", "aware", "interested", "below_trial", "trial", "adopter", "loyal"]
    assert list(SALES_ONLY_PHASES) == ["below_trial", "trial", "adopter", "loyal"]
    ranks = phase_rank(pd.Series(["loyal", None, "aware", "below_trial"]))
    assert ranks.tolist()[0] == 5 and np.isnan(ranks.tolist()[1]) and ranks.tolist()[2] == 1
    assert ranks.tolist()[3] == 2
    with pytest.raises(ValueError, match="unknown phase"):
        phase_rank(pd.Series(["aware", "champion"]))


def test_phase_change():
    frame = pd.DataFrame({
        "phase_previous": ["aware", "loyal", None, "trial"],
        "phase": ["trial", "adopter", "aware", None],
    })
    change = phase_change(frame)
    # aware(1) -> trial(3) = +2; loyal(5) -> adopter(4) = -1; missing either -> NaN
    assert change.iloc[0] == 2 and change.iloc[1] == -1
    assert change.iloc[2:].isna().all()
    assert change.name == "phase_change"
    # below_trial (2) -> trial (3) = +1; adopter (4) -> below_trial (2) = -2
    sales_only = phase_change(pd.DataFrame({"phase_previous": ["below_trial", "adopter"],
                                            "phase": ["trial", "below_trial"]}))
    assert sales_only.tolist() == [1.0, -2.0]


# -------------------------------------------------------------------- responses


def test_window_codes_match_the_period_mapping():
    dates = pd.Series(pd.to_datetime([
        "2025-09-30 23:59", "2025-10-01 00:00", "2025-12-31 23:59", "2026-01-01 00:00",
        "2026-03-31 12:00", "2026-04-01 00:00", "2026-06-30 23:59", "2026-07-01 00:00", None,
    ]))
    codes = window_codes(dates, WINDOW)
    assert codes.tolist() == [-1, 0, 0, 1, 1, 2, 2, -1, -1]
    # the same as mapping each date's month through the window's periods
    expected = WINDOW.assign(dates.dt.strftime("%Y-%m")).map({w: i for i, w in enumerate(WINDOWS)}).fillna(-1)
    assert codes.tolist() == expected.astype(int).tolist()
    assert WINDOW.assign_dates(dates).tolist()[1:4] == ["before", "before", "comparison"]


def test_responses_by_window_counts():
    acts = activities_frame([
        ("C1", "2026-05-03", "engaged"),    # analysis: response, positive
        ("C1", "2026-05-10", "attended"),   # analysis: response, positive
        ("C1", "2026-06-01", "opened"),     # analysis: response only
        ("C1", "2026-02-01", "none"),       # comparison: no response
        ("C1", "2026-02-05", None),         # comparison: missing outcome, no response
        ("C1", "2025-11-01", "engaged"),    # before: response, positive
        ("C1", "2025-01-01", "engaged"),    # outside every window: ignored
        ("C2", "2026-04-30", "opened"),     # analysis
    ])
    out = responses_by_window(contacts(acts), WINDOW)
    assert list(out.columns) == ["customer_id", "window", "activities", "responses", "positive"]
    got = {(c, str(w)): (a, r, p) for c, w, a, r, p in out.itertuples(index=False)}
    assert got == {
        ("C1", "before"): (1, 1, 1),
        ("C1", "comparison"): (2, 0, 0),
        ("C1", "analysis"): (3, 3, 2),
        ("C2", "analysis"): (1, 1, 0),
    }


def test_responses_without_outcome_column():
    acts = activities_frame([("C1", "2026-05-03", "engaged")]).drop(columns="outcome")
    out = responses_by_window(contacts(acts), WINDOW)
    assert out[["activities", "responses", "positive"]].iloc[0].tolist() == [1, 0, 0]


# ------------------------------------------------------------------ derivation


def test_customer_moves_two_phases_up():
    frame = customer_frame([
        # comparison: no sales, one opened email -> aware
        # analysis: own 10 of 100 -> support 0.1 < 0.2 (not adopter), own > 0 -> trial
        {"customer_id": "C1", "units": {"analysis": (10, 100)}},
    ])
    responses = responses_by_window(contacts(activities_frame([("C1", "2026-02-10", "opened")])), WINDOW)
    out = derive_phases(frame, responses)
    assert phases_of(out) == {("C1", "M1"): ("aware", "trial")}
    assert phase_change(out).tolist() == [2.0]   # trial(3) - aware(1)
    assert out["phase"].dtype == PHASE_DTYPE and out["phase_previous"].dtype == PHASE_DTYPE


def test_loyal_needs_two_windows():
    frame = customer_frame([
        # before 60/100 = 0.6, comparison 50/100 = 0.5, analysis 80/100 = 0.8
        # comparison: 0.5 >= 0.5 and before 0.6 >= 0.5 -> loyal; analysis: 0.8 and 0.5 -> loyal
        {"customer_id": "C2", "units": {"before": (60, 100), "comparison": (50, 100), "analysis": (80, 100)}},
        # before absent (no market units), comparison 70/100 = 0.7, analysis 30/50 = 0.6
        # comparison: the absent before does not count -> adopter (0.7 >= 0.2)
        # analysis: 0.6 and comparison 0.7 -> loyal
        {"customer_id": "C3", "units": {"comparison": (70, 100), "analysis": (30, 50)}},
        # before 10/100 = 0.1, comparison 60/100 = 0.6, analysis 45/100 = 0.45
        # comparison: 0.6 but before 0.1 < 0.5 -> adopter; analysis 0.45 < 0.5 -> adopter
        {"customer_id": "C4", "units": {"before": (10, 100), "comparison": (60, 100), "analysis": (45, 100)}},
        # before 50/100 = 0.5, comparison 0/0 (absent), analysis 90/100 = 0.9
        # comparison: no market units -> no support, own 0 -> unaware; analysis: comparison absent -> adopter
        {"customer_id": "C5", "units": {"before": (50, 100), "analysis": (90, 100)}},
    ])
    out = derive_phases(frame)
    assert phases_of(out) == {
        ("C2", "M1"): ("loyal", "loyal"),
        ("C3", "M1"): ("adopter", "loyal"),
        ("C4", "M1"): ("adopter", "adopter"),
        ("C5", "M1"): ("unaware", "adopter"),
    }


def test_thresholds_are_parameters():
    frame = customer_frame([
        # analysis 30/100 = 0.3: adopter at the default 0.2, trial when adopter needs 0.35
        {"customer_id": "C1", "units": {"comparison": (40, 100), "analysis": (30, 100)}},
    ])
    assert phases_of(derive_phases(frame)) == {("C1", "M1"): ("adopter", "adopter")}
    # loyal=0.3: comparison 0.4 >= 0.3 but before absent -> adopter; analysis 0.3 and 0.4 -> loyal
    assert phases_of(derive_phases(frame, loyal=0.3)) == {("C1", "M1"): ("adopter", "loyal")}
    assert phases_of(derive_phases(frame, adopter=0.35)) == {("C1", "M1"): ("adopter", "trial")}


def test_missing_support_is_not_zero_support():
    frame = customer_frame([
        # no market units anywhere: support missing, no own units, no activity -> unaware
        {"customer_id": "C5"},
        # market units but none of ours: support 0.0 -> not adopter, not trial -> unaware
        {"customer_id": "C6", "units": {"comparison": (0, 80), "analysis": (0, 120)}},
    ])
    out = derive_phases(frame)
    assert phases_of(out) == {("C5", "M1"): ("unaware", "unaware"), ("C6", "M1"): ("unaware", "unaware")}


def test_interested_needs_two_positive_responses_aware_one_response():
    frame = customer_frame([
        {"customer_id": "C6", "market": "M1"},
        {"customer_id": "C6", "market": "M2"},   # activities have no market: same phase in M2
        {"customer_id": "C7"},
        {"customer_id": "C8"},
        {"customer_id": "C9"},
    ])
    acts = activities_frame([
        ("C6", "2026-04-02", "engaged"),    # C6 analysis: 2 positive -> interested
        ("C6", "2026-05-02", "attended"),
        ("C7", "2026-04-02", "opened"),     # C7 analysis: 1 response, 0 positive -> aware
        ("C8", "2026-04-02", "engaged"),    # C8 analysis: 1 positive < 2 -> aware (it is a response)
        ("C8", "2026-01-15", "engaged"),    # C8 comparison: 1 positive -> aware
        ("C9", "2026-04-02", "none"),       # C9: an activity without a response -> unaware
        ("C9", "2026-05-02", None),
    ])
    out = derive_phases(frame, responses_by_window(contacts(acts), WINDOW))
    assert phases_of(out) == {
        ("C6", "M1"): ("unaware", "interested"),
        ("C6", "M2"): ("unaware", "interested"),
        ("C7", "M1"): ("unaware", "aware"),
        ("C8", "M1"): ("aware", "aware"),
        ("C9", "M1"): ("unaware", "unaware"),
    }
    # interested_positive=1: C8's single engaged response is enough
    out = derive_phases(frame, responses_by_window(contacts(acts), WINDOW), interested_positive=1)
    assert phases_of(out)[("C8", "M1")] == ("interested", "interested")


def test_sales_rules_win_over_responses():
    frame = customer_frame([
        # 2 positive responses but own units 5 of 100 (0.05) -> trial ranks first
        {"customer_id": "C1", "units": {"analysis": (5, 100)}},
    ])
    acts = activities_frame([("C1", "2026-04-02", "engaged"), ("C1", "2026-04-09", "engaged")])
    assert phases_of(derive_phases(frame, responses_by_window(contacts(acts), WINDOW))) == {("C1", "M1"): ("unaware", "trial")}


def test_derive_phases_needs_window_columns():
    frame = customer_frame([{"customer_id": "C1"}]).drop(columns="own_units_before")
    with pytest.raises(ValueError, match="own_units_before"):
        derive_phases(frame)


# ------------------------------------------- what the data cannot show (DESIGN 4.4)


def test_without_activities_the_rungs_below_trial_are_below_trial():
    frame = customer_frame([
        # no own units anywhere: unaware, aware or interested cannot be told apart -> below_trial
        {"customer_id": "C1", "units": {"comparison": (0, 50), "analysis": (0, 60)}},
        # no market units at all: still below_trial (not unaware)
        {"customer_id": "C2"},
        # own 10 of 100 (0.1): trial in both periods
        {"customer_id": "C3", "units": {"comparison": (10, 100), "analysis": (10, 100)}},
        # comparison own 0 -> below_trial; analysis 30/100 = 0.3 -> adopter
        {"customer_id": "C4", "units": {"comparison": (0, 100), "analysis": (30, 100)}},
        # before 0.6, comparison 0.5, analysis 0.7: loyal both (the sales rules still hold)
        {"customer_id": "C5", "units": {"before": (60, 100), "comparison": (50, 100), "analysis": (70, 100)}},
    ])
    out = derive_phases(frame, None, has_activities=False)
    assert phases_of(out) == {
        ("C1", "M1"): ("below_trial", "below_trial"),
        ("C2", "M1"): ("below_trial", "below_trial"),
        ("C3", "M1"): ("trial", "trial"),
        ("C4", "M1"): ("below_trial", "adopter"),
        ("C5", "M1"): ("loyal", "loyal"),
    }
    assert out["phase"].dtype == PHASE_DTYPE
    # responses cannot lift a customer above below_trial when the run has no activities
    acts = activities_frame([("C1", "2026-04-02", "engaged"), ("C1", "2026-04-09", "attended")])
    again = derive_phases(frame, responses_by_window(contacts(acts), WINDOW), has_activities=False)
    assert phases_of(again)[("C1", "M1")] == ("below_trial", "below_trial")
    # below_trial -> adopter moved up two rungs (2 -> 4)
    assert phase_change(out).tolist() == [0.0, 0.0, 0.0, 2.0, 0.0]


def test_without_comparison_the_previous_phase_is_missing():
    nan = np.nan
    frame = customer_frame([
        # analysis 80/100 = 0.8: loyal needs the period before too, which is absent -> adopter
        {"customer_id": "C1", "units": {"analysis": (80, 100)}},
        {"customer_id": "C2", "units": {"analysis": (0, 100)}},
    ])
    # the national pass sets the comparison units to NaN when the data has no comparison months
    frame = frame.assign(own_units_comparison=nan, market_units_comparison=nan)
    acts = activities_frame([("C2", "2026-05-02", "opened")])
    out = derive_phases(frame, responses_by_window(contacts(acts), WINDOW), has_comparison=False)
    # phase_previous is missing (never "unaware"); the analysis phase is still derived
    assert phases_of(out) == {("C1", "M1"): (None, "adopter"), ("C2", "M1"): (None, "aware")}
    assert out["phase_previous"].isna().all() and out["phase_previous"].dtype == PHASE_DTYPE
    assert phase_change(out).isna().all()
    # no migration at all: no rows, never a grid of zeros
    table = migration(out)
    assert len(table) == 0
    assert list(table.columns) == ["territory_id", "market", "phase_previous", "phase", "customers"]
    assert len(migration_rates(table)) == 0


def test_only_prescribing_types_get_a_phase():
    frame = customer_frame([
        {"customer_id": "H1", "units": {"comparison": (10, 100), "analysis": (10, 100)}},
        {"customer_id": "D1", "customer_type": "distributor", "units": {"analysis": (10, 100)}},
        {"customer_id": "S1", "customer_type": "supplier"},
        {"customer_id": "P1", "customer_type": "peripheral"},
        {"customer_id": "F1", "customer_type": "pharmacy", "units": {"analysis": (5, 100)}},
    ])
    out = derive_phases(frame)
    assert phases_of(out) == {
        ("H1", "M1"): ("trial", "trial"),
        ("D1", "M1"): (None, None),
        ("S1", "M1"): (None, None),
        ("P1", "M1"): (None, None),
        ("F1", "M1"): ("unaware", "trial"),
    }
    # a recorded phase does not put a distributor on the ladder either
    table = pd.DataFrame({"customer_id": ["D1", "H1"], "period": ["2026-01", "2026-05"],
                          "phase": ["aware", "adopter"]})
    overlaid = phases_from_table(out, table, WINDOW)
    assert phases_of(overlaid)[("D1", "M1")] == (None, None)
    assert phases_of(overlaid)[("H1", "M1")] == ("trial", "adopter")
    # no phase, no migration: D1, S1 and P1 are not counted
    assert migration(overlaid)["customers"].sum() == 2


def test_migration_of_sales_only_data_uses_the_sales_only_ladder():
    frame = pd.DataFrame({
        "territory_id": "T1", "market": "M1", "customer_id": ["C1", "C2", "C3"],
        "phase_previous": pd.Categorical(["below_trial", "below_trial", "trial"], dtype=PHASE_DTYPE),
        "phase": pd.Categorical(["below_trial", "trial", "loyal"], dtype=PHASE_DTYPE),
    })
    table = migration(frame, SALES_ONLY_PHASES)
    # 4 x 4 grid: below_trial, trial, adopter, loyal (no unaware/aware/interested rows)
    assert len(table) == 16
    assert table["phase_previous"].astype(str).tolist()[::4] == list(SALES_ONLY_PHASES)
    counts = {(str(a), str(b)): n for a, b, n in table[["phase_previous", "phase", "customers"]].itertuples(
        index=False) if n}
    assert counts == {("below_trial", "below_trial"): 1, ("below_trial", "trial"): 1, ("trial", "loyal"): 1}
    rates = migration_rates(table)
    below = rates[rates["phase_previous"] == "below_trial"]
    row = below.set_index(below["phase"].astype(str))["rate"]
    assert row["below_trial"] == 0.5 and row["trial"] == 0.5


# --------------------------------------------------------------- phases table


def test_phases_table_overlay():
    frame = customer_frame([
        {"customer_id": "C1", "market": "M1"},
        {"customer_id": "C1", "market": "M2"},
        {"customer_id": "C2", "units": {"comparison": (10, 100), "analysis": (10, 100)}},
        {"customer_id": "C3", "units": {"analysis": (5, 100)}},   # not in the table: derived
        {"customer_id": "C4"},
    ])
    derived = derive_phases(frame)
    # derived: C1 unaware/unaware, C2 trial/trial, C3 unaware/trial, C4 unaware/unaware
    table = pd.DataFrame({
        "customer_id": ["C1", "C1", "C1", "C2", "C4"],
        "period": ["2025-12", "2026-05", "2026-08", "2026-02", "2026-04"],
        "phase": ["interested", "adopter", "loyal", "aware", "trial"],
    })
    out = phases_from_table(derived, table, WINDOW)
    # C1 comparison (last period 2026-03): latest record <= 2026-03 is 2025-12 interested
    # C1 analysis (last period 2026-06): 2026-05 adopter (2026-08 is after the window); both markets
    # C2: 2026-02 aware is the latest record for both windows, overriding the derived trial
    # C3: no record -> derived unaware/trial
    # C4: no record <= 2026-03 -> derived unaware; analysis: 2026-04 trial
    assert phases_of(out) == {
        ("C1", "M1"): ("interested", "adopter"),
        ("C1", "M2"): ("interested", "adopter"),
        ("C2", "M1"): ("aware", "aware"),
        ("C3", "M1"): ("unaware", "trial"),
        ("C4", "M1"): ("unaware", "trial"),
    }
    assert out["phase_source"].tolist() == ["table", "table", "table", "derived", "table"]
    assert out["phase_previous_source"].tolist() == ["table", "table", "table", "derived", "derived"]
    assert out["phase"].dtype == PHASE_DTYPE
    assert len(out) == len(frame)


def test_no_phases_table_keeps_derived():
    derived = derive_phases(customer_frame([{"customer_id": "C1", "units": {"analysis": (5, 100)}}]))
    out = phases_from_table(derived, None, WINDOW)
    assert phases_of(out) == {("C1", "M1"): ("unaware", "trial")}
    assert out["phase_source"].tolist() == ["derived"]


def test_phases_table_unknown_phase_is_an_error():
    derived = derive_phases(customer_frame([{"customer_id": "C1"}]))
    table = pd.DataFrame({"customer_id": ["C1"], "period": ["2026-01"], "phase": ["champion"]})
    with pytest.raises(ValueError, match="champion"):
        phases_from_table(derived, table, WINDOW)


# -------------------------------------------------------------------- migration


def migration_frame() -> pd.DataFrame:
    rows = [
        ("T1", "C1", "aware", "trial"),
        ("T1", "C2", "aware", "trial"),
        ("T1", "C3", "aware", "aware"),
        ("T1", "C4", "loyal", "adopter"),
        ("T1", "C5", None, "trial"),        # not present in the comparison window: excluded
        ("T2", "C6", "unaware", "unaware"),
    ]
    return pd.DataFrame({
        "territory_id": [r[0] for r in rows],
        "customer_id": [r[1] for r in rows],
        "market": "M1",
        "phase_previous": pd.Categorical([r[2] for r in rows], dtype=PHASE_DTYPE),
        "phase": pd.Categorical([r[3] for r in rows], dtype=PHASE_DTYPE),
    })


def test_migration_counts_and_rates():
    table = migration(migration_frame())
    assert list(table.columns) == ["territory_id", "market", "phase_previous", "phase", "customers"]
    assert len(table) == 2 * 6 * 6            # full grid for T1/M1 and T2/M1
    assert table["phase"].dtype == PHASE_DTYPE and table["phase_previous"].dtype == PHASE_DTYPE
    counts = {(t, str(p0), str(p1)): n for t, _, p0, p1, n in table.itertuples(index=False) if n}
    assert counts == {
        ("T1", "aware", "trial"): 2,
        ("T1", "aware", "aware"): 1,
        ("T1", "loyal", "adopter"): 1,
        ("T2", "unaware", "unaware"): 1,
    }
    assert table.groupby("territory_id")["customers"].sum().to_dict() == {"T1": 4, "T2": 1}  # C5 excluded

    rates = migration_rates(table)
    rate = {(t, str(p0), str(p1)): r for t, _, p0, p1, _, r in rates.itertuples(index=False)}
    # T1 aware row: 2 + 1 = 3 customers -> trial 2/3, aware 1/3, every other phase 0
    assert rate[("T1", "aware", "trial")] == pytest.approx(2 / 3)
    assert rate[("T1", "aware", "aware")] == pytest.approx(1 / 3)
    assert rate[("T1", "aware", "loyal")] == 0.0
    # T1 loyal row: 1 customer, all to adopter
    assert rate[("T1", "loyal", "adopter")] == 1.0
    # T1 unaware row: no customers -> NaN
    assert np.isnan(rate[("T1", "unaware", "unaware")])


def test_migration_rows_are_in_ladder_order():
    table = migration(migration_frame())
    first = table[table["territory_id"] == "T1"]
    assert first["phase_previous"].astype(str).tolist()[::6] == list(PHASES)
    assert first["phase"].astype(str).tolist()[:6] == list(PHASES)


# ------------------------------------------------------------------- properties

unit_pair = st.integers(0, 20).flatmap(lambda m: st.tuples(st.integers(0, m), st.just(m)))
customer_rows = st.lists(
    st.fixed_dictionaries({
        "territory_id": st.sampled_from(["T1", "T2"]),
        "market": st.sampled_from(["M1", "M2"]),
        "units": st.fixed_dictionaries({w: unit_pair for w in WINDOWS}),
        "outcomes": st.lists(st.tuples(st.sampled_from(["2025-11-01", "2026-02-01", "2026-05-01"]),
                                       st.sampled_from(["none", "opened", "engaged", "attended", None])),
                             max_size=4),
        "drop_previous": st.booleans(),
    }),
    min_size=1, max_size=25,
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(customer_rows)
def test_property_phases_and_migration(rows):
    for i, row in enumerate(rows):
        row["customer_id"] = f"C{i}"
    frame = customer_frame(rows)
    acts = [(row["customer_id"], d, o) for row in rows for d, o in row["outcomes"]]
    responses = responses_by_window(contacts(activities_frame(acts)), WINDOW) if acts else None
    out = derive_phases(frame, responses)
    # every phase is on the ladder, none missing
    assert out["phase"].notna().all() and out["phase_previous"].notna().all()
    assert set(out["phase"].astype(str)) <= set(PHASES)
    assert set(out["phase_previous"].astype(str)) <= set(PHASES)
    # customers not present in the comparison window are left out of the migration
    dropped = np.array([row["drop_previous"] for row in rows])
    out["phase_previous"] = out["phase_previous"].where(~dropped)
    table = migration(out)
    both = out[out["phase_previous"].notna() & out["phase"].notna()]
    assert table["customers"].sum() == len(both)
    per_group = table.groupby(["territory_id", "market"])["customers"].sum()
    expected = both.groupby(["territory_id", "market"]).size().reindex(per_group.index, fill_value=0)
    assert per_group.tolist() == expected.tolist()
    assert (table.groupby(["territory_id", "market"]).size() == 36).all()
    # each non-empty row of rates sums to 1
    rates = migration_rates(table)
    row_sums = rates.groupby(["territory_id", "market", "phase_previous"], observed=True)["rate"].sum(min_count=1)
    assert np.allclose(row_sums.dropna(), 1.0)
