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

from analysis.report.render import BuiltinRenderer, FrontMatter, QuartoRenderer, cell_options, get_renderer, notebook_to_markdown


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


def fake_quarto(tmp_path, script: str) -> str:
    """A stand-in ``quarto`` executable, to test how the renderer treats the CLI's results."""
    path = tmp_path / "bin" / "quarto"
    path.parent.mkdir()
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)
    return str(path)


def test_quarto_exit_code_is_checked(tmp_path):
    from analysis.errors import RenderError

    quarto = fake_quarto(tmp_path, 'echo "ERROR: typst failed" >&2\nexit 1\n')
    with pytest.raises(RenderError, match="exit 1.*typst failed"):
        render(QuartoRenderer(quarto), tmp_path, FrontMatter("Report"))


def test_quarto_missing_output_is_an_error(tmp_path):
    from analysis.errors import RenderError

    quarto = fake_quarto(tmp_path, "exit 0\n")  # claims success, writes nothing
    with pytest.raises(RenderError, match="exited 0 but wrote no report.html"):
        render(QuartoRenderer(quarto), tmp_path, FrontMatter("Report"))


def test_quarto_gets_a_project_and_front_matter(tmp_path):
    # writes the requested format's file, as quarto does, in the job's own folder
    quarto = fake_quarto(tmp_path, 'case "$4" in html) echo "<html></html>" > report.html;; '
                                   'typst) printf "%%PDF-1.7" > report.pdf;; esac\nexit 0\n')
    out = render(QuartoRenderer(quarto), tmp_path, FrontMatter("Report <T01>", "Region"))
    work = out["html"].parent
    assert (work / "_quarto.yml").is_file() and (work / "report-header.typ").is_file()
    first = nbformat.read(work / "report.ipynb", as_version=4).cells[0]
    assert first.cell_type == "raw" and "title: Report \\<T01\\>" in first.source
