"""A region, or the whole country, as a roll-up notebook sees it.

``load`` reads the territory KPIs, coaching tables and the roll-ups (computed once by the
national pass) of every territory in the scope from the analysis store, or computes
them from a data folder when there is no store. The spread of each measure over the
scope's territories (per region, and overall for the national scope) and the coaching
flags per scope come from the domain's roll-up functions, so a roll-up of thousands of
territories can summarise them instead of listing one row each.
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
from analysis.domain.national import national_pass, rollup_distribution, rollup_flags
from analysis.contract.store import read_table
from analysis.errors import StoreError

NATIONAL = "all"
TABLES = ("kpis", "coaching", "coaching_flags", "regions", "nation")
#: Tables a roll-up shows when the store has them (a store written before them still loads).
OPTIONAL_TABLES = ("trend",)


@dataclass
class Scope:
    """The territories of one region (or all), with the roll-up of their KPIs."""

    scope: str
    kpis: pd.DataFrame
    coaching: pd.DataFrame
    coaching_flags: pd.DataFrame
    summary: pd.Series
    regions: pd.DataFrame = field(repr=False)
    #: The spread of each measure (:func:`~analysis.domain.national.rollup_distribution`),
    #: column ``scope``: each region of the scope, and "all" for the national scope.
    distribution: pd.DataFrame | None = field(default=None, repr=False)
    #: Coaching flags of the whole scope (:func:`~analysis.domain.national.rollup_flags`).
    flag_summary: pd.DataFrame | None = field(default=None, repr=False)
    #: The monthly trend of the scope's territories (the pass's ``trend``; empty when the
    #: store predates it).
    trend: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)

    @property
    def title(self) -> str:
        return "All regions" if self.scope == NATIONAL else f"Region {self.scope}"


def _in_scope(frame: pd.DataFrame, scope: str, territory_ids) -> pd.DataFrame:
    return frame if scope == NATIONAL else frame[frame["territory_id"].isin(territory_ids)].reset_index(drop=True)


def load(scope: str = NATIONAL, data_path: str | Path | None = None, store_path: str | Path | None = None,
         params: Mapping | None = None) -> Scope:
    """The scope's tables from the store, or computed from ``data_path``."""
    profile = parameters.check(dict(params or {}), source="notebook parameters")
    if store_path:
        tables = {name: read_table(Path(store_path), name) for name in TABLES}
        for name in OPTIONAL_TABLES:
            try:
                tables[name] = read_table(Path(store_path), name)
            except StoreError:
                tables[name] = pd.DataFrame()
    elif data_path:
        ds = load_dataset(Path(data_path), extra_channels=profile.get("extra_channels", ()))
        tables = national_pass(privacy.apply_dataset(ds, profile), profile)
    else:
        raise ParameterError("give data_path (a data folder) or store_path (the batch's analysis store)")
    kpis = tables["kpis"]
    if scope != NATIONAL and not (kpis["region"] == scope).any():
        raise ParameterError(f"region {scope!r} has no territories; known: {', '.join(sorted(kpis['region'].unique()))}")
    ids = kpis.loc[kpis["region"] == scope, "territory_id"] if scope != NATIONAL else kpis["territory_id"]
    scoped = _in_scope(kpis, scope, ids)
    regions = tables["regions"]
    summary = tables["nation"].iloc[0] if scope == NATIONAL else regions[regions["region"] == scope].iloc[0]
    flags = _in_scope(tables["coaching_flags"], scope, ids)
    return Scope(scope, scoped, _in_scope(tables["coaching"], scope, ids), flags, summary, regions,
                 distribution=distributions(scoped, scope), flag_summary=flag_summary(flags, scoped, scope),
                 trend=_in_scope(tables.get("trend", pd.DataFrame()), scope, ids) if len(tables.get("trend", ())) else
                 pd.DataFrame())


def distributions(kpis: pd.DataFrame, scope: str = NATIONAL) -> pd.DataFrame:
    """Each measure's spread per region of ``kpis``, then (national scope) over all of them."""
    parts = [rollup_distribution(kpis, "region").rename(columns={"region": "scope"})]
    if scope == NATIONAL:
        parts.append(rollup_distribution(kpis, None))
    return pd.concat(parts, ignore_index=True)


def flag_summary(flags: pd.DataFrame, kpis: pd.DataFrame, scope: str = NATIONAL) -> pd.DataFrame:
    """The coaching flags of the scope's territories as one group (column ``scope``)."""
    return rollup_flags(flags, kpis.assign(scope=scope), "scope")
