"""Renderers: an executed notebook to a self-contained HTML page and a PDF.

Two back ends in a registry, like papermill's engines: ``quarto`` (used when a
``quarto`` executable is on PATH) and ``builtin`` (pandoc from the pypandoc-binary wheel
for HTML, Typst from the typst wheel for PDF). Both follow Quarto's conventions: code
is hidden, the title block comes from front matter, ``#| fig-cap:`` / ``#| tbl-cap:``
cell options give captions. Both show the same form of each output
(:func:`pick_output`: Markdown, else PNG, else HTML), and every HTML page either
publishes passes :func:`check_html` first (a broken page fails the report instead).
"""
from __future__ import annotations

import base64
import copy
import datetime as dt
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path

import yaml

from analysis.errors import RenderError
from analysis.report.notebook_format import nbformat
from analysis.report.present import escape_markdown

TEMPLATES = resources.files("analysis.report") / "templates"
OPTION = re.compile(r"^#\|\s*([\w-]+)\s*:\s*(.*)$")


ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def is_iso_date(text: str) -> bool:
    """``YYYY-MM-DD`` naming a real day (what Quarto's ``date`` field can parse)."""
    if not ISO_DATE.match(str(text).strip()):
        return False
    try:
        dt.date.fromisoformat(str(text).strip())
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class FrontMatter:
    """The title block of a report.

    ``date`` stays a date only when it is one (``YYYY-MM-DD``): Quarto parses the
    ``date`` field and prints "Invalid Date" for anything else, so other text (such as
    "Analysis period 2026-08 to 2026-10") is appended to the subtitle instead.
    """

    title: str
    subtitle: str = ""
    date: str = ""
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        """Metadata for pandoc / Quarto; the text is Markdown-escaped (names stay plain text)."""
        out = {"title": escape_markdown(self.title)}
        date = str(self.date).strip()
        subtitle = " · ".join(part for part in (self.subtitle, "" if is_iso_date(date) else date) if part)
        if subtitle:
            out["subtitle"] = escape_markdown(subtitle)
        if is_iso_date(date):
            out["date"] = date  # digits and dashes: escaping would stop Quarto parsing it
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


def pick_output(output) -> tuple[str, str] | None:
    """The one form of an output a report shows: ``("markdown" | "png" | "html", payload)``.

    ``text/markdown`` first (tables are emitted that way), then ``image/png``, then
    ``text/html``; streams, errors and plain-text reprs are left out (``None``). Both
    renderers use this, so they show the same tables and figures, and an HTML form is
    never used when a Markdown or image form exists (Quarto would pull require.js and
    jQuery from a CDN for it).
    """
    if output.get("output_type") not in ("display_data", "execute_result"):
        return None
    data = output.get("data", {})
    for mime, kind in (("text/markdown", "markdown"), ("image/png", "png"), ("text/html", "html")):
        if mime in data:
            value = data[mime]
            return kind, "".join(value) if isinstance(value, list) else value
    return None


def _shown(cell) -> bool:
    options = cell_options(cell.source)
    return not (options.get("include") is False or options.get("output") is False)


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
        if not _shown(cell):
            continue
        options = cell_options(cell.source)
        image_count = 0
        for output in cell.get("outputs", []):
            picked = pick_output(output)
            if picked is None:
                continue
            kind, payload = picked
            if kind == "markdown":
                caption = options.get("tbl-cap")
                if caption and "|" in payload:
                    payload = f"{payload.rstrip()}\n\n: {caption}\n"
                parts.append(payload)
            elif kind == "png":
                image_count += 1
                name = f"cell{index:03d}_{image_count}.png"
                (assets / name).write_bytes(base64.b64decode(payload))
                caption = _escape_caption(options.get("fig-cap", ""))
                alt = str(options.get("fig-alt", caption)).replace('"', "'")
                parts.append(f'![{caption}]({assets.name}/{name}){{width=100% fig-alt="{alt}"}}')
            else:
                parts.append(_raw_html(payload))
    return "\n\n".join(p.strip("\n") for p in parts if p and p.strip()) + "\n"


def _raw_html(html: str) -> str:
    return f"```{{=html}}\n{html}\n```"


def image_bytes(nb: nbformat.NotebookNode) -> int:
    """Characters of base64 image data a report of ``nb`` must embed (the HTML is at least that big)."""
    total = 0
    for cell in nb.cells:
        if cell.cell_type == "code" and _shown(cell):
            for output in cell.get("outputs", []):
                picked = pick_output(output)
                if picked and picked[0] == "png":
                    total += len(picked[1].replace("\n", ""))
    return total


MIN_HTML_BYTES = 1000


