"""Caches keyed and verified by content: the input cache and the analysis store.

An input file changed to other content with the same size and modification time (a
restore, ``cp -p``, a sync tool) is read and validated again; a damaged cache entry or
store file is never served and never ends in a raw Arrow traceback.
"""
from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import pandas as pd
import pytest
from conftest import read_text_table, tiny_tables, write_dataset, write_table

import analysis
from analysis.contract import dataset as dataset_module
from analysis.contract import schema
from analysis.contract.dataset import (
    ENTRY_INDEX, cache_dataset, cached_dataset, file_digest, input_digests, input_key, load_dataset,
)
from analysis.contract.store import (
    META, TerritoryReader, read_meta, read_table, read_territory, store_is_valid, store_problem, write_store,
)
from analysis.errors import CacheWarning, DataValidationError, StoreError


# --- helpers -------------------------------------------------------------------------

def same_size_same_mtime(path: Path, old: str, new: str) -> None:
    """Rewrite ``path`` replacing ``old`` by ``new`` (same length), keeping its mtime."""
    assert len(old) == len(new)
    stat = path.stat()
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_size == stat.st_size and path.stat().st_mtime_ns == stat.st_mtime_ns


def batch_load(folder: Path, cache: Path, tag: str = ""):
    """What the batch does: serve the cache, else validate and cache (returns ds, hit)."""
    ds = cached_dataset(folder, cache, cache_tag=tag)
    hit = ds is not None
    if ds is None:
        ds = load_dataset(folder)
        cache_dataset(ds, cache, cache_tag=tag)
    return ds, hit


def entries(cache: Path) -> list[Path]:
    return sorted(p for p in cache.iterdir()) if cache.exists() else []


@pytest.fixture()
def cache(tmp_path):
    return tmp_path / "cache"


@pytest.fixture()
def cached(tiny_dataset, cache):
    """The tiny dataset, loaded once through the cache: (folder, cache, entry)."""
    ds, hit = batch_load(tiny_dataset, cache)
    assert not hit
    (entry,) = entries(cache)
    return tiny_dataset, cache, entry


# --- the input cache: keyed by content -----------------------------------------------

def test_second_load_is_served_from_the_cache(cached):
    folder, cache, entry = cached
    ds, hit = batch_load(folder, cache)
    assert hit and ds.inputs == input_digests(folder)
    assert ds.sales["units"].sum() == load_dataset(folder).sales["units"].sum()


def test_same_size_and_mtime_other_content_is_validated_again(cached):
    folder, cache, _ = cached
    # 10 -> -1: the same length; the mtime is put back (a restore, cp -p, a sync tool)
    same_size_same_mtime(folder / "sales.csv", "C0001,P01,2026-01,10", "C0001,P01,2026-01,-1")
    assert cached_dataset(folder, cache) is None  # a miss, not the stale entry
    with pytest.raises(DataValidationError) as info:
        batch_load(folder, cache)
    (violation,) = info.value.violations
    assert violation.rule == "units must be >= 0" and violation.examples["line"].tolist() == [2]


def test_same_size_and_mtime_new_valid_data_is_served(cached):
    folder, cache, _ = cached
    before = load_dataset(folder).sales["units"].sum()
    same_size_same_mtime(folder / "sales.csv", "C0001,P01,2026-01,10", "C0001,P01,2026-01,99")
    ds, hit = batch_load(folder, cache)
    assert not hit and ds.sales["units"].sum() == before + 89
    again, hit = batch_load(folder, cache)
    assert hit and again.sales["units"].sum() == before + 89


def test_switching_content_back_and_forth(cached):
    folder, cache, _ = cached
    path = folder / "sales.csv"
    original = path.read_bytes()
    changed = original.replace(b"C0001,P01,2026-01,10", b"C0001,P01,2026-01,77", 1)
    totals = {}
    for round_ in range(2):
        for name, content in (("changed", changed), ("original", original)):
            stat = path.stat()
            path.write_bytes(content)
            os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
            ds, hit = batch_load(folder, cache)
            totals.setdefault(name, ds.sales["units"].sum())
            assert ds.sales["units"].sum() == totals[name]
            assert not hit  # the cache keeps one entry: every switch validates
            assert len(entries(cache)) == 1
    assert totals["changed"] == totals["original"] + 67


