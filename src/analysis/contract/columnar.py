"""Reading and validating the large tables (sales, activities) out of core, in DuckDB.

:func:`load_tables` is the ``engine="duckdb"`` path of
:func:`analysis.contract.dataset.load_dataset`. The small tables (territories, reps,
customers, products, markets, phases) are read and checked by pandas as always (in a
thread, while DuckDB scans the large files: :func:`scan` needs no other table); the
large ones are read by an embedded DuckDB straight from the user's CSV or Parquet file,
checked there with every rule of :data:`analysis.contract.schema.TABLES` (types, empty
cells, control characters, enums, periods, dates, bounds and sanity limits, the key,
the references to the small tables) and normalized (stripped text, float64 numbers,
``datetime64[ns]`` dates), spilling to a temporary folder (under ``OUT/.work/duckdb``
in a batch run) when they exceed DuckDB's memory limit. Only the normalized frames
reach pandas; the raw text never does.

A column of few distinct values (ids of customers, products and reps, periods, dates,
channels, amounts) is checked on those values, found in one scan, and its cells are
then only typed; the rows are never copied normalized: the view of them reads the
Parquet file again, or a CSV file's text parsed once (see :func:`validate`).

Sales are summed per customer x product x window of the analyses (their key makes
the validated table the monthly sums already): only those sums reach pandas when the
caller names the windows (``windows_of``). The activities are kept per activity (the
analyses count activities, follow reps and dates per activity): see
``docs/scale.md``.

The messages promise (file, column, rule, up to five offending rows with line numbers,
nothing written) is kept by the contract's own pandas checks, run on what DuckDB finds:
when a large table breaks a rule, its offending rows alone are read as they are in the
file, with their line numbers, and checked by pandas (:mod:`analysis.contract.offending`),
so a broken file of any size gives the error pandas would give reading it whole. An
input DuckDB does not vouch for (a ``;``-separated export with decimal commas, a quoted
line break, a Parquet column of another type, extra Parquet columns, a file DuckDB
cannot parse) is read whole by pandas instead. So the same broken input gives the same
:class:`~analysis.errors.DataValidationError`, whichever engine is asked for; a valid
input gives the same frames.
"""
from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Collection, Mapping
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa

from analysis.contract import dataset as _ds
from analysis.contract import key_order, offending, reduction
from analysis.contract.reduction import Summaries
from analysis.contract.schema import (
    DATE, DATE_PATTERN, ID, ID_CONTROL_PATTERN, INTEGER, NUMBER, PERIOD, PERIOD_PATTERN, TABLES, TEXT,
    TEXT_CONTROL_PATTERN, TableSpec, allowed_values,
)

#: The tables read by DuckDB (the others are small: pandas reads them).
LARGE_TABLES = ("sales", "activities")

#: The characters pandas/Arrow strip from both ends of a cell (Unicode White_Space, and
#: the information separators U+001C..U+001F, as ``utf8_trim_whitespace`` does).
WHITESPACE = "".join(map(chr, (0x9, 0xA, 0xB, 0xC, 0xD, 0x1C, 0x1D, 0x1E, 0x1F, 0x20, 0x85, 0xA0, 0x1680,
                               *range(0x2000, 0x200B), 0x2028, 0x2029, 0x202F, 0x205F, 0x3000)))
#: The spellings of a number both Arrow and DuckDB read the same (anything else, e.g.
#: ``1_000`` which DuckDB would take, goes to the pandas path and its messages).
PLAIN_NUMBER = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"
_FIRST_DATE, _LAST_DATE = "1678-01-01", "2262-04-11"
_TEXT_TYPES = ("VARCHAR",)
_NUMBER_TYPES = ("DOUBLE", "FLOAT", "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT",
                 "UINTEGER", "UBIGINT", "VARCHAR")
