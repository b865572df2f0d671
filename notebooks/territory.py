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

# figures are laid out by the package: skip the second, "tight" drawing pass
# %config InlineBackend.print_figure_kwargs = {"bbox_inches": None}

from analysis.report import figures, sections
from analysis.report.territory import load

figures.drawn_once()  # each figure drawn once, when shown

t = load(territory_id, data_path=data_path, store_path=store_path, params=params)
display(sections.period_note(t))

# %% [markdown]
# ## Headline
#
# Where the territory stands in the analysis period, how it moved against the
# comparison period, and how it compares with its region.

# %%
#| label: tbl-headline
#| tbl-cap: "Headline figures: analysis period, comparison period, change, and the region's figure."
sections.headline(t)

# %%
#| label: fig-trend
#| fig-cap: "Every month of the data: own units, support and prescribing customers (own units > 0) per market, and the share of the territory's prescribing customers contacted each month. Shaded: the analysis period."
figures.trend_lines(t.trend, t.trend_activity, reason=sections.placeholder_reason(t, "trend"));

# %% [markdown]
# ## Segmentation
#
# Customers are placed on potential (what they could use, boxes per month) and support
# (our share of what they use). The cut points split them into four segments:
# A (core: maintain), B (largest opportunity: develop), C (maintain at low cost),
# D (minimal, digital only); with the 3x3 grid, the high-potential row is the priority.

# %%
sections.cut_note(t)

# %%
#| label: fig-segments
#| fig-cap: "Each point is a customer in one market, coloured and shaped by segment. Dashed lines: potential cut points; dotted lines: support cut points. High potential with low support (lower right) is the largest opportunity."
figures.segment_scatter(t.customers, t.scheme);

# %%
#| label: tbl-segments
#| tbl-cap: "Segments per market: customers, potential and our support."
sections.segments(t)

# %%
#| label: fig-pareto
#| fig-cap: "The steeper the curve, the more the potential is concentrated in few customers. The dashed lines mark the VIPs: the smallest group of customers that reaches 80% of the potential."
figures.pareto_curve(t.lorenz, t.params["vip_share"]);

# %% [markdown]
# ### Does effort follow potential?
#
# The classic targeting check: customers ranked into tenths by potential, with our
# support, the share of effort each tenth gets and the contacts per customer.

# %%
#| label: tbl-targeting
#| tbl-cap: "Decile targeting per market: customers, share of potential, support, share of effort, contacts per customer and coverage."
sections.targeting(t)

# %%
sections.targeting_note(t)

# %% [markdown]
# ## Competitors
#
# Who holds each market in this territory and in each segment, and how that moved
# against the comparison period.

# %%
#| label: fig-competitors
#| fig-cap: "Each product's share of the market's units, for the whole territory and per segment (prescribing customers, analysis period). Our product is the solid blue bar."
figures.competitor_bars(t.competitors);

# %%
#| label: tbl-competitors
#| tbl-cap: "Products per market: share of the territory, change in points against the comparison period, and the customers each one leads (most units at the customer)."
sections.competitors(t)

# %% [markdown]
# ## 3C matrix and phase migration
#
# Customer (phase on the adoption ladder), Competitor (who leads at the customer) and
# Company (our support and effort). Customers low on the ladder where a competitor
# dominates are competitor-locked; high-potential customers who did not move despite
# our effort are stalled.

# %%
#| label: fig-three-c
#| fig-cap: "Number of customers in each phase (rows, lowest at the bottom) and competitor position (columns). The lower-left cells are competitor-locked."
figures.three_c_heatmap(t.three_c);

# %%
#| label: tbl-flags
#| tbl-cap: "Customers carrying each 3C flag, per market."
sections.flags_summary(t)

# %%
#| label: tbl-flag-customers
#| tbl-cap: "The customers behind the flags (largest potential first), with why each flag was raised."
sections.flag_customers(t)

# %%
#| label: fig-migration
#| fig-cap: "Rows: phase in the comparison period; columns: phase now. Numbers are customers; shading is the share of the row. Cells right of the diagonal moved up, left of it slipped."
figures.migration_heatmap(t.migration, reason=sections.placeholder_reason(t, "migration"));

# %% [markdown]
# ### Phase forecast
#
# If this period's migration rates hold, where the phase mix goes next period, and
# where it settles if nothing changes.

# %%
#| label: tbl-forecast
#| tbl-cap: "Phase mix now, projected for the next period (one step of the migration rates) and where it settles."
sections.phase_forecast(t)

# %%
sections.forecast_note(t)

# %% [markdown]
# ## Channels and phases
#
# Which channels reach customers in which phase, and which of them move customers up.
# Effort in hatched cells uses a channel that does not fit the customer's phase.

# %%
#| label: fig-channel-phase
#| fig-cap: "Per market. Left: share of activity cost per channel and phase. Right: share of touched customers who moved up at least one phase (\"too few\" below the minimum base). Hatched: channel outside the phase's fit."
figures.channel_phase_heatmaps(t.channel_phase, min_rate_base=t.params["min_rate_base"],
                                reason=sections.placeholder_reason(t, "channels"));

# %%
#| label: tbl-channels
#| tbl-cap: "Channels over all phases and markets (each activity counted once): effort, response and progression with their base, and the share spent off the fit."
sections.channel_summary(t)

# %% [markdown]
# ## Coaching and ROI
#
# Each rep against the norms (in brackets). Every missed norm becomes an action below.

# %%
#| label: tbl-coaching
#| tbl-cap: "Coaching table per rep, analysis period."
sections.coaching(t)

# %%
sections.coaching_actions(t)

# %%
#| label: tbl-roi-rep
#| tbl-cap: "Return on effort by rep."
sections.roi(t, "rep")

# %%
#| label: tbl-roi-segment
#| tbl-cap: "Return on effort by segment."
sections.roi(t, "segment")

# %%
#| label: tbl-roi-channel
#| tbl-cap: "Return on effort by channel (each customer's change split between the channels in proportion to their cost)."
sections.roi(t, "channel")

# %%
sections.roi_note(t)

# %% [markdown]
# ## Action list
#
# The customers of the priority segments not yet loyal, ranked by untapped potential
# (potential not yet ours), with the channel most likely to move them up and why.

# %%
#| label: tbl-actions
#| tbl-cap: "Customers to work on next."
sections.action_list(t)

# %% [markdown]
# ## Call plan
#
# Each rep's next calls: the priority customers and the relationship-maintenance list,
# with contacts per month by segment, the next best channel and when each is due.

# %%
#| label: tbl-call-plan
#| tbl-cap: "Call plan per rep, ranked by due date (overdue first)."
sections.call_plan(t)

# %% [markdown]
# ## Relationship maintenance
#
# Suppliers, distributors, peripheral customers and VIPs need regular contact even
# when they are not prescribing targets.

# %%
#| label: tbl-maintenance
#| tbl-cap: "Relationship maintenance, overdue first."
sections.maintenance(t)

# %% [markdown]
# ## Data quality
#
# What the numbers above rest on.

# %%
#| label: tbl-quality
#| tbl-cap: "Data quality checks for this territory."
sections.quality(t)

# %%
#| label: tbl-profile-gaps
#| tbl-cap: "Customers whose profile is below the completeness threshold, and the fields they miss."
sections.profile_gaps(t)

# %% [markdown]
# ## Methodology
#
# How every figure in this report is made, with the values this run used.

# %%
sections.methodology(t)
