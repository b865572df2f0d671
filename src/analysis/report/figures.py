"""Report figures (seaborn / matplotlib): data in, a Figure out, no I/O.

Every figure draws a table of the analysis pass as it is: values are pivoted and
formatted, never recomputed or summed across rows (a pivot that would need to combine
rows raises instead). Data that is missing is shown as missing, with the caller's
reason, never as 0.

Colours follow the Okabe-Ito palette (safe for colour blindness) and every series also
differs by marker or hatch, so the figures survive grey-scale printing.
"""
from __future__ import annotations

import textwrap

import matplotlib

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from analysis.contract.params import DEFAULTS
from analysis.contract.schema import PHASE_LEVELS
from analysis.domain.national import MANY_TERRITORIES, rollup_distribution
from analysis.domain.segmentation import SCHEMES, SegmentScheme
from analysis.report.text import phase_word

#: 2x2 scheme: one colour and marker per segment.
SEGMENT_COLOURS = {"A": "#0072B2", "B": "#D55E00", "C": "#009E73", "D": "#7f7f7f"}
SEGMENT_MARKERS = {"A": "o", "B": "^", "C": "s", "D": "X"}
#: Where each segment's letter sits in the 2x2 scatter (axes corners lie in their quadrant).
QUADRANT_LABELS = {"A": (0.98, 0.98, "right", "top"), "B": (0.98, 0.02, "right", "bottom"),
                   "C": (0.02, 0.98, "left", "top"), "D": (0.02, 0.02, "left", "bottom")}
SEGMENT_NAMES = {"A": "A  high potential, high support", "B": "B  high potential, low support",
                 "C": "C  low potential, high support", "D": "D  low potential, low support"}
#: Level-named schemes (3x3): the hue tells the potential level, the marker the support level.
POTENTIAL_COLOURS = {"high": "#0072B2", "medium": "#D55E00", "low": "#009E73"}
SUPPORT_MARKERS = {"high": "o", "medium": "s", "low": "^"}
#: Colours and markers for labels the tables above do not name (a further scheme).
_FALLBACK_COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#7f7f7f")
_FALLBACK_MARKERS = ("o", "^", "s", "X", "D", "v", "P", "*")
#: Text colour of notes (missing data, rows left out).
NOTE_COLOUR = "#52606d"
#: Hatch of marked heatmap cells: mid grey, seen on cividis' dark blue and on its yellow.
HATCH_COLOUR = "#8c8c8c"


def style() -> None:
    """The shared look of every report figure."""
    sns.set_theme(context="notebook", style="whitegrid", font_scale=0.95)
    matplotlib.rcParams.update({"figure.dpi": 110, "savefig.dpi": 160, "axes.titleweight": "bold",
                                "axes.titlesize": 12, "figure.autolayout": False})


def drawn_once() -> None:
    """In a report notebook: each figure drawn once, for the picture the inline backend shows.

    pyplot also redraws every changed figure after each cell (its display hook, meant for
    interactive windows), just before the inline backend draws the figure again to show it
    and closes it: a whole drawing nobody sees. The backend is resolved here (pyplot
    installs the hook then) and the hook removed; the inline backend still shows each new
    figure after its cell.
    """
    plt.switch_backend(matplotlib.get_backend())
    plt.uninstall_repl_displayhook()


def placeholder(title: str, message: str) -> plt.Figure:
    """A small figure saying why there is nothing to draw (the section still renders).

    The message is wrapped at word boundaries (lines of at most 90 characters).
    """
    style()
    lines = textwrap.wrap(message, 90) or [""]
    fig, ax = plt.subplots(figsize=(8, 1.3 + 0.22 * len(lines)))
    ax.axis("off")
    ax.text(0.5, 0.5, "\n".join(lines), ha="center", va="center", fontsize=11, color=NOTE_COLOUR)
    fig.suptitle(title, fontweight="bold")
    return fig


# --------------------------------------------------------------------------- segments


def segment_styles(scheme: SegmentScheme) -> dict[str, tuple[str, str, str]]:
    """Colour, marker and legend name of every label of ``scheme``, in the scheme's order.

    2x2: one Okabe-Ito colour and one marker per segment. Level-named schemes (3x3): the
    colour is the potential level, the marker the support level.
    """
    by_label = {label: levels for levels, label in scheme.levels.items()}
    styles = {}
    for i, label in enumerate(scheme.labels):
        if scheme.grid == "2x2" and label in SEGMENT_COLOURS:
            styles[label] = (SEGMENT_COLOURS[label], SEGMENT_MARKERS[label], SEGMENT_NAMES[label])
            continue
        potential, support = by_label.get(label, (None, None))
        colour = POTENTIAL_COLOURS.get(potential, _FALLBACK_COLOURS[i % len(_FALLBACK_COLOURS)])
        marker = SUPPORT_MARKERS.get(support, _FALLBACK_MARKERS[i % len(_FALLBACK_MARKERS)])
        name = str(label)
        styles[label] = (colour, marker, name)
    return styles


def _scheme_of_table(customers: pd.DataFrame, scheme: SegmentScheme | None) -> SegmentScheme:
    """``scheme``, checked against the table's segments; without one, the scheme they belong to."""
    present = set(customers["segment"].dropna().astype(str))
    if scheme is None:
        fits = [s for s in SCHEMES.values() if present <= set(s.labels)]
        if not fits:
            raise ValueError(f"segments {sorted(present)} belong to no segment scheme; pass the run's scheme")
        return fits[0]
    unknown = sorted(present - set(scheme.labels))
    if unknown:
        raise ValueError(f"segments {unknown} are not labels of the {scheme.grid} scheme "
                         f"({', '.join(scheme.labels)}); pass the scheme of the run")
    return scheme


