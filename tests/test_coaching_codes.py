"""The coaching module's groupings on category codes, against the pandas expressions they replace.

Each helper is checked against the groupby / merge / map it stands for, with missing
values, empty inputs, and categorical as well as text keys; roi_by as a whole against
the label-based implementation it replaced (:func:`_roi_by_by_labels`, kept here).
"""
import numpy as np
import pandas as pd
import pytest

from analysis.domain import coaching as C
from analysis.domain.channels import _labels, split_cost
from analysis.domain.keys import inner_join, left_join

from test_coaching import MARGINS, scenario


def _codes(values):
    return np.asarray(values, dtype=np.int8)


@pytest.mark.parametrize("dtype", [None, "category"])
def test_labels_of_codes_are_the_labels_of_the_categorical(dtype):
    values = pd.Series(["b", None, "a", "b"], dtype="str").astype("category")
    codes = np.array([1, -1, 0, 0])
    expected = _labels(pd.DataFrame({"k": pd.Categorical.from_codes(codes, dtype=values.dtype)}), ["k"])["k"]
    got = C._labels_of(values, codes)
    assert got.dtype == pd.Index(expected.to_numpy()).dtype
    assert got.equals(pd.Index(expected.to_numpy()))


def test_codes_among_tells_missing_from_absent():
    categorical = pd.Series(["t1", "t2"], dtype="category")
    values = pd.Series(["t2", None, "t9", "t1"], dtype="str")
    assert C._codes_among(values, categorical).tolist() == [1, -1, -2, 0]


@pytest.mark.parametrize("as_text", [False, True])
def test_rep_customers_and_coverage_are_the_groupby_and_the_merge(as_text):
    facts = pd.DataFrame({"rep_id": ["r1", "r2", "r1", None, "r2", "r1"],
                          "customer_id": ["c1", "c1", "c1", "c2", None, "c3"],
                          "moved_up": [False, False, True, True, True, False]})
    if not as_text:
        facts = facts.astype({"rep_id": "category", "customer_id": "category"})
    rep, customer = C._codes(facts["rep_id"]), C._codes(facts["customer_id"])
    pairs, coverage = C._rep_customers(rep, customer, facts["moved_up"])
    expected = facts.assign(rep_id=facts["rep_id"].astype(object)).groupby(
        ["rep_id", "customer_id"], sort=False)["moved_up"].any().reset_index()
    assert C._labels_of(rep, pairs["_rep"].to_numpy()).tolist() == expected["rep_id"].tolist()
    assert C._labels_of(customer, pairs["_customer"].to_numpy()).tolist() == expected["customer_id"].astype(
        object).tolist()
    assert pairs["_moved"].tolist() == expected["moved_up"].tolist()
    cand = pd.DataFrame({"rep_id": ["r1", "r1", "r2", "r3", None, "r2"],
                         "customer_id": ["c1", "c2", "c1", "c1", "c1", None]})
    merged = cand.merge(expected[["rep_id", "customer_id"]].assign(_covered=True), on=["rep_id", "customer_id"],
                        how="left")
    assert coverage.among(cand["rep_id"], cand["customer_id"]).tolist() == merged["_covered"].notna().tolist()
    empty = facts.iloc[:0]
    pairs, coverage = C._rep_customers(C._codes(empty["rep_id"]), C._codes(empty["customer_id"]), empty["moved_up"])
    assert len(pairs) == 0 and not coverage.among(cand["rep_id"], cand["customer_id"]).any()


def test_activity_share_is_split_cost_of_one():
    _, _, _, facts = scenario()
    expected = split_cost(facts.assign(cost=1.0)).to_numpy()
    assert C._activity_share(facts).tobytes() == expected.tobytes()
    without = facts.drop(columns="market_count")
    assert C._activity_share(without).tobytes() == split_cost(without.assign(cost=1.0)).to_numpy().tobytes()


def test_departments_of_the_reps_territory_are_the_joined_comparison():
    reps, customers, _, facts = scenario()
    customers.loc[customers["customer_id"] == "d2", "territory_id"] = None   # a department without territory
    customers = pd.concat([customers, customers[customers["customer_id"] == "d1"].assign(customer_type="hcp")])
    facts = pd.concat([facts, facts.iloc[[0]].assign(rep_id="S9", customer_id="d1")])  # a rep not in reps
    rep_territory = reps[["rep_id", "territory_id"]]
    rep, customer = C._codes(facts["rep_id"]), C._codes(facts["customer_id"])
    pairs, _ = C._rep_customers(rep, customer, facts["moved_up"])
    got = C._in_own_territory_department(pairs, rep, customer, customers, rep_territory)
    labelled = pd.DataFrame({"rep_id": C._labels_of(rep, pairs["_rep"].to_numpy()),
                             "customer_id": C._labels_of(customer, pairs["_customer"].to_numpy())})
    info = customers[["customer_id", "territory_id", "customer_type"]].drop_duplicates("customer_id").rename(
        columns={"territory_id": "_customer_territory"})
    joined = left_join(left_join(labelled, info, ["customer_id"]), rep_territory, ["rep_id"])
    expected = ((joined["customer_type"] == C.DEPARTMENT)
                & (joined["_customer_territory"] == joined["territory_id"])).astype(bool)
    assert got.tolist() == expected.tolist() and got.sum() == 1  # d1 by S1 (d2 has no territory, S9 no rep row)


