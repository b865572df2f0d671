"""Report figures (seaborn / matplotlib): data in, a Figure out, no I/O.

Colours follow the Okabe-Ito palette (safe for colour blindness) and every series also
differs by marker or hatch, so the figures survive grey-scale printing.
"""
from __future__ import annotations

import matplotlib

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

SEGMENT_COLOURS = {"A": "#0072B2", "B": "#D55E00", "C": "#009E73", "D": "#7f7f7f"}
SEGMENT_MARKERS = {"A": "o", "B": "^", "C": "s", "D": "X"}
#: Where each segment's letter sits in the scatter (axes corners lie in their quadrant).
QUADRANT_LABELS = {"A": (0.98, 0.98, "right", "top"), "B": (0.98, 0.02, "right", "bottom"),
                   "C": (0.02, 0.98, "left", "top"), "D": (0.02, 0.02, "left", "bottom")}
SEGMENT_NAMES = {"A": "A  high potential, high support", "B": "B  high potential, low support",
                 "C": "C  low potential, high support", "D": "D  low potential, low support"}


def style() -> None:
    """The shared look of every report figure."""
    sns.set_theme(context="notebook", style="whitegrid", font_scale=0.95)
    matplotlib.rcParams.update({"figure.dpi": 110, "savefig.dpi": 160, "axes.titleweight": "bold",
                                "axes.titlesize": 12, "figure.autolayout": False})


def placeholder(title: str, message: str) -> plt.Figure:
    """A small figure saying why there is nothing to draw (the section still renders)."""
    style()
    fig, ax = plt.subplots(figsize=(8, 1.6))
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=11, color="#52606d", wrap=True)
    fig.suptitle(title, fontweight="bold")
    return fig


def segment_scatter(customers: pd.DataFrame) -> plt.Figure:
    """Potential vs support per market, coloured and shaped by segment, with cut lines.

    ``customers``: one row per customer x market with market, potential, support,
    segment, potential_cut, support_cut. Customers without potential or support cannot
    be placed and are counted in the panel title.
    """
    style()
    markets = sorted(customers["market"].dropna().unique())
    fig, axes = plt.subplots(1, max(len(markets), 1), figsize=(5.2 * max(len(markets), 1), 4.4),
                             squeeze=False, sharey=True)
    for ax, market in zip(axes[0], markets):
        rows = customers[(customers["market"] == market) & customers["segment"].notna()]
        placed = rows[(rows["potential"] > 0) & rows["support"].notna()]
        for seg in ("A", "B", "C", "D"):
            pts = placed[placed["segment"] == seg]
            ax.scatter(pts["potential"], pts["support"], s=26, alpha=0.8, label=SEGMENT_NAMES[seg],
                       color=SEGMENT_COLOURS[seg], marker=SEGMENT_MARKERS[seg], edgecolors="white", linewidths=0.4)
        if len(placed):
            ax.set_xscale("log")
            pcut, scut = rows["potential_cut"].dropna(), rows["support_cut"].dropna()
            if len(pcut):
                ax.axvline(pcut.iloc[0], color="#333333", linestyle="--", linewidth=1)
            if len(scut):
                ax.axhline(scut.iloc[0], color="#333333", linestyle=":", linewidth=1.2)
            for seg, (x, y, ha, va) in QUADRANT_LABELS.items():
                ax.text(x, y, seg, transform=ax.transAxes, ha=ha, va=va, fontsize=13, fontweight="bold",
                        color=SEGMENT_COLOURS[seg], bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8})
        ax.set_ylim(-0.03, 1.03)
        ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
        ax.set_xlabel("Potential (boxes per month, log scale)")
        ax.set_ylabel("Support (our share of the customer's market)")
        left_out = len(rows) - len(placed)
        ax.set_title(f"{market}" + (f"  ({left_out} without sales not shown)" if left_out else ""), fontsize=10.5)
    handles, labels = axes[0][0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=2, frameon=False, bbox_to_anchor=(0.5, -0.02))
    fig.suptitle("Potential vs support by segment", fontweight="bold", y=0.99)
    fig.tight_layout(rect=(0, 0.1, 1, 0.96))
    return fig


