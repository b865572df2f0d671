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


def test_explorer_notebook_executes_on_demo_data(published, tmp_path):
    import shutil

    import papermill as pm

    profile = tmp_path / "profile.yaml"
    shutil.copy(NOTEBOOKS[0].parents[1] / "params" / "demo.yaml", profile)
    notebook = NOTEBOOKS[0].parent / "explorer.ipynb"
    out = pm.execute_notebook(str(notebook), str(tmp_path / "explorer.ipynb"), cwd=str(tmp_path),
                              parameters={"data_path": str(published["data"]), "profile_path": str(profile)},
                              kernel_name="python3", progress_bar=False)
    widget_outputs = [o for c in out.cells if c.cell_type == "code" for o in c.get("outputs", [])
                      if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert widget_outputs, "the explorer displays its widget"


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if p.stem in ("territory", "rollup")], ids=lambda p: p.name)
def test_report_notebooks_draw_each_figure_once(path, tmp_path):
    """A report notebook's figures are drawn once each, for the picture the inline backend
    shows (pyplot's redraw after each cell switched off by ``figures.drawn_once``, which
    the notebook calls; no "tight" bounding box), and still shown: in a real kernel, counted."""
    import papermill as pm

    assert "figures.drawn_once()" in path.read_text()
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
                    "%config InlineBackend.print_figure_kwargs = {'bbox_inches': None}\n"  # as the notebooks
                    "import matplotlib.figure, collections\ndrawn = collections.Counter()\n"
                    "draw = matplotlib.figure.Figure.draw\n"
                    "matplotlib.figure.Figure.draw = lambda fig, r: (drawn.update([id(fig)]), draw(fig, r))[1]\n"
                    "from analysis.report import figures\nfigures.drawn_once()"),
                nbformat.v4.new_code_cell("figures.placeholder('A figure', 'drawn once');"),
                nbformat.v4.new_code_cell("print(sorted(drawn.values()))")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "in.ipynb")
    out = pm.execute_notebook(str(tmp_path / "in.ipynb"), str(tmp_path / "out.ipynb"), kernel_name="python3",
                              progress_bar=False)
    shown = [o for o in out.cells[1].outputs if "image/png" in o.get("data", {})]
    assert len(shown) == 1
    assert out.cells[2].outputs[0]["text"].strip() == "[1]"
