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
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.contract.params import DEFAULTS
from analysis.contract.schema import CHANNELS, DEFAULT_FIT, PHASE_LEVELS, PHASE_RANK, PHASES, POSITIVE_OUTCOMES
from analysis.domain.keys import (as_category, code_positions, coded, coded_with_missing, combined_codes, factorized,
                                 floats, group_sums, groups_of, is_in, labels_as_category, positions_in,
                                 text_of)

GROUP = ["territory_id", "market"]
CELL = ["channel", "phase"]


FIT_COLUMNS = ["phase", "channel", "fits", "fit_order"]
FACT_COLUMNS = [
    "territory_id", "region", "market", "activity_id", "customer_id", "rep_id", "date",
    "channel", "cost", "outcome", "positive", "phase", "phase_now", "moved_up", "segment",
    "fits", "on_ladder", "market_count", "first_row",
]
#: The fact columns the national pass reads (not the activity's id and date: it counts
#: each activity by ``first_row`` and reads dates from the activities).
PASS_FACT_COLUMNS = [c for c in FACT_COLUMNS if c not in ("activity_id", "date")]
CHANNEL_PHASE_COLUMNS = [
    "territory_id", "market", "channel", "phase", "activities", "cost", "effort_share",
    "response_rate", "progression_rate", "customers_touched", "fits", "responses",
    "customers_moved_up",
]
CHANNEL_COLUMNS = [
    "territory_id", "channel", "activities", "cost", "effort_share", "responses", "response_rate",
    "customers_touched", "customers_placed", "customers_moved_up", "progression_rate", "mismatched_share",
]
#: Phases whose next rung is defined by responses: their next best channel is ranked by the
#: positive-response rate ("moved up" would only restate that the touch was answered);
#: ``loyal`` cannot move up, so it is ranked by response rate too.
RESPONSE_RANKED = ("unaware", "aware", "loyal")


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
    unknown = pd.unique(values.dropna()[~values.dropna().isin(PHASE_LEVELS)])
    if len(unknown):
        raise ValueError(f"unknown phase {unknown[0]!r} in column {column!r}; "
                         f"expected one of {', '.join(PHASE_LEVELS)}")


def _rank(phases: pd.Series) -> pd.Series:
    """Ladder rank 0..5 of each phase (missing where the phase is missing)."""
    return phases.map(PHASE_RANK).astype(float)


def activity_facts(activities: pd.DataFrame, frame: pd.DataFrame,
                   fit: pd.DataFrame | Mapping[str, Sequence[str]] | None = None,
                   columns: Sequence[str] = tuple(FACT_COLUMNS)) -> pd.DataFrame:
    """One row per activity x market of its customer, with the customer's phases.

    ``activities`` are the analysis window's activities; ``frame`` the customer frame
    (territory_id, customer_id, market, region, segment, phase_previous, phase).
    ``fit`` is a :func:`fit_matrix` frame (or a mapping of overrides; None: default).

    Columns: territory_id, region, market, activity_id, customer_id, rep_id, date,
    channel, cost, outcome (missing outcomes read ``missing``), positive (outcome
    engaged/attended), phase (the customer's comparison-window phase in that market),
    phase_now (analysis-window phase), moved_up (phase_now above phase on the ladder;
    False when either is missing), segment, fits (channel fits ``phase``; False when the
    phase is missing), on_ladder (the comparison-window phase is known: only then can
    the channel be said to fit or not, or the customer be loyal), market_count (how many
    markets the activity is counted in, to split its cost when summing across markets),
    first_row (the activity's first row: where it is counted once across markets; as
    ``~duplicated(["territory_id", "activity_id"])``). Activities of customers absent
    from ``frame`` are dropped. ``columns``: those made, in that order (default: all;
    the national pass leaves out the ones it never reads, :data:`PASS_FACT_COLUMNS`).
    """
    return facts_of(activity_rows(activities, frame[list(KEY_COLUMNS)], columns), frame, fit)


#: The columns of the customer frame that place each activity's rows (its markets).
KEY_COLUMNS = ("territory_id", "customer_id", "market")
#: Few distinct values, many rows: categories make every later groupby work on codes
#: (the customer ids too: the facts' many rows of the window's customers).
_CATEGORICAL = ("territory_id", "region", "market", "customer_id", "rep_id", "channel", "outcome", "phase",
                "phase_now", "segment")


@dataclass(frozen=True)
class ActivityRows:
    """The activity side of :func:`activity_facts`, made before the customers' phases are
    known: the fact rows in their final order, the customer row of each (``right``, a
    position in the customer frame the keys were taken from, ``customers`` rows long),
    and the fact columns made of the activities and of the keys (``taken``)."""

    right: np.ndarray
    taken: dict
    customers: int
    columns: tuple[str, ...]


@dataclass(frozen=True)
class ActivityCustomers:
    """Where each activity's customer is in a customer frame: ``ids`` the frame's distinct
    customer ids (in the order they first appear), ``rows`` each frame row's code among
    them, ``codes`` each activity's (-1: its customer is not in the frame, or missing)."""

    ids: pd.Index
    rows: np.ndarray
    codes: np.ndarray