def test_key_does_not_depend_on_mtime(tiny_dataset, tmp_path):
    key = input_key(tiny_dataset)
    for path in tiny_dataset.iterdir():
        os.utime(path, (1_000_000, 1_000_000))
    assert input_key(tiny_dataset) == key
    for path in tiny_dataset.iterdir():
        path.touch()
    assert input_key(tiny_dataset) == key
    copy = write_dataset(tmp_path / "copy", tiny_tables())  # other files, other times, same bytes
    assert input_key(copy) == key


def test_key_depends_on_content_names_extra_tag_rules_and_version(tiny_dataset, monkeypatch):
    key = input_key(tiny_dataset)
    assert input_key(tiny_dataset, ("carrier_pigeon",)) != key
    assert input_key(tiny_dataset, (), "pseudonymise:abc") != key
    monkeypatch.setattr(schema, "RULES_VERSION", schema.RULES_VERSION + 1)
    assert input_key(tiny_dataset) != key
    monkeypatch.undo()
    monkeypatch.setattr(analysis, "__version__", "99.0")
    assert input_key(tiny_dataset) != key
    monkeypatch.undo()
    assert input_key(tiny_dataset) == key
    (tiny_dataset / "notes.csv").write_text("a\n1\n")  # any input file counts
    assert input_key(tiny_dataset) != key


def test_cache_of_older_rules_is_not_served(cached, monkeypatch):
    folder, cache, _ = cached
    monkeypatch.setattr(schema, "RULES_VERSION", schema.RULES_VERSION + 1)
    assert cached_dataset(folder, cache) is None


def test_file_digest_is_sha256_of_the_bytes(tmp_path):
    import hashlib
    path = tmp_path / "big.bin"
    data = os.urandom(3 * (1 << 20) + 17)  # several chunks and a partial one
    path.write_bytes(data)
    assert file_digest(path) == hashlib.sha256(data).hexdigest()


def test_inputs_changed_while_read_are_not_cached(tiny_dataset, cache, monkeypatch):
    real = dataset_module._read_csv

    def read_and_change(path):
        frame = real(path)
        if path.name == "sales.csv":  # another process rewrites a file already read
            customers = tiny_dataset / "customers.csv"
            customers.write_bytes(customers.read_bytes().replace(b"Dr Ali", b"Dr Bob"))
        return frame

    monkeypatch.setattr(dataset_module, "_read_csv", read_and_change)
    ds = load_dataset(tiny_dataset)
    assert ds.inputs == ()
    with pytest.warns(CacheWarning, match="changed while being read"):
        assert cache_dataset(ds, cache) is None
    assert entries(cache) == []


def test_a_slice_is_never_cached(tiny_dataset, cache):
    part = load_dataset(tiny_dataset).territory("T01")
    with pytest.warns(CacheWarning, match="slice"):
        assert cache_dataset(part, cache) is None
    assert cached_dataset(tiny_dataset, cache) is None


def test_header_only_sales_never_writes_the_cache(tiny_dataset, cache):
    write_table(tiny_dataset, "sales", read_text_table(tiny_dataset, "sales").iloc[:0])
    with pytest.raises(DataValidationError, match="sales.csv: the table has no rows"):
        batch_load(tiny_dataset, cache)
    assert entries(cache) == []


