"""The CMS "Medicare Part D Prescribers - by Provider and Drug" public use file -> a dataset.

``territory-reports import cms-partd FILE --markets MARKETS.yaml --out DATA`` reads the file
(one row = one prescriber x one drug x one data year; plain or gzipped, comma or tab
separated, in the current layout ``Prscrbr_NPI, ..., Brnd_Name, Gnrc_Name, Tot_Clms,
Tot_30day_Fills, ...`` or the pre-2019 one ``npi, nppes_provider_last_org_name, ...,
drug_name, generic_name, total_claim_count, total_30_day_fill_count, ...``) and writes a
dataset of the contract plus a run profile ``DATA/profile.yaml``:

* ``markets``: the markets of MARKETS.yaml; a row is in a market when its generic name
  has a component (``Niacin/Simvastatin`` has two) starting with one of the market's
  generic names (``simvastatin``), case-insensitively; a combination product of two
  markets counts in both.
* ``products``: one per brand name and market (``Lipitor``, ``Atorvastatin Calcium``);
  ``is_own`` for the brand names the market lists under ``own``.
* ``customers``: the prescribers with at least one row in a market: type ``hcp``, the
  specialty, city and state of the file, in the territory of their state.
* ``territories``: states, census divisions or one's own state -> territory CSV; only
  the territories with customers. ``reps``: one placeholder rep per territory.
* ``sales``: one row per prescriber x product, units (30-day fills, claims or days'
  supply) in the data year's December (the profile's ``period_end``, ``period_months:
  12``: an annual, sales-only file).

Suppressed or blank units are missing, never 0: such rows are dropped, and every dropped
row is counted by reason in the report. Values that cannot be read (a unit that is not a
number, an NPI that is not ten digits) are errors naming the file, column, value and line;
then nothing is written.

The file is streamed in blocks of :data:`BLOCK_SIZE` bytes, each parsed by Arrow on its own: the rows of the
markets are spread over :data:`PARTITIONS` temporary files by NPI and each is summed on
its own, so the memory used stays flat however large the file (the national file has
about 25 million rows).
"""
from __future__ import annotations

import argparse
import csv
import difflib
import json
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.ipc as ipc
import yaml

from analysis.contract import params as parameters
from analysis.contract.importers import Importer
from analysis.contract.importers.geography import SCHEMES, territory_scheme
from analysis.contract.importers.output import ImportReport, check_new_output, publish_folder, staging
from analysis.errors import DatasetNotFoundError, DataValidationError, ParameterError, Violation

#: Bytes parsed at a time.
BLOCK_SIZE = 16 << 20
#: Temporary files the market rows are spread over (by NPI) before they are summed.
PARTITIONS = 64
#: Market rows held before they are written out to the partitions.
FLUSH_ROWS = 50_000
#: Offending rows shown per error.
MAX_EXAMPLES = 5

#: Concept -> column of each layout (compared case-insensitively; a tuple lists spellings).
LAYOUTS = {
    "current": {
        "npi": "Prscrbr_NPI", "last": "Prscrbr_Last_Org_Name", "first": "Prscrbr_First_Name",
        "city": "Prscrbr_City", "state": "Prscrbr_State_Abrvtn", "specialty": "Prscrbr_Type",
        "brand": "Brnd_Name", "generic": "Gnrc_Name",
        "claims": "Tot_Clms", "fills": "Tot_30day_Fills", "days": "Tot_Day_Suply",
    },
    "pre-2019": {
        "npi": "npi", "last": "nppes_provider_last_org_name", "first": "nppes_provider_first_name",
        "city": "nppes_provider_city", "state": "nppes_provider_state",
        "specialty": ("specialty_description", "specialty_desc"),
        "brand": "drug_name", "generic": "generic_name",
        "claims": "total_claim_count", "fills": "total_30_day_fill_count", "days": "total_day_supply",
    },
}
#: Unit choice -> concept of the layouts.
UNITS = {"fills": "fills", "claims": "claims", "days": "days"}
#: Keys of MARKETS.yaml and of each market.
CONFIG_KEYS = ("year", "units", "territories", "markets")
MARKET_KEYS = ("generic", "own")
#: Concepts the rows of the markets keep (besides the units).
KEPT = ("npi", "last", "first", "city", "state", "specialty", "brand")

