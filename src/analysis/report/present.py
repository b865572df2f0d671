"""Tables for reading: formatted numbers, escaped text, one object for every renderer.

``table(df, ...)`` returns a display object carrying both ``text/html`` (JupyterLab,
Quarto HTML) and ``text/markdown`` (a pipe table for pandoc and Typst). Text is escaped
for both, so names holding markup show as plain text.
"""
from __future__ import annotations

import html
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

FORMATS = ("int", "float1", "float2", "pct", "pct1", "text", "date", "money")
MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+\-.!|$@~^&=:;\"'%])")
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def fmt_number(value, kind: str) -> str:
    """One value as text: thousands separators, percentages, a dash for missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA or value is pd.NaT:
        return "–"
    if kind == "text":
        return str(value)
    if kind == "date":
        return pd.Timestamp(value).strftime("%Y-%m-%d")
    value = float(value)
    if kind in ("int", "money", "float1", "float2") and value != 0:
        digits = {"int": 0, "money": 0, "float1": 1, "float2": 2}[kind]
        value = value if round(value, digits) != 0 else 0.0  # never "-0"
    if kind == "int":
        return f"{value:,.0f}"
    if kind == "float1":
        return f"{value:,.1f}"
    if kind == "float2":
        return f"{value:,.2f}"
    if kind == "money":
        return f"{value:,.0f}"
    if kind == "pct":
        return f"{value:.0%}"
    if kind == "pct1":
        return f"{value:.1%}"
    raise ValueError(f"unknown format {kind!r}")


def plain(text) -> str:
    """Text with control characters removed (newlines and tabs become spaces)."""
    return CONTROL.sub("", str(text).replace("\n", " ").replace("\t", " ").replace("\r", " "))


def escape_markdown(text) -> str:
    """Markdown-escape every punctuation character so text renders literally."""
    return MARKDOWN_SPECIAL.sub(r"\\\1", plain(text))


def _guess(series: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(series):
        return "text"
    if pd.api.types.is_integer_dtype(series):
        return "int"
    if pd.api.types.is_float_dtype(series):
        return "float1"
    if pd.api.types.is_datetime64_any_dtype(series):
        return "date"
    return "text"


@dataclass
class Table:
    """A formatted table that displays in JupyterLab and renders in every report format."""

    frame: pd.DataFrame
    formats: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    max_rows: int | None = None

    def cells(self) -> tuple[list[str], list[list[str]], list[bool]]:
        frame = self.frame if self.max_rows is None else self.frame.head(self.max_rows)
        kinds = {c: self.formats.get(c, _guess(frame[c])) for c in frame.columns}
        header = [self.labels.get(c, str(c).replace("_", " ")) for c in frame.columns]
        numeric = [kinds[c] not in ("text", "date") for c in frame.columns]
        rows = [[fmt_number(v, kinds[c]) if not isinstance(v, bool) else ("yes" if v else "no")
                 for c, v in zip(frame.columns, row)] for row in frame.itertuples(index=False, name=None)]
        return header, rows, numeric

    def _repr_markdown_(self) -> str:
        header, rows, numeric = self.cells()
        if not header:
            return "*No rows.*"
        line = lambda cells: "| " + " | ".join(escape_markdown(c) if c != "–" else c for c in cells) + " |"
        # dashes in proportion to the text a column holds: pandoc turns them into relative
        # column widths when the table is wider than the page (long text gets room)
        # (at least the longest word of a column, so short codes such as "unaware" never break)
        widths = [max(3, min(40, max([min(len(h), 12), *(len(r[i]) for r in rows)])),
                      min(14, max([len(w) for r in rows for w in r[i].split()] or [0])))
                  for i, h in enumerate(header)]
        rule = "|" + "|".join(("-" * w + ":") if n else (":" + "-" * w) for w, n in zip(widths, numeric)) + "|"
        body = [line(r) for r in rows] or ["| " + " | ".join("" for _ in header) + " |"]
        note = (f"*Showing the first {self.max_rows:,} of {len(self.frame):,} rows; all are in the tables folder.*\n\n"
                if self.max_rows and len(self.frame) > self.max_rows else "")
        return note + "\n".join([line(header), rule, *body])

    def _repr_html_(self) -> str:
        header, rows, numeric = self.cells()
        esc = lambda t: html.escape(plain(t))
        head = "".join(f"<th>{esc(h)}</th>" for h in header)
        body = "".join(
            "<tr>" + "".join(f'<td style="text-align:{"right" if n else "left"}">{esc(c)}</td>'
                             for c, n in zip(r, numeric)) + "</tr>" for r in rows)
        return f'<table class="report-table"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def table(frame: pd.DataFrame, formats: Mapping[str, str] | None = None,
          labels: Mapping[str, str] | None = None, max_rows: int | None = None) -> Table:
    """A display object for ``frame`` (see module docstring)."""
    return Table(frame.reset_index(drop=True), dict(formats or {}), dict(labels or {}), max_rows)


class Note:
    """A paragraph of report text (Markdown), with values escaped by the caller."""

    def __init__(self, markdown: str):
        self.markdown = markdown

    def _repr_markdown_(self) -> str:
        return self.markdown