_DATE_TYPES = ("DATE", "TIMESTAMP", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S", "VARCHAR")


#: Columns of the large tables no analysis reads: a windows-only dataset (``span_of``)
#: leaves them out (an activity's free-text ``content`` is most of its bytes).
UNREAD_COLUMNS = {"activities": ("content",)}

#: ``engine="auto"`` reads with DuckDB from this many rows of sales and activities (together;
#: Parquet row counts from the metadata, CSV estimated from the size): below it the
#: pandas path and its input cache are as fast and reruns faster.
AUTO_ROWS = 1_000_000
#: Bytes per CSV row assumed by the estimate (a sales row is about 30, an activity 60).
_CSV_ROW_BYTES = 40


def estimated_rows(folder: Path) -> int:
    """About how many rows the large tables of ``folder`` hold (0 when they cannot be found)."""
    import pyarrow.parquet as pq

    total = 0
    for name in LARGE_TABLES:
        path, problem = _ds._locate(folder, TABLES[name])
        if path is None or problem is not None:
            continue
        try:
            lower = path.name.lower()
            if lower.endswith(".parquet"):
                total += pq.ParquetFile(path).metadata.num_rows
            elif lower.endswith(".csv.gz"):
                total += 4 * path.stat().st_size // _CSV_ROW_BYTES
            elif lower.endswith(".csv"):
                total += path.stat().st_size // _CSV_ROW_BYTES
        except Exception:  # noqa: BLE001 - unreadable: the loader says what is wrong
            continue
    return total


def choose_engine(folder: Path, engine: str = "auto") -> str:
    """``engine``, or for ``auto``: ``duckdb`` from :data:`AUTO_ROWS` rows, else ``pandas``."""
    if engine != "auto":
        return engine
    return "duckdb" if estimated_rows(Path(folder)) >= AUTO_ROWS else "pandas"


class Broken(Exception):
    """DuckDB found a large table breaking a rule: ``offending`` holds its offending rows,
    checked by the pandas checks (their violations are the error's)."""

    def __init__(self, found: offending.Offending):
        super().__init__(f"{found.total} offending row(s)")
        self.offending = found


class Fallback(Exception):
    """DuckDB does not vouch for this table: an input shape it leaves to pandas."""


def _quote(name: str) -> str:
    return '"' + str(name).replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def connect(work: Path | None = None, *, memory_limit: str | None = None, threads: int | None = None):
    """An in-process DuckDB (no server) with a memory limit (see
    :func:`~analysis.contract.reduction.duckdb_config`), spilling into ``work`` (a
    temporary folder when None). Returns ``(connection, spill folder, remove it after)``."""
    import duckdb

    if work is not None:
        Path(work).mkdir(parents=True, exist_ok=True)
        spill = Path(tempfile.mkdtemp(dir=work, prefix="spill-"))
    else:
        spill = Path(tempfile.mkdtemp(prefix="territory-reports-duckdb-"))
    con = duckdb.connect(config={**reduction.duckdb_config(memory_limit, threads), "temp_directory": str(spill)})
    con.execute("SET enable_progress_bar = false")  # the batch reports progress itself
    return con, spill


@contextmanager
def connected(work: Path | None = None, **settings):
    """:func:`connect` for a ``with`` block: on leaving it, the connection is closed and
    its spill folder removed, and so are the folders made for it (``work`` and its
    missing parents) when left empty: a load that fails writes nothing."""
    missing = [] if work is None else [p for p in (Path(work), *Path(work).parents) if not p.exists()]
    con, spill = connect(work, **settings)
    try:
        yield con
    finally:
        con.close()
        shutil.rmtree(spill, ignore_errors=True)
        for folder in missing:  # the deepest first
            try:
                folder.rmdir()
            except OSError:  # not empty (or not ours to remove): kept with what it holds
                break


def _source(con, path: Path) -> tuple[str, dict[str, str]]:
    """The SQL reading ``path`` as it is, and its columns' DuckDB types."""
    name = path.name.lower()
    if name.endswith(".csv") or name.endswith(".csv.gz"):
        try:
            delimiter = _ds._delimiter(path)
            header = _ds._csv_header(path, delimiter)
        except _ds._ReadError:
            raise Fallback("unreadable header") from None
        if delimiter != ",":
            raise Fallback("a ;-separated export (decimal commas): pandas")
        columns = "{" + ", ".join(f"{_literal(c)}: 'VARCHAR'" for c in header) + "}"
        sql = (f"read_csv({_literal(str(path))}, header=false, skip=1, delim=',', quote='\"', escape='\"', "
               f"columns={columns}, auto_detect=false, strict_mode=true, null_padding=false, "
               f"compression='auto', encoding='utf-8')")
        return sql, dict.fromkeys(header, "VARCHAR")
    if name.endswith(".parquet"):
        sql = f"read_parquet({_literal(str(path))})"
        try:
            described = con.execute(f"DESCRIBE SELECT * FROM {sql}").fetchall()
        except Exception as exc:  # noqa: BLE001 - any DuckDB error: pandas says what it is
            raise Fallback(f"unreadable Parquet: {exc}") from None
        return sql, {row[0]: str(row[1]) for row in described}
    raise Fallback("not CSV or Parquet")


def _kind_ok(kind: str, dtype: str) -> bool:
    if kind in (NUMBER, INTEGER):
        return dtype in _NUMBER_TYPES
    if kind == DATE:
        return dtype in _DATE_TYPES
    return dtype in _TEXT_TYPES


#: Cells that need no stripping and hold no control character (most cells): kept as they are.
_PLAIN_ID = "[!-~]+"
_PLAIN_ENDS = "(?s)[!-~](.*[!-~])?"
#: A typed number column's value (NaN in a numeric column is pandas' missing value).
_TYPED_NUMBER = "CASE WHEN isnan(CAST({q} AS DOUBLE)) THEN NULL ELSE CAST({q} AS DOUBLE) END"


def _columns(spec: TableSpec, types: Mapping[str, str], extra_channels: tuple[str, ...], csv: bool,
             clean: Collection[str] = ()):
    """Three projections over the file: the stripped text of each text cell, then typed
    values (and the cells that do not parse), then the range checks; and the flags of
    row-local violations (any rule of the contract broken by a cell). A ``clean`` column
    (every value of it plain and breaking no rule: see :func:`_profile`) is only typed.

    Returns ``(stage1, stage2, stage3, bad)``: column -> SQL of each stage (each stage
    reads the previous one's columns by name) and the boolean SQL of each rule (over
    stage 3)."""
    stage1, stage2, stage3, bad = {}, {}, {}, []
    carry = lambda name, kept=(stage2, stage3): [d.__setitem__(name, _quote(name)) for d in kept]
    for column, dtype in types.items():
        q = _quote(column)
        kind = spec.columns.get(column)
        if kind is None:
            if not csv:
                raise Fallback("extra Parquet columns keep their types: pandas")
            stage1[column] = q  # extra columns are kept as read
            carry(column)
            continue
        if not _kind_ok(kind, dtype):
            raise Fallback(f"{column}: Parquet type {dtype}")
        required = column in spec.required
        text = dtype == "VARCHAR"
        if column in clean:  # the typed value of each cell, as the stages below would give it
            stage1[column] = q
            if kind in (NUMBER, INTEGER):
                stage2[column] = f"CAST({q} AS DOUBLE)" if text else _TYPED_NUMBER.format(q=q)
            elif kind == DATE:
                stage2[column] = (f"CAST(try_strptime({q}, '%Y-%m-%d') AS TIMESTAMP)" if text
                                  else f"CAST({q} AS TIMESTAMP)")
            else:
                stage2[column] = q
            carry(column, (stage3,))
            continue
        if text:
            plain = _PLAIN_ENDS if kind == TEXT else _PLAIN_ID
            p = _quote(f"__plain_{column}")
            stage1[f"__plain_{column}"] = f"coalesce(regexp_full_match({q}, {_literal(plain)}), false)"
            stage1[column] = (f"CASE WHEN regexp_full_match({q}, {_literal(plain)}) THEN {q} "
                              f"ELSE nullif(trim({q}, {_literal(WHITESPACE)}), '') END")
            if csv:  # pyarrow reads no line break inside a cell: pandas says what it does
                nl = f"__nl_{column}"
                stage1[nl] = f"coalesce(contains({q}, chr(10)) OR contains({q}, chr(13)), false)"
                carry(nl)
                bad.append(_quote(nl))
        else:
            stage1[column] = q
        if kind in (NUMBER, INTEGER):
            if text:
                stage2[column] = (f"CASE WHEN regexp_full_match({q}, {_literal(PLAIN_NUMBER)}) "
                                  f"THEN CAST({q} AS DOUBLE) END")
                unparsed = f"__unparsed_{column}"
                stage2[unparsed] = (f"({q} IS NOT NULL AND NOT coalesce(regexp_full_match({q}, "
                                    f"{_literal(PLAIN_NUMBER)}), false))")
                carry(unparsed, (stage3,))
                bad.append(_quote(unparsed))
            else:
                stage2[column] = _TYPED_NUMBER.format(q=q)
            carry(column, (stage3,))
            bad.append(f"coalesce(NOT isfinite({q}), false)")
            if kind == INTEGER:
                bad.append(f"coalesce({q} <> floor({q}), false)")
            bound = spec.bounds.get(column)
            if bound is not None:
                if bound.minimum is not None:
                    op = "<=" if bound.exclusive_minimum else "<"
                    bad.append(f"coalesce({q} {op} {bound.minimum!r}, false)")
                if bound.maximum is not None:
                    bad.append(f"coalesce({q} > {bound.maximum!r}, false)")
                if bound.limit is not None:
                    bad.append(f"coalesce(abs({q}) > {bound.limit!r}, false)")
            if required:
                bad.append(f"({q} IS NULL)")
            continue
        if kind == DATE:
            if text:
                stage2[column] = (f"CAST(CASE WHEN regexp_full_match({q}, {_literal(DATE_PATTERN[1:-1])}) "
                                  f"THEN try_strptime({q}, '%Y-%m-%d') END AS TIMESTAMP)")
                unparsed = f"__unparsed_{column}"
                stage2[unparsed] = (f"({q} IS NOT NULL AND (NOT regexp_full_match({q}, "
                                    f"{_literal(DATE_PATTERN[1:-1])}) OR try_strptime({q}, '%Y-%m-%d') IS NULL))")
                carry(unparsed, (stage3,))
                bad.append(_quote(unparsed))
            else:
                stage2[column] = f"CAST({q} AS TIMESTAMP)"
            carry(column, (stage3,))
            bad.append(f"coalesce({q} < TIMESTAMP '{_FIRST_DATE}' OR {q} > TIMESTAMP '{_LAST_DATE}', false)")
            if required:
                bad.append(f"({q} IS NULL)")
            continue
        # text kinds: ids, text, enums, periods
        carry(column)
        if required:
            bad.append(f"({q} IS NULL)")
        allowed = allowed_values(kind, extra_channels)
        if allowed is not None:
            bad.append(f"({q} IS NOT NULL AND {q} NOT IN ({', '.join(map(_literal, allowed))}))")
        elif kind == PERIOD:
            bad.append(f"({q} IS NOT NULL AND NOT regexp_full_match({q}, {_literal(PERIOD_PATTERN[1:-1])}))")
        if kind in (ID, TEXT):
            pattern = ID_CONTROL_PATTERN if kind == ID else TEXT_CONTROL_PATTERN
            p = _quote(f"__plain_{column}")
            carry(f"__plain_{column}")
            check = f"coalesce(regexp_matches({q}, {_literal(pattern)}), false)"
            # (an id's plain cells skip the pattern: DuckDB would match it on every cell of
            # ``NOT plain AND match`` inside the OR of the rules, a CASE only on the others)
            bad.append(check if kind == TEXT else f"(CASE WHEN {p} THEN false ELSE {check} END)")
    return stage1, stage2, stage3, bad


def read_valid(con, path: Path, spec: TableSpec, extra_channels: tuple[str, ...],
               known: Mapping[str, pa.Array]) -> pd.DataFrame:
    """The normalized table in ``path`` when it breaks no rule (``known``: the values each
    reference must take, from the validated small tables); raises :class:`Fallback` otherwise."""
    relation, columns = validate(con, path, spec, extra_channels, known)
    try:
        return fetch(con, relation, columns, spec)
    finally:
        release(con, spec.name)


def fetch(con, table: str, columns: list[str], spec: TableSpec, where: str = "") -> pd.DataFrame:
    """The rows of a validated table (``where``: an SQL condition; default: all) as a
    pandas frame: read in one query (a view reads its file once), then made pandas
    columns a column at a time, each Arrow column let go once made (only one is ever
    held twice)."""
    condition = f" WHERE {where}" if where else ""
    arrow = con.sql(f"SELECT {', '.join(map(_quote, columns))} FROM {table}{condition}").to_arrow_table()
    out = {}
    for column in columns:
        out[column] = _series(arrow[column], spec.columns.get(column))
        arrow = arrow.drop_columns([column])
    return pd.DataFrame(out)


def validate(con, path: Path, spec: TableSpec, extra_channels: tuple[str, ...],
             known: Mapping[str, pa.Array]) -> tuple[str, list[str]]:
    """Check ``path`` against ``spec``; its normalized values become a view:
    :func:`checked` of :func:`scan` (see them)."""
    return checked(con, scan(con, path, spec, extra_channels), known)


@dataclass
class Scanned:
    """A large table's file scanned by :func:`scan`: what :func:`checked` reads."""

    path: Path
    spec: TableSpec
    extra_channels: tuple[str, ...]
    source: str  # the SQL reading the file as it is
    types: dict[str, str]
    csv: bool
    view: str  # of the normalized values
    values: list[str]  # the view's columns
    clean: set[str]  # the columns checked on their values (see _profile)
    rows: int
    broken: bool  # a cell breaks a rule
    repeats: int  # the keys' count says a key repeats


def scan(con, path: Path, spec: TableSpec, extra_channels: tuple[str, ...],
         bounds: Mapping[str, int] | None = None) -> Scanned:
    """What :func:`validate` checks without the other tables: the rules of the cells and
    the key; the normalized values become a view, with each row's place in the file
    (:data:`ROW_ORDER`; :func:`release` drops what this makes). Raises :class:`Fallback`
    when DuckDB leaves the file to pandas. ``bounds``: columns that hold at most so many
    valid values (see :func:`_profiled`).

    The rules of a cell are checked on each text column's distinct values where it has
    few (:func:`_profile`): a clean column's cells are then only typed, and the rows are
    read again from the file (Parquet) or from one copy of its text (CSV), never copied
    normalized. Only the other columns (the key when it is one column, free text, typed
    Parquet columns, and any column holding a value to strip or a broken one) are
    checked cell by cell.

    A key repeating no value is seen by comparing each row's key with the one before
    when the rows come in the order of their key (:mod:`~analysis.contract.key_order`;
    the keys as written, on one core while the other checks the rules, and that scan
    confirms stripping changed none), else by counting the distinct keys (:data:`KEY_HASH`).
    """
    source, types = _source(con, path)
    csv = not path.name.lower().endswith(".parquet")
    types = {c: t for c, t in types.items() if not str(c).startswith("__index_level_")}
    values = [c for c in types if c in _columns(spec, types, extra_channels, csv)[2]]
    view = f"v_{spec.name}"
    try:
        rows_source = _ordered(_rows(con, source, spec, types, csv), path, csv)
        keyed = spec.key and all(c in types for c in spec.key)
        complete = " AND ".join(f"{_quote(c)} IS NOT NULL" for c in spec.key)
        key = ", ".join(_quote(c) for c in spec.key)
        keys = f"SELECT {key} FROM {rows_source}"  # as in the file: each then checked to be its normalized value
        order = (key_order.order_of(con, con.sql(f"{keys} WHERE {complete} LIMIT {key_order.SAMPLE_ROWS}"
                                                 ).to_arrow_table(), spec.key) if keyed else None)
        hashed = (f"count(*) FILTER (WHERE {complete}) - count(DISTINCT {KEY_HASH.format(key)}) "
                  f"FILTER (WHERE {complete})")
        # the rows out of the key's order, counted (on one core: a window over the whole table)
        # while the other core profiles and checks the rules
        with _meanwhile(con, key_order.out_of_order_sql(keys, order) if order else None,
                        shared=not csv) as out_of_order:
            clean, broken_values = _profile(con, rows_source, spec, types, extra_channels, csv, bounds)
            query = _query(rows_source, spec, types, extra_channels, csv, clean=clean)
            if order is None:  # the keys counted in the scan of the rules
                rows, broken, repeats = con.execute(f"SELECT count(*), count(*) FILTER (WHERE __bad), "
                                                    f"{hashed if keyed else '0'} FROM ({query})").fetchall()[0]
            else:  # the keys as written are compared meanwhile: here, whether stripping changed one
                # (not of a clean text column: its cells are kept as read, see _profile)
                compared = {f"__key_{i}": c for i, c in enumerate(spec.key) if not _as_read(c, spec, clean)}
                written = {w: _quote(c) for w, c in compared.items()}
                changed = " OR ".join(f"{_quote(c)} IS DISTINCT FROM {_quote(w)}" for w, c in compared.items())
                with_written = _query(rows_source, spec, types, extra_channels, csv, clean=clean, carried=written)
                rows, broken, incomplete, stripped = con.execute(
                    f"SELECT count(*), count(*) FILTER (WHERE __bad), count(*) FILTER (WHERE NOT ({complete})), "
                    f"count(*) FILTER (WHERE {changed or 'false'}) FROM ({with_written})").fetchall()[0]
                repeats = out_of_order()
                if repeats or incomplete or stripped:  # not in order after all, a missing key value, or a
                    # key that stripping changed (it may then repeat): counted
                    repeats = con.execute(f"SELECT {hashed} FROM ({query})").fetchall()[0][0]
        # (not temporary: read on a second connection too; with the rows' order, ROW_ORDER)
        ordered = _query(rows_source, spec, types, extra_channels, csv, clean=clean,
                         carried={ROW_ORDER: _quote(ROW_ORDER)})
        con.execute(f"CREATE OR REPLACE VIEW {view} AS SELECT {', '.join(map(_quote, [*values, ROW_ORDER]))} "
                    f"FROM ({ordered})")
    except Exception as exc:  # noqa: BLE001 - not UTF-8, ragged rows, ...: pandas names the problem
        release(con, spec.name)
        raise Fallback(f"DuckDB: {type(exc).__name__}: {str(exc)[:200]}") from None
    return Scanned(path, spec, extra_channels, source, types, csv, view, values, clean, rows,
                   bool(broken or broken_values), repeats)


def _as_read(column: str, spec: TableSpec, clean: Collection[str]) -> bool:
    """Whether each normalized value of ``column`` is its cell as read: a clean column
    (see :func:`_profile`) of a text kind (ids, enums, periods), which is not typed."""
    return column in clean and spec.columns.get(column) not in (NUMBER, INTEGER, DATE)


def checked(con, scanned: Scanned, known: Mapping[str, pa.Array]) -> tuple[str, list[str]]:
    """The view of a :func:`scan` and its columns, when the file breaks no rule, its
    references checked too (``known``: the values each must take, from the validated
    small tables; a reference without them is not checked: its table is missing or
    empty, which is reported). Raises :class:`Broken` with the offending rows otherwise."""
    path, spec, extra_channels = scanned.path, scanned.spec, scanned.extra_channels
    source, types, csv = scanned.source, scanned.types, scanned.csv
    view, values, clean, rows = scanned.view, scanned.values, scanned.clean, scanned.rows
    complete = " AND ".join(f"{_quote(c)} IS NOT NULL" for c in spec.key)
    key = ", ".join(_quote(c) for c in spec.key)
    conditions = ["__bad"] if scanned.broken else []  # SQL, over the normalized values, of the offending rows
    for column, (parent, target) in spec.references.items():
        if known.get(column) is None or column not in types:
            continue
        ref = f"ref_{spec.name}_{column}"
        con.register(ref, pa.table({"v": known[column]}))
        q = _quote(column)
        among = f"(SELECT {q} FROM profile_{spec.name} WHERE {_quote('__in_' + column)})" if column in clean else view
        unknown = con.execute(f"SELECT count(*) FROM {among} t ANTI JOIN {ref} r ON t.{q} = r.v "
                              f"WHERE t.{q} IS NOT NULL").fetchall()[0][0]
        if unknown:
            conditions.append(f"({q} IS NOT NULL AND {q} NOT IN (SELECT v FROM {ref}))")
    if scanned.repeats:  # the repeated keys (as the hashes' count says: confirmed on the keys), for the offending rows
        repeated = f"repeated_{spec.name}"
        con.execute(f"CREATE OR REPLACE TEMP TABLE {repeated} AS SELECT {key} FROM {view} WHERE {complete} "
                    f"GROUP BY {key} HAVING count(*) > 1")
        if con.execute(f"SELECT count(*) FROM {repeated}").fetchall()[0][0]:
            same = " AND ".join(f"r.{_quote(c)} = o.{_quote(c)}" for c in spec.key)
            conditions.append(f"EXISTS (SELECT 1 FROM {repeated} r WHERE {same})")
    missing = [c for c in spec.required if c not in types]
    if conditions or missing or (spec.required_table and rows == 0):
        condition = " OR ".join(conditions) or "false"
        release(con, spec.name)
        raise Broken(_offending_rows(con, source, path, spec, types, extra_channels, csv, condition, rows))
    unnamed = [c for c in values if str(c).startswith("unnamed_") and c not in spec.columns]
    if unnamed:  # a column without a name and without values (a trailing comma) is dropped
        counts = con.execute(f"SELECT {', '.join(f'count({_quote(c)})' for c in unnamed)} FROM {view}").fetchall()[0]
        values = [c for c in values if c not in {u for u, n in zip(unnamed, counts) if n == 0}]
    return view, values


#: The SQL of one 64-bit hash of a row's key columns (``{}``: the columns). Repeated keys are
#: counted by their hashes (a fraction of the cost of the keys themselves); a repeat the
#: hashes show is confirmed on the keys, so a collision never reports one.
KEY_HASH = "hash({})"


@contextmanager
def _meanwhile(con, sql: str | None, shared: bool):
    """Run the one-value query ``sql`` while the ``with`` block runs, on a second
    connection to ``con``'s database in a thread when ``shared`` (it reads nothing
    temporary: another connection sees no temporary table); yields the function
    returning its value (None without ``sql``; run then on ``con`` when not ``shared``).
    Leaving the block early interrupts it."""
    if sql is None or not shared:
        yield lambda: None if sql is None else con.execute(sql).fetchall()[0][0]
        return
    cursor = con.cursor()
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(lambda: cursor.execute(sql).fetchall()[0][0])
        try:
            yield future.result
        finally:
            while not future.done():  # (an interrupt before the query starts is lost: again)
                cursor.interrupt()
                wait([future], timeout=0.05)
            cursor.close()


def release(con, name: str) -> None:
    """Drop what :func:`validate` made for table ``name`` (its view, profile and text copy)."""
    con.execute(f"DROP VIEW IF EXISTS v_{name}")
    for made in ("profile", "text"):
        con.execute(f"DROP TABLE IF EXISTS {made}_{name}")


#: The column of a large table's view (see :func:`scan`) holding each row's place in
#: the file (increasing; not the row number: a CSV file's rows of empty cells only are skipped).
ROW_ORDER = "__row"


def _rows(con, source: str, spec: TableSpec, types: Mapping[str, str], csv: bool) -> str:
    """The relation of the file's rows: a Parquet file is read where it is; a CSV file is
    parsed once into a table of its text (``text_<name>``, spilling when large; not
    temporary, as the view reading it), without its rows of empty cells only (pandas
    drops them as blank lines)."""
    if not csv:
        return source
    table = f"text_{spec.name}"
    con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM {_non_empty(source, types)}")
    return table


def _ordered(rows: str, path: Path, csv: bool) -> str:
    """The relation of :func:`_rows` with each row's place in the file (:data:`ROW_ORDER`)."""
    if csv:
        return f"(SELECT rowid AS {_quote(ROW_ORDER)}, * FROM {rows})"
    return _parquet_numbered(path, ROW_ORDER, first=0)


def _non_empty(source: str, types: Mapping[str, str]) -> str:
    """``source`` without its rows of empty cells only."""
    return f"(SELECT * FROM {source} WHERE {' OR '.join(f'{_quote(c)} IS NOT NULL' for c in types)})"


#: A column is checked on its distinct values (:func:`_profile`) when it has at most this
#: share of the rows' count of them (or :data:`PROFILE_VALUES`): each value is then
#: checked once instead of in every cell it fills.
PROFILE_SHARE = 0.1
PROFILE_VALUES = 10_000


def _profiled(con, source: str, spec: TableSpec, types: Mapping[str, str], extra_channels: tuple[str, ...] = (),
              bounds: Mapping[str, int] | None = None) -> list[str]:
    """The columns of the contract read as text that hold few distinct values: all but a
    key of one column (as many values as rows) and, usually, free text. A column's
    distinct values are estimated in one scan, unless it cannot hold more valid ones than
    its bound (an enum: its values; a period or a date: those of the contract's range;
    ``bounds``: e.g. a reference, its parent table's rows); any more are broken values
    (or valid ones to strip), checked on the values either way.

    A typed column (a Parquet number or timestamp) is never profiled: its rules are a few
    comparisons of each value, cheaper than grouping its values (a cost column of 33,000
    distinct values in 15 M activities: 0.6 s of 1.7 s of the profile's scan)."""
    unique = spec.key if len(spec.key) == 1 else ()
    candidates = [c for c in types if c in spec.columns and c not in unique and types[c] == "VARCHAR"]
    if not candidates:
        return []
    bounds = {**_enum_bounds(spec, extra_channels), **(bounds or {})}
    # a period's or a date's count of valid values, where it is within the most a profiled
    # column may hold (from 1.2 and 2.1 million rows), instead of an estimate (the rows are
    # counted first, from a Parquet file's metadata or the CSV text's table)
    most = max(PROFILE_VALUES, PROFILE_SHARE * con.execute(f"SELECT count(*) FROM {source}").fetchall()[0][0])
    counted = {c: n for c, n in _valid_values(spec).items() if c not in bounds and n <= most}
    estimated = [c for c in candidates if c not in bounds and c not in counted]
    estimates = ", ".join(f"approx_count_distinct({_quote(c)})" for c in estimated)
    found = con.execute(f"SELECT {estimates} FROM {source}").fetchall()[0] if estimated else ()
    distinct = {**bounds, **counted, **dict(zip(estimated, found))}
    return [c for c in candidates if distinct[c] <= most]


def _enum_bounds(spec: TableSpec, extra_channels: tuple[str, ...]) -> dict[str, int]:
    """The enum columns of ``spec`` and how many values each may take (and missing)."""
    allowed = {column: allowed_values(kind, extra_channels) for column, kind in spec.columns.items()}
    return {column: len(values) + 1 for column, values in allowed.items() if values is not None}


#: How many valid values a period (``YYYY-MM``) and a date written as text (``YYYY-MM-DD``,
#: within the contract's range) can take.
PERIOD_VALUES = 10_000 * 12
DATE_VALUES = (pd.Timestamp(_LAST_DATE) - pd.Timestamp(_FIRST_DATE)).days + 1


def _valid_values(spec: TableSpec) -> dict[str, int]:
    """The period and date columns of ``spec`` and how many values each may take (and
    missing): a large table's are profiled without an estimate of their distinct values
    (at 22 M sales the estimate of the periods took 0.4-0.5 s)."""
    counts = {PERIOD: PERIOD_VALUES, DATE: DATE_VALUES}
    return {column: counts[kind] + 1 for column, kind in spec.columns.items() if kind in counts}


def rows_at_most(path: Path) -> int | None:
    """At most how many rows the table file ``path`` holds, found without reading it: a
    Parquet file's row count, a CSV file's line count (a quoted line break only adds to
    it); None for other files or when it cannot be read."""
    import pyarrow.parquet as pq

    name = Path(path).name.lower()
    try:
        if name.endswith(".parquet"):
            return pq.ParquetFile(path).metadata.num_rows
        if name.endswith(".csv"):
            lines = 1
            with open(path, "rb") as handle:
                while chunk := handle.read(1 << 20):
                    lines += chunk.count(b"\n")
            return lines
    except Exception:  # noqa: BLE001 - unreadable: the loader says what is wrong
        return None
    return None


def _profile(con, source: str, spec: TableSpec, types: Mapping[str, str], extra_channels: tuple[str, ...],
             csv: bool, bounds: Mapping[str, int] | None = None) -> tuple[set[str], bool]:
    """The distinct values of the :func:`_profiled` columns, in one more scan of ``source``, into
    ``profile_<name>`` (a column's values where ``__in_<column>``), and what they hold:
    the clean columns (every value breaks no rule and is kept as it is, so its cells
    need only be typed) and whether a value breaks a rule."""
    profiled = _profiled(con, source, spec, types, extra_channels, bounds)
    if not profiled:
        return set(), False
    sets = ", ".join(f"({_quote(c)})" for c in profiled)
    flags = ", ".join(f"GROUPING({_quote(c)}) = 0 AS {_quote('__in_' + c)}" for c in profiled)
    con.execute(f"CREATE OR REPLACE TEMP TABLE profile_{spec.name} AS SELECT {', '.join(map(_quote, profiled))}, "
                f"{flags} FROM {source} GROUP BY GROUPING SETS ({sets})")
    clean, broken = set(), False
    for column in profiled:
        q, one = _quote(column), {column: types[column]}
        stage1 = _columns(spec, one, extra_channels, csv)[0][column]
        kept = f"(({stage1}) IS NOT DISTINCT FROM {q})" if types[column] == "VARCHAR" else "true"
        distinct = f"(SELECT {q} FROM profile_{spec.name} WHERE {_quote('__in_' + column)})"
        checked = _query(distinct, spec, one, extra_channels, csv, carried={"__kept": kept})
        bad, kept_all = con.execute(f"SELECT coalesce(bool_or(__bad), false), coalesce(bool_and(__kept), true) "
                                    f"FROM ({checked})").fetchall()[0]
        broken |= bad
        if not bad and kept_all:
            clean.add(column)
    return clean, broken


def _query(source: str, spec: TableSpec, types: Mapping[str, str], extra_channels: tuple[str, ...], csv: bool,
           numbered: bool = False, clean: Collection[str] = (), carried: Mapping[str, str] | None = None) -> str:
    """The SQL of the normalized values of ``source`` and ``__bad`` (the row breaks a rule
    of its cells; ``clean`` columns: see :func:`_columns`); ``carried``: more columns (name
    -> SQL over ``source``) passed through. ``numbered`` (``source`` from
    :func:`_numbered_source`): also ``__n`` (the row's number), ``__nl`` (a cell holds a
    line break) and, for CSV, the raw text of the i-th column as ``__raw_<i>``."""
    stage1, stage2, stage3, bad = _columns(spec, types, extra_channels, csv, clean)
    selected = [*(_quote(c) for c in types if c in stage3), f"({' OR '.join(bad) or 'false'}) AS __bad"]
    carried = dict(carried or {})
    if numbered:
        carried["__n"] = _quote("__n")
        if csv:
            carried.update({f"__raw_{i}": f"nullif({_quote(c)}, '')" for i, c in enumerate(types)})
    stage1 = {**carried, **stage1}
    for name in carried:
        stage2[name] = stage3[name] = _quote(name)
    selected = [*map(_quote, carried), *selected]
    if numbered:
        breaks = [_quote(c) for c in stage3 if c.startswith("__nl_")]
        selected.append(f"({' OR '.join(breaks) or 'false'}) AS __nl")
    project = lambda stage: ", ".join(f"{sql} AS {_quote(c)}" for c, sql in stage.items())
    return (f"SELECT {', '.join(selected)} FROM (SELECT {project(stage3)} FROM (SELECT {project(stage2)} "
            f"FROM (SELECT {project(stage1)} FROM {source})))")


def _numbered_source(source: str, path: Path, types: Mapping[str, str], csv: bool) -> str:
    """``source`` (from :func:`_source`) with ``__n``: each row's number, from 1, in the
    file's order (CSV: DuckDB skips blank lines, see :func:`offending.line_numbers`; the
    rows of empty cells only are then dropped, as pandas does)."""
    if csv:
        return _non_empty(f"(SELECT row_number() OVER () AS __n, * FROM {source})", types)
    return _parquet_numbered(path, "__n", first=1)


def _parquet_numbered(path: Path, column: str, first: int) -> str:
    """The rows of the Parquet file ``path`` and, as ``column``, each one's number from ``first``."""
    return (f"(SELECT file_row_number + {first} AS {_quote(column)}, * EXCLUDE (file_row_number) "
            f"FROM read_parquet({_literal(str(path))}, file_row_number=true))")


def _offending_rows(con, source: str, path: Path, spec: TableSpec, types: Mapping[str, str],
                    extra_channels: tuple[str, ...], csv: bool, condition: str, rows: int) -> offending.Offending:
    """The rows of ``path`` (read by ``source``, from :func:`_source`) meeting ``condition``
    (SQL over :func:`_query`'s columns, as ``o``; ``rows``: the file's rows), checked by pandas: the first
    :data:`~analysis.contract.offending.MAX_ROWS`, read as they are in the file. Raises
    :class:`Fallback` for a CSV cell holding a line break (pandas then reports it)."""
    numbered = _numbered_source(source, path, types, csv)
    found = f"({_query(numbered, spec, types, extra_channels, csv, numbered=True)}) o WHERE {condition}"
    total, breaks = con.execute(f"SELECT count(*), count(*) FILTER (WHERE __nl) FROM {found}").fetchall()[0]
    if breaks:
        raise Fallback("a line break inside a CSV cell")
    raw = [f"__raw_{i}" for i in range(len(types))] if csv else []
    first = con.sql(f"SELECT {', '.join(['__n', *raw])} FROM {found} ORDER BY __n LIMIT {offending.MAX_ROWS}"
                    ).to_arrow_table()
    numbers = first["__n"].to_numpy()
    if csv:
        lines = offending.line_numbers(numbers, offending.blank_lines(path))
        raw_rows, label = offending.csv_rows(first.select(raw), list(types), lines), "line"
    else:
        raw_rows, label = offending.parquet_rows(path, numbers), "row"
    return offending.Offending.checked(spec, path, raw_rows, label, extra_channels, rows, total)


def _series(column: pa.ChunkedArray, kind: str | None) -> pd.Series:
    """A column of normalized values (of ``kind``) in the dtype of :func:`load_dataset`'s frames."""
    column = column.combine_chunks()  # one chunk: pandas works fastest on it
    if kind in (NUMBER, INTEGER):
        return pd.Series(column.to_numpy(zero_copy_only=False), dtype="float64")
    if kind == DATE:
        return pd.Series(column.to_pandas()).astype("datetime64[ns]")
    if pa.types.is_large_string(column.type) or pa.types.is_string_view(column.type):
        column = column.cast(pa.string())
    return _ds._default_str(pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array([column]))))


