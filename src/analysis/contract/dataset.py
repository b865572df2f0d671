"""Loading and validating a dataset (DESIGN 3).

A dataset is a folder with one file per table, ``<table>.csv``, ``<table>.csv.gz``,
``<table>.parquet`` or ``<table>.xlsx``, or an Excel workbook with one sheet per table
(sheets named after the tables).
:func:`load_dataset` reads every table, checks it against :data:`analysis.contract.schema.TABLES`
and either returns a :class:`Dataset` of normalized frames or raises
:class:`~analysis.errors.DataValidationError` listing every violation found in every
table (it does not stop at the first).

Normalized frames: ids, text, enums and periods are strings (pandas' default string
dtype: ``object`` on pandas 2, ``str`` on pandas 3), periods are ``"YYYY-MM"``, dates are
``datetime64[ns]``, ``is_own`` is bool, numbers are float64; extra columns are kept as
read. Values of known text columns are stripped of surrounding spaces, and a cell holding
only spaces counts as empty.

Edges are errors too, before anything is written: a required table without rows, a
number that is not finite (``inf``, ``NaN``, ``1e309``) or beyond its sanity limit (see
:data:`analysis.contract.schema.MAX_AMOUNT`), a control character in an id or a text
(see :data:`analysis.contract.schema.TEXT_CONTROL_PATTERN`).

All checks are vectorised (Arrow compute and pandas), so millions of rows validate in
seconds. CSV files are read as text and converted here, so that ids that look numeric
keep their exact spelling ("007").
"""
from __future__ import annotations

import csv
import difflib
import hashlib
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from analysis.contract import reduction
from analysis.contract.reduction import Summaries
from analysis.contract.schema import (
    BOOL, CHANNEL_KIND, CHANNELS, DATE, DATE_PATTERN, INTEGER, NUMBER, PERIOD,
    ID, ID_CONTROL_PATTERN, PERIOD_PATTERN, TABLES, TEXT, TEXT_CONTROL_PATTERN, TableSpec, allowed_values, enum_values,
    rules_fingerprint,
)
from analysis.errors import CacheWarning, DatasetNotFoundError, DataValidationError, ParameterError, Violation

#: Offending rows shown per violation.
MAX_EXAMPLES = 5
#: Words accepted for a bool column (compared case-insensitively).
TRUE_WORDS = ("true", "1", "yes")
FALSE_WORDS = ("false", "0", "no")

# Text while validating: Arrow-backed strings, fast on both pandas 2 and 3.
_WORK_STR = pd.StringDtype("pyarrow")
# The dtype pandas gives strings by default (object on pandas 2, str on pandas 3).
_DEFAULT_STR = pd.Series(["a"]).dtype
# Dates pandas can hold at nanosecond resolution.
_FIRST_DATE, _LAST_DATE = pd.Timestamp("1678-01-01"), pd.Timestamp("2262-04-11")


# --- the dataset ---------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class Dataset:
    """A validated dataset: one normalized DataFrame per table.

    ``phases`` is None when the dataset has no phases table (phases are then derived);
    ``activities`` is an empty frame with the contract's columns when the dataset has no
    activities table (see :attr:`has_activities`). ``files`` maps each table read to
    its file.
    """

    territories: pd.DataFrame
    reps: pd.DataFrame
    customers: pd.DataFrame
    products: pd.DataFrame
    markets: pd.DataFrame
    sales: pd.DataFrame
    activities: pd.DataFrame
    phases: pd.DataFrame | None
    source: Path
    files: dict[str, Path] = field(default_factory=dict)
    #: The input files validated (name, size, content hash each; see :func:`input_digests`):
    #: the key of the input cache. None when not known (then the files are hashed when
    #: cached); ``()`` when they changed while being read (then nothing is cached).
    inputs: tuple[FileDigest, ...] | None = None
    #: The monthly summaries of sales and activities (:mod:`analysis.contract.reduction`):
    #: made by the out-of-core loader from the files, else by :meth:`with_summaries`.
    summaries: Summaries | None = None
    #: Per large table (``sales``, ``activities``), the first and last month whose raw
    #: rows the frame holds (the out-of-core loader keeps only the months the analyses read
    #: row by row; a table's None: none, its rows summed, see :attr:`window_sales`); None:
    #: every month. The summaries always cover the whole history.
    spans: dict[str, tuple[str, str] | None] | None = None
    #: The sales summed out of core per customer x product x window, per analysis window
    #: (keyed by its months, :data:`~analysis.contract.reduction.WindowMonths`; see
    #: :func:`~analysis.contract.reduction.window_sales_query`): when the loader made them, it
    #: kept no raw sales rows (``sales`` is empty, and ``spans["sales"]`` None). None: the
    #: pass sums ``sales`` itself.
    window_sales: dict[reduction.WindowMonths, pd.DataFrame] | None = None

    @property
    def sales_periods(self) -> list[str]:
        """Every month the sales data holds, sorted (also when the rows hold only :attr:`spans`)."""
        source = self.sales if self.summaries is None else self.summaries.sales_by_month
        return sorted(str(p) for p in pd.unique(source["period"]))

    @property
    def has_activity_rows(self) -> bool:
        """Whether the dataset has activities (a table with at least one row, in any month)."""
        if not self.has_activities:
            return False
        if self.spans is not None and self.summaries is not None:
            return len(self.summaries.contacts) > 0
        return len(self.activities) > 0

    def with_summaries(self) -> Dataset:
        """This dataset with its :attr:`summaries` (made from the frames when not yet made)."""
        if self.summaries is not None:
            return self
        return replace(self, summaries=reduction.summaries(self.sales, self.products, self.customers,
                                                           self.activities))

    @property
    def has_activities(self) -> bool:
        """Whether the dataset came with an activities table."""
        return "activities" in self.files

    def territory(self, territory_id) -> Dataset:
        """The slice of one territory.

        Its row of ``territories``, its reps and customers, and the sales, activities and
        phases of its customers; ``products`` and ``markets`` are kept whole.
        """
        tid = str(territory_id)
        if not (self.territories["territory_id"] == tid).any():
            known = ", ".join(self.territories["territory_id"].astype(str).head(10))
            raise ParameterError(f"unknown territory {tid!r} (known, first 10: {known})")
        return self.subset([tid])

    def subset(self, territory_ids: Iterable[str]) -> Dataset:
        """The slice of several territories (see :meth:`territory`)."""
        ids = {str(t) for t in territory_ids}
        customers = _rows(self.customers, self.customers["territory_id"].isin(ids))
        keep = customers["customer_id"]

        def of_customers(frame: pd.DataFrame | None) -> pd.DataFrame | None:
            return None if frame is None else _rows(frame, frame["customer_id"].isin(keep))

        return replace(
            self,
            territories=_rows(self.territories, self.territories["territory_id"].isin(ids)),
            reps=_rows(self.reps, self.reps["territory_id"].isin(ids)),
            customers=customers,
            sales=of_customers(self.sales),
            activities=of_customers(self.activities),
            phases=of_customers(self.phases),
            summaries=None if self.summaries is None else self.summaries.subset(ids, keep),
            window_sales=None if self.window_sales is None else {
                months: of_customers(units) for months, units in self.window_sales.items()},
            inputs=(),  # a slice is not the dataset of the input files: never cached as it
        )