def activity_customers(activities: pd.DataFrame, keys: pd.DataFrame) -> ActivityCustomers:
    """The :class:`ActivityCustomers` of ``activities`` in the frame of ``keys`` (its
    customer_id): the activities' ids looked up once, for the facts and the effort."""
    rows, ids, codes = _key_codes(activities["customer_id"], keys["customer_id"])
    return ActivityCustomers(pd.Index(ids), rows, codes)


def activity_rows(activities: pd.DataFrame, keys: pd.DataFrame,
                  columns: Sequence[str] = tuple(FACT_COLUMNS),
                  looked_up: ActivityCustomers | None = None) -> ActivityRows:
    """The activity side of :func:`activity_facts` (``keys``: the customer frame's
    :data:`KEY_COLUMNS`, in its row order): everything of the facts that does not
    depend on the customers' segments and phases, so that it can be made meanwhile
    (``looked_up``: the :func:`activity_customers` of these activities and keys, when made)."""
    unknown = [c for c in columns if c not in FACT_COLUMNS]
    if unknown:
        raise ValueError(f"unknown fact column {unknown[0]!r}; expected some of {', '.join(FACT_COLUMNS)}")
    customers = keys[list(KEY_COLUMNS)]
    count = customers.groupby("customer_id", sort=False)["market"].transform("size").to_numpy()
    customers = customers.assign(market_count=count.astype(np.min_scalar_type(count.max(initial=0))))  # one byte
    acts = activities
    if "outcome" not in acts:
        acts = acts.assign(outcome="missing")
    if "date" not in acts:
        acts = acts.assign(date=pd.NaT)
    acts = acts.assign(outcome=acts["outcome"].fillna("missing"), cost=acts["cost"].astype(float))
    acts["positive"] = acts["outcome"].isin(POSITIVE_OUTCOMES).to_numpy(dtype=bool)
    # the inner join of activities and customer rows on customer_id, as positions, and
    # its rows put in the final order before any column is gathered (one take each)
    # (the activities taken in the order of their ids: a stable sort by place then orders
    # the rows by territory, market and activity id)
    by_id = _sort_order(acts["activity_id"])
    if looked_up is None:
        looked_up = activity_customers(acts, customers)
    elif (len(looked_up.codes), len(looked_up.rows)) != (len(acts), len(customers)):
        raise ValueError("the activity customers were looked up for other activities or another customer frame")
    left, right = _join_positions(acts["customer_id"], customers["customer_id"], by_id,
                                  codes=(looked_up.rows, looked_up.ids, looked_up.codes))
    # (territory and market order the rows; a channel's fit is read from its phase)
    needed = {*columns, "territory_id", "market", *(("channel",) if "fits" in columns else ())}
    from_keys = [c for c in FACT_COLUMNS if c in needed and c in customers.columns]  # the join's customer ids
    from_activities = [c for c in FACT_COLUMNS if c in needed and c in acts.columns and c not in from_keys
                       and c not in FROM_CUSTOMERS]
    # converted on the (smaller) source tables, then gathered by their codes
    coded = {c: as_category(table[c]) for table, names in ((customers, from_keys), (acts, from_activities))
             for c in names if c in _CATEGORICAL}
    # sorted by territory, market, then activity id: a stable sort of the joined rows (in
    # activity id order) on the key of the customer row, made on the customer frame
    place = combined_codes([_sort_codes(coded[k]) for k in ("territory_id", "market")],
                           [len(coded[k].cat.categories) + 1 for k in ("territory_id", "market")])
    place = place.astype(np.min_scalar_type(place.max(initial=0)))  # few values: a radix sort when 16 bits
    order = np.argsort(place[right], kind="stable")
    left, right = left[order], right[order]
    taken = _taken_columns(((customers, from_keys, right), (acts, from_activities, left)), coded)
    if "first_row" in columns:  # by the activity row each fact row is made of, when no id repeats
        first = (_first_in_territory(left, len(acts), np.asarray(taken["territory_id"].codes))
                 if _distinct(acts["activity_id"], by_id) else None)
        if first is None:  # by the ids
            ids = taken["activity_id"] if "activity_id" in taken else acts["activity_id"].take(left)
            first = _first_rows(pd.DataFrame({"territory_id": taken["territory_id"], "activity_id": ids.array}))
        taken["first_row"] = first
    return ActivityRows(right, taken, len(customers), tuple(columns))


#: The fact columns made of each customer's row of the frame (its segment and phases).
FROM_CUSTOMERS = ("region", "phase", "phase_now", "moved_up", "segment")