_NPI = r"^\d{10}$"
_NUMBER = r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$"
_ID_UNSAFE = re.compile(r"[^a-z0-9]+")


# --- the markets file -------------------------------------------------------------------

@dataclass(frozen=True)
class Market:
    name: str
    generic: tuple[str, ...]
    own: tuple[str, ...] = ()

    def matches(self, generic_name: str) -> bool:
        """Whether a generic name (any case) is in the market (see the module doc)."""
        name = " ".join(generic_name.lower().split())
        parts = [p.strip() for p in name.split("/")]
        for term in self.generic:
            if "/" in term:
                if name == term or name.startswith(term + " "):
                    return True
            elif any(p == term or p.startswith(term + " ") for p in parts):
                return True
        return False


@dataclass(frozen=True)
class PartDConfig:
    markets: tuple[Market, ...]
    units: str = "fills"
    territories: str = "census-division"
    year: int | None = None
    base: Path = field(default_factory=Path)


def _unknown(keys, allowed, where: str, source: str) -> list[str]:
    problems = []
    for key in keys:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            problems.append(f"{source}: unknown key {where}{key!r}" + (f" (did you mean {close[0]!r}?)" if close
                                                                      else f"; expected one of {', '.join(allowed)}"))
    return problems


def _names(value, where: str, source: str, problems: list[str]) -> tuple[str, ...]:
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not all(isinstance(v, str) and v.strip() for v in values):
        problems.append(f"{source}: {where} is {value!r}; expected a list of names")
        return ()
    return tuple(" ".join(v.split()) for v in values)


def read_config(path: str | Path) -> PartDConfig:
    """MARKETS.yaml, checked: unknown keys, wrong types and empty markets are errors."""
    path = Path(path)
    data = parameters.read_yaml(path)
    source = str(path)
    if not isinstance(data, dict):
        raise ParameterError(f"{source}: expected a mapping with the keys {', '.join(CONFIG_KEYS)}")
    problems = _unknown(data, CONFIG_KEYS, "", source)
    year = data.get("year")
    if year is not None and (isinstance(year, bool) or not isinstance(year, int) or not 1990 <= year <= 2100):
        problems.append(f"{source}: year is {year!r}; expected a data year such as 2013")
    units = data.get("units", "fills")
    if units not in UNITS:
        problems.append(f"{source}: units is {units!r}; expected one of {', '.join(UNITS)}")
    territories = data.get("territories", "census-division")
    if not isinstance(territories, str) or not territories.strip():
        problems.append(f"{source}: territories is {territories!r}; expected {' or '.join(SCHEMES)} or a CSV path")
    markets = data.get("markets")
    parsed = []
    if not isinstance(markets, dict) or not markets:
        problems.append(f"{source}: markets is {markets!r}; expected a mapping of market name -> "
                        "{generic: [...], own: [...]}")
    else:
        for name, spec in markets.items():
            where = f"markets.{name}"
            if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
                problems.append(f"{source}: market name {name!r} must be letters, digits, '-', '_' or '.'")
                continue
            if not isinstance(spec, dict):
                problems.append(f"{source}: {where} is {spec!r}; expected {{generic: [...], own: [...]}}")
                continue
            problems += _unknown(spec, MARKET_KEYS, f"{where}.", source)
            if "generic" not in spec:
                problems.append(f"{source}: {where} has no 'generic' list (the generic names of the market)")
                continue
            generic = tuple(g.lower() for g in _names(spec["generic"], f"{where}.generic", source, problems))
            own = _names(spec.get("own") or [], f"{where}.own", source, problems)
            parsed.append(Market(name, generic, own))
    if problems:
        raise ParameterError("\n".join(problems))
    return PartDConfig(tuple(parsed), units, territories.strip(), year, path.parent)