def _cuts(rows: pd.DataFrame, axis: str) -> list[float]:
    """The cut points of ``axis`` (potential or support) the table carries, lowest first.

    ``<axis>_cut`` is the (first) cut; a level-named scheme may also carry
    ``<axis>_cut_1`` (its upper cut). Nothing is computed here.
    """
    values = []
    for column in (f"{axis}_cut", f"{axis}_cut_1"):
        if column in rows:
            present = rows[column].dropna()
            if len(present):
                values.append(float(present.iloc[0]))
    return values


def segment_scatter(customers: pd.DataFrame, scheme: SegmentScheme | None = None) -> plt.Figure:
    """Potential vs support per market, coloured and shaped by segment, with the cut lines.

    ``customers``: one row per customer x market (one territory) with market, potential,
    support, segment, potential_cut, support_cut. ``scheme``: the run's segment scheme
    (:func:`analysis.domain.segmentation.scheme_of`); without it, the scheme the table's
    segments belong to. Zero support is low support (on the 0% line). Customers without
    sales (support missing) or without potential cannot be placed on the log scale and
    are counted in the panel title.
    """
    style()
    scheme = _scheme_of_table(customers, scheme)
    styles = segment_styles(scheme)
    markets = sorted(customers["market"].dropna().unique())
    height = 4.4 if scheme.grid == "2x2" else 5.2
    fig, axes = plt.subplots(1, max(len(markets), 1), figsize=(5.2 * max(len(markets), 1), height),
                             squeeze=False, sharey=True)
    for ax, market in zip(axes[0], markets):
        rows = customers[(customers["market"] == market) & customers["segment"].notna()]
        no_sales = rows["support"].isna()
        no_potential = ~no_sales & ~(rows["potential"] > 0)
        placed = rows[~no_sales & ~no_potential]
        for label, (colour, marker, name) in styles.items():
            pts = placed[placed["segment"] == label]
            if len(pts):
                ax.scatter(pts["potential"], pts["support"], s=26, alpha=0.85, label=name, color=colour,
                           marker=marker, edgecolors="white", linewidths=0.4, zorder=3)
        if len(placed):
            ax.set_xscale("log")
            pcuts, scuts = _cuts(rows, "potential"), _cuts(rows, "support")
            for cut in pcuts:
                ax.axvline(cut, color="#333333", linestyle="--", linewidth=1)
            for cut in scuts:
                ax.axhline(cut, color="#333333", linestyle=":", linewidth=1.2)
            if scheme.grid == "2x2":
                for seg, (x, y, ha, va) in QUADRANT_LABELS.items():
                    ax.text(x, y, seg, transform=ax.transAxes, ha=ha, va=va, fontsize=13, fontweight="bold", zorder=2.5,
                            color=SEGMENT_COLOURS[seg], bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.7})
        else:
            ax.text(0.5, 0.5, "no customer with sales and potential", transform=ax.transAxes, ha="center",
                    va="center", color=NOTE_COLOUR)
        ax.set_ylim(-0.03, 1.03)
        ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
        ax.set_xlabel("Potential (boxes per month, log scale)")
        ax.set_ylabel("Support (our share of the customer's market)")
        left_out = [f"{n} {what}" for n, what in ((int(no_sales.sum()), "without sales"),
                                                 (int(no_potential.sum()), "without potential")) if n]
        ax.set_title(f"{market}" + (f"  ({', '.join(left_out)} not shown)" if left_out else ""), fontsize=10.5)
    handles = [matplotlib.lines.Line2D([], [], linestyle="none", marker=marker, color=colour, markersize=6,
                                       markeredgecolor="white", markeredgewidth=0.4, label=name)
               for colour, marker, name in styles.values()]
    ncol = 2 if len(handles) <= 4 else 3
    legend_rows = -(-len(handles) // ncol) + (scheme.grid != "2x2")
    fig.legend(handles=handles, loc="lower center", ncol=ncol, frameon=False, bbox_to_anchor=(0.5, 0.0),
               fontsize=9, title=None if scheme.grid == "2x2" else _level_legend_title(customers), title_fontsize=9)
    fig.suptitle("Potential vs support by segment", fontweight="bold", y=0.99)
    left, right, labels, top, gap = SCATTER_MARGINS
    _fixed(fig, left=left, right=right, bottom=LEGEND_ROW * legend_rows + 0.15 + labels, top=top, gap=gap)
    return fig


#: The segment scatter's margins, in inches: left, right, the axis labels' height above the
#: legend, top (suptitle and panel titles) and between panels. They are what tight_layout
#: finds for the figure's texts, whose sizes do not depend on the data (fixed tick labels,
#: one-line titles; tests/test_figures.py checks that the two agree), set directly:
#: tight_layout lays every text out once more, two-fifths of the figure's time.
SCATTER_MARGINS = (0.926, 0.171, 0.688, 1.027, 0.385)
#: The height of one row of a legend under the panels, in inches.
LEGEND_ROW = 0.21


def _level_legend_title(customers: pd.DataFrame) -> str:
    """The legend title of a level-named scheme: how to read a label, and which cuts are drawn."""
    both = all(_cuts(customers, axis)[1:] for axis in ("potential", "support"))
    cuts = "low | medium and medium | high" if both else "low | medium"
    return (f"segment = potential level / support level;  "
            f"dashed: potential cut, dotted: support cut ({cuts})")


# --------------------------------------------------------------------------- helpers


def _tight(fig: plt.Figure, rect: tuple[float, float, float, float] = (0, 0, 1, 1)) -> None:
    """``fig.tight_layout(rect=rect)``, the positions it finds then kept as they are.

    After ``tight_layout`` matplotlib leaves a placeholder layout engine on the figure,
    and a figure with any engine is drawn once more, without rendering, before every save
    (for constrained layouts); here that draw places nothing, and it was a fifth of a
    report figure's save. The same pixels, as the positions are those tight_layout set.
    """
    fig.tight_layout(rect=rect)
    with matplotlib.rc_context({"figure.autolayout": False, "figure.constrained_layout.use": False}):
        fig.set_layout_engine(None)  # (None under these settings: no engine, no draw before a save)


def _fixed(fig: plt.Figure, *, left: float, right: float, bottom: float, top: float, gap: float) -> None:
    """A fixed layout of ``fig``'s one row of panels, its margins and the ``gap`` between
    panels given in inches (whatever the figure's size and number of panels)."""
    width, height = fig.get_size_inches()
    columns = fig.axes[0].get_subplotspec().get_gridspec().ncols
    panel = (width - left - right - gap * (columns - 1)) / columns
    fig.subplots_adjust(left=left / width, right=1 - right / width, bottom=bottom / height, top=1 - top / height,
                        wspace=gap / panel)


def _facets(n: int, width: float = 5.2, height: float = 4.2):
    fig, axes = plt.subplots(1, max(n, 1), figsize=(width * max(n, 1), height), squeeze=False)
    return fig, axes[0]


def per_market(frame: pd.DataFrame, suptitle: str, size: tuple[float, float], draw,
               margins: tuple[float, float, float, float, float] | None = None) -> plt.Figure:
    """One panel per market of ``frame``: ``draw(ax, rows, index)`` fills each, titled by market.

    ``draw`` may return a note (text), shown under the market in the panel's title.
    ``margins``: a fixed layout, in inches (left, right, bottom, top, between panels: see
    :func:`_fixed`), for a figure whose texts do not depend on the data; else tight_layout.
    """
    style()
    markets = sorted(frame["market"].unique())
    fig, axes = _facets(len(markets), *size)
    for index, (ax, market) in enumerate(zip(axes, markets)):
        note = draw(ax, frame[frame["market"] == market], index)
        ax.set_title(market + (f"\n{note}" if note else ""), fontsize=10.5)
    fig.suptitle(suptitle, fontweight="bold")
    if margins is None:
        _tight(fig)
    else:
        left, right, bottom, top, gap = margins
        _fixed(fig, left=left, right=right, bottom=bottom, top=top, gap=gap)
    return fig


def _ladder(values: pd.Series) -> list[str]:
    """The phases present in ``values`` (missing ones left out), in ladder order."""
    present = set(values.dropna().astype(str))
    known = [p for p in PHASE_LEVELS if p in present]
    return known + sorted(present - set(known))


def _in_order(values: pd.Series) -> list[str]:
    """The values present, in their categorical order when they have one, else as they appear."""
    present = list(dict.fromkeys(values.dropna().astype(str)))
    if isinstance(values.dtype, pd.CategoricalDtype):
        return [str(c) for c in values.cat.categories if str(c) in present]
    return present


def _grid(rows: pd.DataFrame, index: str, columns: str, values: str,
          index_order: list[str], column_order: list[str]) -> pd.DataFrame:
    """``values`` of ``rows`` laid out as ``index`` x ``columns``: one row of the table per cell.

    A pivot, not an aggregation: two rows for one cell (several territories, say) raise.
    """
    flat = rows.assign(**{index: rows[index].astype(str), columns: rows[columns].astype(str)})
    return flat.pivot(index=index, columns=columns, values=values).reindex(index=index_order, columns=column_order)


def _phase_axis(matrix: pd.DataFrame, *, rows: bool = True, columns: bool = True) -> pd.DataFrame:
    """The same matrix with phases named for people (``below_trial``: not yet prescribing)."""
    out = matrix.copy()
    if rows:
        out.index = [phase_word(p) for p in out.index]
    if columns:
        out.columns = [phase_word(p) for p in out.columns]
    return out


def pareto_curve(lorenz: pd.DataFrame, vip_share: float = 0.8) -> plt.Figure:
    """Cumulative share of value against cumulative share of customers, per market.

    ``lorenz`` from :func:`analysis.domain.segmentation.lorenz`. The VIP cut is where the curve
    reaches ``vip_share``; the diagonal is an equal spread for comparison.
    """
    def draw(ax, rows, index):
        x = np.concatenate([[0.0], rows["customer_share"].to_numpy()])
        y = np.concatenate([[0.0], rows["value_share"].to_numpy()])
        ax.plot(x, y, color="#0072B2", linewidth=2, marker="osD^"[index % 4], markevery=max(len(x) // 10, 1),
                markersize=4, label="customers ranked by value")
        ax.plot([0, 1], [0, 1], color="#7f7f7f", linestyle=":", linewidth=1, label="equal spread")
        reached = rows[rows["value_share"] >= vip_share - 1e-9]
        if len(reached):
            cut = reached["customer_share"].iloc[0]
            ax.axvline(cut, color="#D55E00", linestyle="--", linewidth=1.2)
            ax.axhline(vip_share, color="#D55E00", linestyle="--", linewidth=0.8)
            ax.annotate(f"VIPs: top {cut:.0%} of customers\nbring {vip_share:.0%} of value", xy=(cut, vip_share),
                        xytext=(min(cut + 0.08, 0.55), 0.35), fontsize=9,
                        arrowprops={"arrowstyle": "->", "color": "#333333"})
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
        ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
        ax.set_xlabel("Share of customers (ranked, largest first)")
        ax.set_ylabel("Cumulative share of potential")
        ax.legend(loc="lower right", fontsize=8, frameon=False)

    return per_market(lorenz, "Pareto curve: how concentrated the potential is", (4.6, 4.0), draw, PARETO_MARGINS)


#: The Pareto curves' margins, in inches (left, right, bottom, top, between panels): as
#: :data:`SCATTER_MARGINS`, what tight_layout finds for their texts (fixed tick labels and
#: axis labels, the market as title; the VIP note inside the panel).
PARETO_MARGINS = (0.926, 0.376, 0.662, 0.727, 1.130)


def _heatmap(ax, matrix: pd.DataFrame, annot: pd.DataFrame, *, cmap: str, fmt_label: str, vmax=None,
             marks: pd.DataFrame | None = None, notes: pd.DataFrame | None = None):
    """A labelled heatmap of ``matrix`` (first row on top) with ``annot`` texts and hatched ``marks``.

    Drawn with matplotlib directly: seaborn's heatmap draws the whole figure once more
    to check its tick labels, which was a fifth of a report's figure time. Empty (NaN)
    cells stay blank; each text is dark or light by the luminance of its cell. ``notes``:
    texts for blank cells (e.g. "too few"), in grey.
    """
    values = matrix.astype(float).to_numpy()
    finite = values[np.isfinite(values)]
    top = vmax if vmax is not None else (finite.max() if finite.size and finite.max() > 0 else 1.0)
    mesh = ax.pcolormesh(np.ma.masked_invalid(values), cmap=cmap, vmin=0, vmax=top, edgecolors="white",
                         linewidth=0.5)
    rows, cols = values.shape
    ax.set_xlim(0, cols)
    ax.set_ylim(rows, 0)
    ax.set_xticks(np.arange(cols) + 0.5, [str(c) for c in matrix.columns])
    ax.set_yticks(np.arange(rows) + 0.5, [str(r) for r in matrix.index])
    ax.tick_params(length=0)
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(False)
    bar = ax.figure.colorbar(mesh, ax=ax, shrink=0.8, label=fmt_label)
    bar.outline.set_linewidth(0)
    texts = annot.to_numpy()
    for (i, j), text in np.ndenumerate(texts):
        if text and np.isfinite(values[i, j]):
            light = sns.utils.relative_luminance(mesh.cmap(mesh.norm(values[i, j]))) <= 0.408
            ax.text(j + 0.5, i + 0.5, text, ha="center", va="center", fontsize=8, color="white" if light else "#262626")
    if notes is not None:
        for (i, j), text in np.ndenumerate(notes.reindex(index=matrix.index, columns=matrix.columns).to_numpy()):
            if isinstance(text, str) and text and not np.isfinite(values[i, j]):
                ax.text(j + 0.5, i + 0.5, text, ha="center", va="center", fontsize=7, color=NOTE_COLOUR,
                        bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.85, "pad": 0.5})
    if marks is not None:
        for i, j in zip(*np.nonzero(marks.reindex(index=matrix.index, columns=matrix.columns).fillna(False)
                                    .astype(bool).to_numpy())):
            ax.add_patch(matplotlib.patches.Rectangle((j, i), 1, 1, fill=False, hatch="///", edgecolor=HATCH_COLOUR,
                                                      linewidth=0))
    return mesh


def _slant(ax, degrees: float) -> None:
    """Slanted x tick labels that end under their column (long labels do not collide)."""
    for label in ax.get_xticklabels():
        label.set(rotation=degrees, ha="right", rotation_mode="anchor")


def _counts(matrix: pd.DataFrame) -> pd.DataFrame:
    return matrix.map(lambda v: f"{v:,.0f}" if v == v and v else "")


# --------------------------------------------------------------------------- phases


def three_c_heatmap(three_c: pd.DataFrame) -> plt.Figure:
    """Customers per phase x competitor position, per market (3C matrix).

    ``three_c``: the pass's table for one territory. Rows without a phase (customers not
    on the ladder: suppliers, distributors, peripheral) are left out and counted in the
    panel title; the phases are those of the table (sales-only data: not yet prescribing,
    trial, adopter, loyal).
    """
    def draw(ax, rows, index):
        off_ladder = rows[rows["phase"].isna()]
        on = rows[rows["phase"].notna()]
        matrix = _grid(on, "phase", "competitor_position", "customers", _ladder(on["phase"])[::-1],
                       _in_order(on["competitor_position"]))
        matrix = _phase_axis(matrix, columns=False)
        matrix.columns = [str(c).replace("_", " ") for c in matrix.columns]
        _heatmap(ax, matrix, _counts(matrix), cmap="cividis", fmt_label="customers")
        ax.set_xlabel("Competitor position (analysis period)")
        ax.set_ylabel("Customer phase (adoption ladder)")
        _slant(ax, 20)
        left_out = int(off_ladder["customers"].sum())
        return f"({left_out:,} customers without a phase not shown)" if left_out else None

    return per_market(three_c, "3C matrix: customer phase against competitor position", (5.4, 4.4), draw)


def migration_heatmap(migration: pd.DataFrame, reason: str | None = None) -> plt.Figure:
    """Phase migration between the comparison and the analysis period, per market.

    ``migration``: the pass's table for one territory; the shading is its stored ``rate``
    (share of the row), the texts its ``customers``. The pass gives no rows when there is
    no comparison period: the figure is then a placeholder saying ``reason``.
    """
    if migration.empty:
        return placeholder("Phase migration", reason or "No phase migration: the data has no comparison period.")

    def draw(ax, rows, index):
        rows = rows.dropna(subset=["phase_previous", "phase"])
        before, now = _ladder(rows["phase_previous"]), _ladder(rows["phase"])
        rates = _phase_axis(_grid(rows, "phase_previous", "phase", "rate", before, now))
        counts = _phase_axis(_grid(rows, "phase_previous", "phase", "customers", before, now))
        _heatmap(ax, rates, _counts(counts), cmap="cividis", fmt_label="share of the row (customers in cell)", vmax=1)
        ax.set_xlabel("Phase in the analysis period")
        ax.set_ylabel("Phase in the comparison period")
        _slant(ax, 30)

    return per_market(migration, "Phase migration: above the diagonal moved up, below slipped", (5.4, 4.5), draw)


def _share(value: float) -> str:
    return f"{value:.0%}" if value >= 0.01 else f"{value:.1%}" if value >= 0.001 else "<0.1%"


def channel_phase_heatmaps(channel_phase: pd.DataFrame, min_rate_base: int = DEFAULTS["min_rate_base"],
                           reason: str | None = None) -> plt.Figure:
    """Effort share and progression rate per channel x phase: one row of two panels per market.

    ``channel_phase``: the pass's table for one territory; each market's stored
    ``effort_share`` and ``progression_rate`` are drawn as they are (a market's effort
    shares add up to 1 over its cells, including those of customers without a phase).
    Progression over fewer than ``min_rate_base`` touched customers reads "too few";
    cells nobody was touched in stay blank, and so does ``loyal`` (it cannot move up).
    Rows without a phase are not drawn; their share of effort is in the panel title.
    Hatched cells: the channel does not fit the phase. No activities: a placeholder
    saying ``reason``.
    """
    title = "Channel-phase mapping"
    if channel_phase.empty or not channel_phase["activities"].sum():
        return placeholder(title, reason or "No activities in the analysis period: the data has no "
                           "activities table, or no activity in these months.")
    placed_rows = channel_phase[channel_phase["phase"].notna()]
    if not placed_rows["activities"].sum():
        return placeholder(title, reason or "No activity can be placed on the ladder: the phase of the customers "
                           "when contacted (comparison period) is not known.")
    style()
    markets = sorted(channel_phase["market"].dropna().unique())
    channels = list(dict.fromkeys(channel_phase["channel"].astype(str)))
    top = placed_rows["effort_share"].max()
    top = top if top == top and top > 0 else 1.0
    fig, axes = plt.subplots(len(markets), 2, figsize=(12.5, 4.7 * len(markets) + 0.6), squeeze=False)
    for (effort_ax, progress_ax), market in zip(axes, markets):
        rows = channel_phase[channel_phase["market"] == market]
        on = rows[rows["phase"].notna()]
        phases = _ladder(on["phase"])
        effort = _grid(on, "channel", "phase", "effort_share", channels, phases)
        progression = _grid(on, "channel", "phase", "progression_rate", channels, phases)
        base = _grid(on, "channel", "phase", "customers_touched", channels, phases)
        too_few = (base > 0) & (base < min_rate_base)
        progression = progression.mask(too_few | ~(base > 0))
        notes = too_few.map(lambda few: "too few" if few else "")
        if "loyal" in progression:  # loyal is the top of the ladder: nobody can move up from it
            progression["loyal"] = np.nan
            notes["loyal"] = ""
        off_fit = ~_grid(on, "channel", "phase", "fits", channels, phases).fillna(False).astype(bool)
        effort_text = effort.map(lambda v: _share(v) if v == v and v >= 0.001 else "")
        _heatmap(effort_ax, _phase_axis(effort, rows=False), _phase_axis(effort_text, rows=False), cmap="cividis",
                 fmt_label="share of the market's effort (cost)", vmax=top, marks=_phase_axis(off_fit, rows=False))
        _heatmap(progress_ax, _phase_axis(progression, rows=False),
                 _phase_axis(progression.map(lambda v: f"{v:.0%}" if v == v else ""), rows=False),
                 cmap="cividis", fmt_label="share of touched customers who moved up", vmax=1,
                 marks=_phase_axis(off_fit, rows=False), notes=_phase_axis(notes, rows=False))
        unplaced = rows.loc[rows["phase"].isna(), "effort_share"].sum()
        note = f"\n{_share(unplaced)} of the effort on customers without a phase, not drawn" if unplaced > 0 else ""
        effort_ax.set_title(f"{market}: where the effort goes{note}", fontsize=10.5)
        progress_ax.set_title(f"{market}: what moves customers up\n(\"too few\": under {min_rate_base} "
                              f"customers touched; loyal cannot move up)", fontsize=10.5)
        for ax in (effort_ax, progress_ax):
            ax.set_xlabel("Customer phase when contacted (comparison period)")
            ax.set_ylabel("Channel")
            _slant(ax, 30)
    fig.suptitle(f"{title} per market (hatched cells: channel does not fit the phase)", fontweight="bold")
    _tight(fig)
    return fig


# --------------------------------------------------------------------------- roll-ups


#: The measures of the roll-up comparison: column, panel title, marker.
COMPARISON_MEASURES = (("support", "Support (our share)", "o"), ("coverage", "Coverage", "s"),
                       ("effort_on_priority", "Effort on priority segments", "^"),
                       ("mismatched_effort", "Mismatched effort", "D"))


def territory_comparison(kpis: pd.DataFrame, reference: pd.Series, label: str = "territory",
                         distribution: pd.DataFrame | None = None,
                         many: int | None = MANY_TERRITORIES) -> plt.Figure:
    """Four key shares per territory as dot plots, with the scope's overall value as a line.

    A missing value (no activities, no comparison period) is a hollow marker at the
    axis start marked "– no data", never a 0; a measure missing everywhere says "not
    available". Above ``many`` territories (None: never) the figure draws their spread
    instead of one row each: :func:`spread_comparison` of ``distribution`` (the pass's
    quantiles; by default those of ``kpis`` as one group).
    """
    if many is not None and len(kpis) > many:
        if distribution is None:
            distribution = rollup_distribution(kpis.assign(scope="all"), "scope")
        return spread_comparison(distribution, reference, territories=len(kpis))
    style()
    order = kpis.sort_values("support", ascending=True, na_position="first", kind="mergesort")
    names = order[label].astype(str).tolist()
    y = np.arange(len(names))
    fig, axes = plt.subplots(1, len(COMPARISON_MEASURES), figsize=(13, 0.32 * len(names) + 2.1), sharey=True)
    legend = {}
    for ax, (column, title, marker) in zip(axes, COMPARISON_MEASURES):
        values = (pd.to_numeric(order[column], errors="coerce") if column in order
                  else pd.Series(np.nan, index=order.index)).to_numpy(dtype=float)
        known = np.isfinite(values)
        ax.set_xlim(0, 1)
        ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
        ax.set_title(title, fontsize=10.5)
        ax.set_xlabel("share")
        if not known.any():
            ax.text(0.5, 0.5, "not available", transform=ax.transAxes, ha="center", va="center", fontsize=11,
                    color=NOTE_COLOUR, bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.9})
            ax.tick_params(axis="x", labelbottom=False)  # no scale where there is nothing to read on it
            ax.set_xlabel("")
            continue
        ax.hlines(y[known], 0, values[known], color="#9aa5b1", linewidth=1)
        ax.scatter(values[known], y[known], color="#0072B2", marker=marker, s=36, zorder=3)
        legend.setdefault("value", matplotlib.lines.Line2D([], [], linestyle="none", marker="o", color="#0072B2",
                                                           markersize=6, label="value"))
        if (~known).any():
            ax.scatter(np.zeros((~known).sum()), y[~known], facecolors="none", edgecolors="#7f7f7f", marker=marker,
                       s=36, zorder=3, clip_on=False)
            for yi in y[~known]:
                ax.annotate("– no data", (0, yi), xytext=(7, 0), textcoords="offset points", va="center",
                            fontsize=7.5, color=NOTE_COLOUR)
            legend["no data"] = matplotlib.lines.Line2D([], [], linestyle="none", marker="o", markersize=6,
                                                        markerfacecolor="none", markeredgecolor="#7f7f7f",
                                                        label="– no data (missing, not 0)")
        overall = reference.get(column, np.nan) if reference is not None else np.nan
        if overall is not None and overall == overall:
            legend["overall"] = ax.axvline(overall, color="#D55E00", linestyle="--", linewidth=1.2, label="overall")
    axes[0].set_yticks(y)
    axes[0].set_yticklabels(names, fontsize=8)
    axes[0].set_ylim(-0.7, len(names) - 0.3)
    if legend:
        fig.legend(handles=list(legend.values()), loc="lower center", ncol=len(legend), fontsize=8, frameon=False,
                   bbox_to_anchor=(0.5, 0.0))
    fig.suptitle("Territories side by side (dashed: overall)", fontweight="bold")
    height = fig.get_figheight()
    _tight(fig, rect=(0, 0.35 / height, 1, 1))
    return fig