#: The months a dataset's raw sales and activities rows are kept for: given the monthly
#: summaries and the territory ids, per large table the first and last month
#: (``YYYY-MM``) the analyses read rows of (None: all).
SpanOf = Callable[[Summaries, list], "dict[str, tuple[str, str]] | None"]
WindowsOf = Callable[[Summaries, list], "list[reduction.WindowMonths] | None"]


@dataclass(frozen=True)
class Loaded:
    """What :func:`load_tables` read: the frames, their files, the monthly summaries of
    the whole history (None when a large table was left to pandas) and the months the
    raw rows of the large tables were kept for (None: all)."""

    frames: dict[str, pd.DataFrame]
    files: dict[str, Path]
    summaries: Summaries | None = None
    spans: dict[str, tuple[str, str] | None] | None = None
    window_sales: dict[reduction.WindowMonths, pd.DataFrame] | None = None


def load_tables(folder: Path, extra_channels: tuple[str, ...], work: Path | None = None,
                span_of: SpanOf | None = None, windows_of: WindowsOf | None = None) -> Loaded:
    """Every table of ``folder``, validated and normalized (the large ones in DuckDB),
    and the file of each. Raises :class:`~analysis.errors.DataValidationError` with
    every violation when the dataset breaks a rule: the same as pandas reading every
    file whole would, a broken large table checked on its offending rows alone (see
    :mod:`analysis.contract.offending`).

    When DuckDB validated every large table, the monthly summaries of the whole history
    (:mod:`analysis.contract.reduction`) are made there too, and with ``span_of`` only
    the raw rows of the months it names reach pandas (the windows' months; see
    :func:`analysis.domain.national.rows_span`), without the :data:`UNREAD_COLUMNS`.
    With ``windows_of`` (the months of each analysis window, see
    :func:`analysis.domain.national.sales_windows`), the sales are summed per customer x
    product x window there instead (:func:`~analysis.contract.reduction.window_sales_query`)
    and no raw sales row reaches pandas (``spans["sales"]`` None).
    """
    located = {name: _ds._locate(folder, spec) for name, spec in TABLES.items()}
    files = {name: path for name, (path, _) in located.items() if path is not None}
    large = [name for name in LARGE_TABLES if name in files]
    with connected(work) as con, ThreadPoolExecutor(1) as pool:
        # the small tables checked by pandas (in a thread) while DuckDB scans the large files,
        # which needs none of them until their references are checked
        small = pool.submit(_small_checks, files, extra_channels)
        scanned: dict[str, Scanned] = {}
        # each referenced table's rows counted once (the customers are referenced by both)
        parents = {parent for name in large for parent, _ in TABLES[name].references.values() if parent in files}
        rows = {parent: rows_at_most(files[parent]) for parent in parents}
        for name in large:
            try:
                scanned[name] = scan(con, files[name], TABLES[name], extra_channels,
                                     _reference_bounds(TABLES[name], rows))
            except Fallback:  # read whole by pandas below
                pass
        checks, unreadable = small.result()
        violations = [v for name in TABLES for v in (located[name][1], *unreadable.get(name, ())) if v is not None]
        validated: dict[str, tuple[str, list[str]]] = {}
        broken: list[offending.Offending] = []
        for name in large:
            spec = TABLES[name]
            if name in scanned:
                try:
                    validated[name] = checked(con, scanned[name], _known(spec, checks))
                    continue
                except Broken as exc:
                    broken.append(exc.offending)
                    checks[name] = exc.offending.check
                    continue
                except Fallback:  # (a CSV cell holding a line break)
                    release(con, name)
            check = _pandas_check(files[name], spec, extra_channels, violations)  # read whole, as pandas would
            if check is not None:
                checks[name] = check
        _ds._check_references(checks)
        checked_whole = [check for name, check in checks.items() if all(name != b.check.spec.name for b in broken)]
        violations += [v for check in checked_whole for v in check.violations]
        violations += [v for found in broken for v in found.violations()]
        if violations:
            raise _ds.validation_error(violations, folder)
        frames = {name: check.normalized() for name, check in checks.items()}
        if len(validated) < len(large) or not large:  # a table pandas read: the pass reduces the frames itself
            for name, (table, columns) in validated.items():
                frames[name] = fetch(con, table, columns, TABLES[name])
            return Loaded(frames, files)
        summaries = _summaries(con, frames, validated)
        territory_ids = frames["territories"]["territory_id"].astype(str).tolist()
        spans = span_of(summaries, territory_ids) if span_of is not None else None
        windows = windows_of(summaries, territory_ids) if windows_of is not None else None
        kept = {}
        for name, (view, columns) in validated.items():  # the rows and columns the analyses read
            if spans is not None:  # the analyses' columns only
                columns = [c for c in columns if c not in UNREAD_COLUMNS.get(name, ())]
            kept[name] = (view, columns, _within(name, (spans or {}).get(name)))
        window_sales = None
        summed = kept.pop("sales") if windows is not None else None
        try:
            with ThreadPoolExecutor(1) as pool:
                # the kept rows read into pandas frames on a second connection while this
                # one sums the sales per window: both straight from the files (their views)
                fetched = {name: pool.submit(_fetch_apart, con, view, columns, TABLES[name], condition)
                           for name, (view, columns, condition) in kept.items()}
                if summed is not None:  # summed in the file's order: no raw sales row reaches pandas
                    window_sales = {months: reduction.window_sales_sql(con, summed[0], months, order=ROW_ORDER)
                                    for months in windows}
                    frames["sales"] = _ds._empty(TABLES["sales"])
                    spans = {**(spans or {}), "sales": None}
                frames.update({name: future.result() for name, future in fetched.items()})
        finally:
            for name in validated:
                release(con, name)
        return Loaded(frames, files, summaries, spans, window_sales)


