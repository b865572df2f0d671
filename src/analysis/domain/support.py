"""Support (DESIGN 4.2): our share of the customer's market units in a period."""
from __future__ import annotations

import numpy as np
import pandas as pd


def support(own_units: pd.Series, market_units: pd.Series) -> pd.Series:
    """own units / market units; missing (not zero) where the market has no units."""
    market = market_units.astype(float)
    return (own_units.astype(float) / market.where(market > 0, np.nan)).rename("support")