#: At most this many groups (regions) get a box each; beyond, only the overall one is drawn.
MAX_BOXES = 40
BOX_COLOUR = "#56B4E9"


def spread_comparison(distribution: pd.DataFrame, reference: pd.Series | None = None,
                      territories: int | None = None) -> plt.Figure:
    """The spread of four key shares over many territories: one box per group.

    ``distribution`` is :func:`analysis.domain.national.rollup_distribution`'s table with
    a ``scope`` column (each region, and "all"): the box spans the 25-75 % quantiles,
    the whiskers 10-90 %, a thick line marks the median, small bars the lowest and
    highest value; the dashed line is the scope's overall value. Nothing is drawn per
    territory, so the figure's size does not grow with them. Territories without a value
    are counted above each box ("n without data"), never drawn as 0.
    """
    style()
    d = distribution.copy()
    d["scope"] = d["scope"].astype(str)
    groups = list(dict.fromkeys(d["scope"]))
    regions = [g for g in groups if g != "all"]
    if len(regions) > MAX_BOXES and "all" in groups:
        regions = []
    order = [*sorted(regions, reverse=True), *(["all"] if "all" in groups else [])]  # overall on top
    y = np.arange(len(order))
    names = ["All territories" if g == "all" else g for g in order]
    fig, axes = plt.subplots(1, len(COMPARISON_MEASURES), figsize=(13, 0.5 * len(order) + 2.4), sharey=True)
    legend = {}
    for ax, (column, title, _) in zip(axes, COMPARISON_MEASURES):
        rows = d[d["measure"] == column].set_index("scope").reindex(order)
        ax.set_xlim(0, 1)
        ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
        ax.set_title(title, fontsize=10.5)
        ax.set_xlabel("share")
        known = rows["known"].fillna(0).to_numpy() > 0
        if not known.any():
            ax.text(0.5, 0.5, "not available", transform=ax.transAxes, ha="center", va="center", fontsize=11,
                    color=NOTE_COLOUR, bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.9})
            ax.tick_params(axis="x", labelbottom=False)
            ax.set_xlabel("")
            continue
        r = rows[known]
        yk = y[known]
        ax.barh(yk, (r["p75"] - r["p25"]).to_numpy(), left=r["p25"].to_numpy(), height=0.5, color=BOX_COLOUR,
                edgecolor="#0072B2", linewidth=1, zorder=2)
        ax.hlines(yk, r["p10"].to_numpy(), r["p25"].to_numpy(), color="#0072B2", linewidth=1.2, zorder=2)
        ax.hlines(yk, r["p75"].to_numpy(), r["p90"].to_numpy(), color="#0072B2", linewidth=1.2, zorder=2)
        ax.vlines(r["median"].to_numpy(), yk - 0.25, yk + 0.25, color="#000000", linewidth=2.2, zorder=3)
        ax.scatter(r["min"].to_numpy(), yk, marker="|", color="#7f7f7f", s=60, zorder=3)
        ax.scatter(r["max"].to_numpy(), yk, marker="|", color="#7f7f7f", s=60, zorder=3)
        for yi, row in zip(y, rows.itertuples()):  # one note per group (a few), never per territory
            if row.known == 0 or pd.isna(row.known):
                ax.annotate("– no data", (0, yi), xytext=(7, 0), textcoords="offset points", va="center",
                            fontsize=7.5, color=NOTE_COLOUR)
            elif row.missing > 0:
                ax.text(0.99, yi + 0.39, f"{int(row.missing):,} without data", transform=ax.get_yaxis_transform(),
                        ha="right", va="center", fontsize=7, color=NOTE_COLOUR,
                        bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.85, "pad": 0.5})
        overall = reference.get(column, np.nan) if reference is not None else np.nan
        if overall is not None and overall == overall:
            legend["overall"] = ax.axvline(overall, color="#D55E00", linestyle="--", linewidth=1.2, label="overall")
    legend = {"box": matplotlib.patches.Patch(facecolor=BOX_COLOUR, edgecolor="#0072B2",
                                              label="middle half of the territories (25-75%)"),
              "whisker": matplotlib.lines.Line2D([], [], color="#0072B2", label="10-90%"),
              "median": matplotlib.lines.Line2D([], [], color="#000000", linewidth=2.2, label="median"),
              "range": matplotlib.lines.Line2D([], [], linestyle="none", marker="|", color="#7f7f7f", markersize=8,
                                               label="lowest / highest"), **legend}
    axes[0].set_yticks(y)
    axes[0].set_yticklabels(names, fontsize=8.5)
    axes[0].set_ylim(-0.7, len(order) - 0.1)
    fig.legend(handles=list(legend.values()), loc="lower center", ncol=len(legend), fontsize=8, frameon=False,
               bbox_to_anchor=(0.5, 0.0))
    many = f"{territories:,} territories" if territories else "Territories"
    fig.suptitle(f"{many}: the spread of each share (dashed: overall)", fontweight="bold")
    height = fig.get_figheight()
    _tight(fig, rect=(0, 0.45 / height, 1, 1))
    return fig


