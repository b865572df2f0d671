"""The analysis store: the national pass's tables as Parquet, read one territory at a time.

Tables are sorted by territory and written in row groups, so reading one territory's
slice with a filter touches only its row groups.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

META = "store.json"


def write_store(tables: dict[str, pd.DataFrame], folder: Path, meta: dict | None = None) -> Path:
    """Write every table to ``folder/<name>.parquet`` (sorted by territory_id)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / META).unlink(missing_ok=True)  # written last: a store without it is incomplete
    for name, frame in tables.items():
        frame = frame.sort_values("territory_id", kind="mergesort") if "territory_id" in frame else frame
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), folder / f"{name}.parquet",
                       row_group_size=20_000)
    (folder / META).write_text(json.dumps({"tables": sorted(tables), **(meta or {})}, indent=2, default=str))
    return folder


def read_meta(folder: Path) -> dict:
    """The store's metadata (empty when there is no complete store)."""
    path = Path(folder) / META
    return json.loads(path.read_text()) if path.is_file() else {}


def read_territory(folder: Path, territory_id: str) -> dict[str, pd.DataFrame]:
    """Every table's rows for one territory."""
    folder = Path(folder)
    names = json.loads((folder / META).read_text())["tables"]
    out = {}
    for name in names:
        path = folder / f"{name}.parquet"
        schema = pq.read_schema(path)
        if "territory_id" in schema.names:
            out[name] = pd.read_parquet(path, filters=[("territory_id", "==", territory_id)])
        else:
            out[name] = pd.read_parquet(path)
    return out


def read_table(folder: Path, name: str) -> pd.DataFrame:
    """One whole table (for region and national roll-ups)."""
    return pd.read_parquet(Path(folder) / f"{name}.parquet")
