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

# %% [markdown]
# # Territory explorer
#
# Pick a territory, move the segmentation cut points, tick the channel-phase fit
# matrix, try moving call effort in the what-if panel, then **save** the settings as the
# territory's override in the run profile: the next `territory-reports run` uses them.

# %% tags=["parameters"]
data_path = "../data/demo"  # a data folder (DESIGN 3)
profile_path = "../params/demo.yaml"  # the run profile the save button writes into
territory_id = None  # start with this territory (default: the first)

# %%
from analysis.lab.explorer import Explorer

explorer = Explorer(data_path, profile_path, territory_id)
explorer.view()
