"""privacy: pseudonymise: no real name and no real id anywhere under the output folder.

The end-to-end test renders a real batch of a small demo dataset whose ids are rewritten
to distinctive strings (NPI-like customer ids, employee-number rep ids) so that a hit is
a leak, not chance, and then searches every file under the output folder: raw bytes,
HTML-unescaped and JSON-decoded text, Parquet string columns and PDF text.
Every test uses a temporary key file (``TERRITORY_REPORTS_PRIVACY_KEY_FILE``), never the
real per-user key.
"""
from __future__ import annotations

import html
import json
import re
import secrets
import stat
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import pytest

from analysis.contract import privacy
from analysis.contract.dataset import cache_dataset, cached_dataset, input_key, load_dataset
from analysis.errors import ParameterError

KEY = b"k" * 32
OTHER_KEY = b"o" * 32


@pytest.fixture
def key_env(tmp_path, monkeypatch) -> Path:
    """A temporary key file, named by the environment variable (the home config is never touched)."""
    path = tmp_path / "secrets" / "privacy.key"
    path.parent.mkdir()
    path.write_bytes(secrets.token_bytes(32))
    monkeypatch.setenv(privacy.KEY_ENV, str(path))
    return path


# --- pseudonyms ----------------------------------------------------------------------

def test_pseudonyms_are_stable_keyed_and_readable():
    assert privacy.pseudonym("NPI1234567890", "customer", KEY) == privacy.pseudonym("NPI1234567890", "customer", KEY)
    assert privacy.pseudonym("NPI1234567890", "customer", KEY) != privacy.pseudonym("NPI1234567890", "customer",
                                                                                   OTHER_KEY)
    assert privacy.pseudonym("NPI1234567890", "customer", KEY) != privacy.pseudonym("NPI1234567891", "customer", KEY)
    cid = privacy.pseudonym("NPI1234567890", "customer", KEY)
    assert cid.startswith("C-") and len(cid) == 2 + privacy.DIGITS >= 14
    name = privacy.customer_name("NPI1234567890", "hcp", KEY)
    assert name == f"HCP {cid[2:]}"
    assert privacy.customer_name("X", "pharmacy", KEY).startswith("Pharmacy ")
    assert privacy.pseudonym("E1", "rep", KEY).startswith("R-")
    assert len(privacy.pseudonym("A1", "activity", KEY)) == 2 + privacy.ACTIVITY_DIGITS


def test_digits_are_hmac_sha256_of_the_namespaced_value():
    import hmac
    for key in (KEY, b"x" * 100):  # a key longer than the hash block is hashed first, as HMAC does
        expected = hmac.new(key, b"territory-reports:rep:EMPNO1", "sha256").hexdigest()[:privacy.DIGITS].upper()
        assert privacy.digits(["EMPNO1"], "rep", key) == [expected]


def test_no_collisions_over_200000_ids():
    ids = [f"NPI{i:010d}" for i in range(200_000)]
    assert len(set(privacy.digits(ids, "customer", KEY))) == len(ids)


def test_a_collision_is_an_error_not_a_merge(tiny_dataset, monkeypatch):
    ds = load_dataset(tiny_dataset)
    monkeypatch.setattr(privacy, "digits", lambda values, namespace, key: ["ABCDEF012345" for _ in values])
    with pytest.raises(ParameterError, match="same pseudonym"):
        privacy.pseudonymise_dataset(ds, KEY)