def _fetch_apart(con, table: str, columns: list[str], spec: TableSpec, where: str = "") -> pd.DataFrame:
    """:func:`fetch` of a table or view that is not temporary, on a connection of its own to ``con``'s database."""
    cursor = con.cursor()
    try:
        return fetch(cursor, table, columns, spec, where)
    finally:
        cursor.close()


def _reference_bounds(spec: TableSpec, rows: Mapping[str, int | None]) -> dict[str, int]:
    """Each reference of ``spec`` whose parent table's rows are known (``rows``: at most so
    many, :func:`rows_at_most` of its file): at most how many valid values it holds (see
    :func:`_profiled`)."""
    return {column: rows[parent] + 1  # (and missing)
            for column, (parent, _) in spec.references.items() if rows.get(parent) is not None}


def _known(spec: TableSpec, checks: Mapping[str, _ds._TableCheck]) -> dict[str, pa.Array]:
    """The values each reference of ``spec`` must take, from the checked tables (none for
    a reference to a missing or empty table: pandas does not check it either)."""
    known = {}
    for column, (parent, target) in spec.references.items():
        check = checks.get(parent)
        if check is not None and target in check.values and len(check.raw):
            known[column] = pa.array(check.values[target].dropna().unique(), type=pa.string())
    return known


def _summaries(con, frames: Mapping[str, pd.DataFrame], validated: Mapping[str, tuple[str, list[str]]]
               ) -> Summaries:
    """The monthly summaries of the validated tables, made where they are (in DuckDB)."""
    for name, frame in reduction.lookups(frames["products"], frames["customers"]).items():
        con.register(f"frame_{name}", frame)  # copied into DuckDB once: each join then reads its own table
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM frame_{name}")
        con.unregister(f"frame_{name}")
    con.execute(f"CREATE OR REPLACE TEMP VIEW sales AS SELECT * FROM {validated['sales'][0]}")
    sales = reduction.sales_by_month_sql(con)
    if "activities" in validated:
        table, columns = validated["activities"]
        con.execute(f"CREATE OR REPLACE TEMP VIEW activities AS SELECT * FROM {table}")
        contacts = reduction.contacts_sql(con, has_outcome="outcome" in columns)
    else:
        contacts = reduction.contacts(_ds._empty(TABLES["activities"]))
    return Summaries(sales, contacts)