def _facets(n: int, width: float = 5.2, height: float = 4.2):
    fig, axes = plt.subplots(1, max(n, 1), figsize=(width * max(n, 1), height), squeeze=False)
    return fig, axes[0]


def per_market(frame: pd.DataFrame, suptitle: str, size: tuple[float, float], draw) -> plt.Figure:
    """One panel per market of ``frame``: ``draw(ax, rows, index)`` fills each, titled by market."""
    style()
    markets = sorted(frame["market"].unique())
    fig, axes = _facets(len(markets), *size)
    for index, (ax, market) in enumerate(zip(axes, markets)):
        draw(ax, frame[frame["market"] == market], index)
        ax.set_title(market, fontsize=10.5)
    fig.suptitle(suptitle, fontweight="bold")
    fig.tight_layout()
    return fig


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

    return per_market(lorenz, "Pareto curve: how concentrated the potential is", (4.6, 4.0), draw)


def _heatmap(ax, matrix: pd.DataFrame, annot: pd.DataFrame, *, cmap: str, fmt_label: str, vmax=None,
             marks: pd.DataFrame | None = None):
    """A labelled heatmap of ``matrix`` (first row on top) with ``annot`` texts and hatched ``marks``.

    Drawn with matplotlib directly: seaborn's heatmap draws the whole figure once more
    to check its tick labels, which was a fifth of a report's figure time. Empty (NaN)
    cells stay blank; each text is dark or light by the luminance of its cell.
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
    if marks is not None:
        for i, j in zip(*np.nonzero(marks.reindex(index=matrix.index, columns=matrix.columns).fillna(False)
                                    .astype(bool).to_numpy())):
            ax.add_patch(matplotlib.patches.Rectangle((j, i), 1, 1, fill=False, hatch="///", edgecolor="#333333",
                                                      linewidth=0))
    return mesh


def _slant(ax, degrees: float) -> None:
    """Slanted x tick labels that end under their column (long labels do not collide)."""
    for label in ax.get_xticklabels():
        label.set(rotation=degrees, ha="right", rotation_mode="anchor")


def _counts(matrix: pd.DataFrame) -> pd.DataFrame:
    return matrix.map(lambda v: f"{v:,.0f}" if v else "")


def three_c_heatmap(three_c: pd.DataFrame) -> plt.Figure:
    """Customers per phase x competitor position, per market (3C matrix)."""
    def draw(ax, rows, index):
        matrix = rows.pivot_table(index="phase", columns="competitor_position", values="customers",
                                  aggfunc="sum", observed=False).iloc[::-1]
        matrix.columns = [str(c).replace("_", " ") for c in matrix.columns]
        _heatmap(ax, matrix, _counts(matrix), cmap="cividis", fmt_label="customers")
        ax.set_xlabel("Competitor position (analysis period)")
        ax.set_ylabel("Customer phase (adoption ladder)")
        _slant(ax, 20)

    return per_market(three_c, "3C matrix: customer phase against competitor position", (5.4, 4.3), draw)


def migration_heatmap(migration: pd.DataFrame) -> plt.Figure:
    """Phase migration between the comparison and the analysis period (row rates, counts)."""
    def draw(ax, rows, index):
        counts = rows.pivot_table(index="phase_previous", columns="phase", values="customers", aggfunc="sum",
                                  observed=False)
        rates = counts.div(counts.sum(axis=1).where(lambda s: s > 0), axis=0)
        _heatmap(ax, rates, _counts(counts), cmap="cividis", fmt_label="share of the row (customers in cell)", vmax=1)
        ax.set_xlabel("Phase in the analysis period")
        ax.set_ylabel("Phase in the comparison period")
        _slant(ax, 30)

    return per_market(migration, "Phase migration: above the diagonal moved up, below slipped", (5.4, 4.5), draw)


def channel_phase_heatmaps(channel_phase: pd.DataFrame) -> plt.Figure:
    """Effort share and progression rate per channel x phase (all markets); hatched: off-fit."""
    if channel_phase.empty or channel_phase["activities"].sum() == 0:
        return placeholder("Channel-phase mapping", "No activities in the analysis period: the data has no "
                           "activities table, or no activity in these months.")
    style()
    rows = channel_phase.groupby(["channel", "phase"], observed=True, sort=False).agg(
        cost=("cost", "sum"), activities=("activities", "sum"), customers_touched=("customers_touched", "sum"),
        moved=("customers_moved_up", "sum") if "customers_moved_up" in channel_phase else ("activities", "size"),
        fits=("fits", "max")).reset_index()
    total = rows["cost"].sum()
    rows["effort_share"] = rows["cost"] / total if total > 0 else np.nan
    rows["progression"] = rows["moved"] / rows["customers_touched"].where(rows["customers_touched"] > 0)
    phases = [p for p in ("unaware", "aware", "interested", "trial", "adopter", "loyal") if p in set(rows["phase"])]
    effort = rows.pivot(index="channel", columns="phase", values="effort_share").reindex(columns=phases)
    progression = rows.pivot(index="channel", columns="phase", values="progression").reindex(columns=phases)
    if "loyal" in progression:  # loyal is the top of the ladder: nobody can move up from it
        progression["loyal"] = np.nan
    off_fit = ~rows.pivot(index="channel", columns="phase", values="fits").reindex(columns=phases).fillna(False).astype(bool)
    fig, axes = plt.subplots(1, 2, figsize=(12.5, 5.0))
    _heatmap(axes[0], effort, effort.map(lambda v: f"{v:.0%}" if v and v == v and v >= 0.005 else ""),
             cmap="cividis", fmt_label="share of effort (cost)", marks=off_fit)
    _heatmap(axes[1], progression, progression.map(lambda v: f"{v:.0%}" if v == v else ""),
             cmap="cividis", fmt_label="share of touched customers who moved up", vmax=1, marks=off_fit)
    for ax, title in zip(axes, ("Where the effort goes", "What moves customers up")):
        ax.set_title(title, fontsize=10.5)
        ax.set_xlabel("Customer phase when contacted (comparison period)")
        ax.set_ylabel("Channel")
        _slant(ax, 30)
    fig.suptitle("Channel-phase mapping (hatched cells: channel does not fit the phase)", fontweight="bold")
    fig.tight_layout()
    return fig


def territory_comparison(kpis: pd.DataFrame, reference: pd.Series, label: str = "territory") -> plt.Figure:
    """Four key shares per territory as dot plots, with the scope's overall value as a line."""
    style()
    measures = (("support", "Support (our share)"), ("coverage", "Coverage"),
                ("effort_on_priority", "Effort on A+B"), ("mismatched_effort", "Mismatched effort"))
    order = kpis.sort_values("support", ascending=True)
    names = order[label].astype(str).tolist()
    fig, axes = plt.subplots(1, 4, figsize=(13, 0.32 * len(names) + 1.8), sharey=True)
    for ax, (column, title), marker in zip(axes, measures, ("o", "s", "^", "D")):
        ax.scatter(order[column], range(len(names)), color="#0072B2", marker=marker, s=36, zorder=3)
        ax.hlines(range(len(names)), 0, order[column], color="#9aa5b1", linewidth=1)
        if column in reference and reference[column] == reference[column]:
            ax.axvline(reference[column], color="#D55E00", linestyle="--", linewidth=1.2, label="overall")
        ax.set_xlim(0, 1)
        ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
        ax.set_title(title, fontsize=10.5)
        ax.set_xlabel("share")
    axes[0].set_yticks(range(len(names)))
    axes[0].set_yticklabels(names, fontsize=8)
    axes[0].legend(loc="lower right", fontsize=8, frameon=True)
    fig.suptitle("Territories side by side (dashed: overall)", fontweight="bold")
    fig.tight_layout()
    return fig