def test_ids_map_consistently_in_every_table(tiny_dataset):
    ds = load_dataset(tiny_dataset)
    p = privacy.pseudonymise_dataset(ds, KEY)
    customers = dict(zip(ds.customers["customer_id"], p.customers["customer_id"]))
    reps = dict(zip(ds.reps["rep_id"], p.reps["rep_id"]))
    for table in ("sales", "activities"):
        before, after = getattr(ds, table), getattr(p, table)
        assert after["customer_id"].tolist() == before["customer_id"].map(customers).tolist(), table
    assert p.activities["rep_id"].tolist() == ds.activities["rep_id"].map(reps).tolist()
    assert p.activities["activity_id"].str.fullmatch(r"A-[0-9A-F]{16}").all()
    assert p.activities["activity_id"].is_unique
    # names follow ids; territories and products stay; profile columns keep only filled/empty
    assert p.customers.loc[0, "customer_name"] == f"HCP {p.customers.loc[0, 'customer_id'][2:]}"
    assert p.reps["rep_name"].tolist() == [f"Rep {r[2:]}" for r in p.reps["rep_id"]]
    assert p.territories["territory_id"].tolist() == ds.territories["territory_id"].tolist()
    assert p.territories.loc[0, "manager"].startswith("Manager ") and pd.isna(p.territories.loc[1, "manager"])
    pd.testing.assert_frame_equal(p.products, ds.products)
    assert p.customers.loc[0, "phone"] == "filled" and pd.isna(p.customers.loc[2, "phone"])
    assert p.customers["beds"].equals(ds.customers["beds"])
    # the same key gives the same pseudonyms; a second pass changes nothing
    again = privacy.pseudonymise_dataset(ds, KEY)
    pd.testing.assert_frame_equal(again.sales, p.sales)
    assert privacy.is_pseudonymised(p) and not privacy.is_pseudonymised(ds)
    assert privacy.apply_dataset(p, {"privacy": "pseudonymise"}, OTHER_KEY) is p
    assert privacy.apply_dataset(ds, {"privacy": "none"}) is ds
    # the old customers-only entry point is safe on pseudonymised customers
    assert privacy.apply(p.customers, {"privacy": "pseudonymise"}) is p.customers


# --- the key -------------------------------------------------------------------------

def test_key_from_env_and_explicit_file(key_env, tmp_path):
    assert privacy.load_key(tmp_path / "out") == key_env.read_bytes()
    explicit = tmp_path / "explicit.key"
    explicit.write_bytes(OTHER_KEY)
    assert privacy.load_key(tmp_path / "out", explicit) == OTHER_KEY
    with pytest.raises(ParameterError, match="not found"):
        privacy.load_key(tmp_path / "out", tmp_path / "missing.key")
    short = tmp_path / "short.key"
    short.write_bytes(b"abc")
    with pytest.raises(ParameterError, match="at least"):
        privacy.load_key(None, short)


def test_key_inside_the_output_folder_is_refused(tmp_path, monkeypatch):
    out = tmp_path / "out"
    inside = out / ".work" / "privacy.key"
    inside.parent.mkdir(parents=True)
    inside.write_bytes(KEY)
    monkeypatch.setenv(privacy.KEY_ENV, str(inside))
    with pytest.raises(ParameterError, match="inside the output folder"):
        privacy.load_key(out)


