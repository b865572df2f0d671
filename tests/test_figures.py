"""Report figures: the heatmap helper draws what it is given, and nothing more."""
from __future__ import annotations

import matplotlib

matplotlib.use("agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from analysis.report import figures
def test_heatmap_cells_texts_and_hatches():
    matrix = pd.DataFrame([[0.0, 0.5], [1.0, np.nan]], index=["r1", "r2"], columns=["c1", "c2"])
    annot = pd.DataFrame([["", "50%"], ["100%", "x"]], index=matrix.index, columns=matrix.columns)
    marks = pd.DataFrame([[True, False], [False, True]], index=matrix.index, columns=matrix.columns)
    fig, ax = plt.subplots()
    mesh = figures._heatmap(ax, matrix, annot, cmap="cividis", fmt_label="share", vmax=1, marks=marks)
    cells = mesh.get_array()
    assert cells.mask.sum() == 1  # the NaN cell is left blank
    texts = {t.get_text(): t for t in ax.texts}
    assert set(texts) == {"50%", "100%"}  # no text in empty or NaN cells
    assert texts["100%"].get_position() == (0.5, 1.5)  # column 0, row 1 (first row on top)
    # 1.0 is cividis' bright yellow: dark text; 0.5 is its mid grey: white text
    assert matplotlib.colors.to_hex(texts["100%"].get_color()) == "#262626"
    assert texts["50%"].get_color() == "white"
    hatched = [p for p in ax.patches if p.get_hatch()]
    assert sorted((p.get_x(), p.get_y()) for p in hatched) == [(0, 0), (1, 1)]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["r1", "r2"]
    assert ax.get_ylim() == (2.0, 0.0)
    plt.close(fig)


def test_heatmap_of_empty_cells_draws_without_warnings(recwarn):
    matrix = pd.DataFrame([[np.nan]], index=["r"], columns=["c"])
    fig, ax = plt.subplots()
    mesh = figures._heatmap(ax, matrix, matrix.map(lambda v: ""), cmap="cividis", fmt_label="n")
    assert mesh.norm.vmax == 1.0
    fig.canvas.draw()
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]
    plt.close(fig)
