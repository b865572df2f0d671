"""Shared fixtures: a tiny but complete, valid dataset written as CSV files.

``tiny_dataset`` (a fixture) writes it to a temporary folder and returns the folder.
``tiny_tables()`` returns the same tables as DataFrames of text, and
``write_table(folder, name, frame)`` / ``read_text_table(folder, name)`` rewrite or read
one table of such a folder, so a test can break exactly one thing:

    def test_something(tiny_dataset):
        sales = read_text_table(tiny_dataset, "sales")
        sales.loc[0, "units"] = "-5"
        write_table(tiny_dataset, "sales", sales)

(import them with ``from conftest import read_text_table, write_table``).

The dataset: region North with territories T01 and T02, one rep each; 8 customers
of several types; one market ``stroke`` with our product P01 and competitor P02;
monthly sales January-June 2026; a dozen activities.
"""
from __future__ import annotations

import fcntl
import os
import pickle
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pandas as pd
import pytest

import analysis.report.notebook_format  # noqa: F401 - before any test imports nbformat: as the batch imports it

T = TypeVar("T")

PERIODS = ("2026-01", "2026-02", "2026-03", "2026-04", "2026-05", "2026-06")

#: Monthly units per (customer, product), the same every month of PERIODS.
MONTHLY_UNITS = {
    ("C0001", "P01"): 10, ("C0001", "P02"): 30,   # hcp: mostly competitor
    ("C0002", "P01"): 40, ("C0002", "P02"): 20,   # department: we lead
    ("C0003", "P02"): 50,                          # hospital: competitor only
    ("C0004", "P01"): 5,                           # pharmacy: ours only
    ("C0006", "P01"): 8, ("C0006", "P02"): 8,     # hcp in T02: even
    ("C0007", "P02"): 25,                          # department in T02
}


def tiny_tables() -> dict[str, pd.DataFrame]:
    """The tiny dataset's tables, every cell as text (as a CSV file holds it)."""
    tables = {
        "territories": pd.DataFrame({
            "territory_id": ["T01", "T02"],
            "territory_name": ["North-1", "North-2"],
            "region": ["North", "North"],
            "manager": ["Ayse Demir", ""],
        }),
        "reps": pd.DataFrame({
            "rep_id": ["R01", "R02"],
            "rep_name": ["Anna Berg", "Li Wei"],
            "territory_id": ["T01", "T02"],
            "role": ["chronic", "specialty"],
            "cost_per_day": ["400", "450"],
        }),
        "customers": pd.DataFrame({
            "customer_id": ["C0001", "C0002", "C0003", "C0004", "C0005", "C0006", "C0007", "C0008"],
            "customer_name": ["Dr Ali", "Neurology Dept", "City Hospital", "Main Pharmacy",
                              "MedDistrib", "Dr Sun", "Stroke Unit", "PharmaSupply"],
            "customer_type": ["hcp", "department", "hospital", "pharmacy",
                              "distributor", "hcp", "department", "supplier"],
            "territory_id": ["T01", "T01", "T01", "T01", "T01", "T02", "T02", "T02"],
            "beds": ["", "90", "", "", "", "", "40", ""],
            "bed_turnover_per_month": ["", "2", "", "", "", "", "1.5", ""],
            "indication_share": ["", "0.8", "", "", "", "", "0.5", ""],
            "catchment_population": ["", "", "2000000", "", "", "", "", ""],
            "incidence_rate": ["", "", "0.06", "", "", "", "", ""],
            "phone": ["555-0101", "555-0102", "", "555-0104", "", "555-0106", "", ""],
            "university": ["Uppsala", "", "", "", "", "Fudan", "", ""],
        }),
        "markets": pd.DataFrame({"market": ["stroke"], "boxes_per_patient": ["6"]}),
        "products": pd.DataFrame({
            "product_id": ["P01", "P02"],
            "product_name": ["Ourvastatin", "Rivalix"],
            "market": ["stroke", "stroke"],
            "is_own": ["true", "false"],
            "units_per_box": ["1", "1"],
        }),
        "sales": pd.DataFrame(
            [(customer, product, period, str(units))
             for (customer, product), units in MONTHLY_UNITS.items() for period in PERIODS],
            columns=["customer_id", "product_id", "period", "units"],
        ),
        "activities": pd.DataFrame(
            [
                ("A001", "C0001", "R01", "2026-01-12", "f2f_visit", "120", "engaged"),
                ("A002", "C0001", "R01", "2026-03-03", "email", "5", "opened"),
                ("A003", "C0001", "R01", "2026-05-20", "web_lecture", "30", "attended"),
                ("A004", "C0002", "R01", "2026-02-14", "f2f_visit", "120", "engaged"),
                ("A005", "C0002", "R01", "2026-04-08", "phone", "20", "none"),
                ("A006", "C0002", "R01", "2026-06-02", "offline_lecture", "300", "attended"),
                ("A007", "C0003", "R01", "2026-04-21", "briefing_session", "250", ""),
                ("A008", "C0005", "R01", "2026-01-30", "phone", "20", "none"),
                ("A009", "C0006", "R02", "2026-02-10", "chat_app", "2", "engaged"),
                ("A010", "C0006", "R02", "2026-05-15", "f2f_visit", "120", "engaged"),
                ("A011", "C0007", "R02", "2026-03-18", "web_interview", "40", "opened"),
                ("A012", "C0008", "R02", "2026-06-25", "f2f_visit", "120", "none"),
            ],
            columns=["activity_id", "customer_id", "rep_id", "date", "channel", "cost", "outcome"],
        ),
    }
    return tables


