"""The 3C matrix (DESIGN 4.4): Customer (phase) x Competitor (position) x Company (effort).

Competitor position of a customer in a market, from the analysis window's units per
product (first that matches):

=================== =====================================================================
no_sales            the customer has no market units
competitor_dominant the leading competitor product's share >= ``dominant`` (0.6)
own_led             our share > 0 and >= every competitor product's share
contested           otherwise
=================== =====================================================================

The matrix crosses phase with position per territory and market (customer count,
potential and our effort cost per cell); the flags mark customers needing attention:
``competitor_locked``, ``stalled`` and ``slipping``. Like the other analyses, every
function works on many territories at once, grouped by ``territory_id`` and ``market``.
"""
from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from analysis.domain.keys import factorized, left_join, mapped
from analysis.domain.periods import WINDOWS, Window, window_codes
from analysis.contract.schema import BELOW_TRIAL, PHASE_LEVELS
from analysis.domain.phases import GROUP, PHASE_RANK, PHASES, _grid, _require, as_phase, phase_rank

POSITIONS = ("competitor_dominant", "contested", "own_led", "no_sales")
POSITION_DTYPE = pd.CategoricalDtype(list(POSITIONS), ordered=True)
FLAGS = ("competitor_locked", "stalled", "slipping")
#: the ``flags`` text of every combination, indexed by locked*4 + stalled*2 + slipping
FLAG_LABELS = np.array([";".join(name for name, on in zip(FLAGS, bits) if on)
                        for bits in itertools.product((False, True), repeat=len(FLAGS))], dtype=object)
KEYS = ["customer_id", "market"]


def as_position(values) -> pd.Series:
    """Values as the ordered competitor-position categorical (missing -> no_sales)."""
    values = pd.Series(values).astype(object)
    unknown = values.notna() & ~values.isin(POSITIONS)
    if unknown.any():
        bad = pd.unique(values[unknown].astype(str))[:5]
        raise ValueError(f"unknown competitor position(s) {', '.join(map(repr, bad))}; "
                         f"expected one of {', '.join(POSITIONS)}")
    values = values.where(values.notna(), "no_sales")
    return pd.Series(pd.Categorical(values, dtype=POSITION_DTYPE), index=values.index, name=values.name)


