# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% tags=["parameters"]
# Parameters (papermill injects the batch's values after this cell).
scope = "all"  # a region name, or "all" for the national roll-up
data_path = "../data/demo"  # a data folder; used when no store is given
store_path = None  # the batch's analysis store (national pass)
params = {"period_end": None, "period_months": 3}
many = 40  # more territories than this: the report shows their spread and the top and bottom ones (None: every one)

# %%
from IPython.display import display

# figures are laid out by the package: skip the second, "tight" drawing pass
# %config InlineBackend.print_figure_kwargs = {"bbox_inches": None}

from analysis.report import figures, sections
from analysis.report.scope import load

figures.drawn_once()  # each figure drawn once, when shown

s = load(scope, data_path=data_path, store_path=store_path, params=params)
display(sections.scope_note(s))

# %% [markdown]
# ## Overview
#
# The scope's totals: counts are summed over its territories, shares and ROI recomputed
# from those sums, effort shares weighted by activity cost. A total that some territory
# cannot give (see the notes above) is shown as –.

# %%
#| label: tbl-overview
#| tbl-cap: "Totals of the territories in this report."
sections.scope_headline(s)

# %%
#| label: fig-trend
#| fig-cap: "Support (our share) month by month: one line per territory, or for many territories the median territory and the band of the middle 80%. Shaded: the analysis period."
figures.region_trend(s.trend, s.kpis.set_index("territory_id")["territory_name"], many=many);

# %% [markdown]
# ## Territories side by side
#
# Ranked by support (our share of the customers' market). The same measures as each
# territory report's headline. A report of many territories shows how they spread
# (quantiles per measure) and lists the highest and the lowest; every territory is in
# the report's tables folder (territories.csv). A territory without a value is counted
# as "no data", never as 0.

# %%
#| label: fig-comparison
#| fig-cap: "Key shares per territory (one row each, lowest support at the bottom) or, for many territories, their spread per region (box: the middle half, whiskers: 10-90%, thick line: median). The dashed line is the overall value of this report's territories."
figures.territory_comparison(s.kpis, s.summary, label="territory_name", distribution=s.distribution, many=many);

# %%
#| label: tbl-spread
#| tbl-cap: "How the territories spread: quantiles of each measure over those with a value."
sections.distribution_table(s)

# %%
display(sections.ranking_note(s, many=many))

# %%
#| label: tbl-ranking
#| tbl-cap: "Territories ranked by support."
sections.territory_ranking(s, many=many)

# %% [markdown]
# ## Regions
#
# Every region's totals (the national picture).

# %%
#| label: tbl-regions
#| tbl-cap: "Regions side by side, ranked by support."
sections.region_table(s)

# %% [markdown]
# ## Coaching flags
#
# How many reps in each territory miss each coaching norm; the territory reports list
# the actions.

# %%
display(sections.coaching_flags_note(s, many=many))

# %%
#| label: tbl-flags
#| tbl-cap: "Reps per coaching flag (per territory, or for the whole report when it has many territories)."
sections.coaching_flags(s, many=many)

# %% [markdown]
# ## Methodology
#
# How every figure in this report is made, with the values this run used; each
# territory report lists its own cut points.

# %%
sections.scope_methodology(s, params)
