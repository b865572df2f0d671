"""Fingerprints: what a report depends on, so unchanged reports are not re-rendered.

A territory's fingerprint covers its slice of every analysis table (and so its input
data and the parameters that shaped them), its effective parameters, the notebook,
the report templates, the renderer and the package version.

:func:`table_hashes` is vectorised: one ``hash_pandas_object`` per table (a 64-bit
hash per row, the same in every process and run), then numpy combines the rows of each
territory (a sort and one ``add.reduceat``), never a Python function per territory, so
its cost grows with the rows, not with the number of territories.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

_HEX = np.frombuffer(b"0123456789abcdef", dtype="S1")
_SHIFTS = np.arange(60, -1, -4, dtype=np.uint64)


def _mix(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser, element-wise (uint64 in, uint64 out, arithmetic mod 2**64)."""
    x = np.asarray(x, dtype=np.uint64).copy()
    with np.errstate(over="ignore"):
        x ^= x >> np.uint64(30)
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(27)
        x *= np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
    return x


def _salt(*parts) -> np.uint64:
    """64 bits of the sha256 of ``parts`` (a table's name, columns and dtypes)."""
    digest = hashlib.sha256(json.dumps(parts, default=str).encode()).digest()
    return np.uint64(int.from_bytes(digest[:8], "little"))


def _hex(values: np.ndarray) -> np.ndarray:
    """uint64 values as 16-digit lower-case hex strings, without a Python call per value."""
    nibbles = (np.asarray(values, dtype=np.uint64)[:, None] >> _SHIFTS) & np.uint64(15)
    return np.ascontiguousarray(_HEX[nibbles.astype(np.intp)]).view("S16").ravel().astype(str)


def _per_key(frame: pd.DataFrame, key: str, name: str, ordered: bool) -> pd.Series:
    """One uint64 per value of ``key`` over its rows of ``frame`` (position-sensitive when ``ordered``)."""
    salt = _salt(name, [str(c) for c in frame.columns], [str(d) for d in frame.dtypes])
    rows = pd.util.hash_pandas_object(frame, index=False).to_numpy(dtype=np.uint64)
    codes, uniques = pd.factorize(frame[key].astype(str).to_numpy(), sort=True)
    order = np.argsort(codes, kind="stable")  # each territory's rows together, in table order
    grouped = codes[order]
    starts = np.flatnonzero(np.r_[True, grouped[1:] != grouped[:-1]])
    counts = np.diff(np.r_[starts, len(order)])
    with np.errstate(over="ignore"):
        if ordered:  # a row's position in its territory's slice is part of its hash
            position = np.arange(len(order), dtype=np.uint64) - np.repeat(starts, counts).astype(np.uint64)
            values = _mix(rows[order] ^ _mix(position + salt))
        else:
            values = _mix(rows[order] ^ salt)
        sums = np.add.reduceat(values, starts)  # wraps mod 2**64: an order-free multiset sum
        per = _mix(sums ^ _mix(counts.astype(np.uint64) ^ salt))
    return pd.Series(per, index=np.asarray(uniques)[grouped[starts]], dtype=np.uint64)


def table_hashes(tables: Mapping[str, pd.DataFrame], key: str = "territory_id", ordered: bool = True) -> pd.Series:
    """One hash per territory (16 hex digits) over its rows of every table holding ``key``.

    A change to any value of a territory's rows, to its number of rows, or (``ordered``,
    the default: the reports show rows in table order) to the order of its rows changes
    its hash and no other territory's. A table's name, column names and dtypes are part
    of it. The same tables give the same hashes in every process and run. Territories
    without a row in any table are absent.
    """
    parts = [_per_key(tables[name], key, name, ordered) for name in sorted(tables)
             if key in tables[name] and not tables[name].empty]
    if not parts:
        return pd.Series(dtype=str)
    index = pd.Index(np.unique(np.concatenate([p.index.to_numpy(dtype=object) for p in parts]).astype(str)))
    total = np.zeros(len(index), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for part in parts:
            total[index.get_indexer(part.index)] += part.to_numpy(dtype=np.uint64)
    return pd.Series(_hex(_mix(total)), index=index, dtype=object)


def files_hash(paths: Iterable[Path]) -> str:
    """sha256 over the contents of files (a missing file counts as empty)."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(Path(path).read_bytes() if Path(path).is_file() else b"")
    return digest.hexdigest()


def job_fingerprint(**parts) -> str:
    """sha256 of the JSON of everything a report depends on."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()
