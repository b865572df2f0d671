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

from analysis.domain.keys import as_category, factorized, group_sums, grouped, left_join, mapped, positions_in
from analysis.domain.periods import WINDOWS, Window, window_codes
from analysis.contract.schema import BELOW_TRIAL, PHASE_LEVELS
from analysis.domain.phases import (GROUP, PHASE_DTYPE, PHASE_RANK, PHASES, _dense_groups, _keys_known,
                                    _level_codes, _require, grid_keys, is_label, phase_rank, territory_markets)

POSITIONS = ("competitor_dominant", "contested", "own_led", "no_sales")
POSITION_DTYPE = pd.CategoricalDtype(list(POSITIONS), ordered=True)
FLAGS = ("competitor_locked", "stalled", "slipping")
#: the ``flags`` text of every combination, indexed by locked*4 + stalled*2 + slipping
FLAG_LABELS = np.array([";".join(name for name, on in zip(FLAGS, bits) if on)
                        for bits in itertools.product((False, True), repeat=len(FLAGS))], dtype=object)
KEYS = ["customer_id", "market"]


def as_position(values) -> pd.Series:
    """Values as the ordered competitor-position categorical (missing -> no_sales)."""
    values = pd.Series(values)
    if isinstance(values.dtype, pd.CategoricalDtype) and values.dtype == POSITION_DTYPE:
        codes = values.cat.codes.to_numpy().copy()
        codes[codes < 0] = POSITIONS.index("no_sales")
        return pd.Series(pd.Categorical.from_codes(codes, dtype=POSITION_DTYPE), index=values.index, name=values.name)
    values = values.astype(object)
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
    window: :func:`analysis.domain.market.product_units`, or the window's rows of
    :func:`~analysis.domain.market.window_sales`, summed here per customer x market x
    product the same way, to the bit). The leading competitor is the
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
    (customer_code, customers), (market_code, markets), (product_code, products) = (
        _sorted_codes(product_units[k]) for k in (*KEYS, "product_id"))
    keep = (customer_code >= 0) & (market_code >= 0) & (product_code >= 0)
    n_markets = max(len(markets), 1)
    group, (pair, product, own_code) = grouped([
        (customer_code.astype(np.int64) * n_markets + market_code)[keep], product_code[keep],
        _is_true(product_units["is_own"]).astype(np.int64)[keep]])
    units = np.nan_to_num(pd.to_numeric(product_units["units"]).to_numpy(dtype=float, na_value=np.nan))[keep]
    units = group_sums({"units": units}, group, len(pair))["units"].to_numpy()  # per pair x product x is_own
    is_own = own_code.astype(bool)
    pairs, at = _dense_groups(pair, len(customers) * n_markets)  # sorted pairs
    totals = group_sums({"market_units": units, "own_units": np.where(is_own, units, 0.0)}, at, len(pairs))
    competing = ~is_own & (units > 0)
    lead, competitor_units = _leading_competitor(at[competing], product[competing], units[competing], len(pairs))
    has_leader = lead >= 0
    leader = np.full(len(pairs), None, dtype=object)
    leader[has_leader] = np.asarray(products, dtype=object)[lead[has_leader]]
    market_units = totals["market_units"].to_numpy()
    own_units = totals["own_units"].to_numpy()
    market = np.where(market_units > 0, market_units, np.nan)
    with np.errstate(invalid="ignore"):
        competitor_share = competitor_units / market
        own_share = own_units / market
        position = np.select(
            [np.isnan(market), competitor_share >= dominant, (own_units > 0) & (own_units >= competitor_units)],
            [POSITIONS.index(p) for p in ("no_sales", "competitor_dominant", "own_led")],
            default=POSITIONS.index("contested")).astype(np.int8)
    return pd.DataFrame({
        "customer_id": customers.take(pairs // n_markets),
        "market": markets.take(pairs % n_markets),
        "leading_competitor": leader,
        "competitor_share": competitor_share,
        "own_share": own_share,
        "competitor_position": pd.Categorical.from_codes(position, dtype=POSITION_DTYPE),
    })


def _sorted_codes(values: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """``pd.factorize(values, sort=True)``: each value's position among the sorted distinct
    values (-1: missing) and those values."""
    if not isinstance(values.array, pd.arrays.ArrowStringArray):
        return pd.factorize(values, sort=True)
    coded = as_category(values).cat
    return np.asarray(coded.codes, dtype=np.intp), pd.Index(coded.categories)


def _is_true(values: pd.Series) -> np.ndarray:
    """Whether each of ``values`` is True: ``values.astype(object).eq(True)`` as a bool array."""
    if values.dtype == bool:
        return values.to_numpy()
    return values.astype(object).eq(True).to_numpy(dtype=bool)


def _leading_competitor(pair: np.ndarray, product: np.ndarray, units: np.ndarray, count: int
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Per pair 0 .. ``count`` - 1, the product of its leading competitor among the rows
    (competitor products with ``units`` > 0: the most units, ties: the smallest product;
    -1: none) and its units (0: none)."""
    lead_units = np.zeros(count, dtype=float)
    np.maximum.at(lead_units, pair, units)
    top = units == lead_units[pair]
    none = np.iinfo(np.int64).max
    lead = np.full(count, none, dtype=np.int64)
    np.minimum.at(lead, pair[top], product[top])
    lead[lead == none] = -1
    return lead, lead_units


def attach_competitor_position(frame: pd.DataFrame, positions: pd.DataFrame) -> pd.DataFrame:
    """Merge :func:`competitor_position` onto the customer frame (by customer_id, market).

    Customers x markets without product units get ``no_sales`` (and missing shares).
    Existing columns of the same names are replaced.
    """
    cols = ["leading_competitor", "competitor_share", "own_share", "competitor_position"]
    left = frame.drop(columns=[c for c in cols if c in frame.columns])
    found = _position_rows(frame, positions)
    if found is None:  # (a missing or repeated key: as the merge matches them)
        out = left_join(left, positions[[*KEYS, *cols]], KEYS)
    else:
        fill = bool((found < 0).any())
        out = left.reset_index(drop=True).assign(**{c: positions[c].array.take(found, allow_fill=fill) for c in cols})
    out.index = frame.index
    out["competitor_position"] = as_position(out["competitor_position"])
    return out


def _position_rows(frame: pd.DataFrame, positions: pd.DataFrame) -> np.ndarray | None:
    """The row of ``positions`` of each row of ``frame`` with the same customer_id and
    market (-1: none); None when a key is missing, or repeated in ``positions``."""
    if any(table[k].isna().any() for table in (frame, positions) for k in KEYS):
        return None
    (customer, customers), (market, markets) = (factorized(positions[k]) for k in KEYS)
    key = customer.astype(np.int64) * len(markets) + market
    if len(key) and np.bincount(key).max() > 1:
        return None
    row = np.full(len(customers) * len(markets) + 1, -1, dtype=np.intp)  # (the last: not found)
    row[key] = np.arange(len(key))
    customer, market = positions_in(frame["customer_id"], customers), positions_in(frame["market"], markets)
    return row[np.where((customer >= 0) & (market >= 0), customer * len(markets) + market, -1)]


def customer_effort(activities: pd.DataFrame, window: Window, which: str = "analysis") -> pd.DataFrame:
    """Our effort per customer in window ``which``: columns customer_id, activities, effort_cost."""
    _require(activities, ["customer_id", "date", "cost"], "activities")
    inside = window_codes(activities["date"], window) == WINDOWS.index(which)
    everything = bool(inside.all())  # (then no copy of the rows)
    ids = activities["customer_id"].array  # as stored: no object array
    codes, customers = factorized(pd.Series(ids if everything else ids[inside]))
    cost = _costs(activities)
    return _effort(codes, customers, cost if everything else cost[inside])


def effort_of_codes(activities: pd.DataFrame, codes: np.ndarray, ids: pd.Index) -> pd.DataFrame | None:
    """:func:`customer_effort` of ``activities`` (the window's rows), each row's customer
    given as its code among ``ids`` (distinct ids; -1: none), as the join of the activity
    rows finds it: no id looked up again. None when a row's customer is not among ``ids``
    (its customer_id is then looked up: :func:`customer_effort`).

    The same table: each customer's sum is made of its rows in their order, as there.
    pandas sums groups whose codes are sorted in another way than the others (a plain
    sum of each run against a compensated one), so codes that come in runs are
    renumbered in the order of the runs, as :func:`customer_effort`'s codes would be."""
    _require(activities, ["customer_id", "cost"], "activities")
    known = codes >= 0
    if not np.array_equal(known, activities["customer_id"].notna().to_numpy(dtype=bool)):
        return None
    cost = _costs(activities)
    if not known.all():
        codes, cost = codes[known], cost[known]
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]]) if len(codes) else np.zeros(0, dtype=np.intp)
    if len(starts) == np.count_nonzero(np.bincount(codes, minlength=len(ids))):  # in runs, one a customer
        run = np.zeros(len(codes), dtype=np.intp)
        run[starts[1:]] = 1
        return _effort(np.cumsum(run), pd.Index(ids).take(codes[starts]), cost)
    return _effort(codes, pd.Index(ids), cost)


def _costs(activities: pd.DataFrame) -> np.ndarray:
    """Each activity's cost as floats, a missing one 0."""
    return np.nan_to_num(pd.to_numeric(activities["cost"]).to_numpy(dtype=float, na_value=np.nan))


def _effort(codes: np.ndarray, customers: pd.Index, cost: np.ndarray) -> pd.DataFrame:
    """Activities and effort_cost per customer of ``customers`` (the rows' ``codes`` among
    them, -1: no customer) that has rows, sorted by customer id."""
    known = codes >= 0  # an activity without a customer is no one's effort
    if not known.all():
        codes, cost = codes[known], cost[known]
    count = np.bincount(codes, minlength=len(customers))
    total = group_sums({"effort_cost": cost}, codes, len(customers))["effort_cost"].to_numpy()
    present = np.flatnonzero(count > 0)
    order = present[customers.take(present).argsort()]  # by customer id (distinct), as a sorted groupby
    return pd.DataFrame({"customer_id": customers.take(order), "activities": count[order],
                         "effort_cost": total[order]}).astype({"activities": "int64", "effort_cost": "float64"})


def attach_effort(frame: pd.DataFrame, effort: pd.DataFrame) -> pd.DataFrame:
    """Add ``activities`` and ``effort_cost`` (zero when none) from :func:`customer_effort`.

    Activities have no market: the customer's effort appears on each of its markets.
    """
    lookup = effort.set_index("customer_id")
    if not lookup.index.is_unique:  # pandas says what is wrong
        return frame.assign(activities=mapped(frame["customer_id"], lookup["activities"]),
                            effort_cost=mapped(frame["customer_id"], lookup["effort_cost"]))
    at = positions_in(frame["customer_id"], lookup.index)  # once for both columns

    def taken(column: str) -> pd.Series:
        return pd.Series(lookup[column].array.take(at, allow_fill=True), index=frame.index)

    return frame.assign(activities=taken("activities").fillna(0).astype("int64"),
                        effort_cost=taken("effort_cost").fillna(0.0).astype("float64"))


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
    pair, groups = territory_markets(frame)
    level = _level_codes(frame["phase"])  # -1: missing or not a phase (no cell)
    counted = np.bincount(level[level >= 0], minlength=len(PHASE_LEVELS)) > 0
    shown = [i for i, p in enumerate(PHASE_LEVELS) if p in phases or counted[i]]
    at = np.full(len(PHASE_LEVELS) + 1, -1, dtype=np.int64)  # (the last: for level -1)
    at[shown] = np.arange(len(shown))
    at = at[level]  # the position of each row's phase among those shown
    missing = frame["phase"].isna().to_numpy()
    if missing.any():  # customers with no phase: cells of their own, after the phases
        at[missing] = len(shown)
    levels = np.array([*shown, -1] if missing.any() else shown, dtype=np.int64)  # the phase codes of the cells
    position = np.asarray(as_position(frame["competitor_position"]).cat.codes, dtype=np.int64)
    size = len(levels) * len(POSITIONS)
    cell = np.where(at >= 0, (pair * len(levels) + at) * len(POSITIONS) + position, -1)
    potential = np.nan_to_num(pd.to_numeric(frame["potential"]).to_numpy(dtype=float, na_value=np.nan))
    effort = pd.to_numeric(frame["effort_cost"]).to_numpy(dtype=float, na_value=np.nan)
    sums = group_sums({"potential": potential, "effort_cost": effort}, cell, len(groups) * size)
    known_effort = bool(np.isfinite(effort).any()) or not len(frame)
    out = grid_keys(groups, size)
    out["phase"] = pd.Categorical.from_codes(np.tile(np.repeat(levels, len(POSITIONS)), len(groups)),
                                             dtype=PHASE_DTYPE)
    out["competitor_position"] = pd.Categorical.from_codes(np.tile(np.arange(len(POSITIONS)),
                                                                   len(levels) * len(groups)), dtype=POSITION_DTYPE)
    out["customers"] = np.bincount(cell[cell >= 0], minlength=len(out)).astype("int64")
    out["potential"] = sums["potential"].to_numpy()
    out["effort_cost"] = sums["effort_cost"].to_numpy() if known_effort else np.nan
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
    customer on the ladder (DESIGN 4.4); ``flags`` lists the flags that are known to
    hold, and is NA when none of the three can be computed. Customers without a phase
    (non-prescribing types) get False.
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
        locked = (is_label(frame["competitor_position"], locked_position)
                  & (now <= PHASE_RANK[locked_max_phase]) & (now <= before))
        stalled = (is_label(frame["potential_level"], stalled_potential_level)
                   & (now < PHASE_RANK[stalled_below]) & (now == before) & (effort >= min_activities))
        slipping = now < before
    on_ladder = ~np.isnan(now)
    no_history = on_ladder & np.isnan(before)
    below_trial = is_label(frame["phase"], BELOW_TRIAL)
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
    known = _keys_known(rows)
    rows = rows if known.all() else rows[known]  # (a missing key: in no group)
    pair, groups = territory_markets(rows)
    distinct = _Distinct(pair, factorized(rows["customer_id"])[0], len(groups))
    out = groups.assign(**{k: groups[k].array for k in GROUP},  # keyed as a groupby keys (object text: str)
                        customers=distinct.among(np.ones(len(rows), dtype=bool)))
    for name in FLAGS:
        values = rows[name].astype("boolean")
        known = np.bincount(pair[values.notna().to_numpy()], minlength=len(groups)) > 0
        out[name] = pd.Series(distinct.among(values.fillna(False).to_numpy(dtype=bool))).astype("Int64").where(known)
    return out


class _Distinct:
    """Distinct codes per group: ``groupby(groups)[codes].nunique()`` of chosen rows."""

    def __init__(self, groups: np.ndarray, codes: np.ndarray, count: int):
        """``groups``: each row's group 0 .. ``count`` - 1; ``codes``: its code (-1: missing, not counted)."""
        self.combination, (self.group, _) = grouped([groups, codes], dropna=True)
        self.count = count

    def among(self, rows: np.ndarray) -> np.ndarray:
        """Per group, the number of distinct codes among the ``rows`` (a mask)."""
        combinations = self.combination[rows]
        seen = np.bincount(combinations[combinations >= 0], minlength=len(self.group)) > 0
        return np.bincount(self.group[seen], minlength=self.count).astype(np.int64)
