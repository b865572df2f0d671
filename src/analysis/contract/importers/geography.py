"""US states and their US Census regions and divisions: the territories of a national file.

Prescribers of a national public file are scattered over 50 states, mostly one per city,
so territories are states or groups of states. :func:`territory_scheme` gives the
state -> territory table of ``state``, ``census-division`` or a CSV file of one's own
(columns ``state, territory_id, territory_name, region``).
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis.errors import ParameterError

#: Census divisions: (id, name, region, states).
CENSUS_DIVISIONS = (
    ("new-england", "New England", "Northeast", ("CT", "ME", "MA", "NH", "RI", "VT")),
    ("middle-atlantic", "Middle Atlantic", "Northeast", ("NJ", "NY", "PA")),
    ("east-north-central", "East North Central", "Midwest", ("IL", "IN", "MI", "OH", "WI")),
    ("west-north-central", "West North Central", "Midwest", ("IA", "KS", "MN", "MO", "NE", "ND", "SD")),
    ("south-atlantic", "South Atlantic", "South", ("DE", "DC", "FL", "GA", "MD", "NC", "SC", "VA", "WV")),
    ("east-south-central", "East South Central", "South", ("AL", "KY", "MS", "TN")),
    ("west-south-central", "West South Central", "South", ("AR", "LA", "OK", "TX")),
    ("mountain", "Mountain", "West", ("AZ", "CO", "ID", "MT", "NV", "NM", "UT", "WY")),
    ("pacific", "Pacific", "West", ("AK", "CA", "HI", "OR", "WA")),
)

#: State and territory codes (USPS) -> name; the last ones belong to no census division.
STATES = {
    "AL": "Alabama", "AK": "Alaska", "AZ": "Arizona", "AR": "Arkansas", "CA": "California", "CO": "Colorado",
    "CT": "Connecticut", "DE": "Delaware", "DC": "District of Columbia", "FL": "Florida", "GA": "Georgia",
    "HI": "Hawaii", "ID": "Idaho", "IL": "Illinois", "IN": "Indiana", "IA": "Iowa", "KS": "Kansas",
    "KY": "Kentucky", "LA": "Louisiana", "ME": "Maine", "MD": "Maryland", "MA": "Massachusetts",
    "MI": "Michigan", "MN": "Minnesota", "MS": "Mississippi", "MO": "Missouri", "MT": "Montana",
    "NE": "Nebraska", "NV": "Nevada", "NH": "New Hampshire", "NJ": "New Jersey", "NM": "New Mexico",
    "NY": "New York", "NC": "North Carolina", "ND": "North Dakota", "OH": "Ohio", "OK": "Oklahoma",
    "OR": "Oregon", "PA": "Pennsylvania", "RI": "Rhode Island", "SC": "South Carolina", "SD": "South Dakota",
    "TN": "Tennessee", "TX": "Texas", "UT": "Utah", "VT": "Vermont", "VA": "Virginia", "WA": "Washington",
    "WV": "West Virginia", "WI": "Wisconsin", "WY": "Wyoming",
    "PR": "Puerto Rico", "VI": "U.S. Virgin Islands", "GU": "Guam", "AS": "American Samoa",
    "MP": "Northern Mariana Islands",
}

#: The territory schemes built in (besides a CSV file).
SCHEMES = ("state", "census-division")
#: Columns of a territory CSV file.
SCHEME_COLUMNS = ("state", "territory_id", "territory_name", "region")


def _census() -> pd.DataFrame:
    return pd.DataFrame([(s, tid, name, region) for tid, name, region, states in CENSUS_DIVISIONS for s in states],
                        columns=list(SCHEME_COLUMNS))


def territory_scheme(spec: str, base: Path | None = None) -> pd.DataFrame:
    """The state -> territory table (columns :data:`SCHEME_COLUMNS`, one row per state).

    ``state``: every state (and DC, PR and the island areas) its own territory, grouped in
    regions by census region (the island areas in ``Territories``); ``census-division``:
    the nine census divisions in the four census regions (states outside them belong to no
    territory); otherwise the path of a CSV file (relative to ``base``) with those columns.
    """
    if spec == "census-division":
        return _census()
    if spec == "state":
        census = _census().set_index("state")["region"]
        return pd.DataFrame([(code, code, name, census.get(code, "Territories")) for code, name in STATES.items()],
                            columns=list(SCHEME_COLUMNS))
    path = Path(spec)
    if not path.is_absolute() and base is not None:
        path = base / path
    if path.suffix.lower() not in (".csv", ".xlsx", ".gz", ".parquet"):
        raise ParameterError(f"territories is {spec!r}; expected {' or '.join(SCHEMES)}, or the path of a CSV file "
                             f"with the columns {', '.join(SCHEME_COLUMNS)}")
    from analysis.contract.dataset import read_table
    try:
        table = read_table(path)
    except FileNotFoundError:
        raise ParameterError(f"territories: the file {path} is not found") from None
    table.columns = [str(c).strip() for c in table.columns]
    missing = [c for c in SCHEME_COLUMNS if c not in table.columns]
    if missing:
        raise ParameterError(f"territories: {path} lacks the column(s) {', '.join(missing)}; expected "
                             f"{', '.join(SCHEME_COLUMNS)}")
    table = table[list(SCHEME_COLUMNS)].apply(lambda c: c.astype("string").str.strip())
    table["state"] = table["state"].str.upper()
    blank = table.isna().any(axis=1) | (table == "").any(axis=1)
    if blank.any():
        lines = ", ".join(str(i + 2) for i in table.index[blank][:5])
        raise ParameterError(f"territories: {path} has empty cells (line(s) {lines}); every row needs all of "
                             f"{', '.join(SCHEME_COLUMNS)}")
    repeated = table["state"][table["state"].duplicated()].unique().tolist()
    if repeated:
        raise ParameterError(f"territories: {path} names the state(s) {', '.join(repeated)} more than once; "
                             "a state belongs to one territory")
    names = table.groupby("territory_id")[["territory_name", "region"]].nunique()
    ambiguous = names.index[(names > 1).any(axis=1)].tolist()
    if ambiguous:
        raise ParameterError(f"territories: {path} gives the territory(ies) {', '.join(ambiguous)} more than one "
                             "name or region")
    return table.astype(object).reset_index(drop=True)