_DATA_YEAR = (re.compile(r"DY(\d{2})(?!\d)", re.I), re.compile(r"(?<!\d)((?:19|20)\d{2})(?!\d)"),
              re.compile(r"_(\d{2})(?=\.(?:txt|csv|tab|gz|zip))", re.I))


def year_from_name(path: Path) -> int | None:
    """The data year a CMS file name (or its folder's) says: ``..._DY19_...`` (2019),
    ``..._2013...``, ``PartD_Prescriber_PUF_NPI_Drug_13.txt`` (2013)."""
    for name in (path.name, path.parent.name):
        for pattern in _DATA_YEAR:
            found = pattern.search(name)
            if found:
                year = int(found.group(1))
                return year + 2000 if year < 100 else year
    return None


def data_year(source: Path, config: PartDConfig, year: int | None) -> int:
    if year is not None and config.year is not None and year != config.year:
        raise ParameterError(f"--year {year} and the markets file's year {config.year} disagree")
    found = year or config.year or year_from_name(source)
    if found is None:
        raise ParameterError(f"the data year of {source.name} is not known: give --year or 'year:' in the markets file")
    return found


# --- the file ---------------------------------------------------------------------------

def _open_text(path: Path):
    if path.name.lower().endswith(".gz"):
        import gzip
        return gzip.open(path, "rt", encoding="utf-8-sig", newline="")
    return path.open(encoding="utf-8-sig", newline="")


def read_header(path: Path) -> tuple[list[str], str]:
    """The column names and the delimiter (tab or comma) of the file."""
    try:
        with _open_text(path) as handle:
            first = handle.readline()
    except UnicodeDecodeError:
        raise DataValidationError([Violation(str(path), "sales", None, "the file is not UTF-8 text")]) from None
    except (OSError, EOFError) as exc:
        raise DataValidationError([Violation(str(path), "sales", None, f"the file cannot be read: {exc}")]) from None
    delimiter = "\t" if "\t" in first else ","
    header = next(csv.reader([first], delimiter=delimiter), [])
    if not header or not any(h.strip() for h in header):
        raise DataValidationError([Violation(str(path), "sales", None, "the file is empty: its first line must name "
                                                                        "the columns")])
    return header, delimiter


def layout_of(header: list[str], path: Path, units: str) -> tuple[str, dict[str, str]]:
    """The layout of the file and concept -> actual column name (or a clear error)."""
    by_lower = {h.strip().lower(): h for h in header}
    best = None
    for name, columns in LAYOUTS.items():
        found, missing = {}, []
        for concept, spellings in columns.items():
            spellings = (spellings,) if isinstance(spellings, str) else spellings
            hit = next((by_lower[s.lower()] for s in spellings if s.lower() in by_lower), None)
            if hit is None:
                missing.append(spellings[0])
            else:
                found[concept] = hit
        if not missing:
            return name, found
        if best is None or len(missing) < len(best[2]):
            best = (name, found, missing)
    name, _, missing = best
    raise DataValidationError([Violation(
        str(path), "sales", None,
        f"the file is not a Part D prescriber-by-drug file: closest to the {name} layout, it lacks the column(s) "
        f"{', '.join(missing)}",
        hint="expected the columns of the current layout (" + ", ".join(
            v if isinstance(v, str) else v[0] for v in LAYOUTS['current'].values()) + ") or of the pre-2019 one")])


# --- errors and drops ---------------------------------------------------------------------

class _Problems:
    """Errors found while streaming: counted in full, a few examples each."""

    def __init__(self, path: Path):
        self.path = path
        self.counts: Counter = Counter()
        self.examples: dict[tuple, list[dict]] = {}
        self.tables: dict[tuple, str] = {}

    def add(self, table: str, column: str, rule: str, rows: pd.DataFrame, value: str, npi_column: str) -> None:
        """Record ``rows`` breaking ``rule`` in the source ``column`` (their values: ``rows[value]``);
        examples show the line, the prescriber's NPI (source column ``npi_column``) and the value."""
        key = (column, rule)
        self.counts[key] += len(rows)
        self.tables[key] = table
        shown = self.examples.setdefault(key, [])
        for line, cell, npi in zip(rows["_line"], rows[value], rows["npi"]):
            if len(shown) >= MAX_EXAMPLES:
                break
            shown.append({"line": int(line), npi_column: npi, column: cell})

    def raise_any(self) -> None:
        if not self.counts:
            return
        violations = [Violation(str(self.path), self.tables[key], key[0], key[1], n,
                                pd.DataFrame(self.examples[key]).astype(object))
                      for key, n in self.counts.items()]
        raise DataValidationError(violations, self.path)