def _rows(frame: pd.DataFrame, mask: pd.Series) -> pd.DataFrame:
    return frame.loc[mask].reset_index(drop=True)


# --- public entry points -------------------------------------------------------------

def read_table(path: str | Path, *, sheet: str | None = None) -> pd.DataFrame:
    """Read one table file as it is: CSV (UTF-8, with or without BOM; also gzipped,
    ``.csv.gz``), Parquet or an Excel sheet (``.xlsx``: ``sheet``, else the only sheet or
    the one named after the file).

    CSV and Excel columns are all read as text (empty cells missing, blank lines skipped);
    types and rules are applied by :func:`load_dataset`, not here. Raises
    :class:`DataValidationError` when the file cannot be read.
    """
    frame, _ = read_rows(path, sheet=sheet)
    return _default_strings(frame).reset_index(drop=True)


def read_rows(path: str | Path, *, sheet: str | None = None) -> tuple[pd.DataFrame, str]:
    """A table file as read (see :func:`read_table`), indexed by its position in the file,
    and that position's name: ``line`` for CSV (the header is line 1), ``row`` for Excel
    (the sheet's row number, the header is row 1) and Parquet (from 1). Text columns are
    Arrow-backed strings. Meant for importers, which report the lines of their source.
    """
    path = Path(path)
    target = path if sheet is None else _sheet_path(path, sheet)
    if not path.is_file():
        raise DatasetNotFoundError(f"{path}: file not found")
    if sheet is not None and not path.name.lower().endswith(".xlsx"):
        rule = f"a sheet ({sheet!r}) is asked for, but the file is not an Excel workbook (.xlsx)"
        raise DataValidationError([Violation(str(path), _table_name(path), None, rule)], path.parent)
    try:
        return _read(target)
    except _ReadError as exc:
        raise DataValidationError([exc.violation(target, _table_name(path))], path.parent) from None


#: The engines :func:`load_dataset` reads and validates with.
ENGINES = ("pandas", "duckdb")


def load_dataset(folder: str | Path, *, extra_channels: Iterable[str] = (), cache: str | Path | None = None,
                 cache_tag: str = "", engine: str = "pandas", work: str | Path | None = None,
                 span_of=None, windows_of=None) -> Dataset:
    """Read and validate the dataset in ``folder``.

    ``extra_channels`` are accepted in ``activities.channel`` besides the ten of the
    contract (the run profile's ``extra_channels``). Raises
    :class:`~analysis.errors.DatasetNotFoundError` when the folder does not exist and
    :class:`~analysis.errors.DataValidationError` with every violation otherwise.

    With ``cache`` (a folder written by :func:`cache_dataset`), input files of unchanged
    content (same names and bytes: see :func:`input_key`) are read from their verified,
    validated Parquet copy, skipping parsing and validation (large CSV above all). A
    damaged cache entry is never served (see :func:`cached_dataset`). ``cache_tag`` names
    what was done to the cached tables (e.g. the privacy mode and key fingerprint): an
    entry written with another tag is never served. To know whether the tables came from
    the cache, use :func:`cached_dataset` instead.

    ``engine="duckdb"`` reads and validates the large tables (sales, activities) out of
    core in an embedded DuckDB (see :mod:`analysis.contract.columnar`; ``work``: the
    folder it may spill into, else a temporary one): the same frames, and for broken
    inputs the same violations (the pandas checks run on the offending rows alone). It also
    makes the monthly summaries (:attr:`Dataset.summaries`) there, and with ``span_of``
    (given the summaries and territory ids, the first and last month whose rows the
    analyses read, per large table)
    keeps only those months' raw rows (:attr:`Dataset.spans`), without the columns no
    analysis reads (``activities.content``): such a dataset is never written to the
    input cache. With ``windows_of`` too (given the same, the months of each analysis
    window whose sales the analyses sum, or None), the sales are summed there per
    customer x product x window (:attr:`Dataset.window_sales`) and none of their raw
    rows reach pandas.
    """
    if engine not in ENGINES:
        raise ParameterError(f"unknown engine {engine!r}; expected {', '.join(ENGINES)}")
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetNotFoundError(f"dataset folder not found: {folder}")
    extra = tuple(str(c) for c in extra_channels)
    if cache is not None:
        return _cached(folder, extra, Path(cache), cache_tag, engine, work)

    try:  # the files' stamps before hashing and reading them: a change while reading shows
        files = _input_files(folder)
        stamps = _stamps(files)
    except OSError:  # an unlistable folder or a vanishing file: reported below, never cached
        files, stamps = [], None

    def hashed() -> tuple[FileDigest, ...]:
        return tuple((p.name, stamp[2], _digest_or_blank(p)) for p, stamp in zip(files, stamps or ()))

    if engine == "duckdb":
        from concurrent.futures import ThreadPoolExecutor

        from analysis.contract.columnar import load_tables

        # the files hashed in a thread while DuckDB reads them (both release the GIL; the
        # hash fills the moments DuckDB leaves a core idle)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="input-digests") as pool:
            digesting = pool.submit(hashed)
            loaded = load_tables(folder, extra, Path(work) if work is not None else None, span_of, windows_of)
            digests = digesting.result()
        ds = _dataset(folder, loaded.frames, loaded.files, files=files, stamps=stamps, digests=digests)
        return replace(ds, summaries=loaded.summaries, spans=loaded.spans, window_sales=loaded.window_sales)
    digests = hashed()
    violations: list[Violation] = []
    checks: dict[str, _TableCheck] = {}
    for name, spec in TABLES.items():
        path, problem = _locate(folder, spec)
        if problem is not None:
            violations.append(problem)
        if path is None:
            continue
        try:
            raw, label = _read(path)
        except _ReadError as exc:
            violations.append(exc.violation(path, name))
            continue
        checks[name] = _TableCheck(spec, path, raw, label, extra)
        checks[name].run()
    _check_references(checks)
    for check in checks.values():
        violations.extend(check.violations)
    if violations:
        raise validation_error(violations, folder)

    frames = {name: check.normalized() for name, check in checks.items()}
    return _dataset(folder, frames, {name: check.path for name, check in checks.items()}, files=files,
                    stamps=stamps, digests=digests)


def validation_error(violations: Iterable[Violation], folder: Path) -> DataValidationError:
    """The error reporting ``violations``, in the order of the contract's tables (and, within
    a table, in the order found)."""
    order = list(TABLES)
    return DataValidationError(sorted(violations, key=lambda v: order.index(v.table)), folder)


