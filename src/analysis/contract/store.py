"""The analysis store: the national pass's tables as Parquet, read one territory at a time.

Tables are sorted by territory and written in row groups, so reading one territory's
slice with a filter touches only its row groups.

Integrity: each table is written to a temporary file and moved into place
(``os.replace``), and the manifest ``store.json`` is written last, the same way, with each
file's size and SHA-256; a store without a manifest is incomplete. :func:`read_meta`
(once per run, in the batch) verifies every file against the manifest and returns ``{}``
for a damaged store, with a :class:`~analysis.errors.CacheWarning`, so that the batch
rebuilds it; :func:`store_problem` / :func:`store_is_valid` say the same without warning.
The readers (:func:`read_territory`, :func:`read_table`, called by every report) check
cheaply: the manifest lists the table, the file has the recorded size, and Parquet page
checksums are verified as pages are read; any file that still fails to decode raises a
:class:`~analysis.errors.StoreError` naming it, never a raw Arrow error.
"""
from __future__ import annotations

import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from analysis.errors import CacheWarning, StoreError

META = "store.json"
#: The layout of the store and its manifest.
STORE_FORMAT = 2
_REBUILD = "run the batch again to rebuild it (territory-reports run ... --force)"


#: Rows per row group of a store's file: a territory's rows are read in its row groups.
ROW_GROUP_ROWS = 20_000


def write_store(tables: dict[str, pd.DataFrame], folder: Path, meta: dict | None = None,
                row_group_rows: int = ROW_GROUP_ROWS) -> Path:
    """Write every table to ``folder/<name>.parquet`` (sorted by territory_id, in row
    groups of ``row_group_rows``), then the manifest (``meta`` plus each file's size and hash)."""
    from analysis.contract.dataset import file_digest

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / META).unlink(missing_ok=True)  # written last: a store without it is incomplete
    files = {}
    for name, frame in tables.items():
        frame = frame.sort_values("territory_id", kind="mergesort") if "territory_id" in frame else frame
        path = folder / f"{name}.parquet"
        with _atomic(path) as temp:
            pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), temp, row_group_size=row_group_rows,
                           write_page_checksum=True)
            files[name] = {"size": os.path.getsize(temp), "sha256": file_digest(temp)}
    for leftover in folder.iterdir():  # tables of an older store, temporary files of a killed run
        if leftover.name.startswith(".tmp-") or (leftover.suffix == ".parquet" and leftover.stem not in tables):
            leftover.unlink(missing_ok=True)
    manifest = {**(meta or {}), "tables": sorted(tables), "files": files, "format": STORE_FORMAT}
    with _atomic(folder / META) as temp:
        Path(temp).write_text(json.dumps(manifest, indent=2, default=str), encoding="utf-8")
    return folder


class _atomic:
    """A temporary path beside ``path``, moved onto it on success (removed on failure)."""

    def __init__(self, path: Path):
        self.path = path

    def __enter__(self) -> str:
        handle, self.temp = tempfile.mkstemp(dir=self.path.parent, prefix=f".tmp-{self.path.name}.")
        os.close(handle)
        return self.temp

    def __exit__(self, kind, exc, tb) -> None:
        if kind is None:
            os.replace(self.temp, self.path)
        else:
            Path(self.temp).unlink(missing_ok=True)


def _manifest(folder: Path) -> dict:
    """The parsed manifest (raises :class:`StoreError` when missing or unreadable)."""
    path = folder / META
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(meta, dict) or meta.get("format") != STORE_FORMAT:
            raise ValueError("another format")
        if not all(name in meta["files"] for name in meta["tables"]):
            raise ValueError("tables without a recorded file")
    except FileNotFoundError:
        raise StoreError(f"the analysis store in {folder} is incomplete (no {META}): {_REBUILD}") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise StoreError(f"the analysis store's manifest {path} is unreadable ({exc}): {_REBUILD}") from None
    return meta


