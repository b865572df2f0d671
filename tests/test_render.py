"""Renderers: notebook to Markdown (code hidden, captions from cell options), HTML and PDF.

Quarto cannot be installed on these machines: the Quarto renderer's contract with the CLI
is pinned against ``FAKE_QUARTO``, a stand-in that behaves like Quarto 1.11 where the
reports depend on it (see its docstring), so each defect of a real render shows up here.
"""
from __future__ import annotations

import base64
import io
import json
import shutil
import sys
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import nbformat
import pytest

from analysis.errors import RenderError
from analysis.report.render import (BuiltinRenderer, FrontMatter, QuartoRenderer, cell_options, check_html,
                                    clean_render_dir, get_renderer, notebook_to_markdown)

PERIOD = "Analysis period 2026-08 to 2026-10"


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
        nbformat.v4.new_code_cell('store_path = "/secret/store"', metadata={"tags": ["injected-parameters"]}),
        nbformat.v4.new_markdown_cell("## Section one\n\nSome text."),
        nbformat.v4.new_code_cell('#| tbl-cap: "A table."\nshow()', outputs=[nbformat.v4.new_output(
            "execute_result", data={"text/markdown": "| a | b |\n|:---|---:|\n| x | 1 |", "text/html": "<table/>",
                                    "text/plain": "T"}, execution_count=1)]),
        nbformat.v4.new_code_cell('#| label: fig-a\n#| fig-cap: "A line [rising]."\nplot()', outputs=[
            nbformat.v4.new_output("display_data", data={"image/png": _png(), "text/plain": "<Figure>"}),
            nbformat.v4.new_output("stream", name="stderr", text="a warning")]),
        nbformat.v4.new_code_cell("banner()", outputs=[nbformat.v4.new_output(
            "display_data", data={"text/html": "<p class='banner'>Only HTML</p>", "text/plain": "B"})]),
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
    assert "![A line \\[rising\\].](assets/cell003_1.png)" in md
    assert (tmp_path / "assets" / "cell003_1.png").is_file()
    assert "secret_code" not in md and "a warning" not in md and "<table/>" not in md
    assert "```{=html}\n<p class='banner'>Only HTML</p>\n```" in md


def test_front_matter_keeps_date_only_for_a_date():
    # Quarto parses `date`: any other text prints "Invalid Date", so it joins the subtitle
    assert FrontMatter("R", "Region North", PERIOD).as_dict() == {
        "title": "R", "subtitle": "Region North · Analysis period 2026\\-08 to 2026\\-10"}
    assert FrontMatter("R", "", "2026-10").as_dict() == {"title": "R", "subtitle": "2026\\-10"}
    assert FrontMatter("R", "S", "2026-10-31").as_dict() == {"title": "R", "subtitle": "S", "date": "2026-10-31"}
    assert "date" not in FrontMatter("R", "S", "2026-02-30").as_dict()


def workdir(tmp_path) -> Path:
    """A render folder where the batch puts it: under OUT/.work (a dotted folder)."""
    work = tmp_path / "out" / ".work" / "staging" / "T01.render"
    work.mkdir(parents=True, exist_ok=True)
    return work


def render(renderer, tmp_path, front, nb=None):
    """``notebook()`` rendered by ``renderer`` in a work folder like the batch's."""
    path = tmp_path / "in.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb or notebook(), path)
    return renderer.render(path, workdir(tmp_path), front)


def test_builtin_renders_html_and_pdf(tmp_path):
    out = render(BuiltinRenderer(), tmp_path, FrontMatter("Report <T01>", "Region North", PERIOD))
    html = out["html"].read_text()
    assert "Report &lt;T01&gt;" in html and "data:image/png;base64," in html and "Contents" in html
    assert "Region North · Analysis period 2026-08 to 2026-10" in html
    assert out["pdf"].read_bytes()[:5] == b"%PDF-"
    check_html(out["html"])  # the post-render check it already passed