# --------------------------------------------------------------------------- deeper figures

#: One colour, marker and line style per market or territory (Okabe-Ito; styles for grey scale).
SERIES_COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#7f7f7f")
SERIES_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
SERIES_LINES = ("-", "--", "-.", ":")
ANALYSIS_SHADE = "#e8edf2"


def _month_axis(ax, periods: list[str]) -> None:
    """Months as x ticks (every n-th labelled so they never collide)."""
    step = max(1, int(np.ceil(len(periods) / 8)))
    ax.set_xticks(range(len(periods)))
    ax.set_xticklabels([p if i % step == 0 else "" for i, p in enumerate(periods)], fontsize=8)
    _slant(ax, 30)


def _shade_window(ax, periods: list[str], windows: pd.Series) -> None:
    """Shade the analysis months (and label them)."""
    marks = [i for i, p in enumerate(periods) if windows.get(p) == "analysis"]
    if marks:
        ax.axvspan(min(marks) - 0.5, max(marks) + 0.5, color=ANALYSIS_SHADE, zorder=0, linewidth=0)


def trend_lines(trend: pd.DataFrame, activity: pd.DataFrame | None = None,
                reason: str | None = None) -> plt.Figure:
    """Month by month: own units, support and prescribing customers per market, and coverage.

    ``trend`` and ``activity``: the pass's ``trend`` and ``trend_activity`` tables of one
    territory, drawn as they are. The analysis months are shaded. Without activity rows
    the fourth panel says ``reason`` instead of drawing zeros.
    """
    if trend.empty:
        return placeholder("Monthly trend", "No sales months in the data.")
    style()
    periods = sorted(trend["period"].astype(str).unique())
    windows = trend.drop_duplicates("period").set_index(trend.drop_duplicates("period")["period"].astype(str))["window"]
    markets = sorted(trend["market"].astype(str).unique())
    fig, grid = plt.subplots(2, 2, figsize=(10, 6.2))
    axes = grid.ravel()
    panels = (("own_units", "Own units", None), ("support", "Support (our share)", "pct"),
              ("prescribing_customers", "Prescribing customers", None))
    x = {p: i for i, p in enumerate(periods)}
    for ax, (column, title, kind) in zip(axes, panels):
        _shade_window(ax, periods, windows)
        for i, market in enumerate(markets):
            rows = trend[trend["market"].astype(str) == market].sort_values("period")
            ax.plot([x[p] for p in rows["period"].astype(str)], pd.to_numeric(rows[column]).astype(float),
                    color=SERIES_COLOURS[i % 8], marker=SERIES_MARKERS[i % 8], markersize=3.5,
                    linestyle=SERIES_LINES[i % 4], linewidth=1.6, label=market)
        if kind == "pct":
            ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=0))
        ax.set_ylim(bottom=0)
        ax.set_title(title, fontsize=10.5)
        _month_axis(ax, periods)
    ax = axes[3]
    if activity is None or activity.empty:
        ax.axis("off")
        ax.text(0.5, 0.5, "\n".join(textwrap.wrap(reason or "No activity data.", 30)), transform=ax.transAxes,
                ha="center", va="center", fontsize=9, color=NOTE_COLOUR)
        ax.set_title("Coverage (customers contacted)", fontsize=10.5)
    else:
        _shade_window(ax, periods, windows)
        rows = activity[activity["period"].astype(str).isin(x)].sort_values("period")
        ax.plot([x[p] for p in rows["period"].astype(str)], pd.to_numeric(rows["coverage"]).astype(float),
                color="#000000", marker="o", markersize=3.5, linewidth=1.6, label="coverage")
        ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=0))
        ax.set_ylim(0, 1)
        ax.set_title("Coverage (customers contacted)", fontsize=10.5)
        _month_axis(ax, periods)
    handles, labels = axes[0].get_legend_handles_labels()
    handles.append(matplotlib.patches.Patch(color=ANALYSIS_SHADE, label="analysis period"))
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), frameon=False, fontsize=9.5,
               bbox_to_anchor=(0.5, 0.0))
    fig.suptitle("Month by month", fontweight="bold")
    # a fixed layout (tight_layout would draw the figure once more: a third of its time)
    fig.subplots_adjust(left=0.07, right=0.98, top=0.9, bottom=0.17, hspace=0.55, wspace=0.22)
    return fig


