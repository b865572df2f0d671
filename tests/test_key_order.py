"""analysis.contract.key_order: rows in the order of their key repeat no key."""
from __future__ import annotations

import pyarrow as pa
import pytest

from analysis.contract.key_order import increasing, order_of

KEY = ["customer_id", "product_id", "period"]


def table(rows, columns=KEY):
    return pa.table({c: [r[i] for r in rows] for i, c in enumerate(columns)})


def batches(rows, size, columns=KEY):
    t = table(rows, columns)
    return t.to_batches(max_chunksize=size)


# by customer, then month, then product: the demo generator's order (not the key's own)
BY_MONTH = [("C1", "P1", "2026-01"), ("C1", "P2", "2026-01"), ("C1", "P1", "2026-02"), ("C2", "P1", "2026-01")]


def test_the_keys_own_order_first():
    rows = [("C1", "P1", "2026-01"), ("C1", "P1", "2026-02"), ("C1", "P2", "2026-01"), ("C2", "P1", "2026-01")]
    assert order_of(table(rows), KEY) == KEY


def test_another_order_of_the_key_columns():
    assert order_of(table(BY_MONTH), KEY) == ["customer_id", "period", "product_id"]


@pytest.mark.parametrize("rows", [
    [("C1", "P1", "2026-01"), ("C1", "P1", "2026-01")],  # a repeated key: in no strict order
    [("C2", "P1", "2026-01"), ("C1", "P1", "2026-02"), ("C1", "P1", "2026-01"), ("C2", "P2", "2026-01")],
    [("C1", "P1", "2026-01"), (None, "P1", "2026-02")],  # a missing value: left to the hash count
    [],
], ids=["repeated", "shuffled", "missing", "empty"])
def test_no_order(rows):
    assert order_of(table(rows) if rows else table([], KEY), KEY) is None


def test_one_row_is_in_order():
    assert order_of(table([("C1", "P1", "2026-01")]), KEY) == KEY


def test_text_compares_by_code_point():
    """UTF-8 bytes: 'Z' < 'a' < 'é' (code point order), also across batches."""
    rows = [("Z",), ("a",), ("é",)]
    assert order_of(table(rows, ["id"]), ["id"]) == ["id"]
    assert increasing(batches(rows, 1, ["id"]), ["id"])
    assert not increasing(batches(rows[::-1], 1, ["id"]), ["id"])


@pytest.mark.parametrize("size", [1, 2, 3, 10])
def test_increasing_across_batches(size):
    order = ["customer_id", "period", "product_id"]
    assert increasing(batches(BY_MONTH, size), order)
    assert not increasing(batches(BY_MONTH, size), KEY)  # P2 then P1 within C1


@pytest.mark.parametrize("size", [1, 2, 3, 10])
def test_a_repeat_at_a_batch_boundary_is_seen(size):
    rows = [*BY_MONTH, BY_MONTH[-1]]  # the last row once more: the last batch's first row
    assert not increasing(batches(rows, size), ["customer_id", "period", "product_id"])


def test_a_missing_value_is_not_in_order():
    rows = [("C1", "P1", "2026-01"), ("C1", None, "2026-02")]
    assert not increasing(batches(rows, 1), KEY)


def test_numbers_and_dates_by_value():
    t = pa.table({"n": [2.0, 10.0, 11.5], "d": pa.array([1, 2, 3], pa.timestamp("ns"))})
    assert order_of(t, ["n", "d"]) == ["n", "d"]
    assert increasing(t.to_batches(max_chunksize=1), ["d"])
    assert increasing(iter([]), ["n"])  # no rows: nothing repeated
