"""Renderers: an executed notebook to a self-contained HTML page and a PDF.

Two back ends in a registry, like papermill's engines: ``quarto`` (used when a
``quarto`` executable is on PATH) and ``builtin`` (pandoc from the pypandoc-binary wheel
for HTML, Typst from the typst wheel for PDF). Both follow Quarto's conventions: code
is hidden, the title block comes from front matter, ``#| fig-cap:`` / ``#| tbl-cap:``
cell options give captions, outputs are taken as the notebook holds them.
"""
from __future__ import annotations

import base64
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import nbformat
import yaml

from analysis.errors import RenderError
from analysis.report.present import escape_markdown

TEMPLATES = resources.files("analysis.report") / "templates"
OPTION = re.compile(r"^#\|\s*([\w-]+)\s*:\s*(.*)$")


@dataclass(frozen=True)
class FrontMatter:
    """The title block of a report."""

    title: str
    subtitle: str = ""
    date: str = ""
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        """Metadata for pandoc / Quarto; the text is Markdown-escaped (names stay plain text)."""
        out = {"title": escape_markdown(self.title)}
        if self.subtitle:
            out["subtitle"] = escape_markdown(self.subtitle)
        if self.date:
            out["date"] = escape_markdown(self.date)
        return {**out, **self.extra}


def typst_page() -> dict:
    """The PDF page set-up, read from the Quarto project template (one place for both renderers)."""
    typst = yaml.safe_load((TEMPLATES / "_quarto.yml").read_text(encoding="utf-8"))["format"]["typst"]
    return {key: typst[key] for key in ("papersize", "fontsize", "margin")}


def cell_options(source: str) -> dict[str, str]:
    """Quarto cell options (``#| key: value`` lines at the top of a code cell)."""
    options = {}
    for line in source.splitlines():
        match = OPTION.match(line.strip())
        if not match:
            break
        value = match.group(2).strip()
        try:
            options[match.group(1)] = yaml.safe_load(value) if value else ""
        except yaml.YAMLError:
            options[match.group(1)] = value
    return options


def _escape_caption(text: str) -> str:
    return str(text).replace("[", "\\[").replace("]", "\\]")


def notebook_to_markdown(nb: nbformat.NotebookNode, assets: Path) -> str:
    """Pandoc Markdown of a notebook's narrative and outputs, code hidden.

    Markdown cells are kept; each code cell contributes its outputs: ``text/markdown``
    first (tables are emitted that way), then images (written to ``assets``, with the
    cell's ``fig-cap`` as caption), then ``text/html``. Streams and plain-text reprs are
    left out of manager reports; errors are not expected (a failing notebook never
    reaches rendering).
    """
    assets.mkdir(parents=True, exist_ok=True)
    parts: list[str] = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            parts.append(cell.source)
            continue
        if cell.cell_type != "code":
            continue
        options = cell_options(cell.source)
        if options.get("include") is False or options.get("output") is False:
            continue
        image_count = 0
        for output in cell.get("outputs", []):
            if output.get("output_type") not in ("display_data", "execute_result"):
                continue
            data = output.get("data", {})
            if "text/markdown" in data:
                text = data["text/markdown"]
                caption = options.get("tbl-cap")
                if caption and "|" in text:
                    text = f"{text.rstrip()}\n\n: {caption}\n"
                parts.append(text)
            elif "image/png" in data:
                image_count += 1
                name = f"cell{index:03d}_{image_count}.png"
                (assets / name).write_bytes(base64.b64decode(data["image/png"]))
                caption = _escape_caption(options.get("fig-cap", ""))
                alt = str(options.get("fig-alt", caption)).replace('"', "'")
                parts.append(f'![{caption}]({assets.name}/{name}){{width=100% fig-alt="{alt}"}}')
            elif "text/html" in data:
                parts.append(f"```{{=html}}\n{data['text/html']}\n```")
    return "\n\n".join(p.strip("\n") for p in parts if p and p.strip()) + "\n"


def _pandoc() -> str:
    try:
        import pypandoc
    except ImportError as exc:  # pragma: no cover - dependency of the project
        raise RenderError("pandoc is needed for the built-in renderer: pip install pypandoc-binary") from exc
    return pypandoc.get_pandoc_path()


