"""Potential (DESIGN 4.1): what a customer could use in a market, in boxes per month.

Three algorithms; the run profile chooses one per market or per customer type (the
customer type wins when both are given). A customer lacking the inputs of its chosen
algorithm falls back to the market sum, and ``potential_method`` says so.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from analysis.contract.schema import POTENTIAL_METHODS
from analysis.domain.keys import mapped

METHODS = POTENTIAL_METHODS
FALLBACK = "market_sum_fallback"


def market_sum(market_units: pd.Series, months: int) -> pd.Series:
    """Units of all products in the market in the period, per month."""
    return market_units.astype(float) / months


def patient_flow(beds, bed_turnover_per_month, indication_share, boxes_per_patient):
    """beds x turnovers per month x share with the indication x boxes per treated patient.

    >>> patient_flow(90, 2, 0.8, 2 + 4)
    864.0
    """
    return np.multiply(np.multiply(beds, bed_turnover_per_month), np.multiply(indication_share, boxes_per_patient)) * 1.0


def catchment(catchment_population, incidence_rate, boxes_per_patient):
    """Population x annual incidence = patients a year; x boxes per patient / 12 per month.

    >>> catchment(2_000_000, 0.06, 6)
    60000.0
    """
    return np.multiply(np.multiply(catchment_population, incidence_rate), boxes_per_patient) / 12.0


def choose_method(frame: pd.DataFrame, default: str = "market_sum",
                  by_market: Mapping[str, str] | None = None,
                  by_customer_type: Mapping[str, str] | None = None) -> pd.Series:
    """The configured algorithm per row of ``frame`` (columns market, customer_type)."""
    for method in [default, *(by_market or {}).values(), *(by_customer_type or {}).values()]:
        if method not in METHODS:
            raise ValueError(f"unknown potential method {method!r}; expected one of {', '.join(METHODS)}")
    method = pd.Series(default, index=frame.index, dtype=object)
    for column, mapping in (("market", by_market), ("customer_type", by_customer_type)):
        if not mapping:  # (each row keeps the method chosen so far: no column of misses made)
            continue
        chosen = mapped(frame[column], dict(mapping)).astype(object)
        method = chosen.where(chosen.notna(), method)
    return method.rename("method")


def potential(frame: pd.DataFrame, months: int, default: str = "market_sum",
              by_market: Mapping[str, str] | None = None,
              by_customer_type: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Potential per customer x market.

    ``frame`` has one row per customer x market with customer_type, market,
    market_units (analysis window), boxes_per_patient and the customer columns the
    algorithms use (beds, bed_turnover_per_month, indication_share,
    catchment_population, incidence_rate; missing columns count as missing inputs).
    Returns ``frame`` with ``potential`` (boxes per month) and ``potential_method``.
    """
    def col(name):
        return frame[name].astype(float) if name in frame else pd.Series(np.nan, index=frame.index)

    chosen = choose_method(frame, default, by_market, by_customer_type)
    by_flow = pd.Series(patient_flow(col("beds"), col("bed_turnover_per_month"),
                                     col("indication_share"), col("boxes_per_patient")), index=frame.index)
    by_catchment = pd.Series(catchment(col("catchment_population"), col("incidence_rate"),
                                       col("boxes_per_patient")), index=frame.index)
    by_sum = market_sum(col("market_units"), months)

    value = by_sum.copy()
    method = pd.Series("market_sum", index=frame.index, dtype=object)
    for name, computed in (("patient_flow", by_flow), ("catchment", by_catchment)):
        wanted = chosen == name
        usable = wanted & computed.notna()
        value = value.mask(usable, computed)
        method = method.mask(usable, name).mask(wanted & ~usable, FALLBACK)
    return frame.assign(potential=value, potential_method=method)
