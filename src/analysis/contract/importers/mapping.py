"""The generic, declarative importer: any export -> one table of the contract.

``territory-reports import table SRC --mapping MAPPING.yaml --out DATA`` reads ``SRC``
(``.csv``, ``.csv.gz``, ``.xlsx``, ``.parquet``), applies the mapping and writes
``DATA/<table>.csv``, validated by the contract together with the tables already in
``DATA`` (its references too, when ``DATA`` holds the other tables). A mapping file::

    table: activities                 # the contract table written
    source: {sheet: Calls}            # optional: the sheet of a workbook
    columns:                          # contract column -> where its values come from
      activity_id: Id                 #   a source column, as it is
      customer_id: Account_vod__c
      date: {column: Call_Date_vod__c, format: ["%Y-%m-%d", "%m/%d/%Y"]}
      channel:                        #   a value map: every value must be mapped
        column: Call_Channel_vod__c
        map: {Face_to_face_vod: f2f_visit, Phone_vod: phone, Other_vod: null}  # null: drop the row
      cost: {value: 0}                #   a constant
      content: {template: "{Call_Type_vod__c}: {Detailed_Products_vod__c}"}
    filters:                          # rows kept (each dropped row is counted by filter)
      - {column: Status_vod__c, in: [Submitted_vod]}
    numbers: {decimal: ".", thousands: ","}   # default number format of number columns
    aggregate: sum                    # optional: sum the number columns of rows with the same key

A column spec takes exactly one of ``column``, ``value`` or ``template``, and optionally
``map`` (with ``default`` for values it does not list, ``ignore_case``), ``if_blank`` (the
value of empty cells), ``format`` (dates and months: ``strptime`` formats, tried in order)
and ``decimal``/``thousands`` (numbers). Every value that is not mapped or cannot be read
is an error naming the file, column, value and line (row of a sheet); a mapping naming a
table, column or key that does not exist is an error naming the key. Nothing is written
unless everything succeeded.
"""
from __future__ import annotations

import argparse
import datetime as dt
import difflib
import os
import re
import string
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.contract import params as parameters
from analysis.contract.dataset import load_dataset, read_rows
from analysis.contract.importers import Importer
from analysis.contract.importers.output import ImportReport, publish_files, staging, table_files
from analysis.contract.schema import BOOL, DATE, INTEGER, NUMBER, PERIOD, TABLES, allowed_values
from analysis.errors import DatasetNotFoundError, DataValidationError, ParameterError, TerritoryReportsError, Violation

MAPPING_KEYS = ("table", "source", "columns", "filters", "numbers", "aggregate", "extra_channels", "description")
SOURCE_KEYS = ("sheet",)
COLUMN_KEYS = ("column", "value", "template", "map", "default", "ignore_case", "if_blank", "format",
               "decimal", "thousands")
FILTER_KEYS = ("column", "equals", "in", "not_in", "blank", "matches")
FILTER_TESTS = ("equals", "in", "not_in", "blank", "matches")
MAX_EXAMPLES = 5
#: Formats tried when a date or month column gives none.
DEFAULT_DATE_FORMATS = ("%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S.%f%z",
                        "%Y-%m-%dT%H:%M:%S%z")
DEFAULT_PERIOD_FORMATS = ("%Y-%m", "%Y-%m-%d")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_TRUE, _FALSE = ("true", "yes", "y", "on"), ("false", "no", "n", "off")


# --- the mapping file -------------------------------------------------------------------------

@dataclass(frozen=True)
class ColumnSpec:
    target: str
    kind: str
    column: str | None = None
    value: str | None = None
    template: str | None = None
    map: dict[str, str | None] | None = None
    default: str | None = None
    has_default: bool = False
    ignore_case: bool = False
    if_blank: str | None = None
    formats: tuple[str, ...] = ()
    decimal: str = "."
    thousands: str = ""

    @property
    def sources(self) -> list[str]:
        if self.column is not None:
            return [self.column]
        if self.template is not None:
            return [f for _, f, _, _ in string.Formatter().parse(self.template) if f]
        return []

    @property
    def label(self) -> str:
        """The source column (or what stands for it) in messages."""
        return self.column if self.column is not None else (f"template {self.template!r}" if self.template
                                                             else f"constant {self.value!r}")


