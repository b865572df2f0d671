"""``territory-reports import NAME ...``: the importers on the command line.

:func:`add_import_parser` registers the ``import`` subcommand (one sub-subcommand per
importer of :data:`analysis.contract.importers.REGISTRY`) on the main parser's
subparsers; the handler prints the import's report (rows read, imported, dropped and
why, how long it took) and the next commands to run. Errors are the project's errors
(:class:`~analysis.errors.TerritoryReportsError`): the main command prints them and exits
with code 2, and nothing is written.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from analysis.contract.importers import REGISTRY


def add_import_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``import`` (and one subcommand per importer) to ``subparsers``."""
    p = subparsers.add_parser("import", help="turn a real file (CMS Part D, a CRM or Rx export, Excel) into a "
                                             "dataset of the contract")
    kinds = p.add_subparsers(dest="importer", required=True, metavar="IMPORTER")
    for name in REGISTRY.names():
        importer = REGISTRY.get(name)
        sub = kinds.add_parser(name, help=importer.help, description=importer.help)
        importer.add_arguments(sub)
        sub.add_argument("--quiet", action="store_true", help="no progress lines")
        sub.set_defaults(func=run_import)
    return p


def run_import(args: argparse.Namespace) -> int:
    """Run the chosen importer and print its report; 0 on success."""
    report = REGISTRY.get(args.importer).run(args)
    print(report.summary())
    out = Path(report.out)
    if (out / "profile.yaml").is_file():
        print(f"next: territory-reports run --data {out} --params {out / 'profile.yaml'} --out reports/{out.name}")
    else:
        print(f"next: territory-reports validate {out}")
    sys.stdout.flush()
    return 0