def competitor_position(product_units: pd.DataFrame, *, dominant: float = 0.6) -> pd.DataFrame:
    """Leading competitor, shares and competitor position per customer x market.

    ``product_units`` has customer_id, market, product_id, is_own, units (the analysis
    window; :func:`analysis.domain.market.product_units`). The leading competitor is the
    competitor product with the most units (ties: the smallest product_id);
    ``competitor_share`` its share of the market units (0 when no competitor sold,
    missing with no market units); ``own_share`` our support (missing with no market
    units). Position rules: see the module docstring. Only customers x markets present
    in ``product_units`` are returned: use :func:`attach_competitor_position` to give
    the others ``no_sales``.

    Columns customer_id, market, leading_competitor, competitor_share, own_share,
    competitor_position (ordered categorical of ``POSITIONS``).
    """
    _require(product_units, [*KEYS, "product_id", "is_own", "units"], "product units")
    # integer codes (sorted, so code order is value order) keep the groupbys cheap at scale
    customer_code, customers = pd.factorize(product_units["customer_id"], sort=True)
    market_code, markets = pd.factorize(product_units["market"], sort=True)
    product_code, products = pd.factorize(product_units["product_id"], sort=True)
    keep = (customer_code >= 0) & (market_code >= 0) & (product_code >= 0)
    n_markets = max(len(markets), 1)
    rows = pd.DataFrame({
        "pair": (customer_code.astype(np.int64) * n_markets + market_code)[keep],
        "product": product_code[keep],
        "is_own": product_units["is_own"].astype(object).eq(True).to_numpy(dtype=bool)[keep],
        "units": np.nan_to_num(pd.to_numeric(product_units["units"]).to_numpy(dtype=float, na_value=np.nan))[keep],
    })
    rows = rows.groupby(["pair", "product", "is_own"], sort=False, as_index=False)["units"].sum()
    rows["own"] = rows["units"].where(rows["is_own"], 0.0)
    totals = rows.groupby("pair", sort=True).agg(market_units=("units", "sum"), own_units=("own", "sum"))
    competitors = rows[~rows["is_own"] & (rows["units"] > 0)]
    # most units first, then the smallest product_id
    order = np.lexsort((competitors["product"].to_numpy(), -competitors["units"].to_numpy(),
                        competitors["pair"].to_numpy()))
    leading = competitors.iloc[order].drop_duplicates("pair", keep="first").set_index("pair")
    pair = totals.index.to_numpy()
    product = leading["product"].reindex(pair).to_numpy(dtype=float, na_value=np.nan)
    has_leader = ~np.isnan(product)
    leader = np.full(len(pair), None, dtype=object)
    leader[has_leader] = np.asarray(products, dtype=object)[product[has_leader].astype(np.int64)]
    competitor_units = np.nan_to_num(leading["units"].reindex(pair).to_numpy(dtype=float, na_value=np.nan))
    market_units = totals["market_units"].to_numpy()
    own_units = totals["own_units"].to_numpy()
    market = np.where(market_units > 0, market_units, np.nan)
    with np.errstate(invalid="ignore"):
        competitor_share = competitor_units / market
        own_share = own_units / market
        position = np.select(
            [np.isnan(market), competitor_share >= dominant, (own_units > 0) & (own_units >= competitor_units)],
            ["no_sales", "competitor_dominant", "own_led"], default="contested")
    return pd.DataFrame({
        "customer_id": customers.take(pair // n_markets),
        "market": markets.take(pair % n_markets),
        "leading_competitor": leader,
        "competitor_share": competitor_share,
        "own_share": own_share,
        "competitor_position": pd.Categorical(position, dtype=POSITION_DTYPE),
    })


def attach_competitor_position(frame: pd.DataFrame, positions: pd.DataFrame) -> pd.DataFrame:
    """Merge :func:`competitor_position` onto the customer frame (by customer_id, market).

    Customers x markets without product units get ``no_sales`` (and missing shares).
    Existing columns of the same names are replaced.
    """
    cols = ["leading_competitor", "competitor_share", "own_share", "competitor_position"]
    out = left_join(frame.drop(columns=[c for c in cols if c in frame.columns]), positions[[*KEYS, *cols]], KEYS)
    out.index = frame.index
    out["competitor_position"] = as_position(out["competitor_position"])
    return out


def customer_effort(activities: pd.DataFrame, window: Window, which: str = "analysis") -> pd.DataFrame:
    """Our effort per customer in window ``which``: columns customer_id, activities, effort_cost."""
    _require(activities, ["customer_id", "date", "cost"], "activities")
    inside = window_codes(activities["date"], window) == WINDOWS.index(which)
    codes, customers = factorized(pd.Series(activities["customer_id"].array[inside]))  # as stored: no object array
    cost = np.nan_to_num(pd.to_numeric(activities["cost"]).to_numpy(dtype=float, na_value=np.nan)[inside])
    known = codes >= 0  # an activity without a customer is no one's effort
    per = pd.Series(cost[known]).groupby(codes[known]).agg(["size", "sum"])  # by code: every customer's row
    order = customers.argsort()  # by customer id (distinct), as a sorted groupby
    return pd.DataFrame({"customer_id": customers.take(order), "activities": per["size"].to_numpy()[order],
                         "effort_cost": per["sum"].to_numpy()[order]}).astype({"activities": "int64",
                                                                              "effort_cost": "float64"})


def attach_effort(frame: pd.DataFrame, effort: pd.DataFrame) -> pd.DataFrame:
    """Add ``activities`` and ``effort_cost`` (zero when none) from :func:`customer_effort`.

    Activities have no market: the customer's effort appears on each of its markets.
    """
    lookup = effort.set_index("customer_id")
    return frame.assign(
        activities=mapped(frame["customer_id"], lookup["activities"]).fillna(0).astype("int64"),
        effort_cost=mapped(frame["customer_id"], lookup["effort_cost"]).fillna(0.0).astype("float64"),
    )


def three_c_matrix(frame: pd.DataFrame, phases: tuple[str, ...] = PHASES) -> pd.DataFrame:
    """Phase x competitor position per territory and market.

    ``frame`` (customer x market) has territory_id, market, phase, competitor_position
    (missing counts as ``no_sales``), potential and effort_cost (our activity cost in
    the analysis window). Per cell: customers (rows), potential (sum) and effort_cost
    (sum; NaN when no row of the cell has a known effort, i.e. without activities).
    Customers with no phase (not on the ladder: distributors, suppliers, peripheral)
    form cells with a missing phase, so that every market's effort adds up to the
    territory's activity cost. Every territory x market of ``frame`` gets the
    complete grid of ``phases`` x positions, zeros included;
    phase and competitor_position are ordered categoricals.

    Columns territory_id, market, phase, competitor_position, customers, potential,
    effort_cost.
    """
    _require(frame, [*GROUP, "phase", "competitor_position", "potential", "effort_cost"], "customer frame")
    rows = frame
    cells = pd.DataFrame({
        **{k: rows[k].to_numpy() for k in GROUP},
        "phase": rows["phase"].astype(object).to_numpy(),
        "competitor_position": as_position(rows["competitor_position"]).astype(object).to_numpy(),
        "potential": np.nan_to_num(pd.to_numeric(rows["potential"]).to_numpy(dtype=float, na_value=np.nan)),
        "effort_cost": pd.to_numeric(rows["effort_cost"]).to_numpy(dtype=float, na_value=np.nan),
    })
    keys = [*GROUP, "phase", "competitor_position"]
    sums = cells.groupby(keys, sort=False, dropna=False).agg(
        customers=("potential", "size"), potential=("potential", "sum"),
        effort_cost=("effort_cost", "sum"), _known=("effort_cost", "count"),
    ).reset_index()
    sums["effort_cost"] = sums["effort_cost"].where(sums.pop("_known") > 0)  # no known effort: NaN, not 0
    known_effort = bool(np.isfinite(cells["effort_cost"]).any()) or not len(cells)
    present = set(phases) | set(pd.unique(cells["phase"]))  # once, not once per phase level
    phases = [p for p in PHASE_LEVELS if p in present]
    phases += [None] if cells["phase"].isna().any() else []
    grid = _grid(frame, phase=phases, competitor_position=list(POSITIONS))
    grid["phase"], sums["phase"] = grid["phase"].astype(object), sums["phase"].astype(object)
    out = grid.merge(sums, on=keys, how="left")
    out["customers"] = out["customers"].fillna(0).astype("int64")
    out["potential"] = out["potential"].fillna(0.0).astype("float64")
    out["effort_cost"] = out["effort_cost"].astype("float64").fillna(0.0) if known_effort else np.nan
    out["phase"] = as_phase(out["phase"])
    out["competitor_position"] = as_position(out["competitor_position"])
    return out


def flags(frame: pd.DataFrame, *, locked_position: str = "competitor_dominant", locked_max_phase: str = "aware",
          stalled_potential_level: str = "high", stalled_below: str = "loyal", min_activities: int = 1,
          effort_column: str = "activities") -> pd.DataFrame:
    """Add bool columns competitor_locked, stalled, slipping and the ``flags`` string.

    - competitor_locked: competitor_position == ``locked_position``, phase at or below
      ``locked_max_phase`` (aware) and no progress (rank(phase) <= rank(phase_previous);
      both phases known).
    - stalled: potential_level == ``stalled_potential_level`` (high), phase below
      ``stalled_below`` (loyal), phase == phase_previous, and effort in the analysis
      window (``effort_column`` >= ``min_activities``, i.e. at least one activity).
    - slipping: rank(phase) < rank(phase_previous).

    ``flags`` joins the names that apply with ``;`` in that order (``""`` when none).

    Missing is never "no flag": where a flag cannot be computed (no previous phase, so
    no comparison period; a ``below_trial`` phase, which may or may not be at or below
    ``aware``; no known effort, so no activities) it is not available: NA for every
    customer on the ladder (DESIGN 4.4); ``flags`` lists the flags
    that are known to hold, and is NA when none of the three can be computed. Customers without a phase (non-prescribing types) get False.
    """
    _require(frame, ["phase", "phase_previous", "competitor_position", "potential_level", effort_column],
             "customer frame")
    for name in (locked_max_phase, stalled_below):
        if name not in PHASE_RANK:
            raise ValueError(f"unknown phase {name!r}; expected one of {', '.join(PHASES)}")
    now = phase_rank(frame["phase"]).to_numpy()
    before = phase_rank(frame["phase_previous"]).to_numpy()
    effort = pd.to_numeric(frame[effort_column]).to_numpy(dtype=float, na_value=np.nan)
    with np.errstate(invalid="ignore"):  # NaN ranks compare False: unknown phases raise no flag
        locked = (frame["competitor_position"].astype(object).eq(locked_position).to_numpy(dtype=bool)
                  & (now <= PHASE_RANK[locked_max_phase]) & (now <= before))
        stalled = (frame["potential_level"].astype(object).eq(stalled_potential_level).to_numpy(dtype=bool)
                   & (now < PHASE_RANK[stalled_below]) & (now == before) & (effort >= min_activities))
        slipping = now < before
    on_ladder = ~np.isnan(now)
    no_history = on_ladder & np.isnan(before)
    below_trial = frame["phase"].astype(object).eq(BELOW_TRIAL).to_numpy(dtype=bool)
    # DESIGN 4.4: without a comparison period (or, for stalled, without activities) the
    # flags are not available, for every customer on the ladder
    unknown = {"competitor_locked": no_history | below_trial,
               "stalled": no_history | (on_ladder & np.isnan(effort)),
               "slipping": no_history}
    # one code per combination (bit 2: locked, 1: stalled, 0: slipping) -> its label
    known = {name: ~unknown[name] for name in FLAGS}
    code = ((locked & known["competitor_locked"]).astype(int) * 4 + (stalled & known["stalled"]).astype(int) * 2
            + (slipping & known["slipping"]).astype(int))
    text = pd.Series(FLAG_LABELS[code], index=frame.index, dtype=object)
    all_unknown = unknown["competitor_locked"] & unknown["stalled"] & unknown["slipping"]
    values = {name: pd.array(np.where(unknown[name], False, bits), dtype="boolean")
              for name, bits in zip(FLAGS, (locked, stalled, slipping))}
    for name in FLAGS:
        values[name][unknown[name]] = pd.NA
    return frame.assign(**{name: pd.Series(v, index=frame.index) for name, v in values.items()},
                        flags=text.where(~all_unknown))


def flag_counts(frame: pd.DataFrame) -> pd.DataFrame:
    """Customers carrying each 3C flag, per territory and market (segmentable customers).

    Columns territory_id, market, customers, competitor_locked, stalled, slipping; a flag
    that cannot be computed for any customer of the group (no comparison period, no
    activities) is NA, never 0.
    """
    rows = frame.loc[frame["segment"].notna(), [*GROUP, "customer_id", *FLAGS]]  # the columns read
    grouped = rows.groupby(GROUP, sort=True, observed=True)
    out = grouped["customer_id"].nunique().rename("customers").to_frame()
    for name in FLAGS:
        values = rows[name].astype("boolean")
        known = values.notna().groupby([rows[k] for k in GROUP], observed=True).any()
        hits = rows[values.fillna(False).astype(bool)].groupby(GROUP, observed=True)["customer_id"].nunique()
        out[name] = hits.reindex(out.index, fill_value=0).astype("Int64").where(known.reindex(out.index, fill_value=False))
    return out.reset_index()