#: Product colours: ours first in blue; competitors in the remaining Okabe-Ito colours.
PRODUCT_HATCHES = ("", "//", "..", "\\\\", "xx", "--", "++", "oo")


def competitor_bars(competitors: pd.DataFrame) -> plt.Figure:
    """Small multiples: per market, each product's share of the territory and of each segment.

    ``competitors``: the pass's table of one territory (rows per market x segment x
    product with ``share``); each bar is a scope ("all", then the segments) stacked to
    100% by product; our product first, solid blue. A scope without units is left blank
    and says so; products without units in the territory are left out.
    """
    sold = competitors[competitors["units"] > 0] if len(competitors) else competitors
    if sold.empty:
        return placeholder("Competitors", "No sales of any product in the analysed markets in this territory.")
    style()
    competitors = competitors[competitors["product_id"].isin(sold["product_id"])
                              & competitors["market"].isin(sold["market"])]
    markets = sorted(competitors["market"].astype(str).unique())
    ncols = min(len(markets), 2)
    nrows = -(-len(markets) // ncols)
    legend_rows = -(-competitors.groupby("market")["product_id"].nunique().max() // 2)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.8 * ncols, (3.2 + 0.2 * legend_rows) * nrows), squeeze=False)
    for ax in axes.ravel()[len(markets):]:
        ax.axis("off")
    for ax, market in zip(axes.ravel(), markets):
        rows = competitors[competitors["market"].astype(str) == market]
        scopes = list(dict.fromkeys(rows["segment"].astype(str)))
        products = rows.drop_duplicates("product_id")
        products = pd.concat([products[products["is_own"]], products[~products["is_own"]]])
        left = np.zeros(len(scopes))
        y = np.arange(len(scopes))
        for i, product in enumerate(products.itertuples()):
            share = (rows[rows["product_id"] == product.product_id].set_index("segment")["share"]
                     .reindex(scopes).astype(float).to_numpy())
            colour = "#0072B2" if product.is_own else SERIES_COLOURS[1 + (i % 7)]
            ax.barh(y, np.nan_to_num(share), left=left, color=colour, edgecolor="white",
                    hatch=PRODUCT_HATCHES[i % len(PRODUCT_HATCHES)],
                    label=textwrap.shorten(str(product.product_name), 26, placeholder="…")
                    + (" (ours)" if product.is_own else ""))
            for yi, (l, s) in enumerate(zip(left, np.nan_to_num(share))):
                if s >= 0.08:
                    own = colour == "#0072B2"
                    ax.text(l + s / 2, yi, f"{s:.0%}", ha="center", va="center", fontsize=7.5,
                            color="white" if own else "#262626",
                            bbox=None if own else {"facecolor": "white", "edgecolor": "none", "alpha": 0.8,
                                                   "pad": 0.6})
            left = left + np.nan_to_num(share)
        for yi, total in enumerate(left):
            if total == 0:
                ax.text(0.5, yi, "no units", ha="center", va="center", fontsize=8, color=NOTE_COLOUR)
        ax.set_yticks(y, ["territory" if s == "all" else f"segment {s}" for s in scopes])
        ax.invert_yaxis()
        ax.set_xlim(0, 1)
        ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=0))
        ax.set_xlabel("Share of the market's units (analysis period)")
        ax.set_title(market, fontsize=10.5)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, fontsize=7.5, frameon=False)
        ax.grid(axis="y", visible=False)
    fig.suptitle("Who holds the market: products' shares by segment", fontweight="bold")
    _tight(fig)
    return fig