def test_default_key_is_created_once_private(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(privacy.KEY_ENV, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    first = privacy.load_key(tmp_path / "out")
    path = tmp_path / "home" / ".config" / "territory-reports" / "privacy.key"
    assert path.read_bytes() == first and len(first) == privacy.KEY_BYTES
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "created the privacy key" in capsys.readouterr().err
    assert privacy.load_key(tmp_path / "out") == first
    assert "created" not in capsys.readouterr().err  # said once


def test_fingerprint_and_cache_tag_never_show_the_key():
    fp = privacy.key_fingerprint(KEY)
    assert fp != privacy.key_fingerprint(OTHER_KEY) and KEY.hex()[:16] not in fp
    assert privacy.cache_tag({"privacy": "none"}, None) == "none"
    assert privacy.cache_tag({"privacy": "pseudonymise"}, KEY) == f"pseudonymise:{fp}"


def test_cache_never_serves_the_other_privacy_mode(tiny_dataset, tmp_path):
    cache = tmp_path / "cache"
    ds = load_dataset(tiny_dataset)
    pseudo = privacy.pseudonymise_dataset(ds, KEY)
    on, off = privacy.cache_tag({"privacy": "pseudonymise"}, KEY), privacy.cache_tag({"privacy": "none"}, None)
    cache_dataset(pseudo, cache, cache_tag=on)
    assert cached_dataset(tiny_dataset, cache, cache_tag=off) is None
    assert cached_dataset(tiny_dataset, cache, cache_tag=privacy.cache_tag({"privacy": "pseudonymise"},
                                                                           OTHER_KEY)) is None
    hit = cached_dataset(tiny_dataset, cache, cache_tag=on)
    pd.testing.assert_frame_equal(hit.customers, pseudo.customers)
    cache_dataset(ds, cache, cache_tag=off)  # switching off replaces the entry: one kind at a time
    assert [p.name for p in cache.iterdir()] == [input_key(tiny_dataset, (), off)]


# --- end to end: nothing real under the output folder --------------------------------

def _distinctive(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The demo tables with ids that cannot occur by chance (NPI-like, employee numbers)."""
    customers = {c: f"NPI{7300000000 + 7919 * i}" for i, c in enumerate(tables["customers"]["customer_id"])}
    reps = {r: f"EMPNO{48200000 + 37 * i}" for i, r in enumerate(tables["reps"]["rep_id"])}
    accounts = {a: f"ACCT{91500000 + 13 * i}" for i, a in enumerate(tables["customers"]["account_id"].unique())}
    out = dict(tables)
    out["customers"] = tables["customers"].assign(customer_id=tables["customers"]["customer_id"].map(customers),
                                                  account_id=tables["customers"]["account_id"].map(accounts))
    out["reps"] = tables["reps"].assign(rep_id=tables["reps"]["rep_id"].map(reps))
    out["sales"] = tables["sales"].assign(customer_id=tables["sales"]["customer_id"].map(customers))
    acts = tables["activities"]
    out["activities"] = acts.assign(customer_id=acts["customer_id"].map(customers), rep_id=acts["rep_id"].map(reps),
                                    activity_id=[f"VISIT{60300000 + i}" for i in range(len(acts))])
    if "phases" in tables:
        out["phases"] = tables["phases"].assign(customer_id=tables["phases"]["customer_id"].map(customers))
    return out


def _texts(path: Path) -> list[str]:
    """Every readable form of one file: raw bytes as text, unescaped HTML, decoded JSON,
    Parquet string values, PDF text."""
    raw = path.read_bytes()
    text = raw.decode("utf-8", errors="replace")
    texts = [text, html.unescape(text)]
    if path.suffix in (".json", ".ipynb"):
        texts.append(json.dumps(json.loads(text), ensure_ascii=False))
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq
        table = pq.read_table(path)
        texts.append(json.dumps({name: [str(v) for v in table.column(name).to_pylist()]
                                 for name in table.column_names}, ensure_ascii=False))
        texts.append(json.dumps(str(table.schema.metadata), ensure_ascii=False))
    if path.suffix == ".pdf":
        import pypdfium2 as pdfium
        pdf = pdfium.PdfDocument(str(path))
        texts.append("\n".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf))))
        pdf.close()
    return texts


_ID = re.compile(r"([A-Za-z]+)([0-9]+)")


def found(needles: Iterable[str], texts: Iterable[str]) -> set[str]:
    """The ``needles`` found in any of ``texts``: those ``needle in text`` finds. An id
    (letters, then digits) is found by one scan of each text for every id's letters
    followed by digits, at every position (overlapping), instead of one search per id
    (searched one by one, the demo's thousands of activity ids took half of the
    end-to-end test below: 66 s, now 32 s)."""
    needles, texts = set(needles), list(texts)
    ids = {n for n in needles if _ID.fullmatch(n)}
    hits = {n for n in needles - ids if any(n in t for t in texts)}
    if ids:
        prefixes = sorted({_ID.fullmatch(n).group(1) for n in ids}, key=len, reverse=True)
        pattern = re.compile(f"(?=((?:{'|'.join(map(re.escape, prefixes))})[0-9]+))")
        lengths = sorted({len(n) for n in ids})
        for text in texts:
            for match in pattern.finditer(text):
                written = match.group(1)  # an id is there when it is the start of this
                hits.update(written[:n] for n in lengths if written[:n] in ids)
    return hits


def test_found_is_what_a_search_for_each_needle_finds():
    needles = {"NPI7300000000", "NPI73", "XNPI1", "NPI1", "EMPNO48200037", "Dr Ali", "AC1", "ACCT91500013", "x"}
    texts = ["xNPI7300000000x", "XNPI1 and NPI12", "EMPNO4820003 EMPNO482000371", "Dr Al", "ACCT9150001",
             "ACCT91500013", "AC AC12", "NPINPI73"]
    for picked in ([], texts[:1], texts[1:2], texts[2:3], texts[3:5], texts[5:], texts):
        assert found(needles, picked) == {n for n in needles if any(n in t for t in picked)}, picked
    assert found(needles, texts) >= {"NPI7300000000", "NPI73", "XNPI1", "NPI1", "EMPNO48200037", "AC1"}


def test_no_real_name_or_id_anywhere_under_the_output_folder(tmp_path, key_env):
    from analysis.contract.demo import generate, write
    from analysis.engine.batch import run

    tables = _distinctive(generate(seed=3, n_regions=1, n_territories=2, n_customers=160))
    data = tmp_path / "data"
    write(tables, data)
    profile = tmp_path / "private.yaml"
    profile.write_text("privacy: pseudonymise\n")
    out = tmp_path / "out"
    manifest = run(data, profile, out, jobs=2, renderer="builtin", progress=False)
    assert manifest["summary"]["failed"] == 0, manifest["failed"]

    secrets_ = {
        "customer name": tables["customers"]["customer_name"],
        "customer id": tables["customers"]["customer_id"],
        "account id": tables["customers"]["account_id"],
        "rep name": tables["reps"]["rep_name"],
        "rep id": tables["reps"]["rep_id"],
        "manager": tables["territories"]["manager"],
        "activity id": tables["activities"]["activity_id"],
    }
    needles = {str(v): kind for kind, values in secrets_.items() for v in values.dropna().unique()}
    files = [p for p in out.rglob("*") if p.is_file()]
    assert any(p.suffix == ".parquet" for p in files) and any(p.suffix == ".pdf" for p in files)
    assert any(".work/input" in p.as_posix() for p in files) and any(".work/store" in p.as_posix() for p in files)
    leaks = []
    for path in files:
        texts = _texts(path)
        leaks.extend(f"{path.relative_to(out)}: {needles[needle]} {needle!r}"
                     for needle in sorted(found(needles, texts)))
    assert not leaks, "\n".join(leaks[:20])
    assert len(files) >= 20
    assert not any(key_env.read_bytes() in p.read_bytes() for p in files)  # nor the key

    # the pseudonyms are really used, and the input cache is keyed by mode and key fingerprint
    assert "HCP " in (out / "T01" / "report.html").read_text()
    exported = pd.read_csv(out / "T01" / "tables" / "customers.csv")
    assert exported["customer_id"].str.fullmatch(r"C-[0-9A-F]{12}").all()
    tag = privacy.cache_tag({"privacy": "pseudonymise"}, key_env.read_bytes())
    assert [p.name for p in (out / ".work" / "input").iterdir()] == [input_key(data, (), tag)]
    cached = pd.read_parquet(out / ".work" / "input" / input_key(data, (), tag) / "customers.parquet")
    expected = {privacy.pseudonym(c, "customer", key_env.read_bytes()) for c in tables["customers"]["customer_id"]}
    assert set(cached["customer_id"]) == expected  # stable: recomputable with the same key