def test_auto_picks_builtin_without_quarto(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert get_renderer("auto").name == "builtin"


# --- the post-render check, for both renderers ------------------------------------

GOOD = "<!DOCTYPE html><html><head><style>body{}</style></head><body>{}<img src='data:image/png;base64,AAAA'>" \
       "<a href='https://example.org/'>a link is fine</a><a href='#s'>s</a>" + "<p>text</p>" * 200 + "</body></html>"


@pytest.mark.parametrize("snippet, defect", [
    ("<img src='report_files/figure-html/cell-5-output-1.png'>", "not published with it.*report_files"),
    ("<script src='report_files/libs/quarto-html/quarto.js'></script>", "not published with it"),
    ("<script src='https://cdn.jsdelivr.net/npm/requirejs@2.3.6/require.min.js'></script>", "from the network"),
    ("<link href='//cdn.jsdelivr.net/x.css' rel='stylesheet'>", "from the network"),
    ("<a href='report_files/figure-html/a.png'>figure</a>", "support folder"),
    ("<div class='cell-code'><pre>x = 1</pre></div>", "code cells"),
    ("<p class='date'>Invalid Date</p>", "Invalid Date"),
    ("<div class='quarto-alternate-formats'><h2>Other Formats</h2></div>", "Other Formats"),
    ("<div id='quarto-margin-sidebar'><nav id='TOC' class='toc-active'></nav></div>", "margin table of contents"),
])
def test_check_html_names_each_defect(tmp_path, snippet, defect):
    page = tmp_path / "report.html"
    page.write_text(GOOD.replace("{}", ""))
    check_html(page)
    page.write_text(GOOD.replace("{}", snippet))
    with pytest.raises(RenderError, match=defect):
        check_html(page)


def test_check_html_wants_a_plausible_size(tmp_path):
    page = tmp_path / "report.html"
    page.write_text(GOOD.replace("{}", ""))
    with pytest.raises(RenderError, match="too small"):
        check_html(page, min_bytes=100_000)  # a page must at least hold its embedded images
    with pytest.raises(RenderError, match="no HTML page"):
        check_html(tmp_path / "missing.html")


# --- Quarto, against a stand-in CLI ------------------------------------------------

def fake_quarto(tmp_path, script: str | None = None) -> str:
    """A stand-in ``quarto`` executable: ``FAKE_QUARTO`` by default, else a shell ``script``."""
    path = tmp_path / "bin" / "quarto"
    path.parent.mkdir()
    path.write_text(f"#!{sys.executable}\n{FAKE_QUARTO}" if script is None else "#!/bin/sh\n" + script)
    path.chmod(0o755)
    return str(path)


def calls(tmp_path) -> list[dict]:
    log = tmp_path / "bin" / "calls.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.is_file() else []


def quarto_render(tmp_path, front=None):
    return render(QuartoRenderer(fake_quarto(tmp_path)), tmp_path, front or FrontMatter("Report <T01>", "Region North", PERIOD))


@pytest.mark.skipif(shutil.which("quarto") is None, reason="Quarto CLI not installed (conda environment.yml provides it)")
def test_real_quarto_renders_a_checked_page(tmp_path):
    out = render(QuartoRenderer(), tmp_path, FrontMatter("Report", "Region", PERIOD))
    check_html(out["html"])
    html = out["html"].read_text()
    assert "Invalid Date" not in html and "secret_code" not in html and "/secret/store" not in html
    assert out["pdf"].read_bytes()[:5] == b"%PDF-"


def test_quarto_renders_outside_dotted_folders(tmp_path):
    # defect 1: under OUT/.work Quarto ignores _quarto.yml (quarto-cli #3186)
    out = quarto_render(tmp_path)
    for call in calls(tmp_path):
        cwd = Path(call["cwd"])
        assert not any(part.startswith(".") for part in cwd.parts)
        assert not cwd.exists()  # the render folder is removed
    work = tmp_path / "out" / ".work" / "staging" / "T01.render"
    assert out == {"html": work / "report.html", "pdf": work / "report.pdf"}
    html = out["html"].read_text()
    assert "_files/" not in html and "cell-code" not in html and 'nav id="TOC"' in html
    assert "data:image/png;base64," in html and "--accent" in html  # self-contained and styled
    pdf = out["pdf"].read_bytes()
    assert pdf[:5] == b"%PDF-" and b"CODE" not in pdf and b"secret" not in pdf


def test_quarto_render_folder_falls_back_next_to_the_dotted_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / ".cache"))
    (tmp_path / ".cache").mkdir()
    folder = clean_render_dir(workdir(tmp_path))
    assert folder.parent == tmp_path / "out" and folder.name.startswith("territory-reports-")
    folder.rmdir()
    quarto_render(tmp_path)
    assert Path(calls(tmp_path)[0]["cwd"]).parent == tmp_path / "out"
    assert [p.name for p in (tmp_path / "out").iterdir()] == [".work"]  # cleaned up