def _dataset(folder: Path, frames: dict[str, pd.DataFrame], paths: dict[str, Path], *, files, stamps,
             digests) -> Dataset:
    """The dataset of validated ``frames`` (read from ``paths``); its inputs are the
    ``digests`` taken before reading, unless the files changed meanwhile."""
    if "activities" not in frames:
        frames["activities"] = _empty(TABLES["activities"])
    try:
        unchanged = _stamps(_input_files(folder)) == stamps and all(d[2] for d in digests)
    except OSError:
        unchanged = False
    return Dataset(
        **{name: frames.get(name) for name in TABLES},
        source=folder,
        files=paths,
        inputs=digests if unchanged else (),
    )


# --- the Parquet cache of validated tables ------------------------------------------


#: Bytes read at a time when hashing a file.
HASH_CHUNK = 1 << 20
#: The layout of a cache entry (part of its key): bump when it changes.
CACHE_FORMAT = 2
#: The index of a cache entry: what it holds, each file's size and hash (written last).
ENTRY_INDEX = "files.json"

#: One input file as keyed: (file name, size in bytes, SHA-256 of its bytes).
FileDigest = tuple[str, int, str]


def file_digest(path: str | Path) -> str:
    """The SHA-256 (hex) of a file's bytes, read in 1 MB chunks (about 0.7-1 GB/s)."""
    digest = hashlib.sha256()
    buffer = bytearray(HASH_CHUNK)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as handle:
        while size := handle.readinto(buffer):
            digest.update(view[:size])
    return digest.hexdigest()


def _input_files(folder: Path) -> list[Path]:
    return sorted((p for p in folder.iterdir() if _is_table_file(p) and p.is_file()), key=lambda p: p.name)


def _stamps(files: list[Path]) -> list[tuple]:
    """What the file system says of each file: enough to see that one changed while read
    (a write always moves ``st_ctime``, which ``cp -p``, ``touch`` or a restore cannot set)."""
    return [(p.name, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns) for p in files for st in [p.stat()]]


def input_digests(folder: str | Path) -> tuple[FileDigest, ...]:
    """Name, size and content hash of every input file (``*.csv``, ``*.csv.gz``, ``*.parquet``,
    ``*.xlsx``) of ``folder``
    (hash ``""`` for a file that cannot be read: such inputs are never cached)."""
    return tuple((p.name, p.stat().st_size, _digest_or_blank(p)) for p in _input_files(Path(folder)))


def _digest_or_blank(path: Path) -> str:
    try:
        return file_digest(path)
    except OSError:
        return ""


def input_key(folder: Path, extra: tuple[str, ...] = (), tag: str = "", *,
              digests: Iterable[FileDigest] | None = None) -> str:
    """A key of the input files' content, the extra channels, the cache ``tag`` (see
    :func:`load_dataset`), the package version and the validation rules.

    Files are keyed by name and a hash of their bytes (:func:`input_digests`, unless
    ``digests`` gives them), never by modification time: a file restored, copied with
    ``cp -p`` or synced to other content with the same size and time gets another key.
    """
    from analysis import __version__
    files = input_digests(folder) if digests is None else digests
    raw = json.dumps({"files": [list(f) for f in files], "extra": list(extra), "tag": tag,
                      "version": __version__, "rules": rules_fingerprint(), "format": CACHE_FORMAT})
    return hashlib.sha256(raw.encode()).hexdigest()[:24]


class _DamagedEntry(Exception):
    """A cache entry that cannot be served (the reason is the message)."""


def _warn(message: str) -> None:
    warnings.warn(message, CacheWarning, stacklevel=3)


