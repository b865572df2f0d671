"""The offending rows of a large table, checked by the contract's pandas checks.

When DuckDB (:mod:`analysis.contract.columnar`) finds that a large table breaks a rule,
it selects the rows that do: every row breaking a rule of its own cells, naming an
unknown reference, or repeating a key. Only those rows are read as they are in the
file, indexed by their line (CSV: the header is line 1, blank lines count) or row
(Parquet, from 1) number, and checked by the same pandas checks as a file read whole
(:class:`analysis.contract.dataset._TableCheck`, told how many rows the file has). So
the error names the same files, columns, rules, counts and example rows as the pandas
path, without the file ever being held in memory.

More than :data:`MAX_ROWS` offending rows: the first :data:`MAX_ROWS` are checked, and
each violation of the table says that its count is of those rows.
"""
from __future__ import annotations

import gzip
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from analysis.contract import dataset as _ds
from analysis.contract.schema import TableSpec
from analysis.errors import Violation

#: At most this many offending rows are read and checked (the first ones in the file).
MAX_ROWS = 100_000
_CHUNK = 1 << 24


def blank_lines(path: Path) -> np.ndarray:
    """The numbers (from 1) of the empty lines of a CSV file (``.csv.gz`` too), sorted.

    DuckDB skips them; pandas counts them in its line numbers (see ``_read_csv``)."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    found, line, previous = [], 1, b""
    with opener(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            data = np.frombuffer(previous + chunk, dtype=np.uint8)
            newline = np.flatnonzero(data == 10)
            # a line ending at ``end`` (its newline) is empty when it starts there too:
            # right after the previous newline, or after it and a carriage return
            starts = np.concatenate(([-1], newline[:-1])) + 1 if len(newline) else newline
            empty = (newline == starts) | ((newline == starts + 1) & (data[np.maximum(newline - 1, 0)] == 13))
            found.append(line + np.flatnonzero(empty))
            line += len(newline)
            previous = data[newline[-1] + 1:].tobytes() if len(newline) else previous + chunk
    out = np.concatenate(found) if found else np.array([], dtype=np.int64)
    return out[out > 1]  # the header (line 1) is never a data row


def line_numbers(rows: np.ndarray, blank: np.ndarray) -> np.ndarray:
    """The line number of each data row (``rows``: 1 for the first row DuckDB read) of a
    CSV file whose empty lines are ``blank`` (the header is line 1)."""
    rows = np.asarray(rows, dtype=np.int64)
    lines = rows + 1
    while True:  # the line of row r is r + 1 plus the empty lines before it
        moved = rows + 1 + np.searchsorted(blank, lines, side="right")
        if np.array_equal(moved, lines):
            return lines
        lines = moved


def csv_rows(arrow: pa.Table, header: list[str], lines: np.ndarray) -> pd.DataFrame:
    """The raw text of offending CSV rows (``arrow``: one string column per ``header``
    name, in order), as :func:`analysis.contract.dataset._read` reads them."""
    frame = pa.table(dict(zip(header, arrow.columns))).to_pandas(types_mapper=_ds._arrow_string_mapper)
    frame.index = pd.Index(lines, dtype="int64")
    return _ds._without_unnamed_empty(frame)


def parquet_rows(path: Path, rows: np.ndarray) -> pd.DataFrame:
    """Rows (numbered from 1) of a Parquet file as :func:`analysis.contract.dataset._read`
    reads them: one row group at a time, never the whole file."""
    rows = np.sort(np.asarray(rows, dtype=np.int64)) - 1
    parquet = pq.ParquetFile(path)
    pieces, first = [], 0
    for group in range(parquet.num_row_groups):
        size = parquet.metadata.row_group(group).num_rows
        inside = rows[(rows >= first) & (rows < first + size)] - first
        if len(inside):
            pieces.append(parquet.read_row_group(group).take(pa.array(inside)))
        first += size
    table = pa.concat_tables(pieces) if pieces else parquet.schema_arrow.empty_table()
    frame = table.to_pandas(types_mapper=_ds._arrow_string_mapper, ignore_metadata=True)
    frame = frame.drop(columns=[c for c in frame.columns if str(c).startswith("__index_level_")])
    frame.index = pd.Index(rows + 1, dtype="int64")
    return frame


@dataclass
class Offending:
    """A large table's offending rows and their check (run on them alone)."""

    check: _ds._TableCheck
    #: Offending rows in the file; the check saw the first ``len(check.raw)`` of them.
    total: int

    @classmethod
    def checked(cls, spec: TableSpec, path: Path, raw: pd.DataFrame, label: str, extra_channels: tuple[str, ...],
                rows: int, total: int) -> Offending:
        """The pandas checks of ``raw`` (offending rows of a file of ``rows`` rows), run."""
        check = _ds._TableCheck(spec, path, raw, label, extra_channels, rows=rows)
        check.run()
        return cls(check, total)

    def violations(self) -> list[Violation]:
        """The check's violations (call after the references are checked), each saying
        when its count is of the first :data:`MAX_ROWS` offending rows only."""
        shown = len(self.check.raw)
        if self.total <= shown:
            return list(self.check.violations)
        note = (f"Counted in the first {shown:,} of the {self.total:,} rows breaking a rule of this file: "
                "fix these and check again for the others.")
        return [replace(v, hint=f"{v.hint} {note}".strip()) if v.n_failing else v for v in self.check.violations]