def test_quarto_render_folder_is_removed_on_failure(tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_QUARTO_FAIL", "1")
    with pytest.raises(RenderError, match="exit 1.*typst failed"):
        quarto_render(tmp_path)
    assert not Path(calls(tmp_path)[0]["cwd"]).exists()


def test_quarto_options_do_not_depend_on_the_project_file(tmp_path, monkeypatch):
    # defect 1, the other way round: even when no project file is read, the page is right
    monkeypatch.setenv("FAKE_QUARTO_NO_PROJECT", "1")
    out = quarto_render(tmp_path)
    html = out["html"].read_text()
    assert "_files/" not in html and "cell-code" not in html and 'nav id="TOC"' in html and "--accent" in html
    argv = " ".join(calls(tmp_path)[0]["argv"])
    for flag in ("-M embed-resources:true", "-M echo:false", "-M toc:true", "-M minimal:true",
                 "-M theme:none", "-M format-links:false", "--no-execute"):
        assert flag in argv


def test_quarto_title_block_has_no_invalid_date(tmp_path):
    # defect 2: the period is no date; it goes into the subtitle
    out = quarto_render(tmp_path)
    html = out["html"].read_text()
    assert "Invalid Date" not in html and "Invalid Date" not in out["pdf"].read_text()
    assert "Region North · Analysis period 2026\\-08 to 2026\\-10" in html  # pandoc unescapes it


def test_quarto_gets_one_form_per_output_and_no_code(tmp_path):
    # defect 3: a text/html form makes Quarto fetch require.js and jQuery from a CDN
    out = quarto_render(tmp_path)
    html = out["html"].read_text()
    assert "https://" not in html and "cdn.jsdelivr" not in html
    got = nbformat.read(tmp_path / "bin" / "last-input.ipynb", as_version=4)
    assert got.cells[0].cell_type == "raw" and "title: Report \\<T01\\>" in got.cells[0].source
    outputs = [o for c in got.cells if c.cell_type == "code" for o in c.outputs]
    assert [list(o.data) for o in outputs] == [["text/markdown"], ["image/png"], ["text/markdown"]]
    assert "```{=html}\n<p class='banner'>Only HTML</p>\n```" == outputs[2].data["text/markdown"]
    code = "\n".join(c.source for c in got.cells if c.cell_type == "code")
    assert "secret" not in code and "plot()" not in code and '#| fig-cap: "A line [rising]."' in code


def test_quarto_page_has_the_builtin_layout(tmp_path):
    # defect 4: no Bootstrap and margin table of contents, no "Other Formats" box,
    # the same report.css, tables and figures as the built-in page
    out = quarto_render(tmp_path)
    html = out["html"].read_text()
    assert "bootstrap" not in html and "quarto-margin-sidebar" not in html and "Other Formats" not in html
    assert "img.figure-img { width: 100%" in html and html.count("data:image/png;base64,") == 1
    builtin = render(BuiltinRenderer(), tmp_path / "b", FrontMatter("Report <T01>", "Region North", PERIOD))
    assert builtin["html"].read_text().count("data:image/png;base64,") == 1


def test_quarto_renders_both_formats_in_one_call(tmp_path):
    # defect 5: Quarto's start-up is paid once per report, not once per format
    quarto_render(tmp_path)
    (call,) = calls(tmp_path)
    assert call["argv"][:4] == ["render", "report.ipynb", "--to", "html,typst"]


def test_quarto_broken_page_is_not_published(tmp_path):
    # defect 6: a page Quarto wrote without the options fails the report
    script = ('cat > report.html <<EOF\n<html><head><script src="report_files/libs/quarto.js"></script></head>'
              '<body><div class="cell-code"><pre>x</pre></div><p class="date">Invalid Date</p>'
              '<img src="report_files/figure-html/a.png">' + "<p>text</p>" * 200 + '</body></html>\nEOF\n'
              'printf "%%PDF-1.7" > report.pdf\nexit 0\n')
    with pytest.raises(RenderError, match="not a self-contained report.*too small.*not published.*code cells.*Invalid Date"):
        render(QuartoRenderer(fake_quarto(tmp_path, script)), tmp_path, FrontMatter("Report"))
    assert not (tmp_path / "out" / ".work" / "staging" / "T01.render" / "report.html").exists()


def test_quarto_exit_code_is_checked(tmp_path):
    quarto = fake_quarto(tmp_path, 'echo "ERROR: typst failed" >&2\nexit 1\n')
    with pytest.raises(RenderError, match="exit 1.*typst failed"):
        render(QuartoRenderer(quarto), tmp_path, FrontMatter("Report"))


def test_quarto_missing_output_is_an_error(tmp_path):
    quarto = fake_quarto(tmp_path, "exit 0\n")  # claims success, writes nothing
    with pytest.raises(RenderError, match="exited 0 but wrote no report.html"):
        render(QuartoRenderer(quarto), tmp_path, FrontMatter("Report"))


# The stand-in quarto CLI: a Python script, run by the test interpreter (see fake_quarto()).
FAKE_QUARTO = r'''"""A stand-in for the ``quarto`` CLI (Quarto cannot be installed on these machines).

It behaves like Quarto 1.11 where the territory reports depend on it:
* ``_quarto.yml`` is looked up from the input's folder upwards, and ignored when any
  folder of the input's path starts with a dot (quarto-cli #3186);
* options merge project < document front matter < ``format: <fmt>:`` < ``-M`` flags;
* ``--to a,b`` renders several formats in one call; each call is logged to calls.jsonl
  next to this script, with a copy of the notebook it got (last-input.ipynb);
* without ``embed-resources`` the page links ``report_files/libs/...`` and
  ``report_files/figure-html/*.png``; without ``echo: false`` it shows ``cell-code``;
  a ``date`` that is not YYYY-MM(-DD) prints "Invalid Date"; any ``text/html`` output
  (preferred over Markdown for HTML, as Quarto does) pulls require.js and jQuery from a
  CDN; without ``minimal``/``theme: none`` it uses Bootstrap with the table of contents
  in the right margin; with several formats and no ``format-links: false`` it adds an
  "Other Formats" box.
Environment: FAKE_QUARTO_NO_PROJECT=1 never reads a project file; FAKE_QUARTO_FAIL=1
exits 1 after logging.
"""
import html
import json
import os
import re
import shutil
import sys
from pathlib import Path

import nbformat
import yaml

HERE = Path(__file__).resolve().parent


def merge(a, b):
    out = dict(a)
    for key, value in b.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def project_options(folder: Path) -> dict:
    if os.environ.get("FAKE_QUARTO_NO_PROJECT") or any(p.startswith(".") for p in folder.parts):
        return {}
    for parent in [folder, *folder.parents]:
        if (parent / "_quarto.yml").is_file():
            options = yaml.safe_load((parent / "_quarto.yml").read_text()) or {}
            options.pop("project", None)
            return options
    return {}


def main(argv):
    assert argv[0] == "render", argv
    source = Path(argv[1]).absolute()
    to, flags, i = None, {}, 2
    while i < len(argv):
        if argv[i] in ("--to", "-t"):
            to, i = argv[i + 1], i + 2
        elif argv[i] in ("-M", "--metadata"):
            key, _, value = argv[i + 1].partition(":")
            flags[key], i = yaml.safe_load(value), i + 2
        else:
            i += 1
    with open(HERE / "calls.jsonl", "a") as log:
        log.write(json.dumps({"cwd": os.getcwd(), "argv": argv}) + "\n")
    shutil.copy(source, HERE / "last-input.ipynb")
    if os.environ.get("FAKE_QUARTO_FAIL"):
        print("ERROR: typst failed", file=sys.stderr)
        return 1
    nb = nbformat.read(source, as_version=4)
    doc = {}
    if nb.cells and nb.cells[0].cell_type == "raw" and nb.cells[0].source.startswith("---"):
        doc = yaml.safe_load(nb.cells[0].source.strip().strip("-")) or {}
        nb.cells = nb.cells[1:]
    base = merge(project_options(source.parent), doc)
    formats = to.split(",") if to else list(base.get("format", {}) or {"html": {}})
    (source.parent / ".quarto").mkdir(exist_ok=True)
    for fmt in formats:
        top = {k: v for k, v in base.items() if k != "format"}
        opts = merge(merge(top, (base.get("format") or {}).get(fmt) or {}), flags)
        echo = opts.get("echo", (opts.get("execute") or {}).get("echo", True))
        if fmt == "html":
            write_html(nb, opts, echo, formats, source)
        elif fmt == "typst":
            write_pdf(nb, opts, echo, source)
        print(f"Output created: {source.stem}.{'pdf' if fmt == 'typst' else fmt}", file=sys.stderr)
    return 0


def date_text(opts):
    date = opts.get("date")
    if date is None:
        return None
    return str(date) if re.match(r"^\d{4}-\d{2}(-\d{2})?$", str(date)) else "Invalid Date"


def write_html(nb, opts, echo, formats, source):
    embed = opts.get("embed-resources") is True
    bootstrap = not (opts.get("minimal") is True or opts.get("theme") == "none")
    files = source.parent / f"{source.stem}_files"
    head, body, toc = [], [], []

    def resource(name, text):
        if embed:
            head.append(f"<script>/* {name} */{text}</script>")
        else:
            (files / "libs").mkdir(parents=True, exist_ok=True)
            (files / "libs" / name).write_text(text)
            head.append(f'<script src="{files.name}/libs/{name}"></script>')

    resource("quarto.js", "window.quarto = {};")
    if bootstrap:
        head.append("<style>/* bootstrap */ .container { max-width: 580px }</style>" if embed else
                    f'<link href="{files.name}/libs/bootstrap/bootstrap.min.css" rel="stylesheet">')
    if opts.get("css"):
        css = (source.parent / opts["css"]).read_text()
        head.append(f"<style>{css}</style>" if embed else f'<link href="{opts["css"]}" rel="stylesheet">')
    title = [f'<h1 class="title">{html.escape(str(opts.get("title", "")))}</h1>']
    if opts.get("subtitle"):
        title.append(f'<p class="subtitle lead">{html.escape(str(opts["subtitle"]))}</p>')
    if date_text(opts):
        title.append(f'<div class="quarto-title-meta"><p class="date">{date_text(opts)}</p></div>')
    cdn = False
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("## "):
                    toc.append(line[3:])
                    body.append(f"<h2>{html.escape(line[3:])}</h2>")
                elif line.strip():
                    body.append(f"<p>{html.escape(line)}</p>")
            continue
        if cell.cell_type != "code":
            continue
        if echo is not False:
            body.append(f'<div class="cell-code"><pre><code>{html.escape(cell.source)}</code></pre></div>')
        for n, output in enumerate(cell.get("outputs", [])):
            data = output.get("data", {})
            if output.get("output_type") == "stream":
                body.append(f'<pre class="cell-output-stderr">{html.escape(output.text)}</pre>')
            elif "text/html" in data:
                cdn = True
                body.append(f'<div class="cell-output-display">{data["text/html"]}</div>')
            elif "text/markdown" in data:
                body.append(f'<div class="cell-output-display"><pre>{html.escape(data["text/markdown"])}</pre></div>')
            elif "image/png" in data:
                if embed:
                    src = f"data:image/png;base64,{data['image/png']}"
                else:
                    (files / "figure-html").mkdir(parents=True, exist_ok=True)
                    name = f"cell-{index}-output-{n + 1}.png"
                    (files / "figure-html" / name).write_bytes(b"png")
                    src = f"{files.name}/figure-html/{name}"
                body.append(f'<div class="cell-output-display"><figure><img src="{src}" class="figure-img">'
                            f"</figure></div>")
    if cdn:
        for url in ("https://cdn.jsdelivr.net/npm/requirejs@2.3.6/require.min.js",
                    "https://cdn.jsdelivr.net/npm/jquery@3.5.1/dist/jquery.min.js"):
            head.append(f'<script src="{url}" crossorigin="anonymous"></script>')
    nav = ""
    if opts.get("toc"):
        items = "".join(f'<li><a href="#{t.lower().replace(" ", "-")}">{html.escape(t)}</a></li>' for t in toc)
        nav = f'<nav id="TOC" role="doc-toc"><h2 id="toc-title">{opts.get("toc-title", "Table of contents")}</h2><ul>{items}</ul></nav>'
    others = ""
    if len(formats) > 1 and opts.get("format-links") is not False:
        others = ('<div class="quarto-alternate-formats"><h2>Other Formats</h2><ul>'
                  f'<li><a href="{source.stem}.pdf">Typst</a></li></ul></div>')
    if bootstrap and opts.get("toc-location") != "body":
        margin_nav = nav.replace("<nav id", "<nav class='toc-active' id")
        page = (f'<div id="quarto-content" class="page-columns"><div id="quarto-margin-sidebar" class="sidebar">'
                f'{margin_nav}{others}</div>'
                f'<main class="content"><header id="title-block-header">{"".join(title)}</header>'
                f'{"".join(body)}</main></div>')
    else:
        page = f'<header id="title-block-header">{"".join(title)}</header>{nav}{others}<main class="content">{"".join(body)}</main>'
    filler = "<!-- quarto html support -->" * 40  # Quarto's own scripts and styles
    (source.parent / f"{source.stem}.html").write_text(
        f"<!DOCTYPE html><html><head><meta charset=\"utf-8\">{''.join(head)}{filler}</head><body>{page}</body></html>")


def write_pdf(nb, opts, echo, source):
    lines = [str(opts.get("title", "")), str(opts.get("subtitle", "")), date_text(opts) or ""]
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            lines.append(cell.source)
        elif cell.cell_type == "code":
            if echo is not False:
                lines.append("CODE " + cell.source)
            for output in cell.get("outputs", []):
                lines.append(str(output.get("data", {}).get("text/markdown", "")))
    (source.parent / f"{source.stem}.pdf").write_bytes(("%PDF-1.7\n" + "\n".join(lines)).encode())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
'''
