"""Working in JupyterLab without dirtying the repository.

``make lab`` opens a *working copy* of ``notebooks/explorer.ipynb`` in ``.lab/``
(git-ignored): widget outputs, widget state, the kernel's metadata and autosaves land
there, never in the tracked notebook or its jupytext pair. The copy is made again when
the tracked notebook changes (the previous copy is kept as ``*.ipynb.bak`` if the
analyst had edited it); otherwise the analyst's copy is left alone.

:func:`pre_save_hook` (``--ContentsManager.pre_save_hook=analysis.lab.workcopy.pre_save_hook``,
as ``make lab`` starts JupyterLab) saves every notebook without outputs, execution counts,
widget state or language metadata, so a save changes only what the analyst edited, and a
JupyterLab opened on the repository itself with it keeps tracked notebooks clean.

Run as ``python -m analysis.lab.workcopy SOURCE FOLDER [name=value ...]``: makes (or
keeps) the working copy of SOURCE in FOLDER, with the parameters given, and prints its path.
"""
from __future__ import annotations

import argparse
import copy
import hashlib
import json
import platform
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from analysis.report.notebook_format import nbformat

#: The kernel ``make lab`` registers (``ipykernel install --name territory-reports``).
KERNEL = {"display_name": "Territory reports", "language": "python", "name": "territory-reports"}

#: Notebook metadata a kernel or the widgets write, never part of a tracked notebook.
RUNTIME_METADATA = ("widgets", "language_info")

_MARK = "territory_reports"


def language_info() -> dict:
    """The ``language_info`` the registered kernel reports (this interpreter's): a working
    copy carries it, so the kernel's report on open does not mark the notebook modified."""
    return {"name": "python", "version": platform.python_version(), "mimetype": "text/x-python",
            "codemirror_mode": {"name": "ipython", "version": 3}, "pygments_lexer": "ipython3",
            "nbconvert_exporter": "python", "file_extension": ".py"}


def strip(nb: Mapping | Any) -> bool:
    """Remove outputs, execution counts and runtime metadata from ``nb`` (a notebook as a
    dict or nbformat node), in place; a working copy keeps its ``language_info``. True when
    something was removed."""
    changed = False
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        if cell.get("outputs"):
            cell["outputs"] = []
            changed = True
        if cell.get("execution_count") is not None:
            cell["execution_count"] = None
            changed = True
        meta = cell.get("metadata", {})
        for key in ("execution", "scrolled", "collapsed"):
            if key in meta:
                del meta[key]
                changed = True
    meta = nb.get("metadata", {})
    for key in RUNTIME_METADATA:
        if key == "language_info" and _MARK in meta:
            continue
        if key in meta:
            del meta[key]
            changed = True
    return changed


def pre_save_hook(model: dict, path: str, contents_manager=None, **kwargs) -> None:
    """jupyter_server pre-save hook: every notebook is saved clean (see :func:`strip`)."""
    if model.get("type") == "notebook" and model.get("content") is not None:
        strip(model["content"])


def _parameters_source(source: str, parameters: Mapping[str, Any]) -> str:
    """The parameters cell with ``parameters`` assigned instead (the comments kept)."""
    lines, done = [], set()
    for line in source.splitlines():
        name, eq, rest = line.partition("=")
        name = name.strip()
        if eq and name in parameters:
            comment = rest[rest.index("#"):] if "#" in rest else ""
            line = f"{name} = {parameters[name]!r}" + (f"  {comment}" if comment else "")
            done.add(name)
        lines.append(line)
    lines += [f"{name} = {value!r}" for name, value in parameters.items() if name not in done]
    return "\n".join(lines)


def _digest(source: Path, parameters: Mapping[str, Any] | None) -> str:
    payload = source.read_bytes() + json.dumps(parameters or {}, sort_keys=True, default=str).encode()
    return hashlib.sha256(payload).hexdigest()


def working_copy(source: str | Path, folder: str | Path, parameters: Mapping[str, Any] | None = None) -> Path:
    """The working copy of notebook ``source`` in ``folder`` (made, or kept when ``source``
    has not changed since it was made).

    The copy runs on the registered kernel, is not paired with a jupytext text file and
    has no outputs; ``parameters`` (name -> value) replace its ``parameters`` cell.
    """
    source, folder = Path(source), Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / source.name
    digest = _digest(source, parameters)
    if target.is_file():
        try:
            held = nbformat.read(target, as_version=4)
        except Exception:  # noqa: BLE001 - an unreadable copy is replaced (and kept as .bak)
            held = None
        if held is not None and held.metadata.get(_MARK, {}).get("source_sha256") == digest:
            return target
        shutil.copy2(target, target.with_name(target.name + ".bak"))
    nb = nbformat.read(source, as_version=4)
    nb = copy.deepcopy(nb)
    strip(nb)
    nb.metadata.pop("jupytext", None)  # not paired: saving the copy writes no .py
    nb.metadata["kernelspec"] = dict(KERNEL)
    nb.metadata["language_info"] = language_info()
    nb.metadata[_MARK] = {"working_copy_of": str(source.resolve()), "source_sha256": digest}
    if parameters:
        for cell in nb.cells:
            if "parameters" in cell.metadata.get("tags", []):
                cell.source = _parameters_source(cell.source, parameters)
    nbformat.write(nb, target)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis.lab.workcopy", description=__doc__.split("\n\n")[0])
    parser.add_argument("source")
    parser.add_argument("folder")
    parser.add_argument("parameters", nargs="*", help="name=value (value as Python text: 'T01', None, 3)")
    args = parser.parse_args(argv)
    import ast

    params = {}
    for item in args.parameters:
        name, _, value = item.partition("=")
        try:
            params[name] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            params[name] = value
    print(working_copy(args.source, args.folder, params or None))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