def facts_of(rows: ActivityRows, frame: pd.DataFrame,
             fit: pd.DataFrame | Mapping[str, Sequence[str]] | None = None) -> pd.DataFrame:
    """:func:`activity_facts` of the :func:`activity_rows` made of ``frame``'s keys: the
    customer side (segments and phases) added."""
    if len(frame) != rows.customers:
        raise ValueError(f"activity rows made for {rows.customers} customer rows, not the frame's {len(frame)}")
    fit = _as_fit(fit)
    _check_phases(frame["phase_previous"], "phase_previous")
    _check_phases(frame["phase"], "phase")
    columns = rows.columns
    customers = pd.DataFrame({
        "region": frame["region"] if "region" in frame else np.nan,
        "segment": frame["segment"] if "segment" in frame else np.nan,
        "phase": frame["phase_previous"].astype(object),  # plain labels, also from ordered categoricals
        "phase_now": frame["phase"].astype(object),
        "moved_up": (_rank(frame["phase"]) > _rank(frame["phase_previous"])).to_numpy(),
    }, index=frame.index)
    needed = {*columns, *(("phase", "channel") if "fits" in columns else ()),
              *(("phase",) if "on_ladder" in columns else ())}
    from_customers = [c for c in FACT_COLUMNS if c in needed and c in FROM_CUSTOMERS]
    phases = {"phase": frame["phase_previous"], "phase_now": frame["phase"]}  # (their labels' categories, from codes)
    coded = {c: labels_as_category(phases[c]) if c in phases else as_category(customers[c])
             for c in from_customers if c in _CATEGORICAL}
    taken = {**_taken_columns(((customers, from_customers, rows.right),), coded), **rows.taken}
    facts = pd.DataFrame({c: taken[c] for c in FACT_COLUMNS if c in taken}, copy=False)  # (new columns: no copy)
    if "moved_up" in facts:
        facts["moved_up"] = facts["moved_up"].astype(bool)
    if "fits" in columns:
        facts["fits"] = _fits(fit, facts["phase"], facts["channel"])
    if "on_ladder" in columns:
        facts["on_ladder"] = facts["phase"].notna().to_numpy(dtype=bool)
    return facts[list(columns)]


def _taken_columns(sources, coded: Mapping[str, pd.Series]) -> dict:
    """Each named column of each ``(table, names, positions)`` at its positions (a
    categorical by its codes, with the categories of the taken values)."""
    taken = {}
    for table, names, positions in sources:
        times = np.bincount(positions, minlength=len(table))  # how often each row is taken
        for c in names:
            if c in coded:
                trim = not isinstance(table[c].dtype, pd.CategoricalDtype)
                taken[c] = _taken_categories(coded[c], positions, times if trim else None)
            else:
                taken[c] = _take(table[c], positions)
    return taken


def _take(column: pd.Series, positions: np.ndarray) -> pd.Series:
    """``column.take(positions)`` on a new index; a NumPy column by ``np.take`` (a quarter of
    the time on millions of int32 positions, which pandas would first widen and check)."""
    if isinstance(column.dtype, np.dtype):
        return pd.Series(np.take(column.to_numpy(), positions), name=column.name)
    return column.take(positions).reset_index(drop=True)


def _distinct(values: pd.Series, order: np.ndarray) -> bool:
    """Whether ``values`` (``order``: their stable sort, missing last) repeat no value, a
    missing one included."""
    present = int(values.notna().sum())
    ordered = values.array.take(order[:present])
    return len(values) - present <= 1 and not np.asarray(ordered[1:] == ordered[:-1], dtype=bool).any()


def _position_type(*sizes: int) -> type:
    """The integer type of positions among ``sizes`` rows: int32 when they fit (half as large)."""
    return np.int32 if max(sizes, default=0) < np.iinfo(np.int32).max else np.int64


def _first_in_territory(codes: np.ndarray, distinct: int, territory: np.ndarray) -> np.ndarray | None:
    """Whether each row is the first of its code (0 .. ``distinct`` - 1), when every row of a
    code is in the ``territory`` (codes) of its first row; None otherwise."""
    position = _position_type(len(codes))
    rows = np.arange(len(codes), dtype=position)
    first = np.full(distinct, len(codes), dtype=position)
    np.minimum.at(first, codes, rows)
    first = first[codes]
    return first == rows if (territory == territory[first]).all() else None


def _key_codes(left_keys: pd.Series, right_keys: pd.Series) -> tuple[np.ndarray, pd.Index, np.ndarray]:
    """The right keys' codes and distinct values (``pd.factorize``), and each left key's
    position among those (-1: absent or missing): what :func:`_join_positions` joins on."""
    right_codes, uniques = pd.factorize(right_keys)
    return right_codes, uniques, positions_in(left_keys, uniques)


