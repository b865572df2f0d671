"""Fingerprints: what a report depends on, so unchanged reports are not re-rendered.

A territory's fingerprint covers its slice of every analysis table (and so its input
data and the parameters that shaped them), its effective parameters, the notebook,
the report templates, the renderer and the package version.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd


def table_hashes(tables: Mapping[str, pd.DataFrame], key: str = "territory_id") -> pd.Series:
    """One hash per territory over its rows of every table holding ``key`` (order-free)."""
    parts = []
    for name in sorted(tables):
        frame = tables[name]
        if key not in frame or frame.empty:
            continue
        rows = pd.util.hash_pandas_object(frame.astype({c: object for c in frame.select_dtypes("category")}),
                                          index=False)
        keys = frame[key].astype(str).to_numpy()
        per_key = pd.Series(rows.to_numpy(), index=keys).groupby(level=0).agg(lambda s: int(s.sum()) % (1 << 64))
        parts.append(per_key.astype(str).rename(name))
    if not parts:
        return pd.Series(dtype=str)
    combined = pd.concat(parts, axis=1).fillna("-")
    return combined.apply(lambda row: hashlib.sha256("|".join(row).encode()).hexdigest(), axis=1)


def files_hash(paths: Iterable[Path]) -> str:
    """sha256 over the contents of files (a missing file counts as empty)."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(Path(path).read_bytes() if Path(path).is_file() else b"")
    return digest.hexdigest()


def job_fingerprint(**parts) -> str:
    """sha256 of the JSON of everything a report depends on."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()