def cached_dataset(folder: str | Path, cache: str | Path, *, extra_channels: Iterable[str] = (),
                   cache_tag: str = "") -> Dataset | None:
    """The dataset of ``folder`` as cached in ``cache`` with ``cache_tag``, or None when
    the cache holds no entry for these inputs (see :func:`load_dataset`).

    The entry is found by the inputs' content (:func:`input_key`) and verified before it
    is served: every file it lists must have the size and hash recorded when it was
    written. A damaged entry (truncated, corrupt, unreadable, half written) is removed
    with a :class:`~analysis.errors.CacheWarning` and None is returned, so the caller
    validates the inputs again.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetNotFoundError(f"dataset folder not found: {folder}")
    digests = input_digests(folder)
    key = input_key(folder, tuple(str(c) for c in extra_channels), cache_tag, digests=digests)
    entry = Path(cache) / key
    if not entry.exists():
        return None
    try:
        frames, files = _read_entry(entry, key)
    except _DamagedEntry as exc:
        _warn(f"the input cache {entry} is damaged ({exc}): not used; the data in {folder} is validated "
              "again and the cache rebuilt")
        shutil.rmtree(entry, ignore_errors=True)
        if entry.exists() and not entry.is_dir():
            entry.unlink(missing_ok=True)
        return None
    return Dataset(**{name: frames.get(name) for name in TABLES}, source=folder, files=files, inputs=digests)


def _read_entry(entry: Path, key: str) -> tuple[dict[str, pd.DataFrame], dict[str, Path]]:
    """The tables and files of a cache entry, verified (raises :class:`_DamagedEntry`)."""
    try:
        index = json.loads((entry / ENTRY_INDEX).read_text(encoding="utf-8"))
        if index.get("format") != CACHE_FORMAT or index.get("key") != key:
            raise _DamagedEntry(f"{ENTRY_INDEX} is of another format or key")
        tables, files = dict(index["tables"]), {str(k): Path(v) for k, v in index["files"].items()}
    except _DamagedEntry:
        raise
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise _DamagedEntry(f"{ENTRY_INDEX} is missing or unreadable: {type(exc).__name__}") from None
    missing = [name for name, spec in TABLES.items() if spec.required_table and name not in tables]
    if missing or set(tables) - set(TABLES):
        raise _DamagedEntry(f"{ENTRY_INDEX} does not list the tables of a dataset")
    frames = {}
    for name, recorded in tables.items():
        path = entry / f"{name}.parquet"
        try:
            size, digest = int(recorded["size"]), str(recorded["sha256"])
            if path.stat().st_size != size or file_digest(path) != digest:
                raise _DamagedEntry(f"{path.name} is not the file written (truncated or changed)")
            frames[name] = pd.read_parquet(path)
        except _DamagedEntry:
            raise
        except (OSError, ValueError, KeyError, TypeError, pa.ArrowException) as exc:
            raise _DamagedEntry(f"{path.name} cannot be read: {type(exc).__name__}") from None
        absent = [c for c in TABLES[name].required if c not in frames[name].columns]
        if absent:
            raise _DamagedEntry(f"{path.name} lacks the column(s) {', '.join(absent)}")
    return frames, files


def _cached(folder: Path, extra: tuple[str, ...], cache: Path, tag: str = "", engine: str = "pandas",
            work: str | Path | None = None) -> Dataset:
    """Load through the Parquet cache when it holds these inputs (see :func:`load_dataset`)."""
    ds = cached_dataset(folder, cache, extra_channels=extra, cache_tag=tag)
    return load_dataset(folder, extra_channels=extra, engine=engine, work=work) if ds is None else ds


def cache_dataset(ds: Dataset, cache: str | Path, *, extra_channels: Iterable[str] = (),
                  cache_tag: str = "") -> Path | None:
    """Keep the validated tables of ``ds`` as Parquet in ``cache``; returns the entry.

    ``cache_tag`` says what was done to the tables (see :func:`load_dataset`): with
    ``privacy: pseudonymise`` pass the pseudonymised dataset and its tag, so that the
    cache holds pseudonyms only. The cache keeps one entry (the latest run's).

    The entry is keyed by the content of the files ``ds`` was validated from
    (:attr:`Dataset.inputs`), written to a temporary folder and moved into place in one
    step, its index (each file's size and hash) written last: a run killed while writing
    leaves no entry that can be served. When the inputs changed while they were read, or
    the cache cannot be written, nothing is cached (a
    :class:`~analysis.errors.CacheWarning` says so) and None is returned.
    """
    cache = Path(cache)
    extra = tuple(str(c) for c in extra_channels)
    if ds.spans is not None:  # the rows of some months only: not the dataset of the files
        return None
    if ds.inputs == ():
        _warn(f"the dataset is not the one validated from the files in {ds.source} (they changed while "
              "being read, or it is a slice of it): the input cache is not written")
        return None
    digests = input_digests(ds.source) if ds.inputs is None else ds.inputs
    entry = cache / input_key(ds.source, extra, cache_tag, digests=digests)
    staging = None
    try:
        if not (entry / ENTRY_INDEX).is_file():
            cache.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(dir=cache, prefix=".entry-"))
            tables = {}
            for name in TABLES:
                frame = getattr(ds, name)
                if frame is not None:
                    path = staging / f"{name}.parquet"
                    frame.to_parquet(path, index=False)
                    tables[name] = {"size": path.stat().st_size, "sha256": file_digest(path)}
            index = {"format": CACHE_FORMAT, "key": entry.name, "tables": tables,
                     "files": {k: str(v) for k, v in ds.files.items()}}
            (staging / ENTRY_INDEX).write_text(json.dumps(index, indent=1), encoding="utf-8")
            shutil.rmtree(entry, ignore_errors=True)
            os.replace(staging, entry)
            staging = None
        # one entry: the latest run's. Older entries and leftovers of interrupted writes go,
        # so that switching privacy on leaves no table of the other kind behind.
        for stale in cache.iterdir():
            if stale != entry:
                shutil.rmtree(stale, ignore_errors=True) if stale.is_dir() else stale.unlink(missing_ok=True)
    except OSError as exc:
        _warn(f"the input cache {cache} cannot be written ({exc}): the next run validates the data again")
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        return None
    return entry


# --- finding and reading files -------------------------------------------------------

class _ReadError(Exception):
    """A file that cannot be read at all (reported as a violation of the whole file)."""

    def __init__(self, rule: str, hint: str = ""):
        super().__init__(rule)
        self.rule, self.hint = rule, hint

    def violation(self, path: Path, table: str) -> Violation:
        return Violation(str(path), table, None, self.rule, hint=self.hint)


#: Table file suffixes besides those of the schema (``.csv``, ``.parquet``).
EXTRA_SUFFIXES = (".csv.gz", ".xlsx")
#: Separates a workbook's path from a sheet's name in the path of a table held by a sheet
#: (``data/dataset.xlsx#customers``).
SHEET_MARK = "#"


def _table_name(path: Path) -> str:
    """The table a file name stands for (``sales.csv.gz`` -> ``sales``)."""
    name = path.name.split(SHEET_MARK, 1)[0]
    for suffix in (".csv.gz", ".csv", ".parquet", ".xlsx"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def _is_table_file(path: Path) -> bool:
    """A file that may hold tables (Excel's ``~$`` lock files are not)."""
    name = path.name.lower()
    return not name.startswith("~$") and (path.suffix.lower() in (".csv", ".parquet", ".xlsx")
                                           or name.endswith(".csv.gz"))


def _sheet_path(book: Path, sheet: str) -> Path:
    return book.with_name(f"{book.name}{SHEET_MARK}{sheet}")


def _split_sheet(path: Path) -> tuple[Path, str | None]:
    """A workbook and sheet from a sheet path (see :data:`SHEET_MARK`), or ``(path, None)``."""
    name = path.name
    if SHEET_MARK in name and name.split(SHEET_MARK, 1)[0].lower().endswith(".xlsx"):
        book, sheet = name.split(SHEET_MARK, 1)
        return path.with_name(book), sheet
    return path, None


def _workbook_sheets(folder: Path) -> dict[Path, list[str]]:
    """The sheets of each workbook of ``folder`` not named after a table (one sheet per table)."""
    books = {}
    for path in sorted(folder.glob("*.xlsx")):
        if _table_name(path) in TABLES or not _is_table_file(path) or not path.is_file():
            continue
        try:
            books[path] = _sheet_names(path)
        except _ReadError:
            books[path] = []  # unreadable: reported when a table is looked for in it
    return books


def _locate(folder: Path, spec: TableSpec) -> tuple[Path | None, Violation | None]:
    """The file holding ``spec``'s table, or a violation (two of them, or a required one missing).

    A table is a file named after it (``.csv``, ``.csv.gz``, ``.parquet``, ``.xlsx``) or a
    sheet named after it in a workbook of the folder (a path ``book.xlsx#sheet``).
    """
    names = (*spec.file_names, *(f"{spec.name}{suffix}" for suffix in EXTRA_SUFFIXES))
    found = [folder / name for name in names if (folder / name).is_file()]
    found += [_sheet_path(book, spec.name) for book, sheets in _workbook_sheets(folder).items()
              if spec.name in sheets]
    if len(found) > 1:
        shown = " and ".join(_split_sheet(p)[0].name + (f" (sheet {spec.name!r})" if _split_sheet(p)[1] else "")
                             for p in found)
        rule = f"the table {spec.name!r} is given more than once: {shown}; keep only one of them"
        return None, Violation(str(folder), spec.name, None, rule)
    if found:
        return found[0], None
    if spec.required_table:
        expected = " or ".join(names)
        rule = f"required table {spec.name!r} is missing: expected {expected}, or a sheet {spec.name!r} in a workbook"
        return None, Violation(str(folder), spec.name, None, rule, hint=f"looked in {folder}")
    return None, None


def _read(path: Path) -> tuple[pd.DataFrame, str]:
    """The table as read, indexed by position in the file, and that position's name.

    CSV (also ``.csv.gz``): index = line number (the header is line 1); Excel: index = the
    sheet's row number (the header is row 1); Parquet: index = row number (from 1).
    Text columns are Arrow-backed strings.
    """
    book, sheet = _split_sheet(path)
    name = book.name.lower()
    if name.endswith(".csv") or name.endswith(".csv.gz"):
        return _read_csv(path), "line"
    if name.endswith(".parquet"):
        return _read_parquet(path), "row"
    if name.endswith(".xlsx"):
        return _read_xlsx(book, sheet), "row"
    raise _ReadError(f"unsupported file type {path.suffix!r}: use .csv, .csv.gz, .parquet or .xlsx")


def _open_text(path: Path):
    """A CSV file opened as text (gunzipped when it ends in ``.gz``)."""
    if path.name.lower().endswith(".gz"):
        import gzip
        return gzip.open(path, "rt", encoding="utf-8-sig", newline="")
    return path.open(encoding="utf-8-sig", newline="")


_NOT_UTF8 = "the file is not UTF-8 text"
_NOT_UTF8_HINT = "save it as 'CSV UTF-8' (in Excel: File > Save As > CSV UTF-8)"


def _delimiter(path: Path) -> str:
    """``;`` for Excel-style exports (a header with semicolons and no commas), else ``,``."""
    try:
        with _open_text(path) as handle:
            first = handle.readline()
    except UnicodeDecodeError:
        raise _ReadError(_NOT_UTF8, _NOT_UTF8_HINT) from None
    except (OSError, EOFError) as exc:  # a damaged gzip file
        raise _ReadError("the file could not be read", str(exc).strip()) from None
    return ";" if ";" in first and "," not in first else ","


#: Spellings of non-finite numbers (Arrow and pandas parse them as inf or NaN).
NON_FINITE_WORDS = r"^[+-]?(inf|infinity|nan|nan\(.*\))$"

#: A number written with a decimal comma (and optional dot thousands separators).
DECIMAL_COMMA = r"^-?\d{1,3}(\.\d{3})*,\d+$|^-?\d+,\d+$"


def _decimal_point(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Cells that are decimal-comma numbers, rewritten with a decimal point."""
    is_number = pc.fill_null(pc.match_substring_regex(column, DECIMAL_COMMA), False)
    dotted = pc.replace_substring(pc.replace_substring(column, ".", ""), ",", ".")
    return pc.if_else(is_number, dotted, column)


def _csv_header(path: Path, delimiter: str = ",") -> list[str]:
    """The column names of a CSV file (a BOM is tolerated); checks they are usable."""
    try:
        with _open_text(path) as handle:
            header = next(csv.reader(handle, delimiter=delimiter), None)
    except UnicodeDecodeError:
        raise _ReadError(_NOT_UTF8, _NOT_UTF8_HINT) from None
    except (OSError, EOFError, csv.Error) as exc:
        raise _ReadError("the file could not be read", str(exc).strip()) from None
    return _check_header(header)


def _check_header(header: list[str] | None) -> list[str]:
    """The column names of a header row, checked to be usable; unnamed columns get a name."""
    if not header or all(not name.strip() for name in header):
        raise _ReadError("the file is empty: its first line must name the columns")
    repeated = sorted({name for name in header if name.strip() and header.count(name) > 1})
    if repeated:
        raise _ReadError("the header names a column more than once: " + ", ".join(map(repr, repeated)))
    # A column without a name (e.g. a trailing comma) gets one; dropped later if empty.
    return [name if name.strip() else f"unnamed_{i}" for i, name in enumerate(header, start=1)]


def _read_csv(path: Path) -> pd.DataFrame:
    """A CSV file as text columns. Excel-style files (``;`` separated) are tolerated, and
    their decimal-comma numbers (``12,5``, ``1.234,5``) read as ``12.5`` and ``1234.5``."""
    delimiter = _delimiter(path)
    header = _csv_header(path, delimiter)
    names = pa_csv.ReadOptions(column_names=header, skip_rows=1)
    convert = pa_csv.ConvertOptions(
        column_types={name: pa.string() for name in header},
        strings_can_be_null=True, quoted_strings_can_be_null=True, null_values=[""],
    )
    # Blank lines are read as empty rows (then dropped) so that index = line number.
    parse = pa_csv.ParseOptions(ignore_empty_lines=False, delimiter=delimiter)
    try:
        table = pa_csv.read_csv(path, read_options=names, parse_options=parse, convert_options=convert)
    except pa.ArrowInvalid as exc:
        if "UTF8" in str(exc) or "UTF-8" in str(exc):
            raise _ReadError(_NOT_UTF8, _NOT_UTF8_HINT) from None
        raise _ReadError("the file could not be read as CSV", str(exc).strip()) from None
    except OSError as exc:  # a damaged gzip file
        raise _ReadError("the file could not be read as gzipped CSV", str(exc).strip()) from None
    if delimiter == ";":
        table = pa.table({name: _decimal_point(table[name]) for name in table.column_names})
    frame = table.to_pandas(types_mapper=_arrow_string_mapper)
    frame.index = pd.RangeIndex(2, len(frame) + 2)
    frame = _without_unnamed_empty(frame)
    blank = frame.isna().all(axis=1).to_numpy()
    return frame.loc[~blank] if blank.any() else frame


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise _ReadError("the file could not be read as Parquet", str(exc).strip()) from None
    frame = table.to_pandas(types_mapper=_arrow_string_mapper, ignore_metadata=True)
    index_columns = [c for c in frame.columns if str(c).startswith("__index_level_")]
    frame = frame.drop(columns=index_columns)
    frame.index = pd.RangeIndex(1, len(frame) + 1)
    return frame


_NO_XLSX = "reading .xlsx files needs openpyxl (pip install 'openpyxl>=3.1')"
#: Columns written as periods (``YYYY-MM``): Excel turns a typed ``2026-03`` into a date,
#: read back as its month.
_PERIOD_COLUMNS = frozenset(c for spec in TABLES.values() for c, kind in spec.columns.items() if kind == PERIOD)


def _load_workbook(path: Path):
    try:
        import openpyxl
    except ImportError:  # pragma: no cover - a dependency of the package
        raise _ReadError(_NO_XLSX) from None
    try:
        return openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds (zip, XML, KeyError)
        raise _ReadError("the file could not be read as an Excel workbook (.xlsx)",
                         f"{type(exc).__name__}: {exc}".strip()) from None


def _sheet_names(path: Path) -> list[str]:
    book = _load_workbook(path)
    try:
        return list(book.sheetnames)
    finally:
        book.close()


def _cell_text(value, period: bool = False) -> str | None:
    """An Excel cell as the text a CSV export would hold (whole numbers without ``.0``,
    dates ``YYYY-MM-DD``, a date in a period column as its month ``YYYY-MM``)."""
    import datetime as dt
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 2 ** 53 else repr(value)
    if isinstance(value, dt.datetime):
        if period:
            return value.strftime("%Y-%m")
        return value.strftime("%Y-%m-%d") if value.time() == dt.time(0) else value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.strftime("%Y-%m") if period else value.isoformat()
    return str(value)


def _read_xlsx(path: Path, sheet: str | None = None) -> pd.DataFrame:
    """One sheet of a workbook as text columns, indexed by the sheet's row numbers.

    The sheet: ``sheet``, else the one named after the file (``sales.xlsx``: ``sales``),
    else the only one. The first row names the columns; empty rows are skipped.
    """
    if not path.is_file():
        raise _ReadError("the workbook is missing")
    book = _load_workbook(path)
    try:
        names = list(book.sheetnames)
        wanted = sheet if sheet is not None else (_table_name(path) if _table_name(path) in names else None)
        if wanted is None:
            if len(names) != 1:
                raise _ReadError(f"the workbook has {len(names)} sheets ({', '.join(map(repr, names))}) and none is "
                                 f"named {_table_name(path)!r}", "name the sheet holding the table after it")
            wanted = names[0]
        if wanted not in names:
            raise _ReadError(f"the workbook has no sheet {wanted!r} (it has {', '.join(map(repr, names))})")
        rows = book[wanted].iter_rows(values_only=True)
        first = next(rows, None)
        header = _check_header([_cell_text(v) or "" for v in first] if first else None)
        periods = [name in _PERIOD_COLUMNS for name in header]
        width = len(header)
        columns: list[list] = [[] for _ in header]
        index = []
        for number, row in enumerate(rows, start=2):
            cells = [_cell_text(v, p) for v, p in zip(row, periods)]
            if len(row) > width and any(v is not None and str(v).strip() for v in row[width:]):
                raise _ReadError(f"row {number} has more cells than the header names columns",
                                 "give every column a name in the first row")
            if all(c is None for c in cells):
                continue  # an empty row (Excel keeps formatted empty rows)
            cells += [None] * (width - len(cells))
            for column, cell in zip(columns, cells):
                column.append(cell)
            index.append(number)
    finally:
        book.close()
    table = pa.table({name: pa.array(values, type=pa.string()) for name, values in zip(header, columns)})
    frame = table.to_pandas(types_mapper=_arrow_string_mapper)
    frame.index = pd.Index(index, dtype="int64")
    return _without_unnamed_empty(frame)


def _without_unnamed_empty(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` without its columns of no name (``unnamed_<i>``, see :func:`_csv_header`)
    and no value: a trailing separator, not a column."""
    return frame.drop(columns=[c for c in frame.columns if c.startswith("unnamed_") and frame[c].isna().all()])


def _arrow_string_mapper(arrow_type: pa.DataType):
    return _WORK_STR if arrow_type in (pa.string(), pa.large_string()) else None


# --- converting columns --------------------------------------------------------------

class _Parsed(NamedTuple):
    """One column parsed by kind.

    ``values``: typed values (missing where empty or invalid); ``empty``: the cell is
    empty; ``invalid``: the cell is not empty but not a valid value of the kind.
    """

    values: pd.Series
    empty: np.ndarray
    invalid: np.ndarray
    #: numbers only: cells that are infinite or NaN written out (``inf``, ``-inf``,
    #: ``NaN``, or a number too large for float64 such as ``1e309``); also in ``invalid``.
    nonfinite: np.ndarray | None = None


def _arrow(series: pd.Series) -> pa.ChunkedArray:
    array = pa.array(series)
    return array if isinstance(array, pa.ChunkedArray) else pa.chunked_array([array])


def _numpy_bool(array) -> np.ndarray:
    """An Arrow or pandas boolean array as numpy bool (missing -> False)."""
    if isinstance(array, (pa.Array, pa.ChunkedArray)):
        return pc.fill_null(array, False).to_numpy(zero_copy_only=False).astype(bool, copy=False)
    return np.asarray(pd.Series(array).fillna(False), dtype=bool)


def _as_work_text(series: pd.Series) -> pd.Series:
    """Any column as Arrow-backed strings; whole floats print without ``.0``."""
    if series.dtype == _WORK_STR:
        return series
    if pd.api.types.is_float_dtype(series.dtype):
        finite = series.dropna()
        if len(finite) and np.isfinite(finite).all() and (finite % 1 == 0).all():
            series = series.astype("Int64")
    return series.astype(_WORK_STR)


def _text(series: pd.Series) -> pd.Series:
    """Stripped text; empty or blank cells missing."""
    array = pc.utf8_trim_whitespace(_arrow(_as_work_text(series)))
    blank = pc.equal(array, "")
    if pc.any(blank).as_py():
        array = pc.if_else(blank, pa.scalar(None, array.type), array)
    return pd.Series(pd.arrays.ArrowStringArray(array), index=series.index)


def _isin(text: pd.Series, values) -> np.ndarray:
    """Whether each value of a text column is one of ``values`` (missing -> False).

    ``values``: a tuple/list of strings, or an Arrow-backed string array (a column's
    distinct values).
    """
    array = _arrow(text)
    if isinstance(values, (tuple, list)):
        value_set = pa.array([str(v) for v in values], type=array.type)
    else:
        value_set = pc.cast(_arrow(pd.Series(values, dtype=_WORK_STR)).combine_chunks(), array.type)
    return _numpy_bool(pc.is_in(array, value_set=value_set))


def _all_distinct(text: pd.Series) -> bool:
    """Quick test that no value of a text column repeats (missing values may)."""
    counts = pc.value_counts(_arrow(text).drop_null()).field("counts")
    return len(counts) == 0 or pc.max(counts).as_py() <= 1


def _parse_text(series: pd.Series, kind: str, extra_channels: tuple[str, ...]) -> _Parsed:
    text = _text(series)
    empty = text.isna().to_numpy()
    invalid = np.zeros(len(text), dtype=bool)
    allowed = allowed_values(kind, extra_channels)
    if allowed is not None:
        invalid = ~empty & ~_isin(text, allowed)
    elif kind == PERIOD:
        invalid = ~empty & ~_numpy_bool(pc.match_substring_regex(_arrow(text), PERIOD_PATTERN))
    return _Parsed(text, empty, invalid)


def _parse_number(series: pd.Series, kind: str) -> _Parsed:
    if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype):
        values = series.astype("float64").to_numpy()
        empty = np.isnan(values)  # NaN in a numeric column is pandas' missing value
        nonfinite = np.isinf(values)
    else:
        text = _text(series)
        empty = text.isna().to_numpy()
        values = _to_float(text)
        written_nan = _numpy_bool(pc.match_substring_regex(_arrow(text), NON_FINITE_WORDS, ignore_case=True))
        nonfinite = ~empty & (np.isinf(values) | written_nan)
    invalid = ~empty & ~np.isfinite(values)
    if kind == INTEGER:
        invalid |= np.isfinite(values) & (np.mod(values, 1) != 0)
    values = np.where(invalid, np.nan, values)
    return _Parsed(pd.Series(values, index=series.index, dtype="float64"), empty, invalid, nonfinite)


def _to_float(text: pd.Series) -> np.ndarray:
    """Text to float64 (missing or unparseable -> NaN)."""
    try:
        cast = pc.cast(_arrow(text), pa.float64())
        return cast.to_numpy(zero_copy_only=False).astype("float64", copy=False)
    except pa.ArrowInvalid:  # some cell is not a number: parse leniently to find which
        objects = text.to_numpy(dtype=object, na_value=np.nan)
        return pd.to_numeric(objects, errors="coerce").astype("float64")


def _parse_bool(series: pd.Series) -> _Parsed:
    if pd.api.types.is_bool_dtype(series.dtype):
        empty = series.isna().to_numpy()
        return _Parsed(series.astype("boolean"), empty, np.zeros(len(series), dtype=bool))
    text = _text(series)
    empty = text.isna().to_numpy()
    lower = pd.Series(pd.arrays.ArrowStringArray(pc.utf8_lower(_arrow(text))), index=text.index)
    is_true, is_false = _isin(lower, TRUE_WORDS), _isin(lower, FALSE_WORDS)
    values = pd.Series(pd.array(np.where(is_true, True, False), dtype="boolean"), index=series.index)
    values[~(is_true | is_false)] = pd.NA
    return _Parsed(values, empty, ~empty & ~is_true & ~is_false)


def _parse_date(series: pd.Series) -> _Parsed:
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        values = series.dt.tz_localize(None) if getattr(series.dt, "tz", None) else series
        empty = values.isna().to_numpy()
        return _Parsed(values.astype("datetime64[ns]"), empty, np.zeros(len(series), dtype=bool))
    text = _text(series)
    empty = text.isna().to_numpy()
    # Dates repeat a lot: parse each distinct spelling once.
    codes, spellings = pd.factorize(text)
    spellings = pd.Series(np.asarray(spellings, dtype=object), dtype=object)
    parsed = pd.to_datetime(spellings, format="%Y-%m-%d", errors="coerce")
    ok = spellings.str.match(DATE_PATTERN).fillna(False).astype(bool) & parsed.between(_FIRST_DATE, _LAST_DATE)
    parsed = parsed.where(ok).astype("datetime64[ns]").to_numpy()
    lookup = np.append(parsed, np.datetime64("NaT", "ns"))  # code -1 (empty) -> NaT
    values = pd.Series(lookup[codes], index=series.index, dtype="datetime64[ns]")
    return _Parsed(values, empty, ~empty & values.isna().to_numpy())


def _parse(series: pd.Series, kind: str, extra_channels: tuple[str, ...] = ()) -> _Parsed:
    """Parse a column by its contract kind."""
    if kind in (NUMBER, INTEGER):
        return _parse_number(series, kind)
    if kind == BOOL:
        return _parse_bool(series)
    if kind == DATE:
        return _parse_date(series)
    return _parse_text(series, kind, extra_channels)


def _final(values: pd.Series, kind: str) -> pd.Series:
    """A parsed column in its normalized dtype."""
    if kind == BOOL:
        return values.astype(bool) if not values.isna().any() else values
    if kind in (NUMBER, INTEGER, DATE):
        return values
    return _default_str(values)


def _default_str(series: pd.Series) -> pd.Series:
    """Arrow-backed text in pandas' default string dtype (missing as NaN)."""
    if _DEFAULT_STR == object:
        return pd.Series(series.to_numpy(dtype=object, na_value=np.nan), index=series.index, name=series.name)
    return series.astype(_DEFAULT_STR)


def _default_strings(frame: pd.DataFrame) -> pd.DataFrame:
    """Every Arrow-backed text column of ``frame`` in pandas' default string dtype."""
    converted = {c: _default_str(frame[c]) for c in frame.columns if frame[c].dtype == _WORK_STR}
    return frame.assign(**converted) if converted else frame


# --- validating one table ------------------------------------------------------------

@dataclass
class _TableCheck:
    """The validation of one table read from ``path``; ``raw`` is indexed by ``label``."""

    spec: TableSpec
    path: Path
    raw: pd.DataFrame
    label: str
    extra_channels: tuple[str, ...] = ()
    #: The rows of the file when ``raw`` holds some of them only (its offending rows, found
    #: out of core: :mod:`analysis.contract.offending`); None: ``raw`` is the whole table.
    rows: int | None = None
    values: dict[str, pd.Series] = field(default_factory=dict)
    violations: list[Violation] = field(default_factory=list)

    def run(self) -> None:
        """Check rows, columns, values and the key; foreign keys are checked across tables."""
        if self.spec.required_table and (len(self.raw) if self.rows is None else self.rows) == 0:
            self.violations.append(Violation(
                str(self.path), self.spec.name, None, "the table has no rows: a required table needs at least one",
                hint="The file holds only its header (or blank lines): export the data again."))
        self._check_missing_columns()
        for column, kind in self.spec.columns.items():
            if column in self.raw.columns:
                self._check_column(column, kind)
        self._check_key()

    def flag(self, column: str | None, rule: str, mask: np.ndarray, hint: str = "", order=None) -> None:
        """Record a violation of ``rule`` by the rows in ``mask`` (if any)."""
        n = int(mask.sum())
        if n:
            examples = self._examples(mask, column, order)
            self.violations.append(Violation(str(self.path), self.spec.name, column, rule, n, examples, hint))

    def found(self, column: str, mask: np.ndarray) -> str:
        """``'x' (3 rows), 'y' (1 row)``: the most frequent offending values."""
        offending = self.raw.loc[mask, column]
        counts = offending.value_counts(dropna=False).head(MAX_EXAMPLES)
        shown = ", ".join(f"{str(v)!r} ({_rows_count(n)})" for v, n in counts.items())
        return shown + (", ..." if offending.nunique(dropna=False) > MAX_EXAMPLES else "")

    def _examples(self, mask: np.ndarray, column: str | None, order) -> pd.DataFrame:
        shown = [c for c in self.spec.required if c in self.raw.columns]
        if column in self.raw.columns and column not in shown:
            shown.append(column)
        rows = self.raw.loc[mask, shown]
        if order is not None:
            keys = pd.DataFrame({c: v[mask] for c, v in order.items()}, index=rows.index)
            rows = rows.loc[keys.sort_values(list(keys.columns), kind="stable").index]
        rows = rows.head(MAX_EXAMPLES)
        return _default_strings(rows.rename_axis(self.label).reset_index())

    def _check_missing_columns(self) -> None:
        # Columns the contract does not know, by lower-case name: candidates for a typo.
        unknown = {str(c).strip().lower(): str(c) for c in self.raw.columns if c not in self.spec.columns}
        for column in self.spec.required:
            if column not in self.raw.columns:
                close = difflib.get_close_matches(column.lower(), unknown, n=1, cutoff=0.85)
                hint = f"Found {unknown[close[0]]!r}: column names must match exactly." if close else ""
                self.violations.append(Violation(
                    str(self.path), self.spec.name, column, "required column is missing", hint=hint))

    def _check_column(self, column: str, kind: str) -> None:
        parsed = _parse(self.raw[column], kind, self.extra_channels)
        self.values[column] = parsed.values
        rule, hint = _type_rule(column, kind)
        invalid = parsed.invalid
        if parsed.nonfinite is not None and parsed.nonfinite.any():
            found = f"Found {self.found(column, parsed.nonfinite)}."
            fix = ("Leave the cell empty when the value is unknown." if column not in self.spec.required
                   else "Write the value as a plain number.")
            self.flag(column, f"{column} must be a finite number (not inf or NaN)", parsed.nonfinite,
                      f"{found} Infinity and NaN are not values; a number beyond about 1.8e308 becomes "
                      f"infinity. {fix}")
            invalid = invalid & ~parsed.nonfinite
        if invalid.any():
            found = f"Found {self.found(column, invalid)}."
            self.flag(column, rule, invalid, " ".join(h for h in (found, hint) if h))
        if column in self.spec.required:
            self.flag(column, f"{column} must not be empty", parsed.empty)
        if kind in (ID, TEXT):
            self._check_control_characters(column, kind, parsed.values)
        bound = self.spec.bounds.get(column)
        if bound is not None:
            numbers = parsed.values.to_numpy()
            everywhere = np.ones(len(numbers), dtype=bool)
            low_ok = everywhere if bound.minimum is None else (
                numbers > bound.minimum if bound.exclusive_minimum else numbers >= bound.minimum)
            high_ok = everywhere if bound.maximum is None else numbers <= bound.maximum
            outside = ~np.isnan(numbers) & ~np.asarray(low_ok & high_ok, dtype=bool)
            if bound.minimum is not None or bound.maximum is not None:
                self.flag(column, bound.describe(column), outside)
            if bound.limit is not None:
                absurd = ~np.isnan(numbers) & ~outside & (np.abs(numbers) > bound.limit)
                self.flag(column, bound.describe_limit(column), absurd,
                          f"Found {self.found(column, absurd)}. Values this large are taken for data errors "
                          "(an export glitch or a unit slip); the limits are in the data contract.")

    def _check_control_characters(self, column: str, kind: str, text: pd.Series) -> None:
        """Ids must not hold control characters; text only tab and line breaks."""
        pattern = ID_CONTROL_PATTERN if kind == ID else TEXT_CONTROL_PATTERN
        if text.isna().all():
            return
        bad = _numpy_bool(pc.match_substring_regex(_arrow(text), pattern))
        if bad.any():
            allowed = "" if kind == ID else " (tab and line breaks are allowed)"
            shown = ", ".join(sorted({_control_names(v) for v in text[bad].head(50)}))
            self.flag(column, f"{column} must not contain control characters{allowed}", bad,
                      f"Found {shown}. They are invisible and come from a damaged export: remove them.")

    def _check_key(self) -> None:
        key = self.spec.key
        if not key or any(c not in self.values for c in key):
            return
        if len(key) == 1:
            values = self.values[key[0]]
            if _all_distinct(values):
                return
            repeated = values.duplicated(keep=False).to_numpy() & values.notna().to_numpy()
            rule = f"{key[0]} must be unique"
        else:
            frame = pd.DataFrame({c: self.values[c] for c in key})
            complete = frame.notna().all(axis=1).to_numpy()
            repeated = frame.duplicated(keep=False).to_numpy() & complete
            rule = f"each ({', '.join(key)}) must appear only once"
        if repeated.any():
            n_keys = int((~pd.DataFrame({c: self.values[c][repeated] for c in key}).duplicated()).sum())
            hint = (f"{n_keys:,} value appears more than once." if n_keys == 1
                    else f"{n_keys:,} values appear more than once.")
            self.flag(key[0] if len(key) == 1 else None, rule, repeated, hint,
                      order={c: self.values[c] for c in key})

    def normalized(self) -> pd.DataFrame:
        """The table in normalized dtypes (call only when it has no violations)."""
        columns = {}
        for column in self.raw.columns:
            kind = self.spec.columns.get(column)
            columns[column] = (_final(self.values[column], kind) if kind is not None
                               else _default_str(self.raw[column]) if self.raw[column].dtype == _WORK_STR
                               else self.raw[column])
        return pd.DataFrame(columns, index=self.raw.index).reset_index(drop=True)


def _type_rule(column: str, kind: str) -> tuple[str, str]:
    """The rule (and a fixing hint) for values that are not of ``kind``."""
    if kind == CHANNEL_KIND:
        return (f"{column} must be a known channel or one declared in the run profile",
                f"Known channels: {', '.join(CHANNELS)}. "
                "The run profile can declare extra channels (extra_channels).")
    allowed = enum_values(kind)
    if allowed is not None:
        return f"{column} must be one of: {', '.join(allowed)}", ""
    return {
        NUMBER: (f"{column} must be a number",
                 "Write plain numbers such as 12 or 3.5, without units or thousands separators."),
        INTEGER: (f"{column} must be a whole number", ""),
        BOOL: (f"{column} must be true or false", "Also accepted: 1/0 and yes/no, in any case."),
        PERIOD: (f"{column} must be YYYY-MM", "Write the month as YYYY-MM, for example 2026-01."),
        DATE: (f"{column} must be a date written YYYY-MM-DD", "For example 2026-01-31."),
    }.get(kind, (f"{column} has invalid values", ""))


# --- foreign keys --------------------------------------------------------------------

def _check_references(checks: dict[str, _TableCheck]) -> None:
    """Every reference to another table must name an existing row of it.

    A reference is skipped when the table it points to could not be read (or lacks the
    referenced column): that problem is already reported.
    """
    for check in checks.values():
        for column, (table, target) in check.spec.references.items():
            parent = checks.get(table)
            if column not in check.values or parent is None or target not in parent.values:
                continue
            if len(parent.raw) == 0:  # reported as an empty table: every reference would fail
                continue
            values = check.values[column]
            known = parent.values[target].dropna().unique()
            unknown = values.notna().to_numpy() & ~_isin(values, known)
            if unknown.any():
                hint = f"Not in {parent.path.name}: {check.found(column, unknown)}."
                check.flag(column, f"{column} must reference an existing {table}.{target}", unknown, hint)


def _control_names(value: str) -> str:
    """The control characters of ``value`` as code points: ``U+0000, U+0007``."""
    codes = sorted({ord(c) for c in str(value) if ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F})
    return ", ".join(f"U+{c:04X}" for c in codes)


def _rows_count(n: int) -> str:
    return f"{n:,} row" + ("" if n == 1 else "s")


def _empty(spec: TableSpec) -> pd.DataFrame:
    """A table with no rows and the contract's columns in their normalized dtypes."""
    raw = pd.DataFrame({c: pd.Series([], dtype=_WORK_STR) for c in spec.columns})
    check = _TableCheck(spec, Path(spec.file_names[0]), raw, "line")
    check.run()
    return check.normalized()