def test_header_only_sales_through_the_cli_writes_nothing(tiny_dataset, tmp_path, capsys):
    from analysis.engine.cli import main

    write_table(tiny_dataset, "sales", read_text_table(tiny_dataset, "sales").iloc[:0])
    out = tmp_path / "out"
    assert main(["run", "--data", str(tiny_dataset), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "the table has no rows" in err and "Traceback" not in err
    assert entries(out / ".work" / "input") == []


# --- the input cache: verified on read -----------------------------------------------

def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def same_size_garbage(path: Path) -> None:
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 8] = bytes(255 - b for b in data[middle:middle + 8])
    path.write_bytes(bytes(data))


DAMAGE = {
    "truncated sales": lambda e: truncate(e / "sales.parquet"),
    "truncated customers": lambda e: truncate(e / "customers.parquet"),
    "same-size corruption": lambda e: same_size_garbage(e / "sales.parquet"),
    "empty table file": lambda e: (e / "territories.parquet").write_bytes(b""),
    "table file removed": lambda e: (e / "products.parquet").unlink(),
    "table file is a folder": lambda e: ((e / "markets.parquet").unlink(), (e / "markets.parquet").mkdir()),
    "truncated index": lambda e: truncate(e / ENTRY_INDEX),
    "index not json": lambda e: (e / ENTRY_INDEX).write_text("\x00\x00garbage"),
    "index removed (half-written entry)": lambda e: (e / ENTRY_INDEX).unlink(),
    "index of another key": lambda e: (e / ENTRY_INDEX).write_text(
        json.dumps({**json.loads((e / ENTRY_INDEX).read_text()), "key": "other"})),
    "index without a table": lambda e: (e / ENTRY_INDEX).write_text(json.dumps(
        {**(i := json.loads((e / ENTRY_INDEX).read_text())),
         "tables": {k: v for k, v in i["tables"].items() if k != "sales"}})),
    "index is a list": lambda e: (e / ENTRY_INDEX).write_text("[]"),
}


@pytest.mark.parametrize("damage", list(DAMAGE), ids=list(DAMAGE))
def test_damaged_cache_is_rebuilt_with_a_warning(cached, damage):
    folder, cache, entry = cached
    DAMAGE[damage](entry)
    with pytest.warns(CacheWarning, match="input cache .* is damaged") as record:
        ds, hit = batch_load(folder, cache)
    assert not hit
    assert str(folder) in str(record[0].message)
    pd.testing.assert_frame_equal(ds.sales, load_dataset(folder).sales)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # rebuilt: served again, silently
        again, hit = batch_load(folder, cache)
    assert hit and len(again.sales) == len(ds.sales)


def test_damaged_cache_through_load_dataset(cached):
    folder, cache, entry = cached
    truncate(entry / "sales.parquet")
    with pytest.warns(CacheWarning):
        ds = load_dataset(folder, cache=cache)
    assert len(ds.sales) == len(read_text_table(folder, "sales"))


def test_entry_is_written_atomically(tiny_dataset, cache, monkeypatch):
    ds = load_dataset(tiny_dataset)
    calls = []
    real = pd.DataFrame.to_parquet

    def dies_on_third_table(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt  # the run is killed while writing the cache
        return real(self, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_parquet", dies_on_third_table)
    with pytest.raises(KeyboardInterrupt):
        cache_dataset(ds, cache)
    monkeypatch.undo()
    # only a hidden staging folder is left: it is never served and goes on the next write
    assert [p.name.startswith(".entry-") for p in entries(cache)] == [True]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cached_dataset(tiny_dataset, cache) is None
    entry = cache_dataset(ds, cache)
    assert entries(cache) == [entry]


def test_unwritable_cache_is_a_warning_not_an_error(tiny_dataset, tmp_path):
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache folder should be")
    with pytest.warns(CacheWarning, match="cannot be written"):
        assert cache_dataset(load_dataset(tiny_dataset), blocker) is None


def test_cache_entry_records_size_and_hash(cached):
    _, _, entry = cached
    index = json.loads((entry / ENTRY_INDEX).read_text())
    assert index["key"] == entry.name
    for name, recorded in index["tables"].items():
        path = entry / f"{name}.parquet"
        assert recorded == {"size": path.stat().st_size, "sha256": file_digest(path)}


# --- the analysis store --------------------------------------------------------------

@pytest.fixture(scope="module")
def national_tables(tmp_path_factory):
    from analysis.domain.national import national_pass

    folder = write_dataset(tmp_path_factory.mktemp("store_data") / "data", tiny_tables())
    return national_pass(load_dataset(folder), {})


@pytest.fixture()
def store(national_tables, tmp_path):
    return write_store(national_tables, tmp_path / "store", meta={"key": "K", "hashes": {"T01": "h"}})


def test_store_round_trip_and_manifest(store, national_tables):
    meta = read_meta(store)
    assert meta["key"] == "K" and meta["hashes"] == {"T01": "h"}  # the batch's own keys stay as given
    assert set(meta["files"]) == set(national_tables) and store_is_valid(store)
    for name, recorded in meta["files"].items():
        assert recorded["size"] == (store / f"{name}.parquet").stat().st_size
    t01 = read_territory(store, "T01")
    assert set(t01["kpis"]["territory_id"]) == {"T01"}
    assert len(read_table(store, "kpis")) == 2
    assert not [p for p in store.iterdir() if p.name.startswith(".tmp-")]


STORE_DAMAGE = {
    "truncated kpis": lambda s: truncate(s / "kpis.parquet"),
    "same-size corruption": lambda s: same_size_garbage(s / "kpis.parquet"),
    "empty kpis": lambda s: (s / "kpis.parquet").write_bytes(b""),
    "kpis removed": lambda s: (s / "kpis.parquet").unlink(),
}


@pytest.mark.parametrize("damage", list(STORE_DAMAGE), ids=list(STORE_DAMAGE))
def test_damaged_store_is_invalid_and_rebuilt(store, national_tables, damage):
    STORE_DAMAGE[damage](store)
    assert not store_is_valid(store) and "kpis.parquet" in store_problem(store)
    with pytest.warns(CacheWarning, match="analysis store .* is damaged"):
        meta = read_meta(store)
    assert meta == {}  # the batch sees no store with its key: it rebuilds
    # what the batch does then (engine/batch.py: meta.get("key") != store_key)
    write_store(national_tables, store, meta={"key": "K"})
    assert store_is_valid(store) and len(read_table(store, "kpis")) == 2


@pytest.mark.parametrize("damage", ["truncated kpis", "empty kpis", "kpis removed"])
def test_readers_raise_a_clear_store_error(store, damage):
    STORE_DAMAGE[damage](store)
    for read in (lambda: read_table(store, "kpis"), lambda: read_territory(store, "T01")):
        with pytest.raises(StoreError) as info:
            read()
        message = str(info.value)
        assert "kpis.parquet" in message and "rebuild" in message
        assert "ArrowInvalid" not in message


def test_same_size_corruption_never_reads_as_arrow_error(store):
    """A same-size change passes the readers' cheap size check; the page checksums (or the
    decoder) catch it as a StoreError, or the data reads as written. Never ArrowInvalid."""
    original = read_table(store, "customers")
    for offset in range(4, (store / "customers.parquet").stat().st_size - 8, 97):
        path = store / "customers.parquet"
        data = bytearray(path.read_bytes())
        data[offset] ^= 0xFF
        path.write_bytes(bytes(data))
        try:
            frame = read_table(store, "customers")
        except StoreError as exc:
            assert "customers.parquet" in str(exc)
        else:
            assert frame.shape[0] == original.shape[0]
        data[offset] ^= 0xFF
        path.write_bytes(bytes(data))
    assert store_is_valid(store)


def test_store_without_manifest_is_incomplete(store):
    (store / META).unlink()
    assert read_meta(store) == {} and not store_is_valid(store)
    with pytest.raises(StoreError, match="incomplete"):
        read_territory(store, "T01")
    with pytest.raises(StoreError, match="incomplete"):
        read_table(store, "kpis")


def test_damaged_manifest(store):
    (store / META).write_text('{"tables": ["kpis"], "fi')
    with pytest.warns(CacheWarning, match="damaged"):
        assert read_meta(store) == {}
    with pytest.raises(StoreError, match="manifest"):
        read_table(store, "kpis")


def test_store_of_an_older_version_is_rebuilt_silently(store):
    (store / META).write_text(json.dumps({"tables": ["kpis"], "key": "K"}))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_meta(store) == {}


def test_unknown_table_is_a_store_error(store):
    with pytest.raises(StoreError, match="no table 'nope'"):
        read_table(store, "nope")


def test_store_write_killed_midway_leaves_no_valid_store(store, national_tables, monkeypatch):
    import pyarrow.parquet as pq

    real, calls = pq.write_table, []

    def dies_on_fifth(*args, **kwargs):
        calls.append(1)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(pq, "write_table", dies_on_fifth)
    with pytest.raises(KeyboardInterrupt):
        write_store(national_tables, store, meta={"key": "K2"})
    monkeypatch.undo()
    assert read_meta(store) == {} and not store_is_valid(store)  # no manifest: rebuilt, not served
    assert not [p for p in store.iterdir() if p.name.startswith(".tmp-")]
    write_store(national_tables, store, meta={"key": "K2"})
    assert read_meta(store)["key"] == "K2"


def test_store_drops_tables_of_an_older_store(store, national_tables):
    write_store({"kpis": national_tables["kpis"]}, store)
    assert sorted(p.name for p in store.iterdir()) == ["kpis.parquet", META]
    assert store_is_valid(store)


# --- reading a territory's rows ------------------------------------------------------

@pytest.fixture(scope="module")
def demo_tables(tmp_path_factory):
    """The national pass's tables of a small demo dataset (8 territories, 3 regions)."""
    from analysis.contract.demo import generate, write
    from analysis.domain.national import national_pass

    folder = tmp_path_factory.mktemp("demo_store") / "data"
    write(generate(seed=3, n_regions=3, n_territories=8, n_customers=400), folder, fmt="parquet")
    return national_pass(load_dataset(folder), {})


def filtered_read(store: Path, territory_id: str) -> dict[str, pd.DataFrame]:
    """The oracle: each table read by pandas with a filter on the territory (whole without one)."""
    import pyarrow.parquet as pq

    out = {}
    for path in sorted(store.glob("*.parquet")):
        by_territory = "territory_id" in pq.read_schema(path).names
        out[path.stem] = pd.read_parquet(path, filters=[("territory_id", "==", territory_id)] if by_territory else None)
    return out


@pytest.mark.parametrize("row_group_rows", [37, 20_000])  # (a territory's customers span two or three row groups)
def test_a_reader_gives_each_territory_as_a_filtered_read_in_any_order(demo_tables, tmp_path, row_group_rows):
    store = write_store(demo_tables, tmp_path / "store", row_group_rows=row_group_rows)
    ids = sorted(demo_tables["kpis"]["territory_id"])
    assert len(ids) == 8
    reader = TerritoryReader(store)
    # in order (as a worker's jobs come), then back, an id no table holds, the first again
    for territory_id in [*ids, ids[5], ids[2], "T999", ids[0]]:
        got, expected = reader.read(territory_id), filtered_read(store, territory_id)
        assert sorted(got) == sorted(expected) == sorted(demo_tables)
        for name in expected:
            pd.testing.assert_frame_equal(got[name], expected[name], check_exact=True, obj=f"{name} {territory_id}")
        if territory_id in ids:
            assert len(got["kpis"]) == 1 and len(got["customers"]) > 0
    assert all(len(table) == 0 for name, table in reader.read("T999").items() if "territory_id" in table)


def test_a_reader_never_serves_a_store_rebuilt_under_it(demo_tables, tmp_path):
    store = write_store(demo_tables, tmp_path / "store", row_group_rows=37)
    reader = TerritoryReader(store)
    first = sorted(demo_tables["kpis"]["territory_id"])[0]
    before = reader.read(first)
    changed = {**demo_tables, "kpis": demo_tables["kpis"].assign(customers=demo_tables["kpis"]["customers"] + 1)}
    write_store(changed, store, row_group_rows=37)  # (each file replaced, as the batch rebuilds it)
    after = reader.read(first)
    assert after["kpis"]["customers"].iloc[0] == before["kpis"]["customers"].iloc[0] + 1
    pd.testing.assert_frame_equal(after["customers"], before["customers"])
    (store / "kpis.parquet").write_bytes(b"")  # damaged since: a clear error, as read_territory gives
    with pytest.raises(StoreError, match="kpis.parquet"):
        reader.read(first)


def test_a_reader_gives_each_read_its_own_frames(demo_tables, tmp_path):
    store = write_store(demo_tables, tmp_path / "store", row_group_rows=20_000)  # (one row group each)
    reader = TerritoryReader(store)
    first, second = sorted(demo_tables["kpis"]["territory_id"])[:2]
    read = reader.read(first)
    before = read["regions"]
    before["customers"] = -1  # a caller writing into its frames changes no later read
    read["customers"]["potential"] = -1.0
    pd.testing.assert_frame_equal(reader.read(first)["customers"], filtered_read(store, first)["customers"],
                                  check_exact=True)
    again = reader.read(second)["regions"]
    pd.testing.assert_frame_equal(again, filtered_read(store, second)["regions"], check_exact=True)
    regions = demo_tables["regions"]
    changed = {**demo_tables, "regions": regions.assign(customers=regions["customers"] + 1)}
    write_store(changed, store, row_group_rows=37)  # replaced since: read anew
    after = reader.read(first)["regions"]
    assert (after["customers"] == again["customers"] + 1).all()