def _within(name: str, span: tuple[str, str] | None) -> str:
    """The SQL condition keeping the rows of ``name`` in the months of ``span`` (None: all)."""
    if span is None:
        return ""
    first, last = span
    if name == "sales":
        return f"period BETWEEN {_literal(first)} AND {_literal(last)}"
    start = pd.Period(first, freq="M").start_time.strftime("%Y-%m-%d")
    after = (pd.Period(last, freq="M") + 1).start_time.strftime("%Y-%m-%d")
    return f"date >= TIMESTAMP {_literal(start)} AND date < TIMESTAMP {_literal(after)}"


def _small_checks(files: Mapping[str, Path], extra_channels: tuple[str, ...]
                  ) -> tuple[dict[str, _ds._TableCheck], dict[str, list]]:
    """The pandas checks of the small tables among ``files`` (those not in
    :data:`LARGE_TABLES`), run, and the violations of those that cannot be read."""
    checks, unreadable = {}, {}
    for name, path in files.items():
        if name in LARGE_TABLES:
            continue
        unreadable[name] = []
        check = _pandas_check(path, TABLES[name], extra_channels, unreadable[name])
        if check is not None:
            checks[name] = check
    return checks, unreadable


def _pandas_check(path: Path, spec: TableSpec, extra_channels: tuple[str, ...],
                  violations: list) -> _ds._TableCheck | None:
    """The pandas check of the table in ``path`` (read whole), run; None when the file
    cannot be read (its violation is added to ``violations``)."""
    try:
        raw, label = _ds._read(path)
    except _ds._ReadError as exc:
        violations.append(exc.violation(path, spec.name))
        return None
    check = _ds._TableCheck(spec, path, raw, label, extra_channels)
    check.run()
    return check