def _roi_by_by_labels(frame, facts, by, unit_margin_by_market, *, has_comparison=True):
    """roi_by as it was written on labels (groupby / join on text), the reference."""
    keys = ["territory_id", by]
    facts = facts.reset_index(drop=True)
    frame = frame.reset_index(drop=True)
    split = split_cost(facts)
    rows = pd.DataFrame({"territory_id": C._codes(facts["territory_id"]), by: C._codes(facts[by]),
                         "customer_id": C._codes(facts["customer_id"]), "cost": split,
                         "_count": split_cost(facts.assign(cost=1.0))})
    cost = _labels(rows.groupby(keys, sort=False, dropna=False, observed=True)["cost"].sum().reset_index(), keys)
    changes = C._unit_changes(frame, unit_margin_by_market).assign(
        territory_id=frame["territory_id"].astype(object), customer_id=frame["customer_id"],
        market=frame["market"].astype(object), segment=frame["segment"].astype(object))
    if by == "segment":
        touched = _labels(rows[["territory_id", "customer_id"]].drop_duplicates(), ["territory_id", "customer_id"])
        parts = inner_join(changes, touched, ["territory_id", "customer_id"])
    else:
        per = rows.groupby(["territory_id", "customer_id", by], sort=False, dropna=False, observed=True)[
            ["cost", "_count"]].sum()
        per = _labels(per.reset_index(), ["territory_id", "customer_id", by])
        total = per.groupby(["territory_id", "customer_id"], sort=False)[["cost", "_count"]].transform("sum")
        per["weight"] = np.where(total["cost"] > 0, per["cost"] / total["cost"].where(total["cost"] > 0),
                                 per["_count"] / total["_count"])
        change = changes.groupby(["territory_id", "customer_id"], sort=False)[
            ["own_units_change", "margin_change"]].sum().reset_index()
        parts = left_join(per, change, ["territory_id", "customer_id"])
        for column in ("own_units_change", "margin_change"):
            parts[column] = parts[column].fillna(0.0) * parts["weight"]
    units = parts.groupby(keys, sort=False, dropna=False).agg(
        own_units_change=("own_units_change", "sum"), margin_change=("margin_change", "sum"),
        customers=("customer_id", "nunique")).reset_index()
    out = cost.merge(units, on=keys, how="outer")
    out["cost"] = out["cost"].fillna(0.0).astype(float)
    out[["own_units_change", "margin_change"]] = out[["own_units_change", "margin_change"]].fillna(0.0).astype(float)
    if not has_comparison:
        out[["own_units_change", "margin_change"]] = np.nan
    out["customers"] = out["customers"].fillna(0).astype("int64")
    out["roi"] = C._rate(out["margin_change"], out["cost"])
    out = out.sort_values(keys, kind="mergesort", na_position="last", ignore_index=True)
    return out[[*keys, *C.ROI_COLUMNS]]


def _odd_facts(categorical: bool):
    """The scenario's facts with a missing rep, channel and segment, a zero-cost shared customer."""
    _, _, frame, facts = scenario()
    facts = pd.concat([facts, facts.iloc[[0, -1]].assign(rep_id=None, channel=None, segment=None),
                       facts.iloc[[3]].assign(rep_id="R62", cost=0.0), facts.iloc[[3]].assign(cost=0.0)],
                      ignore_index=True)
    facts.loc[facts["customer_id"] == "h03", "cost"] = 0.0
    frame.loc[frame["customer_id"] == "k2", "segment"] = None
    if categorical:
        facts = facts.astype({k: "category" for k in ("territory_id", "customer_id", "rep_id", "channel", "segment")})
    return frame, facts


@pytest.mark.parametrize("categorical", [False, True])
@pytest.mark.parametrize("by", C.BY_CHOICES)
@pytest.mark.parametrize("has_comparison", [True, False])
def test_roi_by_is_the_label_based_table(categorical, by, has_comparison):
    frame, facts = _odd_facts(categorical)
    got = C.roi_by(frame, facts, by, MARGINS, has_comparison=has_comparison)
    expected = _roi_by_by_labels(frame, facts, by, MARGINS, has_comparison=has_comparison)
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    empty = C.roi_by(frame, facts.iloc[:0], by, MARGINS, has_comparison=has_comparison)
    pd.testing.assert_frame_equal(empty, _roi_by_by_labels(frame, facts.iloc[:0], by, MARGINS,
                                                           has_comparison=has_comparison), check_exact=True)
