"""Importers: real data in, a dataset of the contract out (DESIGN 3).

Nobody's data arrives in the contract; an importer turns what analysts get into a
dataset folder that ``territory-reports validate`` and ``run`` take as it is:

``cms-partd``  the CMS "Medicare Part D Prescribers - by Provider and Drug" public file
               (:mod:`analysis.contract.importers.cms_partd`)
``table``      any export, with a declarative mapping file (YAML: source column ->
               contract column, value maps, formats, constants, filters); presets under
               ``params/mappings/`` (:mod:`analysis.contract.importers.mapping`)

The back ends are kept in a registry (as papermill keeps its engines): ``REGISTRY``
maps a name to an :class:`Importer`, ``territory-reports import NAME ...`` runs it, and
other packages add theirs through the ``territory_reports.importers`` entry-point group
(an object with the :class:`Importer` attributes).
"""
from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

from analysis.contract.importers.output import ImportReport
from analysis.errors import ParameterError

#: Entry-point group of importers provided by other packages.
ENTRY_POINT_GROUP = "territory_reports.importers"


@dataclass(frozen=True)
class Importer:
    """One import back end: a name, a one-line help, how to declare its command-line
    arguments, and how to run them (returns the :class:`ImportReport`)."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], ImportReport]


class ImporterRegistry:
    """The import back ends by name (built-in ones first, then entry points)."""

    def __init__(self):
        self._importers: dict[str, Importer] = {}
        self._entry_points_loaded = False

    def register(self, importer: Importer) -> Importer:
        self._importers[importer.name] = importer
        return importer

    def register_entry_points(self) -> None:
        """Add the importers other packages declare (never replacing a built-in one)."""
        if self._entry_points_loaded:
            return
        self._entry_points_loaded = True
        from importlib.metadata import entry_points
        for point in entry_points(group=ENTRY_POINT_GROUP):
            if point.name not in self._importers:
                self._importers[point.name] = point.load()

    def names(self) -> list[str]:
        self.register_entry_points()
        return list(self._importers)

    def get(self, name: str) -> Importer:
        self.register_entry_points()
        if name not in self._importers:
            raise ParameterError(f"unknown importer {name!r}; expected one of: {', '.join(self._importers)}")
        return self._importers[name]


REGISTRY = ImporterRegistry()


def _builtins() -> None:
    from analysis.contract.importers import cms_partd, mapping
    REGISTRY.register(cms_partd.IMPORTER)
    REGISTRY.register(mapping.IMPORTER)


_builtins()

__all__ = ["ENTRY_POINT_GROUP", "REGISTRY", "ImportReport", "Importer", "ImporterRegistry"]
