# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     notebook_metadata_filter: -jupytext.text_representation.jupytext_version,-jupytext.text_representation.format_version
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Territory reports
#     language: python
#     name: territory-reports
# ---

# %% [markdown]
# # Territory explorer
#
# Pick a territory: every control shows that territory's parameters (defaults, the run
# profile, its override). Move the segmentation cut points, tick the channel-phase fit
# matrix, try moving call effort in the what-if panel; the line above **Save** lists what
# you changed. **Save** writes exactly those keys into the territory's override in the run
# profile (the rest of the file is kept), and the next `territory-reports run` uses them;
# **Undo last save** puts the file back.
#
# `make lab` opens a working copy of this notebook (`.lab/explorer.ipynb`, git-ignored), so
# outputs and autosaves never touch the tracked notebook.

# %% tags=["parameters"]
data_path = "../data/demo"  # a data folder (DESIGN 3)
profile_path = "../params/demo.yaml"  # the run profile the save button writes into
territory_id = None  # start with this territory (default: the first)

# %%
from analysis.lab.explorer import Explorer

explorer = Explorer(data_path, profile_path, territory_id)
explorer.view()
