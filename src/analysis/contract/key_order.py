"""Whether a table's rows come in the order of their key, so its key repeats no value.

Exports are usually written in the order of their key: sales by customer, then month,
then product; activities by their id. Rows each greater than the one before (in some
order of the key's columns) repeat no key, and that is seen by comparing each row with
the one before it, where counting the distinct keys needs a hash table of them all (the
costliest part of validating a national file: see ``docs/scale.md``).

:func:`order_of` finds, on the first rows, an order of the key's columns they increase
in; :func:`lagged` then counts, in DuckDB's scan of the rules, the rows that are not. A table in
no such order (or holding a missing key value, left to the other checks) is checked by
counting its distinct keys, as before; either way the same keys are accepted.

Values compare by value, text by its UTF-8 bytes (code point order), as Arrow and
DuckDB both compare them: any strict total order proves the keys distinct.
"""
from __future__ import annotations

from collections.abc import Sequence
from itertools import permutations

import pyarrow as pa
import pyarrow.compute as pc

#: Rows read to find the order (:func:`order_of`): the first ones of the table.
SAMPLE_ROWS = 10_000


def _increasing(table: pa.Table, columns: Sequence[str]) -> bool:
    """Whether each row of ``table`` is greater than the one before in ``columns`` (compared
    in that order, the first deciding); False if a value is missing."""
    if any(table[c].null_count for c in columns):
        return False
    if table.num_rows < 2:
        return True
    later = table.slice(1)
    earlier = table.slice(0, table.num_rows - 1)
    greater = None
    for column in reversed(columns):
        after, before = later[column], earlier[column]
        here = pc.greater(after, before)
        greater = here if greater is None else pc.or_(here, pc.and_(pc.equal(after, before), greater))
    return bool(pc.all(greater).as_py())


def order_of(sample: pa.Table, key: Sequence[str]) -> list[str] | None:
    """An order of the ``key`` columns (the key's own first) in which every row of ``sample``
    (the table's first rows) is greater than the one before; None when there is none."""
    if sample.num_rows == 0:
        return None
    for columns in permutations(key):
        if _increasing(sample, columns):
            return list(columns)
    return None


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