def write_table(folder: Path, name: str, frame: pd.DataFrame, fmt: str = "csv") -> Path:
    """Write one table of a dataset folder as ``<name>.csv`` (or ``.parquet``).

    Replaces the table: removes the other format's file of the same table.
    """
    folder = Path(folder)
    for suffix in (".csv", ".parquet"):
        (folder / f"{name}{suffix}").unlink(missing_ok=True)
    path = folder / f"{name}.{fmt}"
    if fmt == "csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return path


def read_text_table(folder: Path, name: str) -> pd.DataFrame:
    """One CSV table of a dataset folder, every cell as text (empty cells as "")."""
    return pd.read_csv(Path(folder) / f"{name}.csv", dtype=str, keep_default_na=False)


def write_dataset(folder: Path, tables: dict[str, pd.DataFrame]) -> Path:
    """Write every table of ``tables`` as CSV into ``folder`` (created if needed)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        write_table(folder, name, frame)
    return folder


@pytest.fixture
def tiny_dataset(tmp_path: Path) -> Path:
    """A folder holding the tiny valid dataset as CSV files."""
    return write_dataset(tmp_path / "data", tiny_tables())


def tiny_notebook(path: Path, kind: str = "territory", cells: tuple[str, ...] = ()) -> Path:
    """A report notebook of ``kind`` (territory or rollup) that reads nothing: a parameters
    cell, ``cells`` (code), and a cell printing the parameters. For the tests of the
    publishing machinery: a report then takes about a second, not the full notebook's
    five to nine on a shared 2-core machine."""
    import nbformat

    variables = "territory_id = 'T01'" if kind == "territory" else "scope = 'all'"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(f"{variables}\nstore_path = None\ndata_path = None\nparams = {{}}",
                                          metadata={"tags": ["parameters"]}),
                *(nbformat.v4.new_code_cell(cell) for cell in cells),
                nbformat.v4.new_markdown_cell("## Parameters"),
                nbformat.v4.new_code_cell("import json\nprint(json.dumps(params, sort_keys=True, default=str))")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


# --- a small rendered demo batch, shared by the end-to-end tests ------------------------

ROOT = Path(__file__).resolve().parents[1]


def made_once(tmp_path_factory, name: str, make: Callable[[Path], T]) -> T:
    """``make(folder)``, called once per test session in a folder of its own and shared by
    the xdist workers: the first worker to ask makes it, the others wait for it and get
    the same (pickled) result. A failed ``make`` leaves nothing: the next asker tries again.
    Tests read what it made and never write into it."""
    basetemp = tmp_path_factory.getbasetemp()
    root = basetemp.parent if os.environ.get("PYTEST_XDIST_WORKER") else basetemp  # (the session's, shared)
    folder, done = root / name, root / f"{name}.pickle"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # (released when the file closes)
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)  # a failed attempt's leftovers
            folder.mkdir()
            result = make(folder)
            done.write_bytes(pickle.dumps(result))
        return pickle.loads(done.read_bytes())


def _publish(base: Path) -> dict:
    from analysis.engine.cli import main
    from analysis.contract.demo import generate, write

    data = base / "data"
    write(generate(seed=3, n_regions=1, n_territories=2, n_customers=160), data)
    out = base / "reports"
    code = main(["run", "--data", str(data), "--params", str(ROOT / "params" / "demo.yaml"),
                 "--out", str(out), "--jobs", "2", "--quiet"])
    return {"code": code, "data": data, "out": out}


@pytest.fixture(scope="session")
def published(tmp_path_factory):
    """A small demo dataset rendered once by the CLI (once for all workers, see
    :func:`made_once`: read it, copy it to change it): {"code", "data", "out"}."""
    return made_once(tmp_path_factory, "published", _publish)
