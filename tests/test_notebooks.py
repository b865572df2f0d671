"""Notebooks: paired with their jupytext text form, parameters cell tagged, no outputs."""
from __future__ import annotations

from pathlib import Path

import jupytext
import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_and_text_pair_agree(path):
    pair = path.with_suffix(".py")
    assert pair.is_file(), f"{path.name} has no jupytext pair"
    nb, text = nbformat.read(path, as_version=4), jupytext.read(pair)
    code = lambda book: [(c.cell_type, c.source.strip()) for c in book.cells]
    assert code(nb) == code(text), f"{path.name} and {pair.name} differ: run jupytext --sync {path}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_parameters_cell_and_no_outputs(path):
    nb = nbformat.read(path, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