# --- the import -----------------------------------------------------------------------------

class _Products:
    """(market, brand name) -> product id, one product per brand name and market."""

    def __init__(self, markets: tuple[Market, ...]):
        self.markets = markets
        self.ids: dict[tuple[int, str], int] = {}
        self.rows: list[tuple[str, str, str, bool]] = []  # product_id, product_name, market, is_own
        self.taken: set[str] = set()

    def code(self, market: int, brand: str) -> int:
        key = (market, brand.casefold())
        if key not in self.ids:
            m = self.markets[market]
            slug = _ID_UNSAFE.sub("-", brand.lower()).strip("-") or "product"
            pid, n = f"{m.name}-{slug}", 1
            while pid in self.taken:
                n += 1
                pid = f"{m.name}-{slug}-{n}"
            self.taken.add(pid)
            own = brand.casefold() in {o.casefold() for o in m.own}
            self.ids[key] = len(self.rows)
            self.rows.append((pid, brand, m.name, own))
        return self.ids[key]


def _strip(array: pa.Array) -> pa.Array:
    """Trimmed text, blank -> missing."""
    array = pc.utf8_trim_whitespace(array)
    return pc.if_else(pc.equal(array, ""), pa.scalar(None, pa.string()), array)


def import_partd(source: str | Path, markets: str | Path, out: str | Path, *, year: int | None = None,
                 force: bool = False, progress: Callable[[int], None] | None = None,
                 partitions: int = PARTITIONS) -> ImportReport:
    """Import a Part D prescriber-by-drug file into the dataset folder ``out`` (see the
    module doc); returns the report. Nothing is written unless everything succeeded."""
    source, out = Path(source), Path(out)
    if not source.is_file():
        raise DatasetNotFoundError(f"{source}: file not found")
    config = read_config(markets)
    the_year = data_year(source, config, year)
    scheme = territory_scheme(config.territories, config.base)
    check_new_output(out, force)
    header, delimiter = read_header(source)
    layout, columns = layout_of(header, source, config.units)
    unit_column = columns[UNITS[config.units]]
    report = ImportReport(str(source), str(out))
    report.notes.append(f"{layout} layout, data year {the_year}, units: {config.units} ({unit_column}), "
                        f"territories: {config.territories}")
    wanted = {c: columns[c] for c in (*KEPT, "generic")}
    wanted["units"] = unit_column
    include = list(dict.fromkeys(wanted.values()))

    state_territory = dict(zip(scheme["state"], scheme["territory_id"]))
    problems = _Problems(source)
    products = _Products(config.markets)
    generic_markets: dict[str, tuple[int, ...]] = {}
    buffered: list[pd.DataFrame] = []
    n_buffered = 0
    rows_kept = 0

    with staging(out) as stage:
        parts_dir = stage / ".partitions"
        parts_dir.mkdir()
        data_dir = stage / "data"
        data_dir.mkdir()
        writers: dict[int, ipc.RecordBatchStreamWriter] = {}
        part_schema = pa.schema([("npi", pa.string()), ("product", pa.int32()), ("units", pa.float64()),
                                 ("line", pa.int64()), ("first", pa.string()), ("last", pa.string()),
                                 ("city", pa.string()), ("state", pa.string()), ("specialty", pa.string()),
                                 ("territory_id", pa.string())])

        def flush() -> None:
            nonlocal buffered, n_buffered
            if not buffered:
                return
            frame = pd.concat(buffered, ignore_index=True)
            buffered, n_buffered = [], 0
            part = (frame["npi"].astype("int64") % partitions).to_numpy()
            for p in np.unique(part):
                rows = frame[part == p]
                if p not in writers:
                    writers[p] = ipc.new_stream(str(parts_dir / f"{p:03d}.arrow"), part_schema)
                writers[p].write_table(pa.Table.from_pandas(rows, schema=part_schema, preserve_index=False))

        try:
            for line, batch in _blocks(source, header, delimiter, include):
                n = batch.num_rows
                lines = np.arange(line, line + n, dtype=np.int64)
                report.rows_read += n
                kept = _batch(batch, lines, wanted, config, generic_markets, state_territory, products, problems,
                              report)
                if kept is not None and len(kept):
                    rows_kept += int(kept["_source_row"].nunique())
                    buffered.append(kept.drop(columns=["_source_row"]))
                    n_buffered += len(kept)
                    if n_buffered >= FLUSH_ROWS:
                        flush()
                if progress is not None:
                    progress(report.rows_read)
            flush()
        finally:
            for writer in writers.values():
                writer.close()
        blank = report.dropped.pop("_blank_line", 0)
        if blank:
            report.rows_read -= blank
            report.notes.append(f"{blank:,} blank line(s) skipped")
        problems.raise_any()
        report.rows_kept = rows_kept
        if not writers:
            raise DataValidationError([Violation(
                str(source), "sales", columns["generic"],
                "no row of the file is in a market of the markets file (with units and a prescriber in a territory)",
                hint="check the generic names of the markets: " + "; ".join(
                    f"{m.name}: {', '.join(m.generic)}" for m in config.markets))], source)

        tables = _write_tables(data_dir, sorted(writers), parts_dir, config, scheme, products, the_year)
        report.tables = tables
        for m in config.markets:
            mine = [r for r in products.rows if r[2] == m.name]
            if not mine:
                report.notes.append(f"market {m.name!r}: no rows in the file")
                continue
            found = {r[1].casefold() for r in mine if r[3]}
            lacking = [o for o in m.own if o.casefold() not in found]
            if lacking:
                report.notes.append(f"market {m.name!r}: own brand(s) {', '.join(lacking)} not in the file")
        profile_text = _profile(source, the_year, config)
        parameters.check(yaml.safe_load(profile_text), source="the written profile")
        (data_dir / "profile.yaml").write_text(profile_text, encoding="utf-8")
        report.finish()
        (data_dir / "import.json").write_text(json.dumps({
            "importer": "cms-partd", "source": source.name, "layout": layout, "data_year": the_year,
            "units": config.units, "unit_column": unit_column, "territories": config.territories,
            "markets": {m.name: {"generic": list(m.generic), "own": list(m.own)} for m in config.markets},
            "rows_read": report.rows_read, "rows_imported": report.rows_kept,
            "not_imported": dict(report.skipped), "dropped": dict(report.dropped), "tables": tables,
            "seconds": round(report.seconds, 2)}, indent=1), encoding="utf-8")
        publish_folder(data_dir, out)
    return report


