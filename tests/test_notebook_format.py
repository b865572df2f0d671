"""nbformat imported without jsonschema's slow optional IRI checker (analysis.report.notebook_format)."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap

import pytest

from analysis.report.notebook_format import unavailable


def _run(code: str) -> str:
    """``code`` in a fresh interpreter (nothing imported yet); its standard output."""
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_module_is_unavailable_only_within_the_block():
    name = "json.tool"  # (importable, and imported by nothing here)
    sys.modules.pop(name, None)
    with unavailable(name):
        with pytest.raises(ImportError):
            importlib.import_module(name)
    assert importlib.import_module(name).__name__ == name
    with unavailable(name):  # already imported: left as it is
        assert importlib.import_module(name) is sys.modules[name]
    assert sys.modules[name] is not None


def test_the_batchs_modules_import_nbformat_without_the_iri_grammars_and_leave_them_importable():
    out = _run("""
        import sys
        import analysis.engine.batch, papermill, nbformat, jsonschema
        print(sorted(sys.modules).count("rfc3987_syntax"), "iri" in jsonschema.FormatChecker.checkers)
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")])
        nbformat.validate(nb)
        bad = nbformat.from_dict({**nb, "cells": [{"cell_type": "code"}]})
        try:
            nbformat.validate(bad)
        except nbformat.ValidationError:
            print("invalid refused")
        if __import__("importlib.util").util.find_spec("rfc3987_syntax") is not None:
            import rfc3987_syntax
            print("importable", rfc3987_syntax.is_valid_syntax("iri", "https://example.org/a"))
        """)
    lines = out.splitlines()
    assert lines[0] == "0 False"  # not imported; jsonschema skips the iri format, as without the package
    assert lines[1] == "invalid refused"  # nbformat still validates notebooks
    if importlib.util.find_spec("rfc3987_syntax") is not None:
        assert lines[2] == "importable True"


def test_jsonschema_imported_before_keeps_its_iri_checker():
    if importlib.util.find_spec("rfc3987_syntax") is None:
        pytest.skip("rfc3987_syntax is not installed")
    out = _run("""
        import jsonschema
        import analysis.report.notebook_format
        print("iri" in jsonschema.FormatChecker.checkers)
        """)
    assert out.strip() == "True"