def store_problem(folder: Path) -> str | None:
    """What is wrong with the store in ``folder`` (None when it is complete and every file is
    the one written: size and SHA-256 as recorded)."""
    from analysis.contract.dataset import file_digest

    folder = Path(folder)
    try:
        meta = _manifest(folder)
    except StoreError as exc:
        return str(exc)
    for name in meta["tables"]:
        path, recorded = folder / f"{name}.parquet", meta["files"][name]
        try:
            if path.stat().st_size != recorded["size"] or file_digest(path) != recorded["sha256"]:
                return f"{path} is not the file written (truncated or changed)"
        except (OSError, KeyError, TypeError) as exc:
            return f"{path} cannot be read ({type(exc).__name__})"
    return None


def store_is_valid(folder: Path) -> bool:
    """Whether ``folder`` holds a complete store whose files are all as written."""
    return store_problem(folder) is None


def read_meta(folder: Path, *, verify: bool = True) -> dict:
    """The store's metadata (empty when there is no complete store).

    With ``verify`` (the default) every file is checked against the manifest (size and
    hash: about 1 s per GB); a damaged store gives ``{}`` and a
    :class:`~analysis.errors.CacheWarning`, so that the caller rebuilds it.
    """
    folder = Path(folder)
    if not (folder / META).is_file() or _older_format(folder):
        return {}  # no store yet, or one of an older version: built anew, nothing to warn of
    problem = store_problem(folder) if verify else None
    if problem is None:
        try:
            return _manifest(folder)
        except StoreError as exc:
            problem = str(exc)
    warnings.warn(f"the analysis store in {folder} is damaged ({problem}): not used; it is rebuilt",
                  CacheWarning, stacklevel=2)
    return {}


