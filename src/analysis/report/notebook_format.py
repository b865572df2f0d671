"""nbformat, imported without the start-up cost of a format checker it never uses.

nbformat (and papermill and nbclient, through it) validates notebooks with jsonschema.
When the optional package ``rfc3987_syntax`` is installed (jupyter-events, a JupyterLab
dependency, pulls it in), importing jsonschema imports it too, and it compiles some
forty Earley grammars at import: 2-3.5 s of CPU in every process that reads a notebook
(the command line, each worker of a batch, ...), for jsonschema's ``iri`` and
``iri-reference`` formats, which no notebook schema uses and which nbformat does not
check (python-jsonschema/jsonschema#1428).

Importing this module imports jsonschema with ``rfc3987_syntax`` held unavailable, then
nbformat: jsonschema then skips those two formats (as it does when the package is not
installed), nothing else changes, and ``rfc3987_syntax`` stays importable afterwards.
Where jsonschema is already imported (in a JupyterLab server, say), it is left as it
is. The report renderer, the batch's workers (papermill, after it) and the lab's
working copies import nbformat from here (``from analysis.report.notebook_format import
nbformat``); the kernels that run the notebooks import neither.
"""
from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

#: The optional package held unavailable while jsonschema is imported.
SLOW_OPTIONAL = "rfc3987_syntax"


@contextlib.contextmanager
def unavailable(module: str) -> Iterator[None]:
    """Within the block, ``import module`` raises ImportError, unless it is already
    imported (then nothing changes); afterwards it imports as before."""
    if module in sys.modules:
        yield
        return
    sys.modules[module] = None  # (None in sys.modules: the import system's "not importable")
    try:
        yield
    finally:
        if sys.modules.get(module, False) is None:
            del sys.modules[module]


with unavailable(SLOW_OPTIONAL):
    import jsonschema  # noqa: F401 - imported here so that its format checkers skip SLOW_OPTIONAL

import nbformat  # noqa: E402 - after jsonschema, on purpose

__all__ = ["nbformat", "unavailable"]
