"""Formatted tables: thousands separators, percentages, and text that stays text."""
import numpy as np
import pandas as pd

from analysis.report.present import escape_markdown, fmt_number, table


def test_number_formats():
    assert fmt_number(1234567.8, "int") == "1,234,568"
    assert fmt_number(0.4567, "pct") == "46%"
    assert fmt_number(0.4567, "pct1") == "45.7%"
    assert fmt_number(np.nan, "int") == "–"
    assert fmt_number(None, "pct") == "–"


def test_markdown_table_escapes_markup_and_aligns_numbers():
    frame = pd.DataFrame({"name": ["<script>alert(1)</script> | *x*"], "units": [1200.0]})
    md = table(frame, formats={"units": "int"})._repr_markdown_()
    lines = md.splitlines()
    # dashes as wide as the longest cell text (31 characters; "1,200" is 5): relative widths
    assert lines[1] == "|:" + "-" * 31 + "|" + "-" * 5 + ":|"
    assert "1,200" in lines[2]
    assert "<script>" not in md and "\\<script\\>" in md and "\\|" in md and "\\*x\\*" in md
    html = table(frame)._repr_html_()
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_control_characters_removed():
    assert escape_markdown("a\x00b\nc") == "ab c"


def test_values_that_round_to_zero_never_show_a_minus_sign():
    assert fmt_number(-0.4, "int") == "0"
    assert fmt_number(-0.04, "float1") == "0.0"
    assert fmt_number(-0.6, "int") == "-1"
    assert fmt_number(-0.004, "float2") == "0.00"