class _Resources(HTMLParser):
    """Collects what a page would load or link (``src``, ``<link href>``, ``<a href>``) and its classes."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.loads: list[tuple[str, str]] = []
        self.links: list[str] = []
        self.classes: set[str] = set()
        self.ids: set[str] = set()
        self.text: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.classes.update((attrs.get("class") or "").split())
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        for name in ("src", "data", "poster"):
            if attrs.get(name):
                self.loads.append((tag, attrs[name].strip()))
        if tag == "link" and attrs.get("href"):
            self.loads.append((tag, attrs["href"].strip()))
        elif attrs.get("href"):
            self.links.append(attrs["href"].strip())
        if tag in ("script", "style"):
            self._skip += 1

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.text.append(data)


def check_html(path: Path, min_bytes: int = MIN_HTML_BYTES) -> None:
    """Refuse to publish an HTML page that is not a complete, self-contained report.

    Raises :class:`RenderError` naming the defect: a missing or implausibly small file
    (less than ``min_bytes``: pass the image data the page must embed), a resource
    loaded from a file (``report_files/...``: deleted with the render folder) or from
    the network (``http(s)://``: a CDN), a link into a ``_files/`` folder, code cells
    (``cell-code``), an "Invalid Date" title block, an "Other Formats" box, or a
    Bootstrap layout (the right-hand table of contents and its narrow body column).
    """
    if not path.is_file():
        raise RenderError(f"{path.name}: no HTML page was written")
    problems = []
    size, floor = path.stat().st_size, max(min_bytes, MIN_HTML_BYTES)
    if size < floor:
        problems.append(f"{size} bytes is too small (at least {floor} expected: are its images embedded?)")
    page = _Resources()
    page.feed(path.read_text(encoding="utf-8", errors="replace"))
    remote = sorted({url for _, url in page.loads if re.match(r"(?i)^(https?:)?//", url)})
    local = sorted({url for _, url in page.loads if not re.match(r"(?i)^(https?:|//|data:|#)", url)})
    if remote:
        problems.append(f"loads {len(remote)} resource(s) from the network, e.g. {remote[0]}")
    if local:
        problems.append(f"links {len(local)} file(s) that are not published with it, e.g. {local[0]}")
    files = sorted({url for url in page.links if "_files/" in url})
    if files:
        problems.append(f"links into a support folder, e.g. {files[0]}")
    if "cell-code" in page.classes:
        problems.append("shows code cells (class cell-code)")
    if "Invalid Date" in "".join(page.text):
        problems.append('has "Invalid Date" in its text (a non-date in the date field)')
    if "quarto-alternate-formats" in page.classes:
        problems.append('has an "Other Formats" box')
    if "quarto-margin-sidebar" in page.ids or "toc-active" in page.classes:
        problems.append("has the Bootstrap layout with a margin table of contents")
    if problems:
        raise RenderError(f"{path.name} is not a self-contained report: " + "; ".join(problems))


def check_pdf(path: Path) -> None:
    """The PDF exists and is one."""
    if not path.is_file():
        raise RenderError(f"{path.name}: no PDF was written")
    if path.read_bytes()[:5] != b"%PDF-":
        raise RenderError(f"{path.name} is not a PDF")


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
        check_html(html, image_bytes(nb))
        check_pdf(pdf)
        return {"html": html, "pdf": pdf}


def _dotted(path: Path) -> bool:
    """Whether any component of the path (as given or resolved) starts with a dot."""
    parts = (*Path(path).absolute().parts, *Path(path).resolve().parts)
    return any(part.startswith(".") for part in parts)


def clean_render_dir(near: Path) -> Path:
    """A new, empty folder whose absolute path has no component starting with a dot.

    Quarto ignores ``_quarto.yml`` when any parent folder is hidden (quarto-cli #3186),
    and the batch works under ``OUT/.work``. Tried in order: the system temp folder,
    then the parent of the topmost dotted folder above ``near`` (next to ``.work``).
    """
    candidates = [Path(tempfile.gettempdir())]
    near = Path(near).absolute()
    dotted = [p for p in [near, *near.parents] if p.name.startswith(".")]
    if dotted:
        candidates.append(dotted[-1].parent)
    for base in candidates:
        if base.is_dir() and not _dotted(base):
            return Path(tempfile.mkdtemp(prefix="territory-reports-", dir=base))
    raise RenderError(f"no folder without a dotted component to render in (tried {', '.join(map(str, candidates))})")


def quarto_options() -> dict:
    """The document options Quarto needs, from the ``_quarto.yml`` template (``project`` left out)."""
    options = yaml.safe_load((TEMPLATES / "_quarto.yml").read_text(encoding="utf-8"))
    options.pop("project", None)
    return options


# Given on the command line as well as in the document's front matter: a report is
# broken without them, and neither place depends on a project file being found.
QUARTO_FLAGS = {"echo": False, "warning": False, "toc": True, "embed-resources": True, "minimal": True,
                "theme": "none", "toc-location": "body", "format-links": False}


def quarto_notebook(nb: nbformat.NotebookNode, front: FrontMatter) -> nbformat.NotebookNode:
    """The notebook as Quarto gets it: front matter first, code removed, one form per output.

    The front matter carries the title block and every option (:func:`quarto_options`).
    Code cells keep only their ``#|`` option lines (the code, papermill's parameters
    included, never reaches Quarto) and the output forms :func:`pick_output` chooses:
    an HTML-only output becomes raw HTML in Markdown, so no ``text/html`` output is
    left for Quarto to add require.js and jQuery for.
    """
    nb = copy.deepcopy(nb)
    header = yaml.safe_dump({**front.as_dict(), **quarto_options()}, allow_unicode=True, sort_keys=False)
    cells = [nbformat.v4.new_raw_cell(f"---\n{header}---")]
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cells.append(cell)
        if cell.cell_type != "code":
            continue
        lines = []
        for line in cell.source.splitlines():
            if not OPTION.match(line.strip()):
                break
            lines.append(line)
        cell.source = "\n".join(lines)
        outputs = []
        for output in cell.get("outputs", []) if _shown(cell) else []:
            picked = pick_output(output)
            if picked is None:
                continue
            kind, payload = picked
            data = {"image/png": payload} if kind == "png" else \
                {"text/markdown": payload if kind == "markdown" else _raw_html(payload)}
            outputs.append(nbformat.v4.new_output("display_data", data=data, metadata=output.get("metadata", {})))
        cell.outputs = outputs
        cells.append(cell)
    nb.cells = cells
    return nb


class QuartoRenderer:
    """The ``quarto`` CLI: one ``quarto render report.ipynb --to html,typst`` per report.

    The notebook is prepared by :func:`quarto_notebook` and rendered in a fresh folder
    without a dotted parent (:func:`clean_render_dir`; Quarto would ignore the project
    file under ``OUT/.work``), which is removed afterwards, also on failure; the outputs
    are moved into ``workdir``. The options a report needs are in the notebook's front
    matter and on the command line (``-M``), not only in ``_quarto.yml``. The exit code,
    both output files and the HTML page (:func:`check_html`) are checked.
    """

    name = "quarto"

    def __init__(self, executable: str | None = None):
        self.executable = executable or shutil.which("quarto")
        if not self.executable:
            raise RenderError("quarto executable not found on PATH")

    def command(self, source: str) -> list[str]:
        flags = [arg for key, value in QUARTO_FLAGS.items()
                 for arg in ("-M", f"{key}:{str(value).lower() if isinstance(value, bool) else value}")]
        return [self.executable, "render", source, "--to", "html,typst", "--no-execute", *flags]

    def render(self, notebook: Path, workdir: Path, front: FrontMatter) -> dict[str, Path]:
        nb = nbformat.read(notebook, as_version=4)
        prepared = quarto_notebook(nb, front)
        workdir = Path(workdir)
        folder = clean_render_dir(workdir)
        try:
            nbformat.write(prepared, folder / "report.ipynb")
            for name in ("_quarto.yml", "report.css", "report-header.typ"):
                (folder / name).write_text((TEMPLATES / name).read_text(encoding="utf-8"), encoding="utf-8")
            cmd = self.command("report.ipynb")
            _run(cmd, folder, "quarto render --to html,typst")
            outputs = {}
            for kind in ("html", "pdf"):
                produced = folder / f"report.{kind}"
                if not produced.is_file():
                    raise RenderError(f"quarto render --to html,typst exited 0 but wrote no {produced.name}")
                outputs[kind] = produced
            check_html(outputs["html"], image_bytes(nb))
            check_pdf(outputs["pdf"])
            moved = {}
            for kind, path in outputs.items():
                moved[kind] = workdir / path.name
                shutil.move(str(path), moved[kind])
            return moved
        finally:
            shutil.rmtree(folder, ignore_errors=True)


RENDERERS = {"builtin": BuiltinRenderer, "quarto": QuartoRenderer}


def get_renderer(name: str = "auto"):
    """``auto``: Quarto when its executable is on PATH, else the built-in renderer."""
    if name == "auto":
        name = "quarto" if shutil.which("quarto") else "builtin"
    if name not in RENDERERS:
        raise RenderError(f"unknown renderer {name!r}; expected auto, {', '.join(RENDERERS)}")
    return RENDERERS[name]()
