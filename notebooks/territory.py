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
territory_id = "T01"
data_path = "../data/demo"  # a data folder (DESIGN 3); used when no store is given
store_path = None  # the batch's analysis store (national pass); read instead of data_path
params = {"period_end": None, "period_months": 3, "segmentation": {"cut": "median"}}

# %%
from IPython.display import display

from analysis import figures, sections
from analysis.territory import load

t = load(territory_id, data_path=data_path, store_path=store_path, params=params)
display(sections.period_note(t))

# %% [markdown]
# ## Headline
#
# Where the territory stands in the analysis period, and how it moved against the
# comparison period.

# %%
#| label: tbl-headline
#| tbl-cap: "Headline figures: analysis period against the comparison period."
sections.headline(t)

# %% [markdown]
# ## Segmentation
#
# Customers are placed on potential (what they could use, boxes per month) and support
# (our share of what they use). The territory medians cut the grid into four segments:
# A (core), B (largest opportunity), C (maintain cheaply), D (digital only).

# %%
#| label: tbl-segments
#| tbl-cap: "Segments per market: customers, potential and our support."
sections.segments(t)

# %%
#| label: fig-segments
#| fig-cap: "Each point is a customer. Dashed line: potential cut point; dotted line: support cut point. B customers (triangles, lower right) are the largest opportunity."
figures.segment_scatter(t.customers);
