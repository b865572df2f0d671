"""Phase forecast: a 3-phase example worked on paper."""
from __future__ import annotations

import pandas as pd
import pytest

from analysis.domain.forecast import phase_forecast

# Migration counts (comparison -> analysis), 10 customers per previous phase:
#   unaware    -> unaware 6, aware 3, interested 1     rates .6 .3 .1
#   aware      -> unaware 2, aware 4, interested 4     rates .2 .4 .4
#   interested -> unaware 0, aware 2, interested 8     rates  0 .2 .8
COUNTS = {("unaware", "unaware"): 6, ("unaware", "aware"): 3, ("unaware", "interested"): 1,
          ("aware", "unaware"): 2, ("aware", "aware"): 4, ("aware", "interested"): 4,
          ("interested", "unaware"): 0, ("interested", "aware"): 2, ("interested", "interested"): 8}


def migration(counts=COUNTS, territory="T1", market="m") -> pd.DataFrame:
    return pd.DataFrame([{"territory_id": territory, "market": market, "phase_previous": a, "phase": b, "customers": n}
                         for (a, b), n in counts.items()])


def test_three_phase_example_worked_on_paper():
    f = phase_forecast(migration()).set_index("phase")
    assert list(f.index) == ["unaware", "aware", "interested"]
    # now: the columns of the matrix: 8, 9, 13 (30 customers)
    assert f["customers"].tolist() == [8, 9, 13]
    # one step: unaware 8*.6 + 9*.2 = 6.6; aware 8*.3 + 9*.4 + 13*.2 = 8.6; interested .8 + 3.6 + 10.4 = 14.8
    assert f["customers_next"].tolist() == pytest.approx([6.6, 8.6, 14.8])
    assert f["share_next"].tolist() == pytest.approx([6.6 / 30, 8.6 / 30, 14.8 / 30])
    # steady state pi = pi P: .4 pi_u = .2 pi_a -> pi_a = 2 pi_u; .2 pi_i = .1 pi_u + .4 pi_a -> pi_i = 4.5 pi_u;
    # pi_u (1 + 2 + 4.5) = 1 -> 2/15, 4/15, 9/15
    assert f["share_steady"].tolist() == pytest.approx([2 / 15, 4 / 15, 9 / 15], abs=1e-9)
    assert f["converged"].all() and f["rates_observed"].all()


def test_unobserved_phase_keeps_its_customers_and_cycles_do_not_converge():
    counts = {("unaware", "aware"): 6, ("aware", "unaware"): 2, ("interested", "interested"): 0,
              ("unaware", "unaware"): 0, ("aware", "aware"): 0, ("unaware", "interested"): 0,
              ("aware", "interested"): 0, ("interested", "unaware"): 0, ("interested", "aware"): 0}
    f = phase_forecast(migration(counts)).set_index("phase")
    assert not f.loc["interested", "rates_observed"]
    # now: unaware 2, aware 6; every unaware customer becomes aware and back: 6, 2 next
    assert f["customers"].tolist() == [2, 6, 0]
    assert f["customers_next"].tolist() == pytest.approx([6, 2, 0])
    assert not f["converged"].any() and f["share_steady"].isna().all()  # swaps forever, never settles


def test_several_territories_and_no_comparison():
    both = pd.concat([migration(), migration(territory="T2", market="n")], ignore_index=True)
    f = phase_forecast(both)
    assert len(f) == 6 and set(f["territory_id"]) == {"T1", "T2"}
    assert f.groupby("territory_id")["customers_next"].sum().tolist() == pytest.approx([30, 30])
    empty = phase_forecast(migration().iloc[0:0])
    assert empty.empty and "share_next" in empty
