"""Hostile data: markup in names stays text, ids cannot escape the output folder."""
from __future__ import annotations

import json

import pytest
from conftest import read_text_table, write_table

from analysis.engine.cli import main

HOSTILE = {
    "territory": '<script>alert("t")</script> *bold* #set page(fill: red)',
    "rep": r"$x^2$ \textbf{Rep} [link](javascript:alert(1)) #emph[rep]",
    # (control characters in names are refused on load: tests/test_edges.py)
    "customer": "<img src=x onerror=alert(1)> Dr `Code` | pipe ~tilde~",
}


@pytest.fixture()
def hostile(tiny_dataset):
    rename = {"T01": "../evil", "T02": "a/b"}
    for table in ("territories", "reps", "customers"):
        frame = read_text_table(tiny_dataset, table)
        frame["territory_id"] = frame["territory_id"].replace(rename)
        if table == "territories":
            frame.loc[0, "territory_name"] = HOSTILE["territory"]
        if table == "reps":
            frame.loc[0, "rep_name"] = HOSTILE["rep"]
        if table == "customers":
            frame["customer_name"] = [f"{HOSTILE['customer']} {i}" for i in range(len(frame))]
        write_table(tiny_dataset, table, frame)
    return tiny_dataset


def test_markup_and_path_characters_are_harmless(hostile, tmp_path):
    out = tmp_path / "nested" / "out"
    assert main(["run", "--data", str(hostile), "--out", str(out), "--quiet"]) == 0
    # nothing outside the output folder
    assert sorted(p.name for p in (tmp_path / "nested").iterdir()) == ["out"]
    manifest = json.loads((out / "manifest.json").read_text())
    folders = {e["folder"] for e in manifest["territories"].values()}
    assert folders == {"evil", "a_b"}
    html = (out / "evil" / "report.html").read_text()
    assert "<script>alert" not in html and "<img src=x" not in html
    assert 'href="javascript:' not in html  # the Markdown link in the rep name is not a link
    assert "&lt;script&gt;alert" in html  # the name is shown, as text
    index = (out / "index.html").read_text()
    assert "<script>alert" not in index and "&lt;script&gt;" in index
    pdfium = pytest.importorskip("pypdfium2")
    pdf = pdfium.PdfDocument(str(out / "evil" / "report.pdf"))
    text = "".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))
    assert "#set page(fill: red)" in text.replace("\r\n", " ").replace("\n", " ")  # Typst markup shown, not run
    assert "textbf" in text  # LaTeX shown as text


def test_output_path_that_is_a_file_is_a_clear_error(tiny_dataset, tmp_path, capsys):
    blocker = tmp_path / "out"
    blocker.write_text("not a folder")
    assert main(["run", "--data", str(tiny_dataset), "--out", str(blocker / "reports"), "--quiet"]) == 2
    assert "cannot write" in capsys.readouterr().err
    assert blocker.read_text() == "not a folder"


def test_two_ids_publishing_to_one_folder_is_an_error(tiny_dataset, tmp_path, capsys):
    for table in ("territories", "reps", "customers"):
        frame = read_text_table(tiny_dataset, table)
        frame["territory_id"] = frame["territory_id"].replace({"T01": "T/1", "T02": "T_1"})
        write_table(tiny_dataset, table, frame)
    assert main(["run", "--data", str(tiny_dataset), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    assert "rename one of them" in capsys.readouterr().err
