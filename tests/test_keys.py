"""Key lookups (analysis.domain.keys): the same positions as pandas, faster on Arrow text."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from analysis.domain.keys import (among, sort_positions, code_positions, coded_with_missing, floats, group_sums, grouped, groups_of,
                                 is_in, labels_as_category, left_join, mapped, positions_in, text_of)

VALUES = ["C3", "C1", None, "C9", "C1", "", "c1"]
KEYS = ["C1", "C2", "C3", ""]


@pytest.mark.parametrize("values_dtype", ["str", object, pd.ArrowDtype(pa.large_string())])
@pytest.mark.parametrize("keys_dtype", ["str", object])
def test_positions_are_get_indexer(values_dtype, keys_dtype):
    values, keys = pd.Series(VALUES, dtype=values_dtype), pd.Index(KEYS, dtype=keys_dtype)
    found = positions_in(values, keys)
    assert found.tolist() == [2, 0, -1, -1, 0, 3, -1]  # by hand: C9, c1 and the missing one absent
    assert found.tolist() == pd.Index(keys).get_indexer(values).tolist()


@pytest.mark.parametrize("keys", [pd.Index([], dtype="str"), pd.Index([], dtype=object), pd.RangeIndex(0),
                                  pd.Series({}).index])
def test_no_keys_find_nothing(keys):
    values = pd.Series(VALUES, dtype="str")
    assert positions_in(values, keys).tolist() == [-1] * len(VALUES) == pd.Index(keys).get_indexer(values).tolist()
    assert mapped(values, {}).isna().all() and len(mapped(values, {})) == len(VALUES)


@pytest.mark.parametrize("values_dtype", ["str", object])
def test_no_values_find_nothing(values_dtype):
    values, keys = pd.Series([], dtype=values_dtype), pd.Index(KEYS, dtype="str")
    found = positions_in(values, keys)
    assert found.dtype == np.intp and found.tolist() == [] == pd.Index(keys).get_indexer(values).tolist()


def test_a_missing_value_is_found_where_the_keys_hold_one():
    values = pd.Series(["C1", None], dtype="str")
    keys = pd.Series(["C1", None], dtype="str").array  # Arrow-backed, with a missing key
    assert positions_in(values, keys).tolist() == [0, 1] == pd.Index(keys).get_indexer(values).tolist()


def test_string_and_large_string_arrays_are_looked_up_alike():
    values = pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array([pa.array(VALUES, pa.string())])))
    keys = pd.Index(pd.arrays.ArrowStringArray(pa.array(KEYS, pa.large_string())))
    assert positions_in(values, keys).tolist() == [2, 0, -1, -1, 0, 3, -1]


def test_among_is_isin():
    rng = np.random.default_rng(3)
    values = pd.Series([f"C{i}" for i in rng.integers(0, 50, 500)], dtype="str")
    candidates = pd.Series([f"C{i}" for i in rng.integers(0, 50, 40)], dtype="str")  # repeated ones too
    assert (among(values, candidates) == values.isin(candidates).to_numpy()).all()
    assert not among(values, []).any()


@pytest.mark.parametrize("candidates", [["A", "B"], ["loyal"], [], ["A", None], ["Z"], ("B",)])
def test_is_in_is_isin(candidates):
    """Categoricals (with missing values and unused categories) by their codes; other
    columns by pandas: the same answers, a missing value found only among missing ones."""
    labels = ["A", "B", None, "C", "loyal", "B", None]
    for values in (pd.Series(pd.Categorical(labels, categories=["A", "B", "C", "D", "loyal"])),
                   pd.Series(labels, dtype="category"), pd.Series(labels, dtype="str"), pd.Series(labels, dtype=object)):
        got = is_in(values, candidates)
        assert got.dtype == bool and got.tolist() == values.isin(list(candidates)).tolist()


@pytest.mark.parametrize("mapping", [
    pd.Series([1.5, 2.5], index=pd.Index(["C1", "C3"], dtype="str")),
    pd.Series([4, 5], index=pd.Index(["C1", ""], dtype=object)),  # ints: float where a value has none
    {"C1": "beds", "C9": "catchment"},
])
def test_mapped_is_map(mapping):
    values = pd.Series(VALUES, dtype="str", name="customer_id", index=range(10, 17))
    pd.testing.assert_series_equal(mapped(values, mapping), values.map(mapping))


def test_mapped_on_repeated_keys_fails_as_map():
    values, mapping = pd.Series(["a"], dtype="str"), pd.Series([1, 2], index=["a", "a"])
    with pytest.raises(pd.errors.InvalidIndexError):
        values.map(mapping)
    with pytest.raises(pd.errors.InvalidIndexError):
        mapped(values, mapping)


def test_combined_codes_by_hand():
    from analysis.domain.keys import combined_codes

    key = combined_codes([np.array([0, 1, 2, -1]), np.array([1, 0, 1, 0])], [3, 2])
    assert key.tolist() == [1, 2, 5, -1]  # 0*2+1, 1*2+0, 2*2+1; an absent code: no key


@pytest.mark.parametrize("dtype", ["str", object])
def test_factorized_and_as_category_are_pandas(dtype):
    from analysis.domain.keys import as_category, factorized

    values = pd.Series(["b", "ä", None, "B", "b", "a", "", None], dtype=dtype, name="rep_id", index=range(3, 11))
    codes, uniques = factorized(values)
    expected_codes, expected_uniques = pd.factorize(values)
    assert codes.tolist() == expected_codes.tolist() == [0, 1, -1, 2, 0, 3, 4, -1]  # first appearance
    pd.testing.assert_index_equal(uniques, expected_uniques)
    pd.testing.assert_series_equal(as_category(values), values.astype("category"))
    pd.testing.assert_series_equal(as_category(values.iloc[[2, 7]]), values.iloc[[2, 7]].astype("category"))


@pytest.mark.parametrize("seed", range(3))
def test_inner_join_is_the_inner_merge(seed):
    from analysis.domain.keys import inner_join

    rng = np.random.default_rng(seed)
    seg = pd.DataFrame({"customer_id": pd.Series([f"c{i}" for i in range(40)] * 2, dtype="str"),
                        "market": pd.Series(["m"] * 40 + ["n"] * 40, dtype="str")})
    seg = seg.sample(frac=0.7, random_state=seed).reset_index(drop=True)  # some customer x markets absent
    seg = seg.assign(territory_id=pd.Series([f"T{i % 3}" for i in range(len(seg))], dtype="str"),
                     segment=pd.Categorical(rng.choice(["A", "B"], len(seg))))
    rows = pd.DataFrame({"customer_id": pd.Series([f"c{i}" for i in rng.integers(0, 45, 200)], dtype="str"),
                         "market": pd.Series(rng.choice(["m", "n"], 200), dtype="str"), "units": rng.random(200)})
    keys = ["customer_id", "market"]
    pd.testing.assert_frame_equal(inner_join(rows, seg, keys), rows.merge(seg, on=keys, how="inner"))
    twice = pd.concat([seg, seg.iloc[:3]], ignore_index=True)  # a customer x market listed twice: the merge
    pd.testing.assert_frame_equal(inner_join(rows, twice, keys), rows.merge(twice, on=keys, how="inner"))
    clash = rows.assign(segment="x")  # a column of both: the merge's suffixes
    pd.testing.assert_frame_equal(inner_join(clash, seg, keys), clash.merge(seg, on=keys, how="inner"))
    one = seg.drop_duplicates("customer_id")[["customer_id", "territory_id"]]  # one key column
    pd.testing.assert_frame_equal(inner_join(rows, one, ["customer_id"]), rows.merge(one, on="customer_id"))


def test_left_join_is_the_left_merge():
    from analysis.domain.keys import left_join

    left = pd.DataFrame({"k": pd.Series(["a", "b", "z", None, "a"], dtype="str"), "x": range(5)}, index=range(7, 12))
    right = pd.DataFrame({"k": pd.Series(["b", "a"], dtype="str"), "i": [10, 20], "b": [True, False],
                          "c": pd.Categorical(["u", "v"]), "f": [0.5, 1.5]})
    for rows in (left, left.iloc[[0, 1, 4]]):  # unmatched rows: widened dtypes; all matched: as they are
        pd.testing.assert_frame_equal(left_join(rows, right, ["k"]), rows.merge(right, on="k", how="left"))
    with_missing = pd.concat([right, pd.DataFrame({"k": pd.Series([None], dtype="str"), "i": [30], "b": [True],
                                                   "c": pd.Categorical(["u"]), "f": [2.5]})], ignore_index=True)
    pd.testing.assert_frame_equal(left_join(left, with_missing, ["k"]), left.merge(with_missing, on="k", how="left"))


def test_groups_by_hand():
    territory = pd.Series(["T2", "T1", "T2", None, "T1"], dtype="category", name="territory_id")
    channel = pd.Series(["email", "visit", "email", "visit", "phone"], dtype="str", name="channel")
    groups, labels = groups_of([territory, channel])
    assert groups.tolist() == [0, 1, 0, -1, 2]  # in the order first seen; a missing territory: no group
    assert labels.astype(object).values.tolist() == [["T2", "email"], ["T1", "visit"], ["T1", "phone"]]
    assert labels["territory_id"].dtype == territory.dtype and labels["channel"].dtype == channel.dtype
    groups, labels = groups_of([territory, channel], dropna=False)
    assert groups.tolist() == [0, 1, 0, 2, 3]  # the missing territory is a group of its own
    assert labels["territory_id"].isna().tolist() == [False, False, True, False]


@pytest.mark.parametrize("dropna", [True, False])
@pytest.mark.parametrize("seed", range(3))
def test_groups_are_those_of_groupby(seed, dropna):
    rng = np.random.default_rng(seed)
    n = 400
    frame = pd.DataFrame({
        "territory_id": pd.Series([f"T{i}" for i in rng.integers(0, 6, n)], dtype="category"),
        "rep_id": pd.Series([f"R{i}" for i in rng.integers(0, 9, n)], dtype="str"),
        "phase": pd.Categorical.from_codes(rng.integers(-1, 4, n), categories=["a", "b", "c", "d", "unused"]),
    })
    frame.loc[rng.integers(0, n, 20), "rep_id"] = None
    by = ["territory_id", "rep_id", "phase"]
    grouped = frame.groupby(by, sort=False, observed=True, dropna=dropna)
    groups, labels = groups_of([frame[k] for k in by], dropna=dropna)
    assert groups.tolist() == grouped.ngroup().fillna(-1).astype(int).tolist()
    expected = grouped.size().index.to_frame(index=False)
    pd.testing.assert_frame_equal(labels, expected)


def test_groups_of_no_rows():
    groups, labels = groups_of([pd.Series([], dtype="category", name="t"), pd.Series([], dtype="str", name="c")])
    assert len(groups) == 0 and list(labels.columns) == ["t", "c"] and len(labels) == 0


@pytest.mark.parametrize("codes", [
    [[0, 1, 0, 1, 2, -1, 0, -1], [3, 3, 3, 0, -1, -1, 3, 2]],
    [[-1, -1, 0], [0, 0, 0]],
    [[], []],
])
def test_grouped_numbers_groups_in_order_of_appearance_with_missing_as_a_value(codes):
    codes = [np.asarray(c, dtype=np.int8) for c in codes]
    groups, decoded = grouped(codes)
    frame = pd.DataFrame({f"k{i}": pd.Categorical.from_codes(c, categories=range(5)) for i, c in enumerate(codes)})
    expected = frame.groupby(list(frame.columns), sort=False, dropna=False, observed=True).ngroup()
    assert groups.tolist() == expected.tolist()
    for c, d in zip(codes, decoded):  # each group's codes are those of its rows
        assert d[groups].tolist() == c.tolist()
    groups, decoded = grouped(codes, dropna=True)  # a row with a missing code: in no group
    expected = frame.groupby(list(frame.columns), sort=False, dropna=True, observed=True).ngroup()
    assert groups.tolist() == expected.fillna(-1).astype(int).tolist()


def test_sums_are_the_groupby_sums_bit_for_bit():
    rng = np.random.default_rng(7)
    groups = rng.integers(0, 50, 5000)
    values = {"x": rng.random(5000) * 1e6, "y": np.where(rng.random(5000) < 0.1, np.nan, rng.random(5000) / 3)}
    out = group_sums(values, groups, 60)  # 10 groups without rows: 0
    expected = pd.DataFrame(values).groupby(groups).sum().reindex(range(60), fill_value=0.0)
    assert out.index.equals(pd.RangeIndex(60))
    for column in values:
        assert out[column].to_numpy().tobytes() == expected[column].to_numpy().tobytes()
    assert group_sums({"x": np.array([], dtype=float)}, np.array([], dtype=np.int64), 0).shape == (0, 1)


def test_left_join_with_missing_keys_and_no_right_rows_is_the_merge():
    left = pd.DataFrame({"customer_id": ["C2", "C9", None, "C1"], "x": [1, 2, 3, 4]}, index=[5, 6, 7, 8])
    right = pd.DataFrame({"customer_id": ["C1", "C2", "C3"], "n": [1, 2, 3], "flag": [True, False, True],
                          "name": ["a", None, "c"]})
    for r in (right, right.head(0)):
        pd.testing.assert_frame_equal(left_join(left, r, ["customer_id"]),
                                      left.merge(r, on="customer_id", how="left"))
    pd.testing.assert_frame_equal(left_join(left.head(2), right, ["customer_id"]),
                                  left.head(2).merge(right, on="customer_id", how="left"))


def test_floats_of_any_numeric_dtype():
    """Missing values become NaN whatever the dtype; a float column is read as it is held."""
    expected = [1.0, np.nan, 3.0]
    for values in (pd.Series([1.0, np.nan, 3.0]), pd.Series(pd.array([1, None, 3], dtype="Int64")),
                   pd.Series([1, None, 3], dtype=object), pd.Series(pd.array([1.0, None, 3.0], dtype="Float64"))):
        got = floats(values)
        assert got.dtype == np.float64
        np.testing.assert_array_equal(got, expected)
    held = pd.Series([1.0, 2.0])
    assert np.shares_memory(floats(held), held.to_numpy())
    assert floats(pd.Series([2, 3], dtype="uint8")).tolist() == [2.0, 3.0]


@pytest.mark.parametrize("size", [12, 10**9], ids=["by a table", "by a hash"])
def test_code_positions_are_get_indexer(size):
    keys = np.array([7, 0, 11, 3])
    wanted = np.array([3, 3, -1, 5, 11, 0, 7])
    found = code_positions(keys, wanted, size)
    assert found.tolist() == [3, 3, -1, -1, 2, 1, 0]  # by hand: -1 and 5 absent
    assert found.tolist() == pd.Index(keys).get_indexer(wanted).tolist()
    assert code_positions(keys[:0], wanted, size).tolist() == [-1] * len(wanted)


@pytest.mark.parametrize("dtype", ["str", object, "category"])
def test_coded_with_missing_codes_a_missing_value_as_factorize_does(dtype):
    values = pd.Series(["b", None, "a", "b", None], dtype=dtype)
    codes, uniques = coded_with_missing(values)
    expected, expected_uniques = pd.factorize(values.astype(object), use_na_sentinel=False)
    # the same partition, each code standing for the same value (a missing one included)
    assert pd.Series(uniques.take(codes)).isna().tolist() == values.isna().tolist()
    assert [u for u in uniques.take(codes) if isinstance(u, str)] == values.dropna().tolist()
    assert len(set(codes)) == len(set(expected)) == 3
    no_missing = coded_with_missing(values.dropna())
    assert (no_missing[0] >= 0).all() and no_missing[1].isna().sum() == 0


def test_sort_positions_by_hand():
    text = pd.Series(["b", "a", None, "a", "é", "z"], dtype="str")
    value = pd.Series([1.0, 2.0, 0.0, 2.0, np.nan, -0.0])
    # a, a (tie: row order) < b < z < é (code point order) < missing; then the value
    assert sort_positions([text, value]).tolist() == [1, 3, 0, 5, 4, 2]
    assert sort_positions([value, text]).tolist() == [5, 2, 0, 1, 3, 4]
    zeros, letters = pd.Series([0.0, -0.0, 0.0, -0.0]), pd.Series(["d", "c", "b", "a"], dtype="str")
    assert sort_positions([zeros, letters]).tolist() == [3, 2, 1, 0]  # -0.0 == 0.0: the text decides


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("kind", ["arrow", "object", "category"])
def test_sort_positions_are_the_stable_sort_of_sort_values(seed, kind):
    rng = np.random.default_rng(seed)
    n = 2_000
    words = np.array(["T01", "T02", "t1", "Ärzte", "zz", "T01 ", ""], dtype=object)
    texts = pd.Series(words[rng.integers(0, len(words), n)]).where(rng.random(n) > 0.05)
    ids = pd.Series([f"C{i:03d}" for i in rng.integers(0, 300, n)])
    value = pd.Series(rng.integers(-3, 3, n).astype(float)).where(rng.random(n) > 0.1)
    count = pd.Series(rng.integers(0, 4, n))
    if kind == "arrow":
        texts, ids = texts.astype("str"), ids.astype("str")
    elif kind == "category":
        texts = texts.astype(pd.CategoricalDtype(["zz", "T01", "t1", "Ärzte", "T02", "T01 ", ""]))  # not sorted
    frame = pd.DataFrame({"a": texts, "b": -value, "c": count, "d": ids})
    expected = frame.sort_values(["a", "b", "c", "d"], kind="mergesort").index.to_numpy()
    np.testing.assert_array_equal(sort_positions([frame[c] for c in "abcd"]), expected)


@pytest.mark.parametrize("labels", [["fit", "region", "territory"], ["a"], [], [1, 2]],
                         ids=["text", "one", "none", "numbers"])
def test_text_of_is_the_column_of_the_labels_taken(labels):
    """What a frame column made of the object array ``labels[codes]`` (None at -1) holds."""
    rng = np.random.default_rng(len(labels))
    codes = rng.integers(-1, len(labels), 500) if labels else np.full(500, -1)
    expected = pd.DataFrame({"c": np.append(np.asarray(labels, dtype=object), None)[codes]})
    got = pd.DataFrame({"c": text_of(codes, labels)})
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    assert got["c"].isna().sum() == (codes < 0).sum() > 0


def test_text_of_by_hand():
    out = pd.Series(text_of(np.array([1, -1, 0, 1]), ["no_fit", "fit"]))
    assert out.tolist()[0::2] == ["fit", "no_fit"] and out.tolist()[3] == "fit" and pd.isna(out[1])
    assert out.dtype == pd.Series(["x"]).dtype


@pytest.mark.parametrize("values", [
    pd.Series(pd.Categorical(["trial", None, "aware", "trial", "loyal"], categories=["unaware", "aware", "trial", "loyal"],
                             ordered=True), index=[5, 3, 9, 1, 0], name="phase"),  # ordered, unused, missing
    pd.Series(pd.Categorical([None, None], categories=["aware"])),  # no label present
    pd.Series(pd.Categorical(["b", "a", "b"])),
    pd.Series(pd.Categorical([2, "a", 2])),  # labels of two types: pandas' order
    pd.Series(["b", None, "a"], dtype="str"),  # not a categorical
], ids=["ordered", "all missing", "plain", "mixed", "text"])
def test_labels_as_category_is_the_category_of_the_labels(values):
    pd.testing.assert_series_equal(labels_as_category(values), values.astype(object).astype("category"))


def test_labels_as_category_by_hand():
    out = labels_as_category(pd.Series(pd.Categorical(["trial", None, "aware"], categories=["trial", "aware", "loyal"],
                                                      ordered=True)))
    assert list(out.cat.categories) == ["aware", "trial"] and not out.cat.ordered
    assert out.cat.codes.tolist() == [1, -1, 0]
