"""One territory's tables, as a notebook sees them.

``load`` reads the territory's slice of the analysis store written by the batch's
national pass; without a store (an analyst exploring) it computes the same tables from
the data folder for that territory alone.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from analysis.contract import params as parameters
from analysis.contract import privacy
from analysis.contract.dataset import load_dataset
from analysis.errors import ParameterError
from analysis.domain.national import national_pass
from analysis.contract.store import read_territory
from analysis.domain.coaching import resolve_norms
from analysis.domain.segmentation import SegmentScheme, scheme_of


@dataclass
class Territory:
    """The tables of one territory, with its name, region and effective parameters."""

    territory_id: str
    territory_name: str
    region: str
    params: dict
    tables: dict[str, pd.DataFrame] = field(repr=False)

    def __getattr__(self, name: str) -> pd.DataFrame:
        tables = self.__dict__.get("tables", {})
        if name in tables:
            return tables[name]
        raise AttributeError(name)

    @property
    def kpi(self) -> pd.Series:
        """The headline KPI row of this territory."""
        return self.tables["kpis"].iloc[0]

    @property
    def scheme(self) -> SegmentScheme:
        """The segment scheme of this territory's parameters."""
        return scheme_of(self.params)

    @property
    def norms(self) -> dict[str, float]:
        """The coaching norms in force for this territory (defaults overlaid by the profile)."""
        return resolve_norms(self.params["norms"])

    @property
    def caveats(self) -> str:
        """The data-shape caveat codes that hold (";"-joined)."""
        value = self.kpi.get("caveats")
        return value if isinstance(value, str) else ""


def load(territory_id: str, data_path: str | Path | None = None, store_path: str | Path | None = None,
         params: Mapping | None = None) -> Territory:
    """The territory's tables from the store, or computed from ``data_path``."""
    profile = parameters.check(dict(params or {}), source="notebook parameters")
    if store_path:
        tables = read_territory(Path(store_path), territory_id)
    elif data_path:
        ds = privacy.apply_dataset(load_dataset(Path(data_path), extra_channels=profile.get("extra_channels", ())),
                                   profile)
        if territory_id not in set(ds.territories["territory_id"]):
            raise ParameterError(f"territory {territory_id!r} is not in {data_path}/territories")
        tables = national_pass(ds, {**profile, "territories": [territory_id]})
    else:
        raise ParameterError("give data_path (a data folder) or store_path (the batch's analysis store)")
    kpis = tables["kpis"]
    if kpis.empty:
        raise ParameterError(f"no analysis rows for territory {territory_id!r}")
    row = kpis.iloc[0]
    return Territory(territory_id, str(row["territory_name"]), str(row["region"]),
                     parameters.effective(profile, territory_id), tables)
