"""Report figures: each draws the pass's table as it is, and nothing more.

The heatmap helper is tested on hand-made matrices; every report figure on the tables of
the real national pass over a small demo dataset, in its four shapes (2x2, 3x3, sales
only, single period): the points, cells and texts drawn are read back from the figure and
compared with the table.
"""
from __future__ import annotations

import dataclasses
import io

import matplotlib

matplotlib.use("agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from analysis.contract.dataset import load_dataset
from analysis.contract.demo import generate, write
from analysis.domain.national import national_pass
from analysis.domain.segmentation import SCHEMES
from analysis.report import figures

TERRITORY = "T01"
MIN_BASE = 5
NO_COMPARISON = ("No comparison period: the data has no sales before the analysis period, so phase "
                 "migration cannot be shown.")
NO_ACTIVITIES = "No activity data: the data has no activities table, so channels cannot be shown."


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("figures-demo")
    write(generate(n_regions=2, n_territories=3, n_customers=450, months=12, activity_months=6), folder)
    return load_dataset(folder)


def _territory(tables: dict) -> dict[str, pd.DataFrame]:
    return {name: t[t["territory_id"] == TERRITORY].reset_index(drop=True)
            for name, t in tables.items() if isinstance(t, pd.DataFrame) and "territory_id" in t}


@pytest.fixture(scope="module")
def runs(demo):
    """The pass's tables (all territories, and T01's slice) for each data shape."""
    sales_only = dataclasses.replace(demo, activities=demo.activities.iloc[0:0],
                                     files={k: v for k, v in demo.files.items() if k != "activities"})
    last = sorted(demo.sales["period"].astype(str).unique())[-3:]
    single = dataclasses.replace(demo, sales=demo.sales[demo.sales["period"].astype(str).isin(last)]
                                 .reset_index(drop=True))
    shapes = {"2x2": (demo, {}), "3x3": (demo, {"segmentation": {"grid": "3x3"}}),
              "sales_only": (sales_only, {}), "single": (single, {})}
    out = {}
    for name, (ds, extra) in shapes.items():
        tables = national_pass(ds, {"min_rate_base": MIN_BASE, **extra})
        out[name] = (tables, _territory(tables))
    return out


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _texts(fig) -> list[str]:
    return [t.get_text() for t in fig.findobj(matplotlib.text.Text)]


def _placeholder_message(fig) -> str:
    (ax,) = fig.axes
    return " ".join(" ".join(t.get_text() for t in ax.texts).split())


def _meshes(ax) -> list:
    return [c for c in ax.collections if isinstance(c, matplotlib.collections.QuadMesh)]


def _cells(ax) -> np.ndarray:
    """The values of the heatmap of ``ax``, NaN where blank, first row on top."""
    (mesh,) = _meshes(ax)
    rows, cols = len(ax.get_yticks()), len(ax.get_xticks())
    return np.ma.filled(np.ma.masked_invalid(mesh.get_array()).astype(float), np.nan).reshape(rows, cols)


def _ticks(ax, axis: str) -> list[str]:
    return [t.get_text() for t in (ax.get_xticklabels() if axis == "x" else ax.get_yticklabels())]


def _cell_texts(ax) -> dict[tuple[int, int], str]:
    """Texts at heatmap cell centres by (row, column)."""
    out = {}
    for t in ax.texts:
        x, y = t.get_position()
        if (x - 0.5) % 1 == 0 and (y - 0.5) % 1 == 0:
            out[(int(y), int(x))] = t.get_text()
    return out


# --------------------------------------------------------------------------- heatmap helper


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


def test_heatmap_notes_only_in_blank_cells():
    matrix = pd.DataFrame([[0.5, np.nan]], index=["r"], columns=["a", "b"])
    notes = pd.DataFrame([["too few", "too few"]], index=matrix.index, columns=matrix.columns)
    fig, ax = plt.subplots()
    figures._heatmap(ax, matrix, matrix.map(lambda v: ""), cmap="cividis", fmt_label="n", notes=notes)
    assert [(t.get_text(), t.get_position()) for t in ax.texts] == [("too few", (1.5, 0.5))]


def test_placeholder_keeps_the_whole_message():
    message = "word " * 60
    fig = figures.placeholder("Title", message.strip())
    assert _placeholder_message(fig) == message.strip()
    assert fig._suptitle.get_text() == "Title"


# --------------------------------------------------------------------------- segment scatter


def _placed(customers: pd.DataFrame) -> pd.DataFrame:
    rows = customers[customers["segment"].notna()]
    return rows[rows["support"].notna() & (rows["potential"] > 0)]


def _points_by_label(fig, scheme) -> dict[tuple[str, str], np.ndarray]:
    """Offsets of every scatter, by (market in the panel title, segment label)."""
    by_name = {name: label for label, (_, _, name) in figures.segment_styles(scheme).items()}
    out = {}
    for ax in fig.axes:
        market = ax.get_title().split()[0] if ax.get_title() else None
        for c in ax.collections:
            if isinstance(c, matplotlib.collections.PathCollection):
                out[(market, by_name[c.get_label()])] = np.asarray(c.get_offsets())
    return out


def test_2x2_scatter_points_per_label_match_the_table(runs):
    customers = runs["2x2"][1]["customers"]
    scheme = SCHEMES["2x2"]
    fig = figures.segment_scatter(customers, scheme)
    points = _points_by_label(fig, scheme)
    placed = _placed(customers)
    expected = placed.groupby(["market", "segment"]).size()
    assert {key: len(v) for key, v in points.items()} == expected.to_dict()
    for (market, label), offsets in points.items():
        rows = placed[(placed["market"] == market) & (placed["segment"] == label)]
        want = np.sort(rows[["potential", "support"]].to_numpy(dtype=float), axis=0)
        np.testing.assert_array_equal(np.sort(offsets.astype(float), axis=0), want)
    # zero support is low support: every point on the 0% line is B or D
    on_zero = {label for (_, label), v in points.items() if (v[:, 1] == 0).any()}
    assert on_zero and on_zero <= {"B", "D"}
    # the quadrant letters, and a legend entry per label
    assert {"A", "B", "C", "D"} <= set(_texts(fig))
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == [figures.SEGMENT_NAMES[s] for s in scheme.labels]


def test_2x2_scatter_counts_customers_without_sales_in_the_title(runs):
    customers = runs["2x2"][1]["customers"]
    fig = figures.segment_scatter(customers, SCHEMES["2x2"])
    for ax in fig.axes:
        market = ax.get_title().split()[0]
        rows = customers[(customers["market"] == market) & customers["segment"].notna()]
        missing = int(rows["support"].isna().sum())
        assert missing > 0  # the demo has customers without sales in every market
        assert f"{missing} without sales" in ax.get_title()


def test_3x3_scatter_draws_every_placeable_customer(runs):
    customers = runs["3x3"][1]["customers"]
    scheme = SCHEMES["3x3"]
    assert set(customers["segment"].dropna()) <= set(scheme.labels)
    fig = figures.segment_scatter(customers, scheme)
    collections = [c for ax in fig.axes for c in ax.collections if isinstance(c, matplotlib.collections.PathCollection)]
    assert sum(len(c.get_offsets()) for c in collections) == len(_placed(customers)) > 0
    points = _points_by_label(fig, scheme)
    assert {k: len(v) for k, v in points.items()} == _placed(customers).groupby(["market", "segment"]).size().to_dict()
    # hue by potential level, marker by support level
    styles = figures.segment_styles(scheme)
    assert styles["high/low"][0] == styles["high/high"][0] != styles["low/high"][0]
    assert styles["high/low"][1] == styles["low/low"][1] != styles["high/high"][1]
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == list(scheme.labels)
    # no 2x2 quadrant letters; both cut lines of the table are drawn (low | medium | high)
    assert not {"A", "B", "C", "D"} & set(_texts(fig))
    for ax in fig.axes:
        market = ax.get_title().split()[0]
        rows = customers.loc[customers["market"] == market]
        cuts = [rows[c].dropna().iloc[0] for c in ("potential_cut", "potential_cut_1")]
        xs = [line.get_xdata()[0] for line in ax.get_lines() if line.get_linestyle() == "--"]
        assert xs == cuts and cuts[0] <= cuts[1]


def test_scatter_scheme_defaults_to_the_tables_and_refuses_a_wrong_one(runs):
    customers = runs["3x3"][1]["customers"]
    fig = figures.segment_scatter(customers)  # the explorer passes no scheme
    assert [t.get_text() for t in fig.legends[0].get_texts()] == list(SCHEMES["3x3"].labels)
    with pytest.raises(ValueError, match="not labels of the 2x2 scheme"):
        figures.segment_scatter(customers, SCHEMES["2x2"])


# --------------------------------------------------------------------------- migration and 3C


def test_empty_migration_is_a_placeholder_with_the_callers_reason(runs):
    migration = runs["single"][1]["migration"]
    assert migration.empty
    fig = figures.migration_heatmap(migration, reason=NO_COMPARISON)
    assert _placeholder_message(fig) == NO_COMPARISON
    assert not [c for c in fig.axes[0].collections if isinstance(c, matplotlib.collections.QuadMesh)]


@pytest.mark.parametrize("shape", ["2x2", "sales_only"])
def test_migration_draws_the_stored_rates_with_counts(runs, shape):
    migration = runs[shape][1]["migration"]
    fig = figures.migration_heatmap(migration)
    panels = [ax for ax in fig.axes if _meshes(ax) and ax.get_title()]
    assert sorted(ax.get_title() for ax in panels) == sorted(migration["market"].unique())
    for ax in panels:
        rows = migration[migration["market"] == ax.get_title()]
        order = [p for p in figures.PHASE_LEVELS if p in set(rows["phase"].astype(str))]
        words = [figures.phase_word(p) for p in order]
        assert _ticks(ax, "x") == words and _ticks(ax, "y") == words
        flat = rows.assign(phase=rows["phase"].astype(str), phase_previous=rows["phase_previous"].astype(str))
        rates = flat.pivot(index="phase_previous", columns="phase", values="rate").reindex(index=order, columns=order)
        np.testing.assert_array_equal(_cells(ax), rates.to_numpy(dtype=float))
        counts = flat.pivot(index="phase_previous", columns="phase", values="customers").reindex(
            index=order, columns=order)
        for (i, j), text in _cell_texts(ax).items():
            assert text == f"{counts.iat[i, j]:,.0f}"
    if shape == "sales_only":
        assert "not yet prescribing" in _ticks(panels[0], "x") and "unaware" not in _ticks(panels[0], "x")


def test_migration_never_adds_rows_up(runs):
    """Two territories' rows in one cell would have to be summed: the figure refuses."""
    with pytest.raises(ValueError):
        figures.migration_heatmap(runs["2x2"][0]["migration"])


@pytest.mark.parametrize("shape", ["2x2", "sales_only"])
def test_three_c_leaves_out_customers_without_a_phase(runs, shape):
    three_c = runs[shape][1]["three_c"]
    assert three_c["phase"].isna().any()  # suppliers, distributors, peripheral customers
    fig = figures.three_c_heatmap(three_c)
    panels = [ax for ax in fig.axes if _meshes(ax) and ax.get_title()]
    assert len(panels) == three_c["market"].nunique()
    for ax in panels:
        market = ax.get_title().splitlines()[0]
        rows = three_c[three_c["market"] == market]
        on = rows[rows["phase"].notna()]
        phases = [p for p in figures.PHASE_LEVELS if p in set(on["phase"].astype(str))][::-1]
        assert _ticks(ax, "y") == [figures.phase_word(p) for p in phases]
        assert np.nansum(_cells(ax)) == on["customers"].sum()
        off = int(rows.loc[rows["phase"].isna(), "customers"].sum())
        if off:
            assert f"({off:,} customers without a phase not shown)" in ax.get_title()
    if shape == "sales_only":
        assert _ticks(panels[0], "y")[-1] == "not yet prescribing"


# --------------------------------------------------------------------------- channels


def _channel_panels(fig):
    effort = {ax.get_title().split(":")[0]: ax for ax in fig.axes if "where the effort goes" in ax.get_title()}
    progress = {ax.get_title().split(":")[0]: ax for ax in fig.axes if "what moves customers up" in ax.get_title()}
    return effort, progress


def _stored(rows: pd.DataFrame, column: str, channels, phases) -> pd.DataFrame:
    return rows.pivot(index="channel", columns="phase", values=column).reindex(index=channels, columns=phases)


def test_channel_heatmaps_draw_each_markets_stored_values(runs):
    table = runs["2x2"][1]["channel_phase"]
    fig = figures.channel_phase_heatmaps(table, min_rate_base=MIN_BASE)
    effort, progress = _channel_panels(fig)
    markets = sorted(table["market"].unique())
    assert sorted(effort) == sorted(progress) == markets and len(markets) == 2
    channels = list(dict.fromkeys(table["channel"]))
    for market in markets:
        rows = table[(table["market"] == market) & table["phase"].notna()]
        phases = [p for p in figures.PHASE_LEVELS if p in set(rows["phase"])]
        assert _ticks(effort[market], "y") == channels and _ticks(effort[market], "x") == phases
        np.testing.assert_array_equal(_cells(effort[market]), _stored(rows, "effort_share", channels, phases)
                                      .to_numpy(dtype=float))
        base = _stored(rows, "customers_touched", channels, phases)
        want = _stored(rows, "progression_rate", channels, phases).where(base >= MIN_BASE)
        want["loyal"] = np.nan  # loyal cannot move up
        np.testing.assert_array_equal(_cells(progress[market]), want.to_numpy(dtype=float))
        # "too few" exactly where some, but fewer than min_rate_base, customers were touched
        few = (base > 0) & (base < MIN_BASE)
        few["loyal"] = False
        texts = _cell_texts(progress[market])
        assert {cell for cell, text in texts.items() if text == "too few"} == set(zip(*np.nonzero(few.to_numpy())))
        assert few.to_numpy().any()
        # effort on customers without a phase is named, not drawn
        unplaced = table.loc[(table["market"] == market) & table["phase"].isna(), "effort_share"].sum()
        assert unplaced > 0
        assert "effort on customers without a phase" in effort[market].get_title()


def test_channel_heatmaps_follow_min_rate_base(runs):
    table = runs["2x2"][1]["channel_phase"]
    fig = figures.channel_phase_heatmaps(table, min_rate_base=1)
    _, progress = _channel_panels(fig)
    for ax in progress.values():
        assert "too few" not in [t.get_text() for t in ax.texts]


def test_channel_heatmaps_without_activities_or_phases_are_placeholders(runs):
    empty = runs["sales_only"][1]["channel_phase"]
    assert empty.empty
    assert _placeholder_message(figures.channel_phase_heatmaps(empty, reason=NO_ACTIVITIES)) == NO_ACTIVITIES
    unplaced = runs["single"][1]["channel_phase"]  # no comparison period: nobody's phase when contacted
    assert unplaced["activities"].sum() > 0
    assert unplaced.loc[unplaced["phase"].notna(), "activities"].sum() == 0
    fig = figures.channel_phase_heatmaps(unplaced, reason=NO_COMPARISON)
    assert _placeholder_message(fig) == NO_COMPARISON


# --------------------------------------------------------------------------- roll-up


def test_territory_comparison_shows_missing_values_as_missing(runs):
    kpis = runs["2x2"][0]["kpis"].copy()
    kpis.loc[kpis.index[0], "coverage"] = np.nan
    kpis["mismatched_effort"] = np.nan
    reference = runs["2x2"][0]["nation"].iloc[0]
    fig = figures.territory_comparison(kpis, reference, label="territory_name")
    support, coverage, priority, mismatched = fig.axes
    assert priority.get_title() == "Effort on priority segments"
    names = [t.get_text() for t in support.get_yticklabels()]
    missing_at = names.index(kpis.loc[kpis.index[0], "territory_name"])
    hollow = [c for c in coverage.collections if isinstance(c, matplotlib.collections.PathCollection)
              and not len(c.get_facecolors())]
    assert len(hollow) == 1 and np.asarray(hollow[0].get_offsets()).tolist() == [[0.0, missing_at]]
    filled = [c for c in coverage.collections if isinstance(c, matplotlib.collections.PathCollection)
              and len(c.get_facecolors())]
    assert sum(len(c.get_offsets()) for c in filled) == len(kpis) - 1
    assert [t.get_text() for t in coverage.texts] == ["– no data"]
    assert [t.get_text() for t in mismatched.texts] == ["not available"]
    assert not [c for c in mismatched.collections if isinstance(c, matplotlib.collections.PathCollection)]


def test_territory_comparison_of_sales_only_data(runs):
    tables = runs["sales_only"][0]
    fig = figures.territory_comparison(tables["kpis"], tables["nation"].iloc[0], label="territory_name")
    assert [ax.texts[0].get_text() if ax.texts else "" for ax in fig.axes[:4]] == \
        ["", "not available", "not available", "not available"]


def test_pareto_curve_per_market(runs):
    lorenz = runs["2x2"][1]["lorenz"]
    fig = figures.pareto_curve(lorenz, 0.8)
    assert sorted(ax.get_title() for ax in fig.axes) == sorted(lorenz["market"].unique())


def test_each_figure_is_drawn_once_per_save_where_its_layout_put_it(runs, monkeypatch):
    """A figure laid out by ``tight_layout`` keeps no layout engine: matplotlib draws a
    figure with one an extra time, without rendering, before every save (a fifth of the
    save's time); the positions are those the layout found, unchanged by saving."""
    whole, t = runs["2x2"]
    made = {"segments": figures.segment_scatter(t["customers"]), "pareto": figures.pareto_curve(t["lorenz"]),
            "competitors": figures.competitor_bars(t["competitors"]), "three_c": figures.three_c_heatmap(t["three_c"]),
            "migration": figures.migration_heatmap(t["migration"]),
            "channels": figures.channel_phase_heatmaps(t["channel_phase"], MIN_BASE),
            "trend": figures.trend_lines(t["trend"], t["trend_activity"]),
            "comparison": figures.territory_comparison(whole["kpis"], whole["nation"].iloc[0], label="territory_name")}
    drawn = []
    draw = matplotlib.figure.Figure.draw
    monkeypatch.setattr(matplotlib.figure.Figure, "draw",
                        lambda fig, renderer: (drawn.append(fig), draw(fig, renderer)))
    for name, fig in made.items():
        placed = [ax.get_position(original=True).bounds for ax in fig.axes]
        drawn.clear()
        fig.savefig(io.BytesIO(), format="png", dpi=fig.dpi)
        assert drawn == [fig], name
        assert fig.get_layout_engine() is None, name
        assert [ax.get_position(original=True).bounds for ax in fig.axes] == placed, name


def _panels_in_inches(fig) -> np.ndarray:
    """Each panel's left, bottom, width and height, in inches."""
    return np.array([ax.get_position(original=True).bounds for ax in fig.axes]) * np.tile(fig.get_size_inches(), 2)


@pytest.mark.parametrize("shape", ["2x2", "3x3", "sales_only", "single"])
def test_scatter_fixed_layout_is_what_tight_layout_finds(runs, shape):
    """The segment scatter's margins are set in inches (figures.SCATTER_MARGINS): they must
    be those tight_layout finds for its texts, with one panel or one per market."""
    customers = runs[shape][1]["customers"]
    legend_rows = 4 if shape == "3x3" else 2  # (nine labels in three columns and a title; four in two)
    for table in (customers, customers[customers["market"] == customers["market"].min()]):
        fig = figures.segment_scatter(table)
        width, height = fig.get_size_inches()
        fixed = _panels_in_inches(fig)
        fig.tight_layout(rect=(0, (0.15 + figures.LEGEND_ROW * legend_rows) / height, 1, 1 - 0.3 / height))
        assert len(fixed) == table["market"].nunique()
        np.testing.assert_allclose(fixed, _panels_in_inches(fig), atol=0.005)  # inches: half a pixel
        plt.close(fig)


@pytest.mark.parametrize("shape", ["2x2", "3x3", "sales_only", "single"])
@pytest.mark.parametrize("vip_share", [0.5, 0.8, 0.95])
def test_pareto_fixed_layout_is_what_tight_layout_finds(runs, shape, vip_share):
    """As the scatter's (figures.PARETO_MARGINS), whatever the VIP cut and its note."""
    lorenz = runs[shape][1]["lorenz"]
    for table in (lorenz, lorenz[lorenz["market"] == lorenz["market"].min()]):
        fig = figures.pareto_curve(table, vip_share)
        fixed = _panels_in_inches(fig)
        fig.tight_layout()
        np.testing.assert_allclose(fixed, _panels_in_inches(fig), atol=0.005)
        plt.close(fig)