def _cut(buffer: bytes) -> int:
    """Where a block of the file may end: after its last line break outside quotes (0: none)."""
    pos = buffer.rfind(b"\n")
    while pos >= 0:
        if buffer.count(b'"', 0, pos) % 2 == 0:
            return pos + 1
        pos = buffer.rfind(b"\n", 0, pos)
    return 0


def _blocks(source: Path, header: list[str], delimiter: str, include: list[str]):
    """The file's data rows, a block of about :data:`BLOCK_SIZE` bytes at a time (gunzipped
    when it ends in ``.gz``), each parsed by Arrow on its own (threads inside a block only):
    nothing is read ahead, so the memory used is a block's. Yields ``(first line, batch)``."""
    read = pa_csv.ReadOptions(column_names=header, block_size=BLOCK_SIZE + (1 << 20), use_threads=True)
    parse = pa_csv.ParseOptions(delimiter=delimiter, ignore_empty_lines=False)
    convert = pa_csv.ConvertOptions(include_columns=include, column_types={c: pa.string() for c in include},
                                    strings_can_be_null=True, quoted_strings_can_be_null=True, null_values=[""])
    line, carry, header_done = 2, b"", False
    try:
        stream = pa.input_stream(str(source), compression="detect")
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataValidationError([Violation(str(source), "sales", None, "the file could not be read",
                                             hint=str(exc).strip())], source) from None
    with stream:
        while True:
            try:
                data = stream.read(BLOCK_SIZE)
            except (pa.ArrowInvalid, OSError) as exc:  # a damaged gzip file
                raise DataValidationError([Violation(str(source), "sales", None, "the file could not be read",
                                                     hint=f"after line {line - 1}: {str(exc).strip()}")],
                                          source) from None
            eof = not data
            buffer = carry + data if carry else data
            if not header_done:
                end = buffer.find(b"\n")
                if end < 0 and not eof:
                    carry = buffer
                    continue
                buffer, header_done = (buffer[end + 1:] if end >= 0 else b""), True
            cut = len(buffer) if eof else _cut(buffer)
            if cut == 0 and not eof:
                carry = buffer
                continue
            chunk, carry = buffer[:cut], buffer[cut:]
            if chunk.strip(b"\r\n") or chunk:
                try:
                    table = pa_csv.read_csv(pa.BufferReader(chunk), read_options=read, parse_options=parse,
                                            convert_options=convert)
                except pa.ArrowInvalid as exc:
                    raise DataValidationError([Violation(
                        str(source), "sales", None, "the file could not be read as CSV",
                        hint=f"in the lines from {line} on: {str(exc).strip()}")], source) from None
                if table.num_rows:
                    batch = table.combine_chunks().to_batches()[0]
                    yield line, batch
                    line += table.num_rows
            if eof:
                return


