"""Phase forecast: the next period's phase mix from this period's migration rates.

A Markov step: the migration matrix (comparison period -> analysis period, DESIGN 4.4)
read as transition rates ``P[i, j]`` = share of the customers in phase ``i`` who were in
phase ``j`` one period later. With ``n`` the customers per phase now (the analysis
period; those with both phases known, i.e. the columns of the migration matrix):

* next period: ``n_next[j] = sum_i n[i] * P[i, j]``;
* steady mix: the mix the chain converges to if the rates never change,
  ``lim n P^k`` (computed as ``n P^(2^12)`` by repeated squaring, checked against one
  step more; a chain that cycles instead of settling has no steady mix: NaN,
  ``converged`` False).

A phase nobody was in in the comparison period has no observed rates: it is assumed to
keep its customers (``P[i, i] = 1``) and ``rates_observed`` is False for it. It assumes
this period's rates hold. Without a comparison period there is no migration matrix and no
forecast (no rows, never a forecast of zeros).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.contract.schema import PHASE_LEVELS

GROUP = ["territory_id", "market"]
FORECAST_COLUMNS = ["territory_id", "market", "phase", "customers", "share", "customers_next", "share_next",
                    "share_steady", "rates_observed", "converged"]
#: Steps of the steady mix: 2**STEADY_SQUARINGS periods.
STEADY_SQUARINGS = 12
TOLERANCE = 1e-9


def transition_matrices(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row-stochastic matrices ``[g, i, j]`` from migration counts, and which rows were observed
    (an unobserved row keeps its customers: ``P[i, i] = 1``)."""
    totals = counts.sum(axis=2)
    observed = totals > 0
    eye = np.broadcast_to(np.eye(counts.shape[1]), counts.shape)
    matrix = np.where(observed[:, :, None], counts / np.where(observed, totals, 1.0)[:, :, None], eye)
    return matrix, observed


def steady_mix(start: np.ndarray, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``start P^(2^12)`` per group, and whether it is settled (one step more changes nothing)."""
    power = matrix.copy()
    for _ in range(STEADY_SQUARINGS):
        power = power @ power
    limit = np.einsum("gi,gij->gj", start, power)
    after = np.einsum("gi,gij->gj", limit, matrix)
    scale = np.maximum(start.sum(axis=1), 1.0)
    settled = (np.abs(after - limit).max(axis=1) <= TOLERANCE * scale) if len(start) else np.zeros(0, bool)
    return limit, settled


EMPTY_TYPES = {"customers": "float64", "share": "float64", "customers_next": "float64", "share_next": "float64",
               "share_steady": "float64", "rates_observed": bool, "converged": bool}


def phase_forecast(migration: pd.DataFrame) -> pd.DataFrame:
    """The forecast of every territory x market of a migration table (vectorised over them).

    ``migration``: :func:`analysis.domain.phases.migration` (territory_id, market,
    phase_previous, phase, customers). One row per territory x market x phase of the
    table's phases (ladder order): customers now and their share, customers_next and
    share_next (one Markov step), share_steady (the converged mix; NaN when the chain
    does not settle), rates_observed (the phase had customers in the comparison period)
    and converged.
    """
    if migration is None or migration.empty:
        return pd.DataFrame({c: pd.Series(dtype=EMPTY_TYPES.get(c, object)) for c in FORECAST_COLUMNS})
    present = {*pd.unique(migration["phase_previous"].astype(str)), *pd.unique(migration["phase"].astype(str))}
    phases = [p for p in PHASE_LEVELS if p in present]
    k = len(phases)
    code = {p: i for i, p in enumerate(phases)}
    group_code, groups = pd.MultiIndex.from_frame(migration[GROUP].astype(object)).factorize(sort=True)
    counts = np.zeros((len(groups), k, k))
    np.add.at(counts, (group_code, migration["phase_previous"].astype(str).map(code).to_numpy(),
                       migration["phase"].astype(str).map(code).to_numpy()),
              pd.to_numeric(migration["customers"]).to_numpy(dtype=float))
    matrix, observed = transition_matrices(counts)
    now = counts.sum(axis=1)  # the columns: customers per phase in the analysis period
    total = now.sum(axis=1, keepdims=True)
    nxt = np.einsum("gi,gij->gj", now, matrix)
    steady, settled = steady_mix(now, matrix)
    known = total > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(known, now / total, np.nan)
        share_next = np.where(known, nxt / total, np.nan)
        share_steady = np.where(known & settled[:, None], steady / total, np.nan)
    keys = groups.to_frame(index=False, name=GROUP)
    out = pd.DataFrame({
        "territory_id": np.repeat(keys["territory_id"].to_numpy(), k),
        "market": np.repeat(keys["market"].to_numpy(), k),
        "phase": np.tile(np.asarray(phases, dtype=object), len(groups)),
        "customers": now.ravel(), "share": share.ravel(), "customers_next": nxt.ravel(),
        "share_next": share_next.ravel(), "share_steady": share_steady.ravel(),
        "rates_observed": observed.ravel(), "converged": np.repeat(settled & known[:, 0], k),
    })
    return out[FORECAST_COLUMNS]
