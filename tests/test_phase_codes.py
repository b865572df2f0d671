"""Phases and the 3C tables on codes: the same tables as the groupbys, grids and merges
they replace (missing values, empty frames, text, Arrow text, object and categorical keys)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from analysis.contract.schema import PHASE_LEVELS, PHASES, SALES_ONLY_PHASES
from analysis.domain.market import product_units
from analysis.domain.periods import WINDOWS, Window
from analysis.domain.phases import (GROUP, PHASE_DTYPE, _count_sums, _dense_groups, _level_codes,
                                    _responses_grouped,
                                    as_phase, grid_keys, is_label, migration, responses_by_window,
                                    territory_markets)
from analysis.domain.three_c import (POSITION_DTYPE, POSITIONS, _Distinct, _is_true, _leading_competitor,
                                     _position_rows, _sorted_codes, as_position, attach_competitor_position,
                                     competitor_position, customer_effort, flag_counts, three_c_matrix)

WINDOW = Window("2026-06", 3)
KINDS = ["str", object, "category", pd.ArrowDtype(pa.large_string()), "string[pyarrow]"]


def same(left: pd.DataFrame, right: pd.DataFrame) -> None:
    """Equal tables: values (floats to the bit), dtypes, columns and index."""
    pd.testing.assert_frame_equal(left, right, check_exact=True)
    assert list(left.dtypes) == list(right.dtypes) and type(left.index) is type(right.index)
    for col in left.columns:
        if left[col].dtype.kind == "f":
            assert np.array_equal(left[col].to_numpy().view(np.int64), right[col].to_numpy().view(np.int64)), col


def texts(rng, n: int, labels: list, kind, missing: float = 0.1) -> pd.Series:
    values = [labels[i] if rng.random() >= missing else None for i in rng.integers(0, len(labels), n)]
    return pd.Series(values, dtype=object).astype(kind)


def customer_frame(rng, n: int, kind) -> pd.DataFrame:
    """A customer x market frame with phases, positions, effort and flags (some missing)."""
    def phases(levels):
        return pd.Series(pd.Categorical([levels[i] if i < len(levels) else None
                                         for i in rng.integers(0, len(levels) + 1, n)], dtype=PHASE_DTYPE))
    flag = [pd.array([None, False, True], dtype="boolean")[i] for i in rng.integers(0, 3, n)]
    return pd.DataFrame({
        "territory_id": texts(rng, n, ["T2", "T1", "T3"], kind),
        "market": texts(rng, n, ["M2", "M1"], kind, missing=0.05),
        "customer_id": texts(rng, n, [f"C{i}" for i in range(12)], kind, missing=0.05),
        "segment": texts(rng, n, ["A", "B"], kind, missing=0.3),
        "phase_previous": phases(PHASES),
        "phase": phases([*PHASES, "below_trial"]),
        "competitor_position": pd.Series(pd.Categorical(
            [POSITIONS[i] if i < 4 else None for i in rng.integers(0, 5, n)], dtype=POSITION_DTYPE)),
        "potential": np.where(rng.random(n) > 0.2, rng.random(n) * 100, np.nan),
        "effort_cost": np.where(rng.random(n) > 0.3, rng.random(n) * 10, np.nan),
        **{name: pd.array(flag, dtype="boolean") for name in ("competitor_locked", "stalled", "slipping")},
    })


# ------------------------------------------------------------------ the replaced expressions


def grid(frame: pd.DataFrame, **axes) -> pd.DataFrame:
    groups = frame[GROUP].drop_duplicates().sort_values(GROUP, kind="mergesort", ignore_index=True)
    index = pd.MultiIndex.from_product(list(axes.values()), names=list(axes))
    return groups.merge(index.to_frame(index=False), how="cross")


def migration_merged(frame: pd.DataFrame, phases=PHASES) -> pd.DataFrame:
    both = frame.loc[frame["phase_previous"].notna() & frame["phase"].notna(), [*GROUP, "phase_previous", "phase"]]
    counts = pd.DataFrame({**{k: both[k].to_numpy() for k in GROUP},
                           "phase_previous": both["phase_previous"].astype(object).to_numpy(),
                           "phase": both["phase"].astype(object).to_numpy()})
    counts = counts.groupby([*GROUP, "phase_previous", "phase"], sort=False).size().rename("customers").reset_index()
    seen = set(phases) | set(counts["phase_previous"]) | set(counts["phase"])
    phases = [p for p in PHASE_LEVELS if p in seen]
    out = grid(both, phase_previous=phases, phase=phases).merge(counts, on=[*GROUP, "phase_previous", "phase"],
                                                                 how="left")
    out["customers"] = out["customers"].fillna(0).astype("int64")
    return out.assign(phase_previous=as_phase(out["phase_previous"]), phase=as_phase(out["phase"]))


def three_c_merged(frame: pd.DataFrame, phases=PHASES) -> pd.DataFrame:
    cells = pd.DataFrame({
        **{k: frame[k].to_numpy() for k in GROUP},
        "phase": frame["phase"].astype(object).to_numpy(),
        "competitor_position": as_position(frame["competitor_position"]).astype(object).to_numpy(),
        "potential": np.nan_to_num(frame["potential"].to_numpy(dtype=float)),
        "effort_cost": frame["effort_cost"].to_numpy(dtype=float),
    })
    keys = [*GROUP, "phase", "competitor_position"]
    sums = cells.groupby(keys, sort=False, dropna=False).agg(
        customers=("potential", "size"), potential=("potential", "sum"), effort_cost=("effort_cost", "sum"),
        _known=("effort_cost", "count")).reset_index()
    sums["effort_cost"] = sums["effort_cost"].where(sums.pop("_known") > 0)
    known_effort = bool(np.isfinite(cells["effort_cost"]).any()) or not len(cells)
    present = set(phases) | set(pd.unique(cells["phase"]))
    phases = [p for p in PHASE_LEVELS if p in present] + ([None] if cells["phase"].isna().any() else [])
    cross = grid(frame, phase=phases, competitor_position=list(POSITIONS))
    cross["phase"], sums["phase"] = cross["phase"].astype(object), sums["phase"].astype(object)
    out = cross.merge(sums, on=keys, how="left")
    out["customers"] = out["customers"].fillna(0).astype("int64")
    out["potential"] = out["potential"].fillna(0.0).astype("float64")
    out["effort_cost"] = out["effort_cost"].astype("float64").fillna(0.0) if known_effort else np.nan
    return out.assign(phase=as_phase(out["phase"]), competitor_position=as_position(out["competitor_position"]))


def flag_counts_grouped(frame: pd.DataFrame) -> pd.DataFrame:
    rows = frame.loc[frame["segment"].notna(), [*GROUP, "customer_id", "competitor_locked", "stalled", "slipping"]]
    out = rows.groupby(GROUP, sort=True, observed=True)["customer_id"].nunique().rename("customers").to_frame()
    for name in ("competitor_locked", "stalled", "slipping"):
        values = rows[name].astype("boolean")
        known = values.notna().groupby([rows[k] for k in GROUP], observed=True).any()
        hits = rows[values.fillna(False).astype(bool)].groupby(GROUP, observed=True)["customer_id"].nunique()
        out[name] = hits.reindex(out.index, fill_value=0).astype("Int64").where(known.reindex(out.index,
                                                                                            fill_value=False))
    return out.reset_index()


# ------------------------------------------------------------------------------ helpers


@pytest.mark.parametrize("kind", KINDS)
def test_is_label_is_the_object_comparison(kind):
    values = pd.Series(["high", None, "low", "high", ""], dtype=object).astype(kind)
    for label in ("high", "low", "absent", ""):
        assert is_label(values, label).tolist() == (values.astype(object) == label).tolist()
    assert is_label(values.iloc[:0], "high").tolist() == []


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n", [0, 1, 40])
def test_territory_markets_are_the_sorted_distinct_rows(kind, n):
    frame = customer_frame(np.random.default_rng(n), n, kind)
    pair, groups = territory_markets(frame)
    expected = frame[GROUP].drop_duplicates().sort_values(GROUP, kind="mergesort", ignore_index=True)
    same(groups, expected)
    same(groups.take(pair).reset_index(drop=True), frame[GROUP].reset_index(drop=True))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n", [0, 30])
def test_grid_keys_are_typed_as_the_merge(kind, n):
    frame = customer_frame(np.random.default_rng(n), n, kind)
    _, groups = territory_markets(frame)
    cross = grid(frame, cell=[1, 2, 3])
    rebuilt = pd.DataFrame({k: frame[k].to_numpy() for k in GROUP}).assign(cell=1, counted=1)
    merged = cross.merge(rebuilt.groupby([*GROUP, "cell"], sort=False).size().rename("n").reset_index(),
                         on=[*GROUP, "cell"], how="left")
    same(grid_keys(groups, 3), merged[GROUP])


def test_dense_groups_are_unique_with_inverse():
    key = np.random.default_rng(1).integers(0, 50, 300)
    present, inverse = _dense_groups(key, 60)
    expected = np.unique(key, return_inverse=True)
    assert present.tolist() == expected[0].tolist() and inverse.tolist() == expected[1].tolist()
    assert _dense_groups(np.array([], dtype=np.int64), 0)[0].tolist() == []


@pytest.mark.parametrize("counts", [np.arange(40) % 7, (np.arange(40) % 7) * 2 ** 60 // 8, np.arange(40) / 3.0,
                                    np.array([], dtype=np.int64)])
def test_count_sums_are_the_groupby_sums(counts):
    groups = np.arange(len(counts)) % 5
    expected = pd.Series(counts).groupby(groups).sum().reindex(range(6), fill_value=0).to_numpy()
    out = _count_sums(counts, groups, 6)
    assert out.dtype == expected.dtype and np.array_equal(out, expected)


def test_level_codes_of_text_and_categorical_phases():
    text = pd.Series(["loyal", None, "aware", "not a phase", "below_trial"], dtype=object)
    assert _level_codes(text).tolist() == [6, -1, 1, -1, 3]
    assert _level_codes(as_phase(text.where(text != "not a phase"))).tolist() == [6, -1, 1, -1, 3]


@pytest.mark.parametrize("kind", ["str", object, pd.ArrowDtype(pa.large_string())])
@pytest.mark.parametrize("n", [0, 1, 60])
def test_responses_by_window_are_the_groupby(kind, n):
    rng = np.random.default_rng(n)
    periods = ["2025-10", "2025-12", "2026-01", "2026-04", "2026-06", "2024-01", None]
    contacts = pd.DataFrame({
        "customer_id": texts(rng, n, [f"C{i}" for i in range(9)], kind),
        "period": texts(rng, n, periods, "str", missing=0.0),
        **{c: rng.integers(0, 4, n) for c in ("activities", "responses", "positive")},
    })
    out = responses_by_window(contacts, WINDOW)
    same(out, _responses_grouped(contacts, WINDOW))
    assert out["window"].dtype == pd.CategoricalDtype(list(WINDOWS))


def test_sorted_codes_are_a_sorted_factorize():
    values = pd.Series(["P3", None, "P1", "P3", "P10"], dtype="str")
    codes, uniques = _sorted_codes(values)
    expected = pd.factorize(values, sort=True)
    assert codes.tolist() == expected[0].tolist() and uniques.equals(expected[1])
    assert uniques.dtype == expected[1].dtype


def test_leading_competitor_is_the_first_after_sorting():
    rng = np.random.default_rng(4)
    pair, product, units = rng.integers(0, 20, 200), rng.integers(0, 6, 200), rng.integers(1, 4, 200).astype(float)
    lead, lead_units = _leading_competitor(pair, product, units, 22)
    rows = pd.DataFrame({"pair": pair, "product": product, "units": units})
    first = rows.iloc[np.lexsort((product, -units, pair))].drop_duplicates("pair").set_index("pair")
    assert lead.tolist() == first["product"].reindex(range(22), fill_value=-1).tolist()
    assert lead_units.tolist() == first["units"].reindex(range(22), fill_value=0.0).tolist()


def test_is_true_is_the_object_comparison():
    for values in (pd.Series([True, False, True]), pd.Series([True, None, 1, 0], dtype=object)):
        assert _is_true(values).tolist() == values.astype(object).eq(True).tolist()


def test_position_rows_are_the_merge():
    frame = pd.DataFrame({"customer_id": ["C2", "C1", "C3", "C1"], "market": ["M1", "M1", "M1", "M2"]}, dtype="str")
    positions = pd.DataFrame({"customer_id": ["C1", "C2", "C1"], "market": ["M2", "M1", "M1"]}, dtype="str")
    assert _position_rows(frame, positions).tolist() == [1, 2, -1, 0]
    assert _position_rows(frame, pd.concat([positions, positions.head(1)])) is None  # repeated: the merge decides
    assert _position_rows(frame, positions.assign(market=["M2", None, "M1"])) is None  # missing: the merge decides


def test_distinct_counts_are_nunique():
    rng = np.random.default_rng(5)
    groups, codes, rows = rng.integers(0, 5, 100), rng.integers(-1, 8, 100), rng.random(100) > 0.4
    expected = pd.Series(np.where(codes[rows] >= 0, codes[rows], np.nan)).groupby(groups[rows]).nunique()
    assert _Distinct(groups, codes, 6).among(rows).tolist() == expected.reindex(range(6), fill_value=0).tolist()


def test_position_categoricals_keep_their_codes():
    values = pd.Series(pd.Categorical(["own_led", None, "contested"], dtype=POSITION_DTYPE), name="p")
    same(as_position(values).to_frame(), as_position(values.astype(object)).to_frame())


# ------------------------------------------------------------------------------ tables


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n", [0, 1, 80])
@pytest.mark.parametrize("phases", [PHASES, SALES_ONLY_PHASES])
def test_migration_and_three_c_are_the_grid_merges(kind, n, phases):
    frame = customer_frame(np.random.default_rng(n), n, kind)
    same(migration(frame, phases), migration_merged(frame, phases))
    same(three_c_matrix(frame, phases), three_c_merged(frame, phases))
    no_effort = frame.assign(effort_cost=np.nan)
    same(three_c_matrix(no_effort, phases), three_c_merged(no_effort, phases))
    text = frame.assign(phase=frame["phase"].astype(object), phase_previous=frame["phase_previous"].astype(object),
                        competitor_position=frame["competitor_position"].astype(object))
    same(migration(text, phases), migration_merged(text, phases))
    same(three_c_matrix(text, phases), three_c_merged(text, phases))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n", [0, 1, 80])
def test_flag_counts_are_the_groupby(kind, n):
    frame = customer_frame(np.random.default_rng(n), n, kind)
    same(flag_counts(frame), flag_counts_grouped(frame))


@pytest.mark.parametrize("kind", ["str", object, pd.ArrowDtype(pa.large_string())])
@pytest.mark.parametrize("n", [0, 1, 90])
def test_product_units_and_positions_are_the_groupbys(kind, n):
    rng = np.random.default_rng(n)
    sales = pd.DataFrame({
        "customer_id": texts(rng, n, [f"C{i}" for i in range(7)], kind, missing=0.05),
        "market": texts(rng, n, ["M1", "M2"], kind, missing=0.0),
        "product_id": texts(rng, n, ["P1", "P2", "P3"], kind, missing=0.05),
        "is_own": rng.random(n) > 0.6,
        "units": np.where(rng.random(n) > 0.1, np.round(rng.random(n) * 4), np.nan),
        "window": texts(rng, n, ["analysis", "comparison"], "str", missing=0.0),
    })
    rows = sales[sales["window"] == "analysis"]
    same(product_units(sales), rows.groupby(["customer_id", "market", "product_id", "is_own"], sort=False)["units"]
         .sum().reset_index())
    units = product_units(sales)
    positions = competitor_position(units)
    keys = units[["customer_id", "market"]].dropna().drop_duplicates().sort_values(["customer_id", "market"])
    assert positions[["customer_id", "market"]].values.tolist() == keys.values.tolist()
    frame = keys.assign(customer_id=keys["customer_id"]).reset_index(drop=True)
    merged = frame.merge(positions, on=["customer_id", "market"], how="left")
    merged["competitor_position"] = as_position(merged["competitor_position"])
    same(attach_competitor_position(frame, positions), merged)


@pytest.mark.parametrize("n", [0, 1, 50])
def test_customer_effort_is_the_sorted_groupby(n):
    rng = np.random.default_rng(n)
    activities = pd.DataFrame({
        "customer_id": texts(rng, n, [f"C{i}" for i in range(6)], "str"),
        "date": pd.Timestamp("2026-01-01") + pd.to_timedelta(rng.integers(0, 180, n), unit="D"),
        "cost": np.where(rng.random(n) > 0.2, rng.random(n) * 10, np.nan),
    })
    rows = activities[activities["date"] >= WINDOW.start_date("analysis")].assign(cost=lambda t: t["cost"].fillna(0.0))
    expected = rows.groupby("customer_id").agg(activities=("cost", "size"), effort_cost=("cost", "sum")).reset_index()
    same(customer_effort(activities, WINDOW), expected.astype({"activities": "int64", "customer_id": "str"}))