def _batch(batch: pa.RecordBatch, lines: np.ndarray, wanted: dict[str, str], config: PartDConfig,
           generic_markets: dict[str, tuple[int, ...]], state_territory: dict[str, str], products: _Products,
           problems: _Problems, report: ImportReport) -> pd.DataFrame | None:
    """The rows of one block that are in a market, checked; drops and errors recorded."""
    generic = batch.column(wanted["generic"])
    encoded = pc.dictionary_encode(generic)
    names = encoded.dictionary.to_pylist()
    for name in names:
        if name not in generic_markets:
            generic_markets[name] = tuple(i for i, m in enumerate(config.markets) if m.matches(name))
    in_market = np.array([bool(generic_markets[name]) for name in names] + [False], dtype=bool)
    codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False)
    mask = in_market[codes]
    no_generic = codes == -1
    if no_generic.any():
        # a blank line is a row with every column empty; other rows without a generic name are dropped
        others = [batch.column(c) for c in dict.fromkeys(wanted.values()) if c != wanted["generic"]]
        empty = np.logical_and.reduce([pc.is_null(c).to_numpy(zero_copy_only=False) for c in others]) & no_generic
        report.dropped["_blank_line"] += int(empty.sum())
        if (no_generic & ~empty).any():
            report.dropped["blank generic name"] += int((no_generic & ~empty).sum())
    outside = int((~mask & ~no_generic).sum())
    if outside:
        report.skipped["drug outside the markets"] += outside
    if not mask.any():
        return None
    idx = np.flatnonzero(mask)
    sub = batch.take(pa.array(idx))
    frame = pd.DataFrame({concept: _strip(sub.column(column)).to_numpy(zero_copy_only=False)
                          for concept, column in wanted.items()})
    frame["_line"] = lines[idx]
    frame["_markets"] = [generic_markets[names[c]] for c in codes[idx]]

    npi, units_text = frame["npi"], frame["units"]
    blank_npi = npi.isna().to_numpy()
    bad_npi = ~blank_npi & ~npi.fillna("").str.fullmatch(_NPI).to_numpy()
    if bad_npi.any():
        problems.add("customers", wanted["npi"], "the prescriber NPI must be 10 digits", frame[bad_npi], "npi",
                     wanted["npi"])
    blank_units = units_text.isna().to_numpy()
    numeric = units_text.fillna("").str.fullmatch(_NUMBER).to_numpy()
    bad_units = ~blank_units & ~numeric
    if bad_units.any():
        problems.add("sales", wanted["units"], "units must be a number", frame[bad_units], "units", wanted["npi"])
    values = np.full(len(frame), np.nan)
    values[numeric] = units_text[numeric].astype("float64").to_numpy()
    negative = numeric & (values < 0)
    if negative.any():
        problems.add("sales", wanted["units"], "units must be >= 0", frame[negative], "units", wanted["npi"])
    huge = numeric & ~np.isfinite(values)
    if huge.any():
        problems.add("sales", wanted["units"], "units must be a finite number", frame[huge], "units", wanted["npi"])
    state = frame["state"].str.upper()
    territory = state.map(state_territory)
    blank_brand = frame["brand"].isna().to_numpy()

    keep = np.ones(len(frame), dtype=bool)
    for reason, drop in (("blank prescriber NPI", blank_npi),
                         (f"units suppressed or blank ({wanted['units']})", blank_units),
                         ("blank drug (brand) name", blank_brand)):
        drop = drop & keep
        if drop.any():
            report.dropped[reason] += int(drop.sum())
            keep &= ~drop
    no_territory = keep & territory.isna().to_numpy()
    if no_territory.any():
        for code, n in state[no_territory].fillna("(blank)").value_counts().items():
            report.dropped[f"state {code} in no territory"] += int(n)
        keep &= ~no_territory
    keep &= ~(bad_npi | bad_units | negative | huge)
    if not keep.any():
        return None
    frame = frame[keep].assign(units=values[keep], territory_id=territory[keep].to_numpy(), state=state[keep])
    frame["_source_row"] = frame["_line"]
    # one row per market of the drug (a combination of two markets counts in both)
    frame = frame.explode("_markets")
    frame["product"] = [products.code(int(m), b) for m, b in zip(frame["_markets"], frame["brand"])]
    first = ~frame["npi"].duplicated()  # the prescriber's details once per block (the first row)
    for c in ("first", "last", "city", "state", "specialty", "territory_id"):
        frame[c] = frame[c].where(first)
    return pd.DataFrame({
        "npi": frame["npi"].to_numpy(), "product": frame["product"].to_numpy(dtype="int32"),
        "units": frame["units"].to_numpy(dtype="float64"), "line": frame["_line"].to_numpy(dtype="int64"),
        **{c: frame[c].to_numpy(dtype=object) for c in ("first", "last", "city", "state", "specialty",
                                                         "territory_id")},
        "_source_row": frame["_source_row"].to_numpy()})


