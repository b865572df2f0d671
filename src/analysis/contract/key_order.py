"""Whether a table's rows come in the order of their key, so its key repeats no value.

Exports are usually written in the order of their key: sales by customer, then month,
then product; activities by their id. Rows each greater than the one before (in some
order of the key's columns) repeat no key, and that is seen by comparing each row with
the one before it, where counting the distinct keys needs a hash table of them all (the
costliest part of validating a national file: see ``docs/scale.md``).

:func:`order_of` finds, on the first rows, an order of the key's columns they increase
in; :func:`lagged` then counts, in DuckDB's scan of the rules, the rows that are not
(the same comparison both times). A table in no such order (or holding a missing key
value, left to the other checks) is checked by counting its distinct keys, as before;
either way the same keys are accepted.

Values compare as DuckDB compares them: by value, text by its UTF-8 bytes (code point
order). Any strict total order proves the keys distinct.
"""
from __future__ import annotations

from collections.abc import Sequence
from itertools import permutations

import pyarrow as pa

#: Rows read to find the order (:func:`order_of`): the first ones of the table.
SAMPLE_ROWS = 10_000


def order_of(con, sample: pa.Table, key: Sequence[str]) -> list[str] | None:
    """An order of the ``key`` columns (the key's own first) in which every row of ``sample``
    (the table's first rows) is greater than the one before, compared by :func:`lagged` on
    the DuckDB connection ``con``; None when there is none (or a key value is missing)."""
    if sample.num_rows == 0 or any(sample[c].null_count for c in key):
        return None
    con.register("__key_sample", sample)
    try:
        for columns in permutations(key):
            before, out = lagged(columns)
            if not con.execute(f"SELECT count(*) FILTER (WHERE {out}) "
                               f"FROM (SELECT *, {before} FROM __key_sample)").fetchall()[0][0]:
                return list(columns)
        return None
    finally:
        con.unregister("__key_sample")


def lagged(columns: Sequence[str]) -> tuple[str, str]:
    """The SQL comparing each row with the one before in the order of the key's
    ``columns`` (see :func:`order_of`), as DuckDB gives the rows (it keeps the file's
    order; any order they come in proves the keys distinct when no row is out of it):
    the columns holding the row before's values (a ``SELECT`` list, to add to the
    rows') and the condition, over both, of a row not greater than the one before. The
    first row has none before it, and a row with a missing key value (or after one) is
    never out of order: such a table's keys are to be counted instead."""
    quoted = ['"' + str(c).replace('"', '""') + '"' for c in columns]
    before = [f'"__before_{i}"' for i in range(len(columns))]
    greater = None
    for now, then in reversed(list(zip(quoted, before))):
        here = f"{now} > {then}"
        greater = here if greater is None else f"({here} OR ({now} = {then} AND {greater}))"
    return ", ".join(f"lag({q}) OVER () AS {b}" for q, b in zip(quoted, before)), f"(NOT {greater})"


def out_of_order_sql(keys: str, columns: Sequence[str]) -> str:
    """The SQL counting the rows of ``keys`` (a query of the key's columns, in the table's
    order) not greater than the one before in the order of ``columns`` (see :func:`lagged`)."""
    before, out = lagged(columns)
    return f"SELECT count(*) FILTER (WHERE {out}) FROM (SELECT *, {before} FROM ({keys}))"