def _older_format(folder: Path) -> bool:
    try:
        meta = json.loads((folder / META).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False  # unreadable: damaged, not older
    return isinstance(meta, dict) and isinstance(meta.get("tables"), list) and "format" not in meta


def _table_path(folder: Path, name: str, meta: dict) -> Path:
    """The file of table ``name``, checked cheaply against the manifest."""
    path = folder / f"{name}.parquet"
    if name not in meta["tables"]:
        raise StoreError(f"the analysis store in {folder} has no table {name!r}: {_REBUILD}")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise StoreError(f"the analysis store file {path} is missing or unreadable ({exc.strerror}): "
                         f"{_REBUILD}") from None
    if size != meta["files"][name].get("size"):
        raise StoreError(f"the analysis store file {path} is truncated or changed ({size:,} bytes, "
                         f"{meta['files'][name].get('size'):,} written): {_REBUILD}")
    return path


def _read(path: Path, **options) -> pd.DataFrame:
    try:
        return pd.read_parquet(path, page_checksum_verification=True, **options)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise _unreadable(path, exc) from None


def _unreadable(path: Path, exc: Exception) -> StoreError:
    """The error of a store file that fails to open or decode (never a raw Arrow error)."""
    return StoreError(f"the analysis store file {path} cannot be read ({type(exc).__name__}: "
                      f"{str(exc).strip()[:200]}): {_REBUILD}")


def read_territory(folder: Path, territory_id: str) -> dict[str, pd.DataFrame]:
    """Every table's rows for one territory."""
    return TerritoryReader(folder).read(territory_id)


class _Decoded(NamedTuple):
    """What a :class:`TerritoryReader` holds of a table: its open ``file``, the row groups
    read for the last territory (``wanted``), those ``groups``, and their rows as one
    Arrow ``table`` and as one pandas ``frame`` (each territory's rows taken from it)."""

    file: pq.ParquetFile
    wanted: tuple[int, ...]
    groups: dict[int, pa.Table]
    table: pa.Table
    frame: pd.DataFrame


class TerritoryReader:
    """Reads one territory's rows of every table after another, each read as
    :func:`read_territory` gives it (the same frames).

    Each table's file stays open, and the row groups the last territory was read from stay
    decoded: the territories of a batch worker's jobs come in order, about a hundred to a
    row group, so most reads decode nothing (a territory of 1,500 read 27 files' row groups
    again: 0.3-0.4 s of its 0.75 s export), turned into one pandas frame once, from which
    each territory's rows are taken (converting each territory's rows from Arrow, 25 small
    conversions, was half of a read). A table without territories (the regions', the
    nation's) is decoded once per file opened, each read given a copy of it (decoding them
    was 15 ms of a 0.1 s read at 1,500 territories). Each read checks the manifest and every
    file's size as :func:`read_territory` does, and a file replaced since (another inode,
    size or time) is opened anew: a store rebuilt under a long-lived worker is never read stale.
    """

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self._files: dict[str, tuple[tuple, pq.ParquetFile, list | None]] = {}
        self._decoded: dict[str, _Decoded] = {}
        self._whole: dict[str, tuple[pq.ParquetFile, pd.DataFrame]] = {}

    def read(self, territory_id: str) -> dict[str, pd.DataFrame]:
        """Every table's rows for ``territory_id`` (a table without territories: whole)."""
        meta = _manifest(self.folder)
        return {name: self._rows(name, _table_path(self.folder, name, meta), territory_id) for name in meta["tables"]}

    def _rows(self, name: str, path: Path, territory_id: str) -> pd.DataFrame:
        try:
            file, bounds = self._open(name, path)
            if bounds is None:  # no territory column: the whole table, decoded once per file opened
                whole = self._whole.get(name)
                if whole is None or whole[0] is not file:
                    whole = self._whole[name] = (file, _read(path))
                return whole[1].copy()
            wanted = tuple(i for i, (low, high) in enumerate(bounds) if _may_hold(low, high, territory_id))
            decoded = self._decoded.get(name)
            if decoded is None or decoded.file is not file or decoded.wanted != wanted:
                held = decoded.groups if decoded is not None and decoded.file is file else {}
                groups = {i: held[i] if i in held else file.read_row_group(i, use_pandas_metadata=True)
                          for i in wanted}  # (the groups of other territories let go)
                table = pa.concat_tables(list(groups.values())) if groups else file.schema_arrow.empty_table()
                decoded = self._decoded[name] = _Decoded(file, wanted, groups, table, table.to_pandas())
            rows = pc.fill_null(pc.equal(decoded.table["territory_id"], territory_id), False)
            return decoded.frame.take(np.flatnonzero(rows.to_numpy(zero_copy_only=False))).reset_index(drop=True)
        except (pa.ArrowException, OSError, ValueError) as exc:
            for held in (self._files, self._decoded, self._whole):
                held.pop(name, None)
            raise _unreadable(path, exc) from None

    def _open(self, name: str, path: Path) -> tuple[pq.ParquetFile, list | None]:
        """The table's open file and each row group's lowest and highest territory id (None:
        the table has no territory column); opened again when the file is another."""
        stat = path.stat()
        stamp = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
        opened = self._files.get(name)
        if opened is not None and opened[0] == stamp:
            return opened[1], opened[2]
        file = pq.ParquetFile(path, page_checksum_verification=True)
        leaves = file.schema.names  # (the Parquet columns, as the row groups' statistics number them)
        bounds = None
        if "territory_id" in leaves:
            column = leaves.index("territory_id")
            bounds = []
            for i in range(file.metadata.num_row_groups):
                stats = file.metadata.row_group(i).column(column).statistics
                known = stats is not None and stats.has_min_max
                bounds.append((stats.min, stats.max) if known else (None, None))
        self._files[name] = (stamp, file, bounds)
        self._decoded.pop(name, None)
        return file, bounds


def _may_hold(low, high, territory_id) -> bool:
    """Whether a row group whose territory ids range from ``low`` to ``high`` may hold
    ``territory_id`` (without statistics, or of another type: it may)."""
    try:
        return low is None or high is None or bool(low <= territory_id <= high)
    except TypeError:
        return True


def read_table(folder: Path, name: str) -> pd.DataFrame:
    """One whole table (for region and national roll-ups)."""
    folder = Path(folder)
    return _read(_table_path(folder, name, _manifest(folder)))
