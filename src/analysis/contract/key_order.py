"""Whether a table's rows come in the order of their key, so its key repeats no value.

Exports are usually written in the order of their key: sales by customer, then month,
then product; activities by their id. Rows each greater than the one before (in some
order of the key's columns) repeat no key, and that is seen in one streaming pass
holding two rows at a time, where counting the distinct keys needs a hash table of
them all (the costliest part of validating a national file: see ``docs/scale.md``).

:func:`order_of` finds, on the first rows, an order of the key's columns they increase
in; :func:`increasing` then checks every row. A table in no such order (or holding a
missing key value, left to the other checks) is checked by counting its distinct keys,
as before; either way the same keys are accepted.

Values compare as Arrow compares them (text by its UTF-8 bytes, which is code point
order; numbers and dates by value): any strict total order proves the keys distinct.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
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


def increasing(batches: Iterable[pa.RecordBatch], columns: Sequence[str]) -> bool:
    """Whether the rows of ``batches`` (in their order) each exceed the one before in
    ``columns`` (see :func:`order_of`); stops at the first batch that does not."""
    last = None
    for batch in batches:
        if batch.num_rows == 0:
            continue
        table = pa.Table.from_batches([batch]).select(list(columns))
        if last is not None:
            table = pa.concat_tables([last, table])
        if not _increasing(table, columns):
            return False
        last = table.slice(table.num_rows - 1).combine_chunks()
    return True
