"""analysis.contract.key_order: rows in the order of their key repeat no key."""
from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest

from analysis.contract import key_order

KEY = ["customer_id", "product_id", "period"]


def table(rows, columns=KEY):
    return pa.table({c: [r[i] for r in rows] for i, c in enumerate(columns)})


def order_of(sample, key):
    """:func:`key_order.order_of` on a connection of its own."""
    with duckdb.connect() as con:
        return key_order.order_of(con, sample, key)


def out_of_order(rows, order, columns=KEY):
    """The rows not greater than the one before in ``order``, counted by DuckDB."""
    con = duckdb.connect()
    try:
        con.register("rows", table(rows, columns) if rows else table([], columns))
        return con.execute(key_order.out_of_order_sql("SELECT * FROM rows", order)).fetchall()[0][0]
    finally:
        con.close()


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
    """UTF-8 bytes: 'Z' < 'a' < 'é' (code point order), when the order is found and when counted."""
    rows = [("Z",), ("a",), ("é",)]
    assert order_of(table(rows, ["id"]), ["id"]) == ["id"]
    assert out_of_order(rows, ["id"], ["id"]) == 0
    assert out_of_order(rows[::-1], ["id"], ["id"]) == 2


def test_counted_in_the_order_found():
    assert out_of_order(BY_MONTH, ["customer_id", "period", "product_id"]) == 0
    assert out_of_order(BY_MONTH, KEY) == 1  # P2 then P1 within C1
    assert out_of_order([], KEY) == 0 and out_of_order(BY_MONTH[:1], KEY) == 0


@pytest.mark.parametrize("at", [0, 1, 3])
def test_a_repeat_is_out_of_order(at):
    rows = [*BY_MONTH[:at + 1], BY_MONTH[at], *BY_MONTH[at + 1:]]  # row ``at`` twice, one after the other
    assert out_of_order(rows, ["customer_id", "period", "product_id"]) == 1


def test_quoted_column_names():
    rows = [("x", 1), ("x", 2), ("y", 1)]
    assert out_of_order(rows, ['a "b"', "c"], ['a "b"', "c"]) == 0


def test_numbers_and_dates_by_value():
    t = pa.table({"n": [2.0, 10.0, 11.5], "d": pa.array([1, 2, 3], pa.timestamp("ns"))})
    assert order_of(t, ["n", "d"]) == ["n", "d"]


def test_a_missing_value_hides_a_repeat_so_the_keys_are_counted_instead():
    """A row with a missing key value is never out of order, nor the row after it: a
    repeat around it goes unseen here, which is why the loader counts such a table's keys."""
    rows = [("C1", "P1", "2026-01"), (None, "P1", "2026-01"), ("C1", "P1", "2026-01")]
    assert out_of_order(rows, KEY) == 0
