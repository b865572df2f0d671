"""Customer phase on the behaviour-change ladder and phase migration (DESIGN 4.4).

The ladder, lowest to highest: unaware -> aware -> interested -> trial -> adopter ->
loyal. A phase is computed per customer x market for two windows: ``phase_previous``
(the comparison window) and ``phase`` (the analysis window). Phases come from the
optional ``phases`` table when it records one, and are otherwise derived from sales and
activity outcomes with these rules (first that matches, from the top):

========== ==============================================================================
loyal      support >= ``loyal`` (0.5) in this window and in the window before it (an
           absent earlier window, i.e. no market units there, does not count)
adopter    support >= ``adopter`` (0.2)
trial      own units > 0
interested at least ``interested_positive`` (2) positive responses (``engaged`` or
           ``attended``) in the window
aware      at least ``aware_responses`` (1) activity with a response other than ``none``
unaware    otherwise
========== ==============================================================================

support = own units / market units in the window, missing when the market units are 0.
Activities have no market: a customer's responses count in every market of the customer.

Every function works on a customer x market frame holding many territories at once and
groups by ``territory_id`` and ``market``; phases are ordered categoricals
(``PHASE_DTYPE``) so that ``<``, ``min`` and sorting follow the ladder.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.contract.schema import (BELOW_TRIAL, PHASE_LEVELS, PHASE_RANK, PHASES, SALES_ONLY_PHASES,
                                     SEGMENTABLE_TYPES)
from analysis.domain.keys import as_category, floats, group_sums, positions_in
from analysis.domain.periods import WINDOWS, Window, period_codes
from analysis.domain.support import support

GROUP = ["territory_id", "market"]
PHASE_DTYPE = pd.CategoricalDtype(list(PHASE_LEVELS), ordered=True)
# The window a phase is computed for -> the window before it (for the loyal rule).
PREVIOUS_WINDOW = {"comparison": "before", "analysis": "comparison"}
# The window of each phase column.
PHASE_COLUMNS = {"phase_previous": "comparison", "phase": "analysis"}
COUNTS = ("activities", "responses", "positive")


def _require(frame: pd.DataFrame, columns, what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} lacks required column(s): {', '.join(missing)}")


def as_phase(values) -> pd.Series:
    """Values as the ordered phase categorical; unknown phases are an error."""
    values = pd.Series(values)
    if isinstance(values.dtype, pd.CategoricalDtype) and values.dtype == PHASE_DTYPE:
        return values
    values = values.astype(object)
    unknown = values.notna() & ~values.isin(PHASE_LEVELS)
    if unknown.any():
        bad = pd.unique(values[unknown].astype(str))[:5]
        raise ValueError(f"unknown phase(s) {', '.join(map(repr, bad))}; expected one of {', '.join(PHASE_LEVELS)}")
    return pd.Series(pd.Categorical(values, dtype=PHASE_DTYPE), index=values.index, name=values.name)


def phase_rank(values: pd.Series) -> pd.Series:
    """Rank of each phase on the ladder (unaware 0 ... loyal 5; below_trial 2), NaN when missing."""
    phases = as_phase(values)
    ranks = np.array([PHASE_RANK.get(p, np.nan) for p in PHASE_DTYPE.categories] + [np.nan], dtype=float)
    return pd.Series(ranks[phases.cat.codes.to_numpy()], index=phases.index, name=phases.name)


def ladder(has_activities: bool) -> tuple[str, ...]:
    """The phases a dataset can show: the full ladder, or the sales-only rungs."""
    return PHASES if has_activities else SALES_ONLY_PHASES


def phase_change(frame: pd.DataFrame) -> pd.Series:
    """Movement on the ladder: rank(phase) - rank(phase_previous).

    Positive = moved up that many phases, negative = slipped, NaN when either phase
    is missing.
    """
    return (phase_rank(frame["phase"]) - phase_rank(frame["phase_previous"])).rename("phase_change")


def responses_by_window(contacts: pd.DataFrame, window: Window) -> pd.DataFrame:
    """Activity and response counts per customer and window.

    ``contacts``: :func:`analysis.contract.reduction.contacts` of the activities (their
    counts per customer, rep and month: the windows are whole months). Columns
    customer_id, window (categorical of ``WINDOWS``), activities (all activities),
    responses (activities whose outcome is present and not ``none``), positive (outcome
    ``engaged`` or ``attended``). Activities outside the three windows are ignored; a
    customer x window without activities is absent (treat as zero).
    """
    _require(contacts, ["customer_id", "period", *COUNTS], "contacts")
    if isinstance(contacts["customer_id"].dtype, pd.CategoricalDtype):  # (the groupby decides its categories)
        return _responses_grouped(contacts, window)
    window_code = period_codes(contacts["period"].astype(str), window)
    customer = as_category(contacts["customer_id"]).cat  # codes in customer order, as a sorted groupby
    code = customer.codes.to_numpy()
    counted = (window_code >= 0) & (code >= 0)  # outside the windows, or no customer: ignored
    key = code[counted].astype(np.int64) * len(WINDOWS) + window_code[counted]  # customer, then window: sorted
    present, group = _dense_groups(key, len(customer.categories) * len(WINDOWS))
    del key
    out = pd.DataFrame({
        "customer_id": customer.categories.take(present // len(WINDOWS)),
        "window": pd.Categorical.from_codes(present % len(WINDOWS), categories=list(WINDOWS)),
        **{c: _count_sums(contacts[c].to_numpy()[counted], group, len(present)) for c in COUNTS},
    })
    return out.astype({c: "int64" for c in COUNTS})


def _count_sums(counts: np.ndarray, groups: np.ndarray, size: int) -> np.ndarray:
    """Per group 0 .. ``size`` - 1 (each row's: ``groups``), the sum of its ``counts``, as
    the groupby sums them: integers exactly (whole floats while every sum stays below
    2**53), other values by :func:`group_sums`."""
    if counts.dtype.kind in "iu" and len(counts) * float(np.abs(counts).max(initial=0)) < 2.0 ** 53:
        return np.bincount(groups, weights=counts, minlength=size).astype(np.int64)
    return group_sums({"counts": counts}, groups, size)["counts"].to_numpy()


def _responses_grouped(contacts: pd.DataFrame, window: Window) -> pd.DataFrame:
    """:func:`responses_by_window` by a groupby on the customer ids and window names."""
    rows = pd.DataFrame({
        "customer_id": contacts["customer_id"].array,
        "window": pd.Categorical(window.assign(contacts["period"].astype(str)), categories=list(WINDOWS)),
        **{c: contacts[c].to_numpy() for c in COUNTS},
    })
    rows = rows[rows["window"].notna()]
    out = rows.groupby(["customer_id", "window"], observed=True, sort=True)[list(COUNTS)].sum().reset_index()
    return out.astype({c: "int64" for c in COUNTS})


def _dense_groups(key: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values of ``key`` (integers in 0 .. ``size`` - 1), ascending, and the
    position of each row's value among them: ``np.unique(key, return_inverse=True)``."""
    seen = np.bincount(key, minlength=size) > 0
    rank = np.cumsum(seen) - 1
    return np.flatnonzero(seen), rank[key]


def window_counts(frame: pd.DataFrame, responses: pd.DataFrame | None, which: str) -> pd.DataFrame:
    """activities / responses / positive of window ``which`` for each row of ``frame``.

    Looked up by customer_id (so every market of the customer gets the same counts);
    zero when the customer has none. Index aligned with ``frame``.
    """
    out = pd.DataFrame(0, index=frame.index, columns=list(COUNTS), dtype="int64")
    if responses is None or len(responses) == 0:
        return out
    rows = responses[is_label(responses["window"], which)]
    position = positions_in(frame["customer_id"], rows["customer_id"])
    found = position >= 0
    for col in COUNTS:
        if col in rows.columns:
            values = rows[col].to_numpy(dtype="int64")
            out[col] = np.where(found, values[np.where(found, position, 0)] if len(values) else 0, 0)
    return out


def is_label(values: pd.Series, label: str) -> np.ndarray:
    """Whether each of ``values`` (text or categorical; missing: False) is ``label``:
    ``values.astype(object) == label`` as a bool array."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        at = values.cat.categories.get_indexer([label])[0]
        return values.cat.codes.to_numpy() == at if at >= 0 else np.zeros(len(values), dtype=bool)
    if isinstance(values.array, pd.arrays.ArrowStringArray):
        return (values == label).to_numpy(dtype=bool, na_value=False)
    return (values.astype(object) == label).to_numpy(dtype=bool)


def _derive(frame: pd.DataFrame, counts: pd.DataFrame | None, which: str, *, loyal: float, adopter: float,
            interested_positive: int, aware_responses: int) -> pd.Series:
    """The derived phase of every row of ``frame`` in window ``which`` (``counts`` None: no activities)."""
    before = PREVIOUS_WINDOW[which]
    own = np.nan_to_num(floats(frame[f"own_units_{which}"]))
    share = floats(support(pd.Series(own), pd.Series(np.nan_to_num(floats(frame[f"market_units_{which}"])))))
    share_before = floats(support(pd.Series(np.nan_to_num(floats(frame[f"own_units_{before}"]))),
                                  pd.Series(np.nan_to_num(floats(frame[f"market_units_{before}"])))))
    with np.errstate(invalid="ignore"):
        conditions = [
            (share >= loyal) & (share_before >= loyal),   # NaN (no market units) never matches
            share >= adopter,
            own > 0,
        ]
    if counts is None:  # without activities the rungs below trial cannot be told apart
        labels, default = ["loyal", "adopter", "trial"], BELOW_TRIAL
    else:
        conditions += [counts["positive"].to_numpy() >= interested_positive,
                       counts["responses"].to_numpy() >= aware_responses]
        labels, default = ["loyal", "adopter", "trial", "interested", "aware"], "unaware"
    level = PHASE_DTYPE.categories.get_loc
    codes = np.select(conditions, [level(p) for p in labels], default=level(default)).astype(np.int8)
    return pd.Series(pd.Categorical.from_codes(codes, dtype=PHASE_DTYPE), index=frame.index)


def derive_phases(frame: pd.DataFrame, responses: pd.DataFrame | None = None, *, loyal: float = 0.5,
                  adopter: float = 0.2, interested_positive: int = 2, aware_responses: int = 1,
                  has_activities: bool = True, has_comparison: bool = True) -> pd.DataFrame:
    """Add ``phase_previous`` (comparison window) and ``phase`` (analysis window).

    ``frame`` is the customer frame (customer_id and ``own_units_<w>`` /
    ``market_units_<w>`` for the windows before, comparison and analysis);
    ``responses`` is :func:`responses_by_window` (``None``: no activities). Rules,
    first that matches: loyal (support >= ``loyal`` in the window and in the one before;
    the comparison window's "before" is the window named ``before``), adopter (support
    >= ``adopter``), trial (own units > 0), interested (>= ``interested_positive``
    positive responses), aware (>= ``aware_responses`` responses other than ``none``),
    unaware. Support is missing when the market units are 0 and then matches no
    support rule. Both phases are ordered categoricals (``PHASE_DTYPE``).

    What the data cannot show is missing (DESIGN 4.4): without activities
    (``has_activities`` False) customers without own units get ``below_trial``; without a
    comparison period (``has_comparison`` False) ``phase_previous`` is missing; customer
    types that do not prescribe (distributors, suppliers, peripheral) get no phase.
    """
    _require(frame, ["customer_id", *(f"{m}_{w}" for w in WINDOWS for m in ("own_units", "market_units"))],
             "customer frame")
    rules = dict(loyal=loyal, adopter=adopter, interested_positive=interested_positive,
                 aware_responses=aware_responses)
    out = {col: _derive(frame, window_counts(frame, responses, which) if has_activities else None, which, **rules)
           for col, which in PHASE_COLUMNS.items()}
    if not has_comparison:
        out["phase_previous"] = pd.Series(pd.Categorical([None] * len(frame), dtype=PHASE_DTYPE), index=frame.index)
    return frame.assign(**out).pipe(on_ladder_only)


def on_ladder_only(frame: pd.DataFrame) -> pd.DataFrame:
    """Phases only for the prescribing (segmentable) customer types; the others get none."""
    if "customer_type" not in frame:
        return frame
    prescribing = frame["customer_type"].isin(SEGMENTABLE_TYPES)
    return frame.assign(**{col: frame[col].where(prescribing) for col in PHASE_COLUMNS if col in frame})


def latest_recorded(phases: pd.DataFrame, last_period: str) -> pd.Series:
    """customer_id -> the latest recorded phase with period <= ``last_period``.

    Rows with a missing phase are ignored; several rows in the latest period: the last
    one in table order wins.
    """
    period = phases["period"].astype(str).str.slice(0, 7)
    rows = pd.DataFrame({
        "customer_id": phases["customer_id"].to_numpy(),
        "period": period.to_numpy(),
        "phase": phases["phase"].astype(object).to_numpy(),
    })
    rows = rows[rows["phase"].notna() & (rows["period"] <= last_period)]
    rows = rows.sort_values(["customer_id", "period"], kind="mergesort")
    latest = rows.drop_duplicates("customer_id", keep="last")
    return pd.Series(latest["phase"].to_numpy(), index=latest["customer_id"].to_numpy(), dtype=object)


def phases_from_table(frame: pd.DataFrame, phases: pd.DataFrame | None, window: Window) -> pd.DataFrame:
    """Overlay the recorded ``phases`` table on the derived phases of ``frame``.

    ``frame`` is the output of :func:`derive_phases`; ``phases`` the optional table
    (customer_id, period ``YYYY-MM``, phase), or ``None``. For each window (comparison
    -> ``phase_previous``, analysis -> ``phase``) a customer's phase is the latest
    recorded phase with period <= the window's last period, for every market of the
    customer; a customer with no such record keeps the derived phase. Adds
    ``phase_source`` (for ``phase``) and ``phase_previous_source`` (for
    ``phase_previous``): ``"table"`` or ``"derived"``. Unknown phases in the table are
    an error.
    """
    _require(frame, ["customer_id", *PHASE_COLUMNS], "customer frame")
    out = {}
    for col, which in PHASE_COLUMNS.items():
        derived = as_phase(frame[col])
        source = "phase_source" if col == "phase" else f"{col}_source"
        if phases is None or len(phases) == 0:
            out[col], out[source] = derived, pd.Series("derived", index=frame.index, dtype=object)
            continue
        _require(phases, ["customer_id", "period", "phase"], "phases table")
        as_phase(phases["phase"].dropna())  # validate the recorded phases
        recorded = frame["customer_id"].map(latest_recorded(phases, window.periods(which)[-1])).astype(object)
        has = recorded.notna()
        out[col] = as_phase(recorded.where(has, derived.astype(object)))
        out[source] = pd.Series(np.where(has, "table", "derived"), index=frame.index, dtype=object)
    return frame.assign(**out).pipe(on_ladder_only)


def migration(frame: pd.DataFrame, phases: tuple[str, ...] = PHASES) -> pd.DataFrame:
    """Phase migration matrix: comparison window -> analysis window.

    Counts customers (rows of ``frame``) with both phases known, per territory_id,
    market, phase_previous and phase. Every territory x market of ``frame`` with at
    least one known previous phase gets the full grid of ``phases`` (zeros included):
    without a comparison period there is no migration, and no rows (never a grid of
    zeros). Phases are ordered categoricals. Columns territory_id, market,
    phase_previous, phase, customers.
    """
    _require(frame, [*GROUP, *PHASE_COLUMNS], "customer frame")
    both = frame.loc[frame["phase_previous"].notna() & frame["phase"].notna(), [*GROUP, *PHASE_COLUMNS]]
    pair, groups = territory_markets(both)
    before, now = (_level_codes(both[col]) for col in PHASE_COLUMNS)
    counted = (before >= 0) & (now >= 0) & _keys_known(both)  # (a missing key or an unknown phase: no cell)
    levels = len(PHASE_LEVELS)
    cell = (pair[counted] * levels + before[counted]) * levels + now[counted]
    customers = np.bincount(cell, minlength=len(groups) * levels * levels).reshape(len(groups), levels, levels)
    counts = customers.sum(axis=(0, 2)) + customers.sum(axis=(0, 1))  # per level, as either phase
    shown = [i for i, p in enumerate(PHASE_LEVELS) if p in phases or counts[i] > 0]
    out = grid_keys(groups, len(shown) ** 2)
    out["phase_previous"] = pd.Categorical.from_codes(np.tile(np.repeat(shown, len(shown)), len(groups)),
                                                      dtype=PHASE_DTYPE)
    out["phase"] = pd.Categorical.from_codes(np.tile(shown, len(shown) * len(groups)), dtype=PHASE_DTYPE)
    out["customers"] = customers[:, shown][:, :, shown].reshape(-1).astype("int64")
    return out


def territory_markets(frame: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
    """The territory x market (``GROUP``) of each row of ``frame`` among its distinct
    ones, and those, sorted (missing values last), one row each (index 0 .. n - 1):
    ``frame[GROUP].drop_duplicates().sort_values(GROUP)``."""
    codes = []
    for k in GROUP:
        code = np.asarray(as_category(frame[k]).cat.codes, dtype=np.int64)
        code[code < 0] = code.max(initial=-1) + 1  # missing: after every value
        codes.append(code)
    width = int(codes[1].max(initial=0)) + 1
    _, pair = _dense_groups(codes[0] * width + codes[1], (int(codes[0].max(initial=0)) + 1) * width)
    first = np.unique(pair, return_index=True)[1]  # the first row of each, for the values as stored
    return pair, pd.DataFrame({k: frame[k].take(first).reset_index(drop=True) for k in GROUP})


def grid_keys(groups: pd.DataFrame, cells: int) -> pd.DataFrame:
    """Each of ``groups`` (:func:`territory_markets`) repeated for its ``cells`` rows of a
    grid, keyed as the grid's merge with a groupby's counts keys them: a key column
    takes the type common to its own and to that of its values rebuilt from an object
    array (text; object when there are none)."""
    rebuilt = pd.DataFrame({k: groups[k].to_numpy() for k in GROUP})
    keys = groups.merge(rebuilt, on=GROUP, how="left")  # (distinct keys: row for row)
    return keys.take(np.repeat(np.arange(len(keys)), cells)).reset_index(drop=True)


def _keys_known(frame: pd.DataFrame) -> np.ndarray:
    """Whether each row of ``frame`` has every ``GROUP`` key."""
    return np.logical_and.reduce([frame[k].notna().to_numpy() for k in GROUP])


def _level_codes(values: pd.Series) -> np.ndarray:
    """The position of each phase in ``PHASE_LEVELS`` (-1: missing or not a phase)."""
    if not (isinstance(values.dtype, pd.CategoricalDtype) and values.dtype == PHASE_DTYPE):
        text = values.astype(object)
        values = pd.Series(pd.Categorical(text.where(text.isin(PHASE_LEVELS)), dtype=PHASE_DTYPE))
    return np.asarray(values.cat.codes, dtype=np.int64)


def migration_rates(table: pd.DataFrame) -> pd.DataFrame:
    """Add ``rate`` = customers / the row total (same territory, market, phase_previous).

    Each row of the matrix (one previous phase) sums to 1; NaN for a previous phase with
    no customers.
    """
    totals = table.groupby([*GROUP, "phase_previous"], observed=True, sort=False)["customers"].transform("sum")
    return table.assign(rate=table["customers"] / totals.where(totals > 0))