def _write_tables(data_dir: Path, parts: list[int], parts_dir: Path, config: PartDConfig, scheme: pd.DataFrame,
                  products: _Products, year: int) -> dict[str, int]:
    """Sum each partition and write the contract's tables; returns table -> rows."""
    period = f"{year}-12"
    product_ids = np.array([r[0] for r in products.rows], dtype=object)
    n_sales = n_customers = 0
    per_territory: Counter = Counter()
    sales_path, customers_path = data_dir / "sales.csv", data_dir / "customers.csv"
    customer_cols = ["customer_id", "customer_name", "customer_type", "territory_id", "specialty", "city", "state"]
    for i, p in enumerate(parts):
        with ipc.open_stream(str(parts_dir / f"{p:03d}.arrow")) as stream:
            frame = stream.read_all().to_pandas()
        (parts_dir / f"{p:03d}.arrow").unlink()
        sales = frame.groupby(["npi", "product"], sort=True, as_index=False)["units"].sum()
        sales = pd.DataFrame({"customer_id": sales["npi"], "product_id": product_ids[sales["product"].to_numpy()],
                              "period": period, "units": sales["units"].round(6)})
        who = frame[frame["territory_id"].notna()].sort_values("line", kind="stable").drop_duplicates("npi")
        who = who.sort_values("npi")
        names = (who["first"].fillna("") + " " + who["last"].fillna("")).str.strip()
        customers = pd.DataFrame({
            "customer_id": who["npi"], "customer_name": names.where(names != "", "NPI " + who["npi"]),
            "customer_type": "hcp", "territory_id": who["territory_id"], "specialty": who["specialty"],
            "city": who["city"], "state": who["state"]})[customer_cols]
        sales.to_csv(sales_path, mode="a", header=i == 0, index=False, lineterminator="\n")
        customers.to_csv(customers_path, mode="a", header=i == 0, index=False, lineterminator="\n")
        n_sales += len(sales)
        n_customers += len(customers)
        per_territory.update(customers["territory_id"].value_counts().to_dict())
    territories = scheme.drop_duplicates("territory_id")
    territories = territories[territories["territory_id"].isin(per_territory)]
    territories = territories[["territory_id", "territory_name", "region"]].sort_values("territory_id")
    territories.to_csv(data_dir / "territories.csv", index=False, lineterminator="\n")
    reps = pd.DataFrame({"rep_id": "rep-" + territories["territory_id"],
                         "rep_name": "Rep " + territories["territory_name"] + " (placeholder)",
                         "territory_id": territories["territory_id"], "role": "chronic"})
    reps.to_csv(data_dir / "reps.csv", index=False, lineterminator="\n")
    product_frame = pd.DataFrame(products.rows, columns=["product_id", "product_name", "market", "is_own"])
    product_frame["is_own"] = product_frame["is_own"].map({True: "true", False: "false"})
    product_frame.sort_values(["market", "product_id"]).to_csv(data_dir / "products.csv", index=False,
                                                               lineterminator="\n")
    used = [m.name for m in config.markets if m.name in set(product_frame["market"])]
    pd.DataFrame({"market": used}).to_csv(data_dir / "markets.csv", index=False, lineterminator="\n")
    return {"territories": len(territories), "reps": len(reps), "customers": n_customers,
            "products": len(product_frame), "markets": len(used), "sales": n_sales}


