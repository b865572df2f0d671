"""Renderers: notebook to Markdown (code hidden, captions from cell options), HTML and PDF."""
from __future__ import annotations

import base64
import io
import shutil

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import nbformat
import pytest

from analysis.render import BuiltinRenderer, FrontMatter, QuartoRenderer, cell_options, get_renderer, notebook_to_markdown


def _png() -> str:
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1], [0, 1])
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def notebook():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("## Section one\n\nSome text."),
        nbformat.v4.new_code_cell('#| tbl-cap: "A table."\nshow()', outputs=[nbformat.v4.new_output(
            "execute_result", data={"text/markdown": "| a | b |\n|:---|---:|\n| x | 1 |", "text/html": "<table/>",
                                    "text/plain": "T"}, execution_count=1)]),
        nbformat.v4.new_code_cell('#| label: fig-a\n#| fig-cap: "A line [rising]."\nplot()', outputs=[
            nbformat.v4.new_output("display_data", data={"image/png": _png(), "text/plain": "<Figure>"}),
            nbformat.v4.new_output("stream", name="stderr", text="a warning")]),
        nbformat.v4.new_code_cell("secret_code = 1", outputs=[]),
    ]
    return nb


def test_cell_options():
    assert cell_options('#| label: fig-x\n#| fig-cap: "Hello: world"\ncode()') == {"label": "fig-x", "fig-cap": "Hello: world"}
    assert cell_options("x = 1\n#| label: late") == {}


def test_markdown_hides_code_and_streams(tmp_path):
    md = notebook_to_markdown(notebook(), tmp_path / "assets")
    assert "## Section one" in md
    assert "| x | 1 |" in md and ": A table." in md
    assert "![A line \\[rising\\].](assets/cell002_1.png)" in md
    assert (tmp_path / "assets" / "cell002_1.png").is_file()
    assert "secret_code" not in md and "a warning" not in md and "<table/>" not in md


def render(renderer, tmp_path, front):
    """``notebook()`` rendered by ``renderer`` in a fresh work folder."""
    path = tmp_path / "in.ipynb"
    nbformat.write(notebook(), path)
    work = tmp_path / "work"
    work.mkdir()
    return renderer.render(path, work, front)


def test_builtin_renders_html_and_pdf(tmp_path):
    out = render(BuiltinRenderer(), tmp_path, FrontMatter("Report <T01>", "Region North", "2026-10"))
    html = out["html"].read_text()
    assert "Report &lt;T01&gt;" in html and "data:image/png;base64," in html and "Contents" in html
    assert out["pdf"].read_bytes()[:5] == b"%PDF-"


def test_auto_picks_builtin_without_quarto(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert get_renderer("auto").name == "builtin"


@pytest.mark.skipif(shutil.which("quarto") is None, reason="Quarto CLI not installed (conda environment.yml provides it)")
def test_quarto_renders_html_and_pdf(tmp_path):
    out = render(QuartoRenderer(), tmp_path, FrontMatter("Report", "Region", "2026-10"))
    assert out["html"].is_file() and out["pdf"].read_bytes()[:5] == b"%PDF-"