def _run(cmd: list[str], cwd: Path, what: str) -> None:
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RenderError(f"{what} failed (exit {done.returncode}): {done.stderr.strip()[-2000:]}")


class BuiltinRenderer:
    """pandoc for HTML (resources embedded), pandoc to Typst then the typst wheel for PDF."""

    name = "builtin"

    def render(self, notebook: Path, workdir: Path, front: FrontMatter) -> dict[str, Path]:
        nb = nbformat.read(notebook, as_version=4)
        body = notebook_to_markdown(nb, workdir / "assets")
        header = yaml.safe_dump(front.as_dict(), allow_unicode=True, sort_keys=False)
        source = workdir / "report.md"
        source.write_text(f"---\n{header}---\n\n{body}", encoding="utf-8")
        css = workdir / "report.css"
        css.write_text((TEMPLATES / "report.css").read_text(encoding="utf-8"), encoding="utf-8")
        typ_header = workdir / "report-header.typ"
        typ_header.write_text((TEMPLATES / "report-header.typ").read_text(encoding="utf-8"), encoding="utf-8")
        pandoc = _pandoc()
        common = ["--from", "markdown+pipe_tables+implicit_figures-raw_tex", "--standalone", "--columns=110",
                  "--toc", "--toc-depth=2", "--metadata", "toc-title=Contents"]
        html = workdir / "report.html"
        _run([pandoc, source.name, *common, "--to", "html5", "--embed-resources", "--css", css.name,
              "--output", html.name], workdir, "pandoc (HTML)")
        typ = workdir / "report.typ"
        page = workdir / "typst-page.yaml"
        page.write_text(yaml.safe_dump(typst_page()), encoding="utf-8")
        _run([pandoc, source.name, *common, "--to", "typst", "--include-in-header", typ_header.name,
              "--metadata-file", page.name, "--output", typ.name], workdir, "pandoc (Typst)")
        pdf = workdir / "report.pdf"
        try:
            import typst
            typst.compile(str(typ), output=str(pdf), root=str(workdir))
        except Exception as exc:  # typst raises its own error types
            raise RenderError(f"typst (PDF) failed: {exc}") from exc
        return {"html": html, "pdf": pdf}


class QuartoRenderer:
    """The ``quarto`` CLI: ``quarto render report.ipynb`` to HTML and to Typst PDF.

    The executed notebook gets a front-matter raw cell; each format is rendered in the
    job's own folder (parallel renders never share support files) and the exit code and
    the output file are both checked (the quarto Python package checks neither).
    """

    name = "quarto"

    def __init__(self, executable: str | None = None):
        self.executable = executable or shutil.which("quarto")
        if not self.executable:
            raise RenderError("quarto executable not found on PATH")

    def render(self, notebook: Path, workdir: Path, front: FrontMatter) -> dict[str, Path]:
        nb = nbformat.read(notebook, as_version=4)
        header = yaml.safe_dump(front.as_dict(), allow_unicode=True, sort_keys=False)
        nb.cells.insert(0, nbformat.v4.new_raw_cell(f"---\n{header}---"))
        source = workdir / "report.ipynb"
        nbformat.write(nb, source)
        for name in ("_quarto.yml", "report.css", "report-header.typ"):
            (workdir / name).write_text((TEMPLATES / name).read_text(encoding="utf-8"), encoding="utf-8")
        outputs = {}
        for fmt, suffix in (("html", "html"), ("typst", "pdf")):
            _run([self.executable, "render", source.name, "--to", fmt, "--no-execute"], workdir, f"quarto render --to {fmt}")
            produced = workdir / f"report.{suffix}"
            if not produced.is_file():
                raise RenderError(f"quarto render --to {fmt} exited 0 but wrote no {produced.name}")
            outputs["html" if fmt == "html" else "pdf"] = produced
        return outputs


RENDERERS = {"builtin": BuiltinRenderer, "quarto": QuartoRenderer}


def get_renderer(name: str = "auto"):
    """``auto``: Quarto when its executable is on PATH, else the built-in renderer."""
    if name == "auto":
        name = "quarto" if shutil.which("quarto") else "builtin"
    if name not in RENDERERS:
        raise RenderError(f"unknown renderer {name!r}; expected auto, {', '.join(RENDERERS)}")
    return RENDERERS[name]()