def _profile(source: Path, year: int, config: PartDConfig) -> str:
    return (f"# Run profile written by `territory-reports import cms-partd` for {source.name}:\n"
            f"# CMS Medicare Part D prescribers by drug, data year {year}, units: {config.units}.\n"
            "# An annual, sales-only file: one period (no earlier period to compare with) and no\n"
            "# activities; the reports say so. Keys not given take the package defaults.\n"
            "territories: all\n"
            "markets: all\n"
            f"period_end: '{year}-12'\n"
            "period_months: 12\n"
            "potential:\n"
            "  default: market_sum\n")


# --- the command line -----------------------------------------------------------------------

def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="the Part D prescriber-by-drug file (.csv, .txt/.tab, optionally .gz)")
    p.add_argument("--markets", required=True, metavar="MARKETS.yaml",
                   help="the markets (generic names, own brands), units and territories")
    p.add_argument("--out", required=True, metavar="DATA", help="dataset folder to write (with DATA/profile.yaml)")
    p.add_argument("--year", type=int, help="the data year (default: the markets file's, else the file name's)")
    p.add_argument("--force", action="store_true", help="replace DATA when it exists")


def _progress_printer(every: int = 2_000_000) -> Callable[[int], None]:
    import sys
    start, shown = time.perf_counter(), [0]

    def show(rows: int) -> None:
        if rows - shown[0] >= every:
            shown[0] = rows
            rate = rows / max(time.perf_counter() - start, 1e-9)
            print(f"  {rows:,} rows read ({rate:,.0f} rows/s)", file=sys.stderr, flush=True)
    return show


def _run(args: argparse.Namespace) -> ImportReport:
    return import_partd(args.file, args.markets, args.out, year=args.year, force=args.force,
                        progress=None if getattr(args, "quiet", False) else _progress_printer())


IMPORTER = Importer("cms-partd", "CMS Medicare Part D prescribers by provider and drug (public file) -> a dataset",
                    _add_arguments, _run)