def _join_positions(left_keys: pd.Series, right_keys: pd.Series, left_order: np.ndarray | None = None,
                    codes: tuple[np.ndarray, pd.Index, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Row positions of the inner join of ``left_keys`` with ``right_keys`` (as ``merge(how="inner")``
    orders them: left rows in order, or in ``left_order`` (a permutation of their positions),
    each with its matching right rows in their order). A missing key matches nothing
    (``merge`` would pair missing with missing). ``codes``: their :func:`_key_codes`, when made."""
    right_codes, uniques, left_codes = codes or _key_codes(left_keys, right_keys)
    matches = np.bincount(right_codes[right_codes >= 0], minlength=len(uniques))
    by_code = np.argsort(right_codes, kind="stable")[np.count_nonzero(right_codes < 0):]
    first = np.concatenate([[0], np.cumsum(matches)[:-1]]).astype(np.int64)
    rows = np.flatnonzero(left_codes >= 0) if left_order is None else left_order[left_codes[left_order] >= 0]
    counts = matches[left_codes[rows]]
    # the positions in the smallest integers that hold them (millions of joined rows)
    position = _position_type(len(left_keys), len(right_keys), int(counts.sum()))
    left = np.repeat(rows.astype(position), counts)
    # the k-th joined row of a left row takes its code's k-th right row (by_code from its first)
    at = np.repeat((first[left_codes[rows]] - (np.cumsum(counts) - counts)).astype(position), counts)
    at += np.arange(len(left), dtype=position)
    return left, by_code.astype(position)[at]


def _taken_categories(values: pd.Series, positions: np.ndarray, taken: np.ndarray | None = None) -> pd.Categorical:
    """The categorical ``values`` at ``positions``; given ``taken`` (how many times each
    row is at ``positions``), with the categories ``astype("category")`` of the taken
    labels would give (the values present, sorted), found and renumbered on ``values``."""
    codes = np.asarray(values.cat.codes)
    dtype = values.dtype
    if taken is not None:  # by a count of each code (remove_unused_categories sorts them all)
        known = codes >= 0
        used = np.bincount(codes[known], weights=taken[known], minlength=len(dtype.categories)) > 0
        renumbered = np.append(np.cumsum(used) - 1, -1)  # the code -1 (missing) picks the last: stays -1
        codes = renumbered[codes].astype(codes.dtype)
        dtype = pd.CategoricalDtype(dtype.categories[used], ordered=dtype.ordered)
    return pd.Categorical.from_codes(np.take(codes, positions), dtype=dtype)


def _sort_codes(values: pd.Series) -> np.ndarray:
    """The sort keys of a categorical: its codes (int64), missing (-1) after every value
    as a sort places it (as the code after the last category's)."""
    codes = np.asarray(values.cat.codes, dtype=np.int64)
    return np.where(codes < 0, len(values.cat.categories), codes)


def _sort_order(values: pd.Series) -> np.ndarray:
    """The positions of ``values`` in a stable ascending sort (missing last)."""
    return np.asarray(values.array.argsort(kind="stable", na_position="last"), dtype=np.intp)


def _fits(fit: pd.DataFrame, phases: pd.Series, channels: pd.Series) -> np.ndarray:
    """Whether each (phase, channel) pair is in the fit, by a lookup on codes (False if unknown)."""
    (phase_codes, phase_values), (channel_codes, channel_values) = coded(phases), coded(channels)
    fitting = set(zip(fit.loc[fit["fits"], "phase"], fit.loc[fit["fits"], "channel"]))
    table = np.array([[(p, c) in fitting for c in channel_values] + [False] for p in phase_values] +
                     [[False] * (len(channel_values) + 1)], dtype=bool)
    return table[phase_codes, channel_codes]


# ------------------------------------------------------------------ channel x phase


def cell_stats(facts: pd.DataFrame, keys: Sequence[str] = tuple(GROUP)) -> pd.DataFrame:
    """Activities, cost, responses, customers touched and moved up per ``keys`` x cell
    (channel x phase), the counts :func:`channel_phase` and :func:`rate_cells` read:
    made once, passed to both."""
    groups, out = groups_of([facts[k] for k in (*keys, *CELL)], dropna=False)
    out["activities"] = np.bincount(groups, minlength=len(out)).astype("int64")
    out["cost"] = group_sums({"cost": facts["cost"].to_numpy(dtype=float)}, groups, len(out))["cost"].to_numpy()
    out["responses"] = np.bincount(groups, weights=facts["positive"].to_numpy(dtype=float),
                                   minlength=len(out)).astype("int64")
    # moved_up is a per customer x market fact: count each customer once per cell
    out["customers_touched"], out["customers_moved_up"] = _distinct_customers(
        groups, len(out), _customer_codes(facts), facts["moved_up"].to_numpy(dtype=bool))
    return _labels(out, ["phase"])  # plain labels (as grouping by labels gives)


def summed_cells(stats: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """:func:`cell_stats` by ``keys`` from cell stats by finer keys (``stats``: each of their
    groups inside one group of ``keys``, each customer in one of them, as a territory is
    in one region and a customer in one territory): the counts added up, distinct
    customers included (a customer counted in a finer group is in no other of the same
    coarser one); the cost as the sum of the finer sums (to ~1e-15 of the rows' sum).
    Rows in order of first appearance in ``stats``, as :func:`cell_stats` numbers them."""
    groups, out = groups_of([stats[k] for k in (*keys, *CELL)], dropna=False)
    counts = ["activities", "responses", "customers_touched", "customers_moved_up"]
    for name in ("cost", *counts):
        summed = np.bincount(groups, weights=stats[name].to_numpy(dtype=float), minlength=len(out))
        out[name] = summed if name == "cost" else summed.astype("int64")
    out = _labels(out, ["phase"])  # plain labels, as cell_stats gives
    return out[[*keys, *CELL, "activities", "cost", "responses", "customers_touched", "customers_moved_up"]]


def _first_rows(facts: pd.DataFrame) -> np.ndarray:
    """Whether each row is the first of its territory x activity id:
    ``~facts.duplicated(["territory_id", "activity_id"])``, by the first row of each
    activity id when every activity is of one territory (as in :func:`activity_facts`:
    the territory of its customer), without hashing the pairs."""
    activity, ids = factorized(facts["activity_id"])
    activity = activity.astype(_position_type(len(facts)))
    activity[activity < 0] = len(ids)  # a missing id is one value, as for duplicated
    territory = facts["territory_id"]
    territory = (np.asarray(territory.cat.codes) if isinstance(territory.dtype, pd.CategoricalDtype)
                 else pd.factorize(territory, use_na_sentinel=False)[0])
    first = _first_in_territory(activity, len(ids) + 1, territory)
    return ~facts.duplicated(["territory_id", "activity_id"]).to_numpy() if first is None else first


def _customer_codes(facts: pd.DataFrame) -> np.ndarray:
    """An integer code (>= 0) of each row's customer, a missing one a code of its own (to
    group by it cheaply): a categorical's codes, else one factorisation."""
    customer = facts["customer_id"]
    if isinstance(customer.dtype, pd.CategoricalDtype):
        codes = np.asarray(customer.cat.codes)
        return np.where(codes < 0, len(customer.cat.categories), codes)
    return pd.factorize(customer, use_na_sentinel=False)[0]


def _distinct_customers(groups: np.ndarray, n_groups: int, customers: np.ndarray,
                        *flags: np.ndarray) -> list[np.ndarray]:
    """Per group code 0..n_groups-1 (rows of code -1 belong to none): the distinct customers
    of its rows, then for each of ``flags`` how many of them have it on at least one of their
    rows of the group (all int64)."""
    rows = groups >= 0
    width = int(customers.max(initial=0)) + 1
    pair, pairs = pd.factorize(groups[rows].astype(np.int64) * width + customers[rows])  # group x customer
    pair_group = (pairs // width).astype(np.intp)
    counts = [np.bincount(pair_group, minlength=n_groups)]
    for flag in flags:  # a pair has the flag when one of its rows has it
        flagged = np.bincount(pair, weights=flag[rows], minlength=len(pairs)) > 0
        counts.append(np.bincount(pair_group, weights=flagged, minlength=n_groups))
    return [count.astype(np.int64) for count in counts]


def _labels(table: pd.DataFrame, columns: Iterable[str]) -> pd.DataFrame:
    """``table`` with its (categorical) ``columns`` as plain labels, in the dtype grouping by
    labels gives (inferred as for an index: text, else object)."""
    return table.assign(**{c: pd.Index(table[c].astype(object).to_numpy()) for c in columns})


def _rate(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    """numerator / denominator as float; NaN where the denominator is zero."""
    denominator = denominator.astype(float)
    return numerator.astype(float) / denominator.where(denominator > 0)


def channel_phase(facts: pd.DataFrame,
                  fit: pd.DataFrame | Mapping[str, Sequence[str]] | None = None,
                  stats: pd.DataFrame | None = None) -> pd.DataFrame:
    """The channel x phase effort, response and progression table per territory and market.

    A complete grid for every territory x market in ``facts``: every channel of the fit
    (plus any other channel seen in ``facts``) x every phase, zeros where there was no
    activity. ``phase`` is the comparison-window phase (see :func:`activity_facts`);
    activities of customers without one (not on the ladder, or no comparison period)
    form cells with a missing phase, so that the cost of every market adds up to the
    territory's activity cost. Pass the same ``fit`` used for the facts (None: default fit).

    Columns: territory_id, market, channel, phase, activities, cost, effort_share
    (cost / total cost of the territory-market; sums to 1 when that cost is > 0, NaN
    when it is 0), response_rate (positive responses / activities), progression_rate
    (share of distinct customers touched in the cell who moved up at least one phase),
    customers_touched, fits, and the counts behind the rates: responses,
    customers_moved_up. Rates are NaN where the cell has no activity. ``stats``: the
    facts' :func:`cell_stats` by territory and market (default: made here).
    """
    fit = _as_fit(fit)
    extra = sorted(set(facts["channel"].dropna().unique()) - set(fit["channel"]))  # undeclared channels seen
    channels = list(dict.fromkeys([*fit["channel"], *extra]))
    stats = (cell_stats(facts, GROUP) if stats is None else stats).copy()
    # the facts' territory x market pairs: those of their cells (a few rows each, not millions)
    keys = stats[GROUP].drop_duplicates().sort_values(GROUP, ignore_index=True)
    unplaced = [None] if facts["phase"].isna().any() else []
    cells = pd.DataFrame([(c, p) for c in channels for p in [*PHASES, *unplaced]], columns=CELL)
    grid = keys.merge(cells, how="cross")
    grid["phase"], stats["phase"] = grid["phase"].astype(object), stats["phase"].astype(object)
    for frame_ in (grid, stats):  # merge keys: observed categories as plain labels
        for key in GROUP:
            frame_[key] = frame_[key].astype(object)
    out = grid.merge(stats, on=[*GROUP, *CELL], how="left")
    counts = ["activities", "responses", "customers_touched", "customers_moved_up"]
    out[counts] = out[counts].fillna(0).astype("int64")
    out["cost"] = out["cost"].fillna(0.0).astype(float)
    total = facts.groupby(GROUP, sort=False, observed=True)["cost"].sum().rename("_total").reset_index()
    out = out.merge(total, on=GROUP, how="left")
    out["effort_share"] = _rate(out["cost"], out["_total"])
    out["response_rate"] = _rate(out["responses"], out["activities"])
    out["progression_rate"] = _rate(out["customers_moved_up"], out["customers_touched"]).where(out["phase"].notna())
    out = out.merge(fit[["phase", "channel", "fits"]], on=CELL, how="left")
    out["fits"] = out["fits"].eq(True)
    return out[CHANNEL_PHASE_COLUMNS]


# --------------------------------------------------------------- per-rep shares


def channel_summary(facts: pd.DataFrame) -> pd.DataFrame:
    """Per territory and channel over every phase and market, each activity counted once.

    Columns (:data:`CHANNEL_COLUMNS`): activities (distinct activities), cost (each
    activity's cost once), effort_share (of the territory's activity cost), responses and
    response_rate (positive responses / activities), customers_touched (distinct
    customers), customers_placed (of them, those with a phase at the start of the period
    in some market: the base of progression_rate; none without a comparison period) and
    customers_moved_up (of those, the ones who moved up a phase in some market),
    mismatched_share (cost outside the fit / cost
    of activities whose customer has a phase). Channels without activities are left out;
    sorted by territory, then cost (largest first).
    """
    if facts.empty:
        return pd.DataFrame(columns=CHANNEL_COLUMNS)
    split = split_cost(facts)
    # grouped on the (categorical) columns' codes; labels once the groups are made
    groups, out = groups_of([facts["territory_id"], facts["channel"]])
    on_ladder = facts["on_ladder"].to_numpy(dtype=bool)
    parts = {"cost": True, "_off": on_ladder & ~facts["fits"].to_numpy(dtype=bool), "_placed": on_ladder}
    for name, part in parts.items():  # one column at a time
        out[name] = group_sums({name: np.where(part, split.to_numpy(), 0.0)}, groups, len(out))[name].to_numpy()
    first = facts["first_row"].to_numpy(dtype=bool) if "first_row" in facts else _first_rows(facts)
    once = first & (groups >= 0)  # each activity once
    out["activities"] = np.bincount(groups[once], minlength=len(out)).astype("int64")
    responses = np.bincount(groups[once], weights=facts["positive"].to_numpy(dtype=float)[once], minlength=len(out))
    out["responses"] = responses.astype("int64")
    known = facts["customer_id"].notna().to_numpy()  # rows without a customer count for no customer
    touched, placed, moved = _distinct_customers(np.where(known, groups, -1), len(out), _customer_codes(facts),
                                                 facts["on_ladder"].to_numpy(dtype=bool),
                                                 facts["moved_up"].to_numpy(dtype=bool))
    out["customers_touched"], out["customers_placed"], out["customers_moved_up"] = touched, placed, moved
    out = _labels(out, ["territory_id", "channel"])
    total = out.groupby("territory_id", sort=False)["cost"].transform("sum")
    out["effort_share"] = _rate(out["cost"], total)
    out["response_rate"] = _rate(out["responses"], out["activities"])
    out["progression_rate"] = _rate(out["customers_moved_up"], out["customers_placed"])
    out["mismatched_share"] = _rate(out["_off"], out["_placed"])
    out = out.sort_values(["territory_id", "cost"], ascending=[True, False], kind="mergesort", ignore_index=True)
    return out[CHANNEL_COLUMNS]


EFFORT_COLUMNS = ["cost", "priority_cost", "placed_cost", "mismatched_cost", "loyal_cost",
                  "effort_on_priority", "mismatched_effort", "over_service"]


def effort_shares(facts: pd.DataFrame, by: Sequence[str], priority: Sequence[str]) -> pd.DataFrame:
    """Cost and the three effort shares of the coaching norms, per group of ``by``.

    effort_on_priority = cost on the ``priority`` segments / cost; mismatched_effort =
    cost outside the channel-phase fit / cost of activities whose customer has a phase
    (``placed_cost``); over_service = cost on customers loyal at the start of the period
    / placed cost. A share whose base is 0 is NaN (never 0). Each activity's cost is
    split over the markets it counts in, so it is counted once across markets.
    """
    by = list(by)
    cost = split_cost(facts, by)
    placed = facts["on_ladder"].to_numpy(dtype=bool)
    parts = {"priority_cost": is_in(facts["segment"], priority),
             "placed_cost": placed,
             "mismatched_cost": placed & ~facts["fits"].to_numpy(dtype=bool),
             "loyal_cost": placed & is_in(facts["phase"], [PHASES[-1]])}
    # grouped on the (categorical) columns' codes, then as labels in label order
    groups, out = groups_of([facts[k] for k in by])
    for name, part in {"cost": True, **parts}.items():  # the cost of the rows of each part (one column at a time)
        out[name] = group_sums({name: np.where(part, cost.to_numpy(), 0.0)}, groups, len(out))[name].to_numpy()
    out = _labels(out, by).sort_values(by, kind="mergesort").set_index(by)
    out["effort_on_priority"] = _rate(out["priority_cost"], out["cost"])
    out["mismatched_effort"] = _rate(out["mismatched_cost"], out["placed_cost"])
    out["over_service"] = _rate(out["loyal_cost"], out["placed_cost"])
    return out.rename_axis(by).reset_index()[[*by, *EFFORT_COLUMNS]]


def split_cost(facts: pd.DataFrame, by: Iterable[str] = ()) -> pd.Series:
    """Cost of each fact row as summed over ``by``.

    Grouped by market, every market sees the activity's full cost; grouped across
    markets, the cost is split evenly over the markets the activity counts in, so each
    activity's cost is counted once.
    """
    cost = floats(facts["cost"])
    cost = np.where(np.isnan(cost), 0.0, cost)  # (one new column: millions of fact rows)
    if "market" in by:
        return pd.Series(cost, index=facts.index, name="cost")
    if "market_count" in facts.columns:
        count = floats(facts["market_count"])
    else:
        count = facts.groupby(["territory_id", "activity_id"], sort=False, observed=True)["activity_id"].transform(
            "size").to_numpy(dtype=float)
    cost /= count
    return pd.Series(cost, index=facts.index)


def mismatched_effort(facts: pd.DataFrame, by: Sequence[str] = ("territory_id", "rep_id"),
                      cap: float = 0.25) -> pd.DataFrame:
    """Share of effort (cost) on channels outside the fit for the customer's phase.

    Returns columns ``by...``, cost, mismatched_cost, mismatched_effort (mismatched cost
    / cost of activities whose customer has a phase; NaN when that is 0) and
    mismatched_flag (share above ``cap``, the DESIGN 4.6 norm of at most 25%: a share
    exactly at the cap is not flagged; a missing share raises no flag).
    """
    out = effort_shares(facts, by, ())
    out["mismatched_flag"] = (out["mismatched_effort"] > cap).astype(bool)
    return out[[*by, "cost", "mismatched_cost", "mismatched_effort", "mismatched_flag"]]


def over_service(facts: pd.DataFrame, by: Sequence[str] = ("territory_id", "rep_id"),
                 cap: float = 0.3) -> pd.DataFrame:
    """Share of effort (cost) on customers already ``loyal`` at the start of the period.

    "At the start" is the comparison-window phase (``phase`` in the facts). Returns
    columns ``by...``, cost, loyal_cost, over_service (loyal cost / cost of activities
    whose customer has a phase; NaN when that is 0) and over_service_flag (share above
    ``cap``; exactly at the cap is not flagged).
    """
    out = effort_shares(facts, by, ())
    out["over_service_flag"] = (out["over_service"] > cap).astype(bool)
    return out[[*by, "cost", "loyal_cost", "over_service", "over_service_flag"]]


# ------------------------------------------------------------- next best channel


NEXT_BEST_COLUMNS = ["next_best_channel", "next_best_basis", "next_best_rate_kind", "next_best_rate",
                     "next_best_base"]
#: next_best_basis codes: where the choice came from, or why there is none.
NEXT_BEST_BASES = ("territory", "region", "fit", "no_phase", "no_fit", "no_activities")


def rate_cells(facts: pd.DataFrame, keys: Sequence[str], stats: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per ``keys`` x channel x phase: the counts, both rates, and the rate that ranks channels.

    ``rate_kind`` is ``response`` for the phases in :data:`RESPONSE_RANKED` and
    ``progression`` otherwise; ``rate`` is that rate; ``base`` the customers touched in
    the cell (the base a rate needs, ``min_rate_base``). Cells without a phase are left out.
    ``stats``: the facts' :func:`cell_stats` by ``keys`` (default: made here).
    """
    stats = cell_stats(facts, list(keys)) if stats is None else stats
    stats = stats[stats["phase"].notna()].copy()
    stats["phase"] = stats["phase"].astype(object)
    stats["response_rate"] = _rate(stats["responses"], stats["activities"])
    stats["progression_rate"] = _rate(stats["customers_moved_up"], stats["customers_touched"])
    by_response = stats["phase"].isin(RESPONSE_RANKED)
    stats["rate_kind"] = np.where(by_response, "response", "progression")
    stats["rate"] = stats["response_rate"].where(by_response, stats["progression_rate"])
    stats["base"] = stats["customers_touched"].astype("int64")
    for key in keys:
        stats[key] = stats[key].astype(object)
    return stats.reset_index(drop=True)


def _best_in_runs(runs: np.ndarray, score: np.ndarray, order: np.ndarray) -> np.ndarray:
    """The position of the best candidate of each run of equal ``runs`` (ascending: each
    row's candidates one after the other): the highest ``score``, then the lowest
    ``order``, then the first; what the first of each run of
    ``np.lexsort((order, -score, runs))`` is, in one pass over the runs."""
    if len(runs) == 0:
        return np.zeros(0, dtype=np.intp)
    starts = np.flatnonzero(np.diff(runs, prepend=runs[0] - 1))
    sizes = np.diff(np.append(starts, len(runs)))
    best = score == np.repeat(np.maximum.reduceat(score, starts), sizes)
    order = np.where(best, order, np.iinfo(np.int64).max)
    best &= order == np.repeat(np.minimum.reduceat(order, starts), sizes)
    kept = np.flatnonzero(best)
    return kept[np.flatnonzero(np.diff(runs[kept], prepend=runs[0] - 1))]


def next_best_channel(frame: pd.DataFrame, facts: pd.DataFrame,
                      fit: pd.DataFrame | Mapping[str, Sequence[str]] | None = None, *,
                      min_rate_base: int = DEFAULTS["min_rate_base"], region_cells: pd.DataFrame | None = None,
                      territory_cells: pd.DataFrame | None = None, has_activities: bool = True) -> pd.DataFrame:
    """Add the next best channel columns (:data:`NEXT_BEST_COLUMNS`) to the customer frame.

    For each customer x market, among the channels that fit the customer's current
    ``phase``: the channel whose cell (channel x that phase, phases as in
    :func:`channel_phase`) has the best rate in the customer's territory and market —
    the positive-response rate for ``unaware``, ``aware`` (and ``loyal``), the
    progression rate above — counting only cells with at least ``min_rate_base``
    customers touched; when no fitting channel has such a cell, the same in the region
    (``region_cells``: :func:`rate_cells` over every territory of the region, whatever
    their parameters; default: computed from ``facts``); otherwise the first channel in
    the fit order. Ties go to the earlier channel in the fit order. ``territory_cells``:
    :func:`rate_cells` by territory and market (default: computed from ``facts``).

    ``next_best_basis`` says which (``territory``, ``region``, ``fit``) or why there is no
    channel (``no_phase``, ``no_fit``, ``no_activities``: without activities no channel is
    proposed); ``next_best_rate_kind``, ``next_best_rate`` and ``next_best_base`` (customers
    touched) carry the evidence. Sentences are made by the report's text module.
    """
    fit = _as_fit(fit)
    base = frame.reset_index(drop=True)
    region = base["region"] if "region" in base else pd.Series(np.nan, index=base.index)
    # the candidates: each customer x market with each channel fitting its phase (a row
    # per pair, in row then fit order), keyed by integer codes of their labels
    fitting = fit.loc[fit["fits"], ["phase", "channel", "fit_order"]].reset_index(drop=True)
    row, pick = _join_positions(base["phase"].astype(object), fitting["phase"])
    labels = {"territory_id": base["territory_id"], "region": region, "market": base["market"],
              "phase": base["phase"]}
    coded = {k: coded_with_missing(v) for k, v in labels.items()}  # (missing: a value)
    coded["channel"] = coded_with_missing(fitting["channel"].astype(object))
    cand = {k: (codes[pick] if k == "channel" else codes[row]) for k, (codes, _) in coded.items()}
    if region_cells is None:
        region_cells = rate_cells(facts, ["region", "market"])
    if territory_cells is None:
        territory_cells = rate_cells(facts, GROUP)

    def scored(cells: pd.DataFrame, keys: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Each candidate's score (the rate where the base suffices) and base in ``cells``
        (NaN where it has no cell; of cells repeating a key, the best scored)."""
        cells = cells.assign(_score=cells["rate"].where(cells["base"] >= min_rate_base))
        cells = cells.sort_values("_score", ascending=False, kind="mergesort", na_position="last")
        cells = cells.drop_duplicates([*keys, *CELL]).reset_index(drop=True)
        by = [*keys, *CELL]
        width = [len(coded[k][1]) for k in by]
        cell_keys = combined_codes([positions_in(cells[k].astype(object), coded[k][1]) for k in by], width)
        known = np.flatnonzero(cell_keys >= 0)  # (a cell of labels no candidate has: never found)
        found = code_positions(cell_keys[known], combined_codes([cand[k] for k in by], width), int(np.prod(width)))
        found = np.append(known, len(cells))[found]  # -1 picks the end: no cell
        score = np.append(cells["_score"].to_numpy(dtype=float), np.nan)[found]
        return score, np.append(cells["base"].to_numpy(dtype=float), np.nan)[found]

    score_t, base_t = scored(territory_cells, GROUP)
    score_r, base_r = scored(region_cells, ["region", "market"])
    # per customer x market: scored in its territory, else in its region, else the fit order
    has_t = (np.bincount(row, weights=~np.isnan(score_t), minlength=len(base)) > 0)[row]
    has_r = (np.bincount(row, weights=~np.isnan(score_r), minlength=len(base)) > 0)[row]
    level = np.where(has_t, 0, np.where(has_r, 1, 2)).astype(np.int8)  # territory, region, fit
    score = np.where(has_t, score_t, np.where(has_r, score_r, np.nan))
    rate_base = np.where(has_t, base_t, np.where(has_r, base_r, np.nan))
    # per row the best score (none last), then the fit order
    first = _best_in_runs(row, np.nan_to_num(score, nan=-np.inf), fitting["fit_order"].to_numpy()[pick])
    # per frame row: its best candidate's fitting row, level, score and base (none: -1, NaN)
    chosen = np.full(len(base), -1, dtype=np.intp)
    chosen[row[first]] = first
    best = lambda values, none: np.append(values, none)[chosen]  # (-1 takes the appended none)
    phase_known = base["phase"].notna().to_numpy()
    # the basis (codes of its labels below): the level a candidate was chosen at, else why there is none
    basis = np.where(chosen >= 0, best(level, -1), np.where(phase_known, 3, 4))
    kind = np.where(phase_known, np.where(is_in(base["phase"], RESPONSE_RANKED), 0, 1), -1)
    out = frame.copy(deep=False)  # copy-on-write: the columns added below alone are new
    out["next_best_channel"] = text_of(best(pick, -1), fitting["channel"].to_numpy(dtype=object))
    out["next_best_basis"] = text_of(basis, ["territory", "region", "fit", "no_fit", "no_phase"])
    out["next_best_rate_kind"] = text_of(kind, ["response", "progression"])
    out["next_best_rate"] = best(score, np.nan)
    out["next_best_base"] = pd.array(best(rate_base, np.nan), dtype="Float64").astype("Int64")
    if not has_activities:
        out["next_best_channel"] = None
        out["next_best_basis"] = "no_activities"
        out["next_best_rate_kind"] = None
        out["next_best_rate"] = np.nan
        out["next_best_base"] = pd.array([pd.NA] * len(out), dtype="Int64")
    return out
