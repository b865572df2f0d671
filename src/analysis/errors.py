"""The project's exceptions: one hierarchy rooted at :class:`TerritoryReportsError`.

Catch ``TerritoryReportsError`` to handle every error the project raises on purpose;
anything else escaping is a bug.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

#: Longest cell shown in an error message (longer values are cut with "...").
_MAX_CELL = 40
#: Control characters, shown escaped (``\x00``) in an error message, never raw.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


class TerritoryReportsError(Exception):
    """Base class of every error raised on purpose by the project."""


class DatasetNotFoundError(TerritoryReportsError, FileNotFoundError):
    """The dataset folder (or a file asked for by name) does not exist."""


@dataclass(frozen=True, eq=False)
class Violation:
    """One broken rule of the data contract, in one file.

    ``n_failing`` counts the offending rows; it is 0 when the rule concerns a whole
    file or column (a missing table, an unreadable file, a missing column).
    ``examples`` holds up to five offending rows as they are in the file, with their
    position in its first column: ``line`` for CSV (the header is line 1, so the first
    data row is line 2) or ``row`` for Parquet (the first row is row 1).
    ``hint`` is an optional plain-language note on how to fix it.
    """

    file: str
    table: str
    column: str | None
    rule: str
    n_failing: int = 0
    examples: pd.DataFrame = field(default_factory=pd.DataFrame)
    hint: str = ""

    def describe(self) -> str:
        """A readable block: where, which rule, how many rows, a few examples, a hint."""
        where = Path(self.file).name
        if self.column is not None:
            where += f": column {self.column!r}"
        head = f"{where}: {self.rule}"
        if self.n_failing:
            head += f" ({_count(self.n_failing, 'row')})"
        lines = [head + (", e.g." if len(self.examples) else "")]
        if len(self.examples):
            lines.extend("  " + line for line in _show(self.examples).splitlines())
        if self.hint:
            lines.append("  " + self.hint)
        return "\n".join(lines)


class DataValidationError(TerritoryReportsError):
    """The input data breaks the data contract (DESIGN 3); nothing was loaded.

    Carries every violation found, across all tables (validation does not stop at the
    first one). ``str(error)`` lists them, one block each; ``failure_cases`` gives
    them as one DataFrame.
    """

    def __init__(self, violations: Iterable[Violation], source: str | Path | None = None):
        self.violations: list[Violation] = list(violations)
        self.source = None if source is None else str(source)
        super().__init__(self._message())

    def __reduce__(self):
        # Rebuild from the violations (not from the message) when pickled, e.g. by a
        # worker process reporting back to the batch runner.
        return (type(self), (self.violations, self.source))

    @property
    def failure_cases(self) -> pd.DataFrame:
        """One row per violation: table, file, column, rule, n_failing."""
        rows = [(v.table, v.file, v.column, v.rule, v.n_failing) for v in self.violations]
        frame = pd.DataFrame(rows, columns=["table", "file", "column", "rule", "n_failing"])
        return frame.astype({"n_failing": "int64"})

    def _message(self) -> str:
        n = len(self.violations)
        where = f"The data in {self.source}" if self.source else "The data"
        head = f"{where} has {_count(n, 'problem')}; nothing was loaded."
        return "\n\n".join([head, *(v.describe() for v in self.violations)])


class ParameterError(TerritoryReportsError):
    """A run profile or a parameter value is invalid (unknown key, wrong type or value)."""


class NotebookExecutionError(TerritoryReportsError):
    """A territory notebook failed while being executed."""


class KernelStartError(NotebookExecutionError):
    """A warm kernel could not be started (its provisioner then starts a fresh one)."""


class NotebookTimeoutError(NotebookExecutionError):
    """A report's notebook ran longer than its time limit; ``cell`` is the source of the
    cell that was running (the kernel is shut down, the report is not published)."""

    def __init__(self, seconds: float, cell: str | None = None):
        self.seconds, self.cell = seconds, cell
        super().__init__(f"the notebook ran longer than its time limit of {seconds:g} s and was stopped")


class RenderError(TerritoryReportsError):
    """An executed notebook could not be rendered to HTML or PDF."""


class PublishError(TerritoryReportsError):
    """Reports could not be published (index page, manifest or output folder)."""


class RunLockedError(PublishError):
    """Another run holds the output folder's lock (it is named in the message)."""


class StoreError(TerritoryReportsError):
    """The analysis store (the national pass's tables) is missing, incomplete or damaged:
    a file of it cannot be read or is not the file its manifest recorded. Running the
    batch again rebuilds the store."""


class CacheWarning(UserWarning):
    """A cache (the validated input tables, the analysis store) was damaged, incomplete or
    unreadable: it is not served, and is rebuilt from the inputs."""


def _count(n: int, noun: str) -> str:
    """``1 row``, ``2,345 rows``."""
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def _show(examples: pd.DataFrame) -> str:
    """The example rows as an aligned text table, long cells shortened."""
    def cut(value):
        text = "" if _is_missing(value) else _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(value))
        return text if len(text) <= _MAX_CELL else text[: _MAX_CELL - 3] + "..."

    shown = pd.DataFrame({col: [cut(v) for v in examples[col]] for col in examples.columns})
    return shown.to_string(index=False)


def _is_missing(value) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # array-like cell
        return False
