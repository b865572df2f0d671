"""Writing an import: a staging folder next to the output, moved into place only when
everything succeeded, and the import's report (rows read, kept, dropped and why, time).

An import never leaves a half-written dataset: every file goes to a hidden temporary
folder beside ``DATA`` (same file system), and only when the whole import succeeded is
that folder renamed to ``DATA`` (a new dataset) or are its files renamed into ``DATA``
(one table added to an existing dataset). On any error the staging folder is removed and
``DATA`` is as it was.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from analysis.errors import TerritoryReportsError

#: Every spelling of a table file (see :func:`analysis.contract.dataset.load_dataset`).
TABLE_SUFFIXES = (".csv", ".csv.gz", ".parquet", ".xlsx")


@dataclass
class ImportReport:
    """What an import did: counts of rows read, kept and dropped (by reason), the tables
    written, notes, and how long it took."""

    source: str
    out: str
    rows_read: int = 0
    rows_kept: int = 0
    #: reason -> rows dropped for it (each dropped row is counted under one reason).
    dropped: Counter = field(default_factory=Counter)
    #: reason -> rows not imported because they are outside what was asked (not errors).
    skipped: Counter = field(default_factory=Counter)
    tables: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)
    seconds: float = 0.0

    def finish(self) -> ImportReport:
        self.seconds = time.perf_counter() - self.started
        return self

    @property
    def rows_per_second(self) -> float:
        return self.rows_read / self.seconds if self.seconds > 0 else float("nan")

    def summary(self) -> str:
        """The report as lines of text, for the terminal."""
        lines = [f"read {self.rows_read:,} rows of {self.source} in {self.seconds:.1f}s "
                 f"({self.rows_per_second:,.0f} rows/s); imported {self.rows_kept:,}"]
        for reason, n in sorted(self.skipped.items(), key=lambda kv: -kv[1]):
            lines.append(f"  not imported, {reason}: {n:,}")
        for reason, n in sorted(self.dropped.items(), key=lambda kv: -kv[1]):
            lines.append(f"  dropped, {reason}: {n:,}")
        if self.tables:
            lines.append(f"wrote {self.out}: " + ", ".join(f"{name} {n:,}" for name, n in self.tables.items()))
        lines.extend(f"note: {note}" for note in self.notes)
        return "\n".join(lines)


def table_files(folder: Path, table: str) -> list[Path]:
    """The files of ``folder`` that hold ``table`` (any spelling)."""
    return [folder / f"{table}{suffix}" for suffix in TABLE_SUFFIXES if (folder / f"{table}{suffix}").is_file()]


def check_new_output(out: Path, force: bool) -> None:
    """``out`` must be absent or an empty folder, unless ``force`` (then it is replaced)."""
    if out.exists() and not out.is_dir():
        raise TerritoryReportsError(f"{out} exists and is not a folder: choose another --out")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise TerritoryReportsError(f"{out} exists and is not empty: nothing was written (--force replaces it)")


@contextmanager
def staging(out: Path) -> Iterator[Path]:
    """A temporary folder next to ``out`` (removed on the way out, whatever happens)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.import-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def publish_folder(staged: Path, out: Path) -> None:
    """Move the staged dataset folder to ``out`` (replacing an existing one)."""
    if out.exists():
        old = out.with_name(f".{out.name}.replaced-{os.getpid()}")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(out, old)
        try:
            os.replace(staged, out)
        except OSError:
            os.replace(old, out)
            raise
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(staged, out)


def publish_files(staged: Path, out: Path, replace: list[Path] = ()) -> None:
    """Move every file of ``staged`` into the folder ``out`` (created if needed), one atomic
    rename each; ``replace`` are files of ``out`` to remove first (the other spellings of a
    table that is written anew)."""
    if not out.exists():
        os.replace(staged, out)
        return
    for path in replace:
        path.unlink(missing_ok=True)
    for path in sorted(staged.iterdir()):
        os.replace(path, out / path.name)