def region_trend(trend: pd.DataFrame, names: pd.Series | None = None, column: str = "support",
                 many: int = MANY_TERRITORIES) -> plt.Figure:
    """A roll-up's territories month by month in one figure: one panel per market.

    ``trend``: the pass's ``trend`` rows of the scope's territories. Up to ``many``
    territories, one line each (labelled by ``names``: territory_id -> name); beyond,
    the median and the 10-90% band over the territories with a value (a missing month
    is missing, never 0).
    """
    if trend.empty:
        return placeholder("Monthly trend", "No sales months in the data.")
    style()
    periods = sorted(trend["period"].astype(str).unique())
    markets = sorted(trend["market"].astype(str).unique())
    windows = trend.drop_duplicates("period").set_index(trend.drop_duplicates("period")["period"].astype(str))["window"]
    territories = list(dict.fromkeys(trend["territory_id"].astype(str)))
    fig, axes = plt.subplots(1, len(markets), figsize=(6.2 * len(markets), 4.0), squeeze=False, sharey=True)
    for ax, market in zip(axes[0], markets):
        rows = trend[trend["market"].astype(str) == market]
        _shade_window(ax, periods, windows)
        wide = rows.pivot(index="period", columns="territory_id", values=column).reindex(periods).astype(float)
        if len(territories) <= many:
            for i, tid in enumerate(territories):
                label = str(names.get(tid, tid)) if names is not None else tid
                ax.plot(range(len(periods)), wide[tid] if tid in wide else np.nan, color=SERIES_COLOURS[i % 8],
                        linestyle=SERIES_LINES[(i // 8) % 4], marker=SERIES_MARKERS[i % 8], markersize=3,
                        linewidth=1.3, label=label)
        else:
            q = wide.quantile([0.1, 0.5, 0.9], axis=1).T
            ax.fill_between(range(len(periods)), q[0.1], q[0.9], color="#56B4E9", alpha=0.35, label="10-90% of territories")
            ax.plot(range(len(periods)), q[0.5], color="#0072B2", linewidth=2, label="median territory")
        if column == "support":
            ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=0))
        ax.set_ylim(bottom=0)
        ax.set_title(market, fontsize=10.5)
        _month_axis(ax, periods)
    handles, labels = axes[0][0].get_legend_handles_labels()
    handles.append(matplotlib.patches.Patch(color=ANALYSIS_SHADE, label="analysis period"))
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 5), frameon=False, fontsize=8,
               bbox_to_anchor=(0.5, 0.0))
    rows_legend = -(-len(handles) // 5)
    fig.suptitle(f"{'Support' if column == 'support' else column.replace('_', ' ').capitalize()} month by month, "
                 "per territory", fontweight="bold")
    height = fig.get_figheight()
    _tight(fig, rect=(0, (0.2 + 0.22 * rows_legend) / height, 1, 1))
    return fig