@dataclass(frozen=True)
class Filter:
    column: str
    test: str
    operand: Any

    def describe(self) -> str:
        if self.test == "blank":
            return f"{self.column} is {'blank' if self.operand else 'not blank'}"
        words = {"equals": "is", "in": "is one of", "not_in": "is not one of", "matches": "matches"}[self.test]
        return f"{self.column} {words} {self.operand!r}"


@dataclass(frozen=True)
class Mapping_:
    path: Path
    table: str
    columns: tuple[ColumnSpec, ...]
    filters: tuple[Filter, ...] = ()
    sheet: str | None = None
    aggregate: str | None = None
    extra_channels: tuple[str, ...] = ()


def _text(value) -> str | None:
    """A YAML scalar as the text a cell would hold (``true``, ``12``, ``2.5``)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return str(value)


def _unknown(keys, allowed, where: str, problems: list[str]) -> None:
    for key in keys:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), [str(a) for a in allowed], n=1)
            problems.append(f"unknown key {where}{key!r}" + (f" (did you mean {close[0]!r}?)" if close else
                                                            f"; expected one of {', '.join(map(str, allowed))}"))


def read_mapping(path: str | Path) -> Mapping_:
    """Read and check a mapping file (every problem at once, as a :class:`ParameterError`)."""
    path = Path(path)
    if not path.is_file():
        raise ParameterError(f"{path}: mapping file not found")
    data = parameters.read_yaml(path)
    problems: list[str] = []
    if not isinstance(data, dict):
        raise ParameterError(f"{path}: a mapping file is a YAML mapping with the keys {', '.join(MAPPING_KEYS)}")
    _unknown(data, MAPPING_KEYS, "", problems)
    table = data.get("table")
    if table not in TABLES:
        close = difflib.get_close_matches(str(table), TABLES, n=1)
        problems.append(f"'table' is {table!r}; expected a table of the contract: {', '.join(TABLES)}"
                        + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise ParameterError(f"{path}: " + f"\n{path}: ".join(problems))
    spec = TABLES[table]
    source = data.get("source") or {}
    if not isinstance(source, dict):
        problems.append(f"'source' is {source!r}; expected a mapping such as {{sheet: Calls}}")
        source = {}
    _unknown(source, SOURCE_KEYS, "source.", problems)
    numbers = data.get("numbers") or {}
    if not isinstance(numbers, dict):
        problems.append(f"'numbers' is {numbers!r}; expected {{decimal: '.', thousands: ','}}")
        numbers = {}
    _unknown(numbers, ("decimal", "thousands"), "numbers.", problems)
    extra = data.get("extra_channels") or []
    if not isinstance(extra, list) or not all(isinstance(c, str) for c in extra):
        problems.append(f"'extra_channels' is {extra!r}; expected a list of channel names")
        extra = []
    columns = data.get("columns")
    parsed: list[ColumnSpec] = []
    if not isinstance(columns, dict) or not columns:
        problems.append("'columns' must map contract columns to their source (e.g. customer_id: NPI)")
        columns = {}
    for target, raw in columns.items():
        where = f"columns.{target}"
        if target not in spec.columns:
            close = difflib.get_close_matches(str(target), spec.columns, n=1)
            problems.append(f"{where!r}: {target!r} is not a column of the contract's {table} table; expected one of "
                            f"{', '.join(spec.columns)}" + (f" (did you mean {close[0]!r}?)" if close else ""))
            continue
        kind = spec.columns[target]
        if isinstance(raw, str):
            raw = {"column": raw}
        if not isinstance(raw, dict):
            problems.append(f"{where!r} is {raw!r}; expected a source column name or a mapping with 'column', "
                            "'value' or 'template'")
            continue
        _unknown(raw, COLUMN_KEYS, f"{where}.", problems)
        given = [k for k in ("column", "value", "template") if k in raw]
        if len(given) != 1:
            problems.append(f"{where!r} must give exactly one of 'column', 'value' or 'template' (it gives "
                            f"{', '.join(given) or 'none'})")
            continue
        value_map = raw.get("map")
        if value_map is not None and not isinstance(value_map, dict):
            problems.append(f"'{where}.map' is {value_map!r}; expected a mapping of source value -> contract value")
            value_map = None
        formats = raw.get("format", ())
        formats = (formats,) if isinstance(formats, str) else tuple(formats or ())
        if formats and kind not in (DATE, PERIOD):
            problems.append(f"'{where}.format' applies to date and month columns; {target} is {kind}")
        for fmt in formats:
            if not isinstance(fmt, str) or "%" not in fmt:
                problems.append(f"'{where}.format' holds {fmt!r}; expected strptime formats such as '%m/%d/%Y'")
        decimal = str(raw.get("decimal", numbers.get("decimal", ".")))
        thousands = str(raw.get("thousands", numbers.get("thousands", "")) or "")
        if ("decimal" in raw or "thousands" in raw) and kind not in (NUMBER, INTEGER):
            problems.append(f"'{where}.decimal'/'thousands' apply to number columns; {target} is {kind}")
        if decimal == thousands:
            problems.append(f"'{where}': decimal and thousands separators are both {decimal!r}")
        if isinstance(raw.get("column"), (int, float)) and not isinstance(raw.get("column"), bool):
            raw = {**raw, "column": str(raw["column"])}
        if "column" in raw and not isinstance(raw["column"], str):
            problems.append(f"'{where}.column' is {raw['column']!r}; expected a source column name")
            continue
        if "template" in raw:
            try:
                list(string.Formatter().parse(str(raw["template"])))
            except ValueError as exc:
                problems.append(f"'{where}.template' is not a valid template: {exc}")
                continue
        parsed.append(ColumnSpec(
            target=target, kind=kind, column=raw.get("column"), value=_text(raw.get("value")),
            template=None if raw.get("template") is None else str(raw["template"]),
            map=None if value_map is None else {k: _text(v) for k, v in value_map.items()},
            default=_text(raw.get("default")), has_default="default" in raw,
            ignore_case=bool(raw.get("ignore_case", False)), if_blank=_text(raw.get("if_blank")),
            formats=tuple(formats), decimal=decimal, thousands=thousands))
    mapped = {c.target for c in parsed}
    missing = [c for c in spec.required if c not in mapped and c in spec.columns and f"columns.{c}" not in
               " ".join(problems)]
    if missing and isinstance(data.get("columns"), dict):
        problems.append(f"'columns' does not map the required column(s) {', '.join(missing)} of the {table} table "
                        "(give a source column, or a constant with value:)")
    filters = []
    for i, raw in enumerate(data.get("filters") or []):
        where = f"filters[{i}]"
        if not isinstance(raw, dict) or "column" not in raw:
            problems.append(f"{where!r} is {raw!r}; expected {{column: NAME, in: [...]}} (or equals, not_in, blank, "
                            "matches)")
            continue
        _unknown(raw, FILTER_KEYS, f"{where}.", problems)
        tests = [k for k in FILTER_TESTS if k in raw]
        if len(tests) != 1:
            problems.append(f"{where!r} must give exactly one of {', '.join(FILTER_TESTS)}")
            continue
        test, operand = tests[0], raw[tests[0]]
        if test in ("in", "not_in"):
            if not isinstance(operand, list):
                problems.append(f"'{where}.{test}' is {operand!r}; expected a list of values")
                continue
            operand = [_text(v) for v in operand]
        elif test == "blank":
            if not isinstance(operand, bool):
                problems.append(f"'{where}.blank' is {operand!r}; expected true or false")
                continue
        elif test == "matches":
            try:
                re.compile(str(operand))
            except re.error as exc:
                problems.append(f"'{where}.matches' is not a valid regular expression: {exc}")
                continue
            operand = str(operand)
        else:
            operand = _text(operand)
        filters.append(Filter(str(raw["column"]), test, operand))
    aggregate = data.get("aggregate")
    if aggregate not in (None, "sum"):
        problems.append(f"'aggregate' is {aggregate!r}; expected sum (or leave it out)")
    if aggregate == "sum" and not spec.key:
        problems.append(f"'aggregate: sum' needs a table with a key; {table} has none")
    if problems:
        raise ParameterError(f"{path}: " + f"\n{path}: ".join(problems))
    return Mapping_(path, table, tuple(parsed), tuple(filters), source.get("sheet"), aggregate, tuple(extra))


# --- applying it ---------------------------------------------------------------------------------

class _Errors:
    """Unmapped and unparseable values: counted in full, a few examples each."""

    def __init__(self, source: Path, table: str, label: str):
        self.source, self.table, self.label = source, table, label
        self.violations: list[Violation] = []

    def add(self, column: str, rule: str, mask: np.ndarray, values: pd.Series, hint: str = "") -> None:
        n = int(mask.sum())
        if not n:
            return
        shown = values[mask]
        examples = pd.DataFrame({self.label: shown.index[:MAX_EXAMPLES].astype("int64"),
                                 column: shown.iloc[:MAX_EXAMPLES].astype(object).to_numpy()})
        counts = shown.value_counts(dropna=False).head(MAX_EXAMPLES)
        found = ", ".join(repr(v) if len(counts) == 1 else f"{v!r} ({k:,})" for v, k in counts.items())
        more = ", ..." if shown.nunique(dropna=False) > MAX_EXAMPLES else ""
        self.violations.append(Violation(str(self.source), self.table, column, f"{rule}: {found}{more}", n, examples,
                                         hint))


def _blank(series: pd.Series) -> np.ndarray:
    return series.isna().to_numpy() | (series.fillna("").astype(str).str.strip() == "").to_numpy()


def _select(frame: pd.DataFrame, mapping: Mapping_, report: ImportReport, label: str) -> pd.DataFrame:
    keep = np.ones(len(frame), dtype=bool)
    for f in mapping.filters:
        cells = frame[f.column].astype("string").str.strip()
        if f.test == "blank":
            passes = _blank(frame[f.column]) == f.operand
        elif f.test == "equals":
            passes = (cells == f.operand).fillna(False).to_numpy(dtype=bool)
        elif f.test == "in":
            passes = cells.isin(f.operand).fillna(False).to_numpy(dtype=bool)
        elif f.test == "not_in":
            passes = ~cells.isin(f.operand).fillna(False).to_numpy(dtype=bool)
        else:
            passes = cells.str.contains(f.operand, regex=True).fillna(False).to_numpy(dtype=bool)
        dropped = keep & ~passes
        if dropped.any():
            report.dropped[f"filter: kept only rows where {f.describe()}"] += int(dropped.sum())
        keep &= passes
    return frame[keep]


def _raw_values(frame: pd.DataFrame, spec: ColumnSpec) -> pd.Series:
    if spec.value is not None or (spec.column is None and spec.template is None):
        return pd.Series(spec.value, index=frame.index, dtype=object)
    if spec.column is not None:
        values = frame[spec.column].astype(object)
    else:
        fields = spec.sources
        cells = {f: frame[f].astype(object).where(frame[f].notna(), "") for f in fields}
        values = pd.Series([spec.template.format(**dict(zip(fields, row))) for row in zip(*cells.values())]
                           if fields else [spec.template] * len(frame), index=frame.index, dtype=object)
    values = values.map(lambda v: v.strip() if isinstance(v, str) else v)
    values = values.where(~_blank(values), None)
    if spec.if_blank is not None:
        values = values.where(values.notna(), spec.if_blank)
    return values


def _lookup(spec: ColumnSpec):
    table: dict[str, str | None] = {}
    for key, value in spec.map.items():
        words = ((_TRUE if key else _FALSE) if isinstance(key, bool) else (_text(key),))
        for word in words:
            table[word.casefold() if spec.ignore_case or isinstance(key, bool) else word] = value
    bool_keys = any(isinstance(k, bool) for k in spec.map)

    def find(cell: str):
        for probe in (cell, cell.casefold()) if (spec.ignore_case or bool_keys) else (cell,):
            if probe in table:
                return True, table[probe]
        return False, None
    return find


def _apply_map(values: pd.Series, spec: ColumnSpec, errors: _Errors, report: ImportReport) -> tuple[pd.Series,
                                                                                                      np.ndarray]:
    """The mapped values and the rows to drop (mapped to null)."""
    find = _lookup(spec)
    present = values.notna().to_numpy()
    codes, uniques = pd.factorize(values)
    results, known, drop = [], [], []
    for u in uniques:
        ok, mapped = find(str(u))
        if not ok and spec.has_default:
            ok, mapped = True, spec.default
        known.append(ok)
        results.append(mapped)
        drop.append(ok and mapped is None)  # mapped (or defaulted) to null: the row is dropped
    known_row = np.array(known + [True], dtype=bool)[codes]
    drop_row = np.array(drop + [False], dtype=bool)[codes] & present
    out = pd.Series(np.array(results + [None], dtype=object)[codes], index=values.index, dtype=object)
    unmapped = present & ~known_row
    errors.add(spec.label, f"value(s) not in the mapping's map for {spec.target}", unmapped, values,
               hint=f"add them to columns.{spec.target}.map in {spec_file(errors)} (or give a default:)")
    for u in values[drop_row].unique():
        report.dropped[f"{spec.label} value {u!r} mapped to nothing (null)"] += int((values[drop_row] == u).sum())
    return out, drop_row


def spec_file(errors: _Errors) -> str:
    return getattr(errors, "mapping_name", "the mapping file")


def _parse_dates(values: pd.Series, spec: ColumnSpec, errors: _Errors) -> pd.Series:
    formats = spec.formats or (DEFAULT_DATE_FORMATS if spec.kind == DATE else DEFAULT_PERIOD_FORMATS)
    out_format = "%Y-%m-%d" if spec.kind == DATE else "%Y-%m"
    codes, uniques = pd.factorize(values)
    parsed = []
    for u in uniques:
        text, result = str(u), None
        for fmt in formats:
            try:
                result = dt.datetime.strptime(text, fmt).strftime(out_format)
                break
            except ValueError:
                continue
        parsed.append(result)
    out = pd.Series(np.array(parsed + [None], dtype=object)[codes], index=values.index, dtype=object)
    bad = values.notna().to_numpy() & out.isna().to_numpy()
    what = "date" if spec.kind == DATE else "month"
    errors.add(spec.label, f"value(s) not a {what} in the format(s) {', '.join(formats)}", bad, values,
               hint=f"set columns.{spec.target}.format to the export's format (strptime codes, e.g. '%m/%d/%Y')")
    return out


def _parse_numbers(values: pd.Series, spec: ColumnSpec, errors: _Errors) -> pd.Series:
    text = values.astype("string")
    if spec.thousands:
        text = text.str.replace(spec.thousands, "", regex=False)
    if spec.decimal != ".":
        text = text.str.replace(spec.decimal, ".", regex=False)
    text = text.str.replace(" ", "", regex=False).str.replace("\u00a0", "", regex=False)
    ok = text.fillna("").str.fullmatch(_NUMBER.pattern).to_numpy(dtype=bool)
    bad = values.notna().to_numpy() & ~ok
    shown = f"decimal {spec.decimal!r}" + (f", thousands {spec.thousands!r}" if spec.thousands else "")
    errors.add(spec.label, f"value(s) not a number ({shown})", bad, values,
               hint=f"set columns.{spec.target}.decimal/thousands (or numbers:) to the export's number format")
    return text.astype(object).where(pd.Series(ok, index=values.index), None)


def _check_enum(values: pd.Series, spec: ColumnSpec, allowed: tuple[str, ...], errors: _Errors,
                source_values: pd.Series) -> None:
    bad = values.notna().to_numpy() & ~values.isin(allowed).to_numpy()
    errors.add(spec.label, f"value(s) not a {spec.target} of the contract ({', '.join(allowed)}) and not mapped",
               bad, source_values, hint=f"map them with columns.{spec.target}.map")


def transform(frame: pd.DataFrame, mapping: Mapping_, source: Path, label: str,
              report: ImportReport) -> pd.DataFrame:
    """The contract table from the source rows (index: the source's lines or rows)."""
    spec = TABLES[mapping.table]
    used = {c for col in mapping.columns for c in col.sources} | {f.column for f in mapping.filters}
    absent = sorted(used - set(frame.columns))
    if absent:
        close = {a: difflib.get_close_matches(a, [str(c) for c in frame.columns], n=1) for a in absent}
        raise ParameterError(f"{mapping.path}: the source {source.name} has no column(s) " + ", ".join(
            f"{a!r}" + (f" (found {close[a][0]!r})" if close[a] else "") for a in absent)
            + f"; its columns: {', '.join(map(str, frame.columns[:30]))}")
    frame = _select(frame, mapping, report, label)
    errors = _Errors(source, mapping.table, label)
    errors.mapping_name = mapping.path.name
    out, drop = {}, np.zeros(len(frame), dtype=bool)
    for col in mapping.columns:
        raw = _raw_values(frame, col)
        values = raw
        if col.map is not None:
            values, dropped = _apply_map(raw, col, errors, report)
            drop |= dropped
        if col.kind in (DATE, PERIOD):
            values = _parse_dates(values, col, errors)
        elif col.kind in (NUMBER, INTEGER):
            values = _parse_numbers(values, col, errors)
        elif col.kind == BOOL and col.map is not None:
            values = values.map(lambda v: v if v is None else {"1": "true", "0": "false"}.get(v, v))
        allowed = allowed_values(col.kind, mapping.extra_channels)
        if allowed is not None:
            _check_enum(values, col, allowed, errors, raw)
        out[col.target] = values
    if errors.violations:
        raise DataValidationError(errors.violations, source)
    table = pd.DataFrame(out, index=frame.index)
    table = table[[c for c in spec.columns if c in table.columns]]
    table = table[~drop]
    if mapping.aggregate == "sum" and len(table):
        numeric = [c for c in table.columns if spec.columns[c] in (NUMBER, INTEGER)]
        key = list(spec.key)
        before = len(table)
        first_line = pd.Series(table.index, index=table.index)
        grouped = table.assign(_line=first_line).groupby(key, sort=False, dropna=False)
        agg = {c: "first" for c in table.columns if c not in key}
        agg["_line"] = "first"
        summed = grouped.agg(agg)
        for c in numeric:
            summed[c] = grouped[c].apply(lambda s: np.nan if s.isna().all() else s.astype(float).sum())
            summed[c] = summed[c].map(lambda v: None if pd.isna(v) else repr(float(v)) if v % 1 else str(int(v)))
        summed = summed.reset_index().set_index("_line")
        table = summed[[c for c in spec.columns if c in summed.columns]]
        if before != len(table):
            report.notes.append(f"aggregate: sum: {before:,} rows summed into {len(table):,} (one per "
                                f"{', '.join(key)})")
    return table


def _remap(violation: Violation, lines: np.ndarray, source: Path, label: str, mapping: Mapping_) -> Violation:
    """A violation of the written file, told in the source's lines and columns."""
    examples = violation.examples
    if len(examples) and "line" in examples.columns:
        written = pd.to_numeric(examples["line"], errors="coerce")
        positions = (written - 2).astype("Int64")
        mapped = [int(lines[p]) if p is not pd.NA and 0 <= p < len(lines) else None for p in positions]
        examples = examples.assign(line=mapped).rename(columns={"line": label})
    origin = next((c for c in mapping.columns if c.target == violation.column), None)
    hint = violation.hint
    if origin is not None:
        hint = (hint + " " if hint else "") + f"({violation.column} comes from {origin.label} in {mapping.path.name})"
    return replace(violation, file=str(source), examples=examples, hint=hint)


def import_table(source: str | Path, mapping: str | Path, out: str | Path, *, force: bool = False) -> ImportReport:
    """Import one export into ``out`` as the mapping's table (see the module doc)."""
    source, out = Path(source), Path(out)
    if not source.is_file():
        raise DatasetNotFoundError(f"{source}: file not found")
    spec = read_mapping(mapping)
    report = ImportReport(str(source), str(out))
    if out.exists() and not out.is_dir():
        raise TerritoryReportsError(f"{out} exists and is not a folder: choose another --out")
    existing = table_files(out, spec.table) if out.is_dir() else []
    if existing and not force:
        held = ", ".join(p.name for p in existing)
        raise TerritoryReportsError(f"{out} already holds the {spec.table} table ({held}): nothing was written "
                                    "(--force replaces it)")
    frame, label = read_rows(source, sheet=spec.sheet)
    report.rows_read = len(frame)
    table = transform(frame, spec, source, label, report)
    report.rows_kept = len(table)
    with staging(out) as stage:
        new = stage / "new"
        new.mkdir()
        target = new / f"{spec.table}.csv"
        table.to_csv(target, index=False, lineterminator="\n")
        lines = np.asarray(table.index, dtype=np.int64)
        _validate(new, target, out, spec, lines, source, label, report)
        publish_files(new, out, replace=existing)
    report.tables = {spec.table: len(table)}
    return report.finish()


def _validate(new: Path, target: Path, out: Path, spec: Mapping_, lines: np.ndarray, source: Path, label: str,
              report: ImportReport) -> None:
    """Validate the new table with the tables already in ``out`` (or alone when they are missing)."""
    check = new.parent / "check"
    check.mkdir()
    os.symlink(target, check / target.name)
    if out.is_dir():
        for path in out.iterdir():
            name = path.name.lower()
            is_table = path.suffix.lower() in (".csv", ".parquet", ".xlsx") or name.endswith(".csv.gz")
            if path.is_file() and is_table and path not in table_files(out, spec.table):
                os.symlink(path.resolve(), check / path.name)
    try:
        load_dataset(check, extra_channels=spec.extra_channels)
    except DataValidationError as exc:
        missing_tables = {v.table for v in exc.violations if v.column is None and "is missing" in v.rule}
        mine = [v for v in exc.violations if not (v.column is None and "is missing" in v.rule)]
        if mine:
            fixed = [_remap(v, lines, source, label, spec) if v.table == spec.table else v for v in mine]
            raise DataValidationError(fixed, source) from None
        if missing_tables:
            report.notes.append(f"validated without the other tables ({', '.join(sorted(missing_tables))} not in "
                                f"{out}): references to them were not checked")


# --- the command line -----------------------------------------------------------------------

def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", help="the export (.csv, .csv.gz, .xlsx, .parquet)")
    p.add_argument("--mapping", required=True, metavar="MAPPING.yaml",
                   help="the mapping (see params/mappings/ for presets)")
    p.add_argument("--out", required=True, metavar="DATA", help="dataset folder to write the table into")
    p.add_argument("--force", action="store_true", help="replace the table when DATA already holds it")


def _run(args: argparse.Namespace) -> ImportReport:
    return import_table(args.source, args.mapping, args.out, force=args.force)


IMPORTER = Importer("table", "any export (CRM calls, Rx extract, Excel) -> one table, with a mapping file",
                    _add_arguments, _run)
