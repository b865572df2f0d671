"""Customer profile completeness (DESIGN 3 profile fields, 4.6 coaching norm).

A qualified customer profile covers basic, education and surrounding information and is
filled to at least 60% (seed 004). The run profile's ``profile_fields`` lists which
customer columns make the profile, by group::

    profile_fields:
      basic: [phone, email]
      education: [university]
      surrounding: [hometown]

completeness = share of those columns that are non-empty for the customer. Every
function works on the whole customers table at once (every territory in one call).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

#: The three groups of a profile (seed 004); other group names are accepted too.
GROUPS = ("basic", "education", "surrounding")
#: Completeness a profile needs to count as qualified (DESIGN 4.6).
QUALIFIED_THRESHOLD = 0.6
#: Tolerance for "at or above" comparisons of shares (3 of 5 fields is exactly 0.6).
EPS = 1e-9


def profile_columns(fields: Mapping[str, Sequence[str] | str | None] | None) -> list[str]:
    """The distinct profile columns listed in ``fields`` (group -> columns), in order.

    A group may list a single column as a string, or nothing (None). A column listed in
    two groups counts once.
    """
    columns: list[str] = []
    for listed in (fields or {}).values():
        if listed is None:
            continue
        if isinstance(listed, str):
            listed = [listed]
        columns.extend(str(c) for c in listed)
    return list(dict.fromkeys(columns))


def filled(values: pd.Series) -> pd.Series:
    """True where a value is present: not missing and not an empty (or blank) string."""
    present = values.notna()
    text = values.astype("string").str.strip()
    blank = text.eq("").fillna(False).astype(bool)
    return (present & ~blank).astype(bool)


def completeness(customers: pd.DataFrame,
                 fields: Mapping[str, Sequence[str] | str | None] | None) -> pd.Series:
    """Share of the listed profile columns that are non-empty, per customer.

    ``fields`` maps a group (basic / education / surrounding) to customer columns. A
    value is empty when it is missing (NaN / None / NA) or an empty or blank string. A
    listed column absent from ``customers`` counts as empty for every customer (it stays
    in the denominator). With no fields configured the completeness is NaN.

    Returns a float Series named ``profile_completeness`` aligned with ``customers``'
    index (one value per row).
    """
    columns = profile_columns(fields)
    if not columns:
        return pd.Series(np.nan, index=customers.index, dtype=float, name="profile_completeness")
    present = [c for c in columns if c in customers.columns]
    count = pd.Series(0, index=customers.index, dtype="int64")
    for column in present:  # a loop over the few configured columns, not over customers
        count = count + filled(customers[column]).astype("int64")
    return (count / len(columns)).astype(float).rename("profile_completeness")


def qualified(completeness: pd.Series, threshold: float = QUALIFIED_THRESHOLD) -> pd.Series:
    """True where completeness is at or above ``threshold`` (missing completeness: False)."""
    values = pd.to_numeric(completeness, errors="coerce").astype(float)
    return (values >= threshold - EPS).fillna(False).astype(bool).rename("profile_qualified")
