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
SEGMENT_NAMES = {"A": "A  high potential, high support", "B": "B  high potential, low support",
                 "C": "C  low potential, high support", "D": "D  low potential, low support"}


def style() -> None:
    """The shared look of every report figure."""
    sns.set_theme(context="notebook", style="whitegrid", font_scale=0.95)
    matplotlib.rcParams.update({"figure.dpi": 110, "savefig.dpi": 160, "axes.titleweight": "bold",
                                "axes.titlesize": 12, "figure.autolayout": False})


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
