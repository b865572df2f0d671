"""Channel-phase mapping (DESIGN 4.5): effort, response, progression, fit, next best channel.

An activity of the analysis window is placed in the phase its customer had in the
*comparison* window (the phase the rep knew when choosing the channel); progression
compares that phase with the analysis-window phase. A customer can be in several
markets and has a phase in each, so an activity counts once in every market of its
customer (:func:`activity_facts` makes one row per activity x market).

Every function works on many territories at once and groups by ``territory_id`` and
``market`` (and ``rep_id`` for the per-rep tables); nothing loops over territories,
customers or activities.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from analysis.contract.schema import CHANNELS, DEFAULT_FIT, PHASES, POSITIVE_OUTCOMES

try:  # the ladder rank lives in phases.py; it is PHASES order by definition
    from analysis.domain.phases import PHASE_RANK
except ImportError:  # pragma: no cover - only while phases.py is not there
    PHASE_RANK = {phase: rank for rank, phase in enumerate(PHASES)}

GROUP = ["territory_id", "market"]
CELL = ["channel", "phase"]


FIT_COLUMNS = ["phase", "channel", "fits", "fit_order"]
FACT_COLUMNS = [
    "territory_id", "region", "market", "activity_id", "customer_id", "rep_id", "date",
    "channel", "cost", "outcome", "positive", "phase", "phase_now", "moved_up", "segment",
    "fits", "market_count",
]
CHANNEL_PHASE_COLUMNS = [
    "territory_id", "market", "channel", "phase", "activities", "cost", "effort_share",
    "response_rate", "progression_rate", "customers_touched", "fits", "responses",
    "customers_moved_up",
]


# --------------------------------------------------------------------------- fit


def fit_matrix(overrides: Mapping[str, Sequence[str]] | None = None, *,
               channels: Sequence[str] | None = None) -> pd.DataFrame:
    """The channel-phase fit as a full phase x channel grid.

    ``overrides`` (the run profile's ``fit_matrix``) replaces the channel list of each
    phase it names; the other phases keep :data:`DEFAULT_FIT`. ``channels`` is the
    list of known channels (default :data:`CHANNELS`; pass the extended list when the
    run profile declares extra channels). An unknown phase or channel raises
    ``ValueError`` naming it.

    Returns one row per phase x channel (phases in ladder order, channels in
    ``channels`` order) with columns ``phase``, ``channel``, ``fits`` (bool) and
    ``fit_order``: 1 for the phase's first fitting channel, 2 for the second, ...;
    channels that do not fit follow in ``channels`` order.
    """
    known = list(dict.fromkeys(CHANNELS if channels is None else channels))
    lists = {phase: list(chosen) for phase, chosen in DEFAULT_FIT.items()}
    for phase, chosen in (overrides or {}).items():
        if phase not in PHASES:
            raise ValueError(f"fit_matrix: unknown phase {phase!r}; expected one of {', '.join(PHASES)}")
        if chosen is None:
            chosen = []
        elif isinstance(chosen, str):
            chosen = [chosen]
        unknown = [c for c in chosen if c not in known]
        if unknown:
            raise ValueError(f"fit_matrix: unknown channel {unknown[0]!r} for phase {phase!r}; "
                             f"expected one of {', '.join(known)}")
        lists[phase] = list(dict.fromkeys(chosen))
    rows = []
    for phase in PHASES:
        fitting = lists[phase]
        order = fitting + [c for c in known if c not in fitting]
        position = {channel: i + 1 for i, channel in enumerate(order)}
        rows += [(phase, channel, channel in fitting, position[channel]) for channel in known]
    out = pd.DataFrame(rows, columns=FIT_COLUMNS)
    return out.astype({"phase": object, "channel": object, "fits": bool, "fit_order": "int64"})


def _as_fit(fit: pd.DataFrame | Mapping[str, Sequence[str]] | None) -> pd.DataFrame:
    """A fit grid from a :func:`fit_matrix` frame, a mapping of overrides or None."""
    if fit is None:
        return fit_matrix()
    if isinstance(fit, pd.DataFrame):
        missing = [c for c in ("phase", "channel", "fits") if c not in fit.columns]
        if missing:
            raise ValueError(f"fit frame lacks column(s) {', '.join(missing)}; build it with fit_matrix()")
        out = fit[[c for c in FIT_COLUMNS if c in fit.columns]].astype({"phase": object, "channel": object})
        out["fits"] = out["fits"].astype(bool)
        if "fit_order" not in out:  # fitting channels first, each part in row order
            ordered = out.assign(_nf=~out["fits"]).sort_values("_nf", kind="mergesort")
            out["fit_order"] = ordered.groupby("phase", sort=False).cumcount().reindex(out.index) + 1
        return out
    return fit_matrix(fit)


# ------------------------------------------------------------------------- facts


def _check_phases(values: pd.Series, column: str) -> None:
    unknown = pd.unique(values.dropna()[~values.dropna().isin(PHASES)])
    if len(unknown):
        raise ValueError(f"unknown phase {unknown[0]!r} in column {column!r}; expected one of {', '.join(PHASES)}")


def _rank(phases: pd.Series) -> pd.Series:
    """Ladder rank 0..5 of each phase (missing where the phase is missing)."""
    return phases.map(PHASE_RANK).astype(float)


def activity_facts(activities: pd.DataFrame, frame: pd.DataFrame,
                   fit: pd.DataFrame | Mapping[str, Sequence[str]] | None = None) -> pd.DataFrame:
    """One row per activity x market of its customer, with the customer's phases.

    ``activities`` are the analysis window's activities; ``frame`` the customer frame
    (territory_id, customer_id, market, region, segment, phase_previous, phase).
    ``fit`` is a :func:`fit_matrix` frame (or a mapping of overrides; None: default).

    Columns: territory_id, region, market, activity_id, customer_id, rep_id, date,
    channel, cost, outcome (missing outcomes read ``missing``), positive (outcome
    engaged/attended), phase (the customer's comparison-window phase in that market),
    phase_now (analysis-window phase), moved_up (phase_now above phase on the ladder;
    False when either is missing), segment, fits (channel fits ``phase``; False when the
    phase is missing), market_count (how many markets the activity is counted in, to
    split its cost when summing across markets). Activities of customers absent from
    ``frame`` are dropped.
    """
    fit = _as_fit(fit)
    _check_phases(frame["phase_previous"], "phase_previous")
    _check_phases(frame["phase"], "phase")
    # everything per customer x market is computed on the (small) customer frame, then
    # carried to the (large) activity rows by one merge
    customers = frame[["territory_id", "customer_id", "market"]].assign(
        region=frame["region"] if "region" in frame else np.nan,
        segment=frame["segment"] if "segment" in frame else np.nan,
        phase=frame["phase_previous"].astype(object),  # plain labels, also from ordered categoricals
        phase_now=frame["phase"].astype(object),
        moved_up=(_rank(frame["phase"]) > _rank(frame["phase_previous"])).to_numpy(),
    )
    customers["market_count"] = customers.groupby("customer_id", sort=False)["market"].transform("size")
    clashing = [c for c in activities.columns if c in customers.columns and c != "customer_id"]
    acts = activities.drop(columns=clashing)
    if "outcome" not in acts:
        acts = acts.assign(outcome="missing")
    if "date" not in acts:
        acts = acts.assign(date=pd.NaT)
    acts = acts.assign(outcome=acts["outcome"].fillna("missing"), cost=acts["cost"].astype(float))
    acts["positive"] = acts["outcome"].isin(POSITIVE_OUTCOMES).to_numpy(dtype=bool)
    facts = acts.merge(customers, on="customer_id", how="inner")
    facts["moved_up"] = facts["moved_up"].astype(bool)
    facts["fits"] = _fits(fit, facts["phase"], facts["channel"])
    # few distinct values, many rows: categories make every later groupby work on codes
    low_cardinality = {c: "category" for c in ("territory_id", "region", "market", "rep_id", "channel", "outcome",
                                                "phase", "phase_now", "segment") if c in facts}
    facts = facts[FACT_COLUMNS].astype(low_cardinality)
    return facts.sort_values(["territory_id", "market", "activity_id"], kind="mergesort", ignore_index=True)


def _fits(fit: pd.DataFrame, phases: pd.Series, channels: pd.Series) -> np.ndarray:
    """Whether each (phase, channel) pair is in the fit, by a lookup on codes (False if unknown)."""
    phase_codes, phase_values = pd.factorize(phases)
    channel_codes, channel_values = pd.factorize(channels)
    fitting = set(zip(fit.loc[fit["fits"], "phase"], fit.loc[fit["fits"], "channel"]))
    table = np.array([[(p, c) in fitting for c in channel_values] + [False] for p in phase_values] +
                     [[False] * (len(channel_values) + 1)], dtype=bool)
    return table[phase_codes, channel_codes]


# ------------------------------------------------------------------ channel x phase


def _cell_stats(facts: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Activities, cost, responses, customers touched and moved up per ``keys`` x cell."""
    rows = facts[facts["phase"].isin(PHASES)]
    by = [*keys, *CELL]
    acts = rows.groupby(by, sort=False, observed=True).agg(
        activities=("activity_id", "size"), cost=("cost", "sum"), responses=("positive", "sum"),
    )
    # moved_up is a per customer x market fact: count each customer once per cell
    per_customer = rows.groupby([*by, "customer_id"], sort=False, observed=True)["moved_up"].max().astype(int)
    customers = per_customer.groupby(level=by, sort=False, observed=True).agg(["size", "sum"])
    customers.columns = ["customers_touched", "customers_moved_up"]
    return acts.join(customers).reset_index()


def _rate(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    """numerator / denominator as float; NaN where the denominator is zero."""
    denominator = denominator.astype(float)
    return numerator.astype(float) / denominator.where(denominator > 0)


def channel_phase(facts: pd.DataFrame,
                  fit: pd.DataFrame | Mapping[str, Sequence[str]] | None = None) -> pd.DataFrame:
    """The channel x phase effort, response and progression table per territory and market.

    A complete grid for every territory x market in ``facts``: every channel of the fit
    (plus any other channel seen in ``facts``) x every phase, zeros where there was no
    activity. ``phase`` is the comparison-window phase (see :func:`activity_facts`);
    pass the same ``fit`` used for the facts (None: default fit).

    Columns: territory_id, market, channel, phase, activities, cost, effort_share
    (cost / total cost of the territory-market; sums to 1 when that cost is > 0, NaN
    when it is 0), response_rate (positive responses / activities), progression_rate
    (share of distinct customers touched in the cell who moved up at least one phase),
    customers_touched, fits, and the counts behind the rates: responses,
    customers_moved_up. Rates are NaN where the cell has no activity.
    """
    fit = _as_fit(fit)
    extra = sorted(set(facts["channel"].dropna()) - set(fit["channel"]))  # undeclared channels seen
    channels = list(dict.fromkeys([*fit["channel"], *extra]))
    keys = facts[GROUP].drop_duplicates().sort_values(GROUP, ignore_index=True)
    cells = pd.DataFrame([(c, p) for c in channels for p in PHASES], columns=CELL)
    grid = keys.merge(cells, how="cross")
    stats = _cell_stats(facts, GROUP)
    out = grid.merge(stats, on=[*GROUP, *CELL], how="left")
    counts = ["activities", "responses", "customers_touched", "customers_moved_up"]
    out[counts] = out[counts].fillna(0).astype("int64")
    out["cost"] = out["cost"].fillna(0.0).astype(float)
    total = facts.groupby(GROUP, sort=False, observed=True)["cost"].sum().rename("_total").reset_index()
    out = out.merge(total, on=GROUP, how="left")
    out["effort_share"] = _rate(out["cost"], out["_total"])
    out["response_rate"] = _rate(out["responses"], out["activities"])
    out["progression_rate"] = _rate(out["customers_moved_up"], out["customers_touched"])
    out = out.merge(fit[["phase", "channel", "fits"]], on=CELL, how="left")
    out["fits"] = out["fits"].eq(True)
    return out[CHANNEL_PHASE_COLUMNS]


# --------------------------------------------------------------- per-rep shares


def channel_totals(table: pd.DataFrame) -> pd.DataFrame:
    """Per channel over every phase and market of a :func:`channel_phase` table.

    Columns channel, activities, cost, effort_share (of the table's cost), response_rate
    (positive responses / activities), progression_rate (customers moved up / customers
    touched, counted per cell, so per customer x market x phase), mismatched_share (cost
    in cells outside the fit / cost). Channels without activities are left out; sorted
    by cost, largest first.
    """
    g = table.groupby("channel", observed=True).agg(
        activities=("activities", "sum"), cost=("cost", "sum"), responses=("responses", "sum"),
        touched=("customers_touched", "sum"), moved=("customers_moved_up", "sum"))
    off = table[~table["fits"].astype(bool)].groupby("channel", observed=True)["cost"].sum()
    total = g["cost"].sum()
    g["effort_share"] = g["cost"] / total if total > 0 else np.nan
    g["response_rate"] = _rate(g["responses"], g["activities"])
    g["progression_rate"] = _rate(g["moved"], g["touched"])
    g["mismatched_share"] = _rate(off.reindex(g.index).fillna(0.0), g["cost"])
    g = g[g["activities"] > 0].sort_values("cost", ascending=False, kind="mergesort").reset_index()
    return g[["channel", "activities", "cost", "effort_share", "response_rate", "progression_rate",
              "mismatched_share"]]


def split_cost(facts: pd.DataFrame, by: Iterable[str] = ()) -> pd.Series:
    """Cost of each fact row as summed over ``by``.

    Grouped by market, every market sees the activity's full cost; grouped across
    markets, the cost is split evenly over the markets the activity counts in, so each
    activity's cost is counted once.
    """
    cost = pd.to_numeric(facts["cost"]).astype(float).fillna(0.0)
    if "market" in by:
        return cost
    if "market_count" in facts.columns:
        count = pd.to_numeric(facts["market_count"]).astype(float)
    else:
        count = facts.groupby(["territory_id", "activity_id"], sort=False, observed=True)["activity_id"].transform("size")
    return cost / count.astype(float)


def effort_share(facts: pd.DataFrame, by: Iterable[str], mask: pd.Series, name: str) -> pd.DataFrame:
    """Columns ``by...``, cost, ``<name>_cost`` (cost where ``mask``) and ``<name>`` (their ratio)."""
    by = list(by)
    by = list(by)
    cost = split_cost(facts, by)
    parts = pd.DataFrame({"cost": cost, f"{name}_cost": cost.where(mask, 0.0)})
    out = parts.groupby([facts[k] for k in by], sort=True, observed=True).sum().reset_index()
    out[name] = _rate(out[f"{name}_cost"], out["cost"])
    return out


def mismatched_effort(facts: pd.DataFrame, by: Sequence[str] = ("territory_id", "rep_id"),
                      cap: float = 0.25) -> pd.DataFrame:
    """Share of effort (cost) spent on channels outside the fit for the customer's phase.

    Returns columns ``by...``, cost, mismatched_cost, mismatched_effort
    (mismatched_cost / cost; NaN when cost is 0) and mismatched_flag (share above
    ``cap``, the DESIGN 4.6 norm of at most 25%: a share exactly at the cap is not
    flagged). Activities of customers without a comparison phase count as mismatched
    (their channel cannot be said to fit).
    """
    out = effort_share(facts, by, ~facts["fits"].astype(bool), "mismatched")
    out = out.rename(columns={"mismatched": "mismatched_effort"})
    out["mismatched_flag"] = (out["mismatched_effort"] > cap).astype(bool)
    return out[[*by, "cost", "mismatched_cost", "mismatched_effort", "mismatched_flag"]]


def over_service(facts: pd.DataFrame, by: Sequence[str] = ("territory_id", "rep_id"),
                 cap: float = 0.3) -> pd.DataFrame:
    """Share of effort (cost) on customers already ``loyal`` at the start of the period.

    "At the start" is the comparison-window phase (``phase`` in the facts). Returns
    columns ``by...``, cost, loyal_cost, over_service (loyal_cost / cost; NaN when
    cost is 0) and over_service_flag (share above ``cap``; exactly at the cap is not
    flagged).
    """
    out = effort_share(facts, by, facts["phase"] == "loyal", "loyal")
    out = out.rename(columns={"loyal": "over_service"})
    out["over_service_flag"] = (out["over_service"] > cap).astype(bool)
    return out[[*by, "cost", "loyal_cost", "over_service", "over_service_flag"]]


# ------------------------------------------------------------- next best channel


def _percent(rate: pd.Series) -> pd.Series:
    """0.345 -> '35%' (half up)."""
    return np.floor(rate * 100 + 0.5).astype("int64").astype(str) + "%"


def next_best_channel(frame: pd.DataFrame, facts: pd.DataFrame,
                      fit: pd.DataFrame | Mapping[str, Sequence[str]] | None = None, *,
                      min_customers: int = 5) -> pd.DataFrame:
    """Add ``next_best_channel`` and ``next_best_reason`` to the customer frame.

    For each customer x market, among the channels that fit the customer's current
    ``phase``: the channel whose cell (channel x that phase, phases as in
    :func:`channel_phase`) has the best progression rate in the customer's territory
    and market, counting only cells with at least ``min_customers`` customers touched;
    when no fitting channel has such a cell, the same in the region (all territories of
    the region, same market); otherwise the first channel in the fit order. Ties go to
    the earlier channel in the fit order. Customers at ``loyal`` cannot move up, so
    their cells are ranked by response rate instead. A customer without a phase, or
    whose phase has no fitting channel, gets no channel (the reason says why).
    """
    fit = _as_fit(fit)
    base = frame.reset_index(drop=True)
    rows = pd.DataFrame({
        "_row": np.arange(len(base)),
        "territory_id": base["territory_id"],
        "region": base["region"] if "region" in base else np.nan,
        "market": base["market"],
        "phase": base["phase"].astype(object),
    })
    fitting = fit.loc[fit["fits"], ["phase", "channel", "fit_order"]]
    cand = rows.merge(fitting, on="phase", how="inner")

    def scored(keys: list[str], level: str) -> pd.DataFrame:
        stats = _cell_stats(facts, keys)
        loyal = stats["phase"] == "loyal"
        score = _rate(stats["customers_moved_up"], stats["customers_touched"])
        score = score.where(~loyal, _rate(stats["responses"], stats["activities"]))
        score = score.where(stats["customers_touched"] >= min_customers)
        return stats[[*keys, *CELL]].assign(**{f"score_{level}": score,
                                               f"touched_{level}": stats["customers_touched"]})

    cand = cand.merge(scored(GROUP, "t"), on=[*GROUP, *CELL], how="left")
    cand = cand.merge(scored(["region", "market"], "r"), on=["region", "market", *CELL], how="left")
    by_row = cand.groupby("_row", sort=False, observed=True)
    has_t = by_row["score_t"].transform("count") > 0
    has_r = by_row["score_r"].transform("count") > 0
    cand["level"] = np.where(has_t, "territory", np.where(has_r, "region", "fit"))
    cand["score"] = cand["score_t"].where(has_t, cand["score_r"].where(~has_t & has_r))
    cand["touched"] = cand["touched_t"].where(has_t, cand["touched_r"])
    cand["_neg"] = -cand["score"].fillna(-np.inf)
    best = (cand.sort_values(["_row", "_neg", "fit_order"], kind="mergesort")
            .drop_duplicates("_row").set_index("_row"))

    channel, phase, level = best["channel"], best["phase"], best["level"]
    where = pd.Series(np.where(level == "territory", "in this territory", "in the region"), index=best.index)
    touched = " (" + best["touched"].fillna(0).astype("int64").astype(str) + " touched)"
    pct = _percent(best["score"].fillna(0.0))
    moved = channel + " moved " + pct + " of '" + phase + "' customers up a phase " + where + touched
    responded = (channel + " got a positive response in " + pct + " of activities with 'loyal' customers "
                 + where + touched + "; loyal customers cannot move up, so response rate is used")
    fallback = "first fitting channel for '" + phase + "' (too little data)"
    reason = moved.where(phase != "loyal", responded).where(level != "fit", fallback)

    no_choice = pd.Series("no channel fits '" + base["phase"].astype(object).fillna("").astype(str) + "'",
                          index=base.index)
    no_choice = no_choice.where(base["phase"].notna(), "no phase known for this customer in this market")
    out = frame.copy()
    out["next_best_channel"] = best["channel"].reindex(np.arange(len(base))).to_numpy()
    out["next_best_reason"] = reason.reindex(np.arange(len(base))).fillna(no_choice).to_numpy()
    return out
