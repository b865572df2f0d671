"""The batch: national pass once, then one isolated notebook job per territory.

Each job runs in a worker process: Papermill executes the territory notebook in the
job's own folder, the tables are exported, the renderer writes HTML and PDF, and only
then are the files moved into place. A failing territory is recorded in the manifest
and keeps its last good report; it never stops the others.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from tqdm.auto import tqdm

from . import __version__
from . import params as parameters
from .data import load_dataset
from .errors import TerritoryReportsError
from .exports import export_tables
from .national import national_pass, selected_territories
from .periods import make_window
from .publish import (now, publish_folder, read_manifest, safe_name, write_index,
                      write_manifest, write_tables)
from .render import FrontMatter, get_renderer
from .store import read_table, read_territory, write_store

KERNEL_NAME = "territory-reports"
NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
DEFAULT_NOTEBOOK = NOTEBOOKS / "territory.ipynb"
ROLLUP_NOTEBOOK = NOTEBOOKS / "rollup.ipynb"
ROLLUPS = "rollups"
WORK = ".work"


@dataclass(frozen=True)
class Job:
    """Everything one report's worker needs (paths, ids and parameters, never data)."""

    key: str            # territory id, "region:<name>" or "national"
    kind: str           # territory | region | national
    name: str
    region: str
    notebook: str
    parameters: dict    # the notebook's papermill parameters
    store: str
    staging: str
    target: str
    renderer: str
    timeout: int
    front: dict


@dataclass
class Outcome:
    key: str
    status: str
    error: str | None = None
    failing_cell: str | None = None
    timings: dict = field(default_factory=dict)


class IPCKernelManager(AsyncKernelManager):
    """Kernels reached over IPC sockets: no TCP ports to race for between concurrent
    launches (papermill#511) and no plain-TCP warning from the kernel."""

    transport = "ipc"


def register_kernel(work: Path) -> Path:
    """A kernelspec for this interpreter, found first through JUPYTER_PATH."""
    folder = work / "jupyter"
    spec = folder / "kernels" / KERNEL_NAME / "kernel.json"
    spec.parent.mkdir(parents=True, exist_ok=True)
    spec.write_text(json.dumps({"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                                "display_name": "Territory reports", "language": "python"}))
    paths = [str(folder), *filter(None, os.environ.get("JUPYTER_PATH", "").split(os.pathsep))]
    os.environ["JUPYTER_PATH"] = os.pathsep.join(dict.fromkeys(paths))
    return folder


def job_tables(job: Job) -> dict:
    """The machine-readable tables published beside a report."""
    store = Path(job.store)
    if job.kind == "territory":
        return export_tables(read_territory(store, job.key))
    kpis = read_table(store, "kpis")
    return {"territories": kpis if job.kind == "national" else kpis[kpis["region"] == job.region]}


def execute(job: Job) -> Outcome:
    """Run one report: execute, export, render, publish. Never raises."""
    import papermill as pm

    timings: dict[str, float] = {}
    staging, target = Path(job.staging), Path(job.target)
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    notebook_out = staging / "report.ipynb"
    try:
        start = time.perf_counter()
        pm.execute_notebook(job.notebook, str(notebook_out), kernel_name=KERNEL_NAME, cwd=str(staging),
                            parameters=job.parameters, progress_bar=False, log_output=False,
                            execution_timeout=job.timeout, kernel_manager_class=IPCKernelManager)
        timings["execute"] = time.perf_counter() - start

        start = time.perf_counter()
        write_tables(job_tables(job), staging / "tables")
        timings["tables"] = time.perf_counter() - start

        start = time.perf_counter()
        render_dir = staging.parent / f"{staging.name}.render"
        shutil.rmtree(render_dir, ignore_errors=True)
        render_dir.mkdir()
        try:
            outputs = get_renderer(job.renderer).render(notebook_out, render_dir, FrontMatter(**job.front))
            for kind, path in outputs.items():
                shutil.move(str(path), staging / f"report.{kind}")
        finally:
            shutil.rmtree(render_dir, ignore_errors=True)
        timings["render"] = time.perf_counter() - start

        publish_folder(staging, target)
        (target / "last-failure.ipynb").unlink(missing_ok=True)
        return Outcome(job.key, "ok", timings=timings)
    except Exception as exc:  # one report's failure is recorded, never raised
        cell = None
        if exc.__class__.__name__ == "PapermillExecutionError":
            cell = f"cell {getattr(exc, 'exec_count', '?')}: {getattr(exc, 'source', '')[:300]}"
            error = f"{getattr(exc, 'ename', type(exc).__name__)}: {getattr(exc, 'evalue', exc)}"
            if notebook_out.is_file():
                target.mkdir(parents=True, exist_ok=True)
                os.replace(notebook_out, target / "last-failure.ipynb")
        else:
            error = f"{type(exc).__name__}: {exc}"
        shutil.rmtree(staging, ignore_errors=True)
        return Outcome(job.key, "failed", error=error[:1000], failing_cell=cell, timings=timings)


def _headline(kpis, territory_id: str) -> dict:
    row = kpis[kpis["territory_id"] == territory_id]
    if row.empty:
        return {}
    keep = ("customers", "coverage", "support", "vip_share", "effort_on_priority", "mismatched_effort", "roi")
    return {k: (None if row.iloc[0][k] != row.iloc[0][k] else float(row.iloc[0][k])) for k in keep if k in row}


def _jobs(ds, profile: dict, selected: list[str], out: Path, work: Path, store: Path, window, notebooks: dict,
          renderer: str, timeout: int) -> list[Job]:
    """One job per selected territory, then one per region and the national roll-up."""
    territories = ds.territories.set_index("territory_id")
    common = {"store": str(store), "renderer": renderer, "timeout": timeout}
    period = f"Analysis period {window.label('analysis')}"
    jobs = []
    for tid in selected:
        folder = safe_name(tid)
        if folder == ROLLUPS:
            raise TerritoryReportsError(f"territory id {tid!r} clashes with the roll-up folder name")
        name, region = str(territories.loc[tid, "territory_name"]), str(territories.loc[tid, "region"])
        params = parameters.effective(profile, tid)
        jobs.append(Job(key=tid, kind="territory", name=name, region=region, notebook=notebooks["territory"],
                        parameters={"territory_id": tid, "store_path": str(store), "data_path": None,
                                    "params": params},
                        staging=str(work / "staging" / folder), target=str(out / folder),
                        front={"title": f"{name} ({tid})", "subtitle": f"Territory report · region {region}",
                               "date": period}, **common))
    regions = sorted(territories.loc[selected, "region"].astype(str).unique())
    base = parameters.effective(profile)
    for scope in [*regions, "all"]:
        national = scope == "all"
        folder = "national" if national else f"region-{safe_name(scope)}"
        title = "National report" if national else f"Region {scope}"
        jobs.append(Job(key="national" if national else f"region:{scope}", kind="national" if national else "region",
                        name=title, region="" if national else scope, notebook=notebooks["rollup"],
                        parameters={"scope": scope, "store_path": str(store), "data_path": None, "params": base},
                        staging=str(work / "staging" / ROLLUPS / folder), target=str(out / ROLLUPS / folder),
                        front={"title": title, "subtitle": "Territories side by side", "date": period}, **common))
    return jobs


def _entry(job: Job, outcome: Outcome, previous: dict, kpis) -> dict:
    """The manifest entry of one report after its job."""
    published = outcome.status == "ok" or previous.get("published", False)
    status = outcome.status if outcome.status == "ok" or not previous.get("published") else "stale"
    folder = Path(job.target).name if job.kind == "territory" else f"{ROLLUPS}/{Path(job.target).name}"
    return {"kind": job.kind, "territory_name": job.name, "region": job.region, "folder": folder,
            "status": status, "error": outcome.error, "failing_cell": outcome.failing_cell, "published": published,
            "params": job.parameters.get("params"), "timings": outcome.timings, "finished": now(),
            "headline": _headline(kpis, job.key) if job.kind == "territory" else {}}


def run(data: Path, profile_path: Path | None, out: Path, *, jobs: int | None = None, renderer: str = "auto",
        notebook: Path | None = None, timeout: int = 600, progress: bool = True,
        territories: list[str] | None = None) -> dict:
    """Render every selected territory and the roll-ups; returns the manifest (also in ``out``).

    ``territories`` narrows which territory reports are rendered (e.g. one to look at);
    the national pass, and so every region comparison, still covers the profile's selection.
    """
    started = time.perf_counter()
    out = Path(out).resolve()
    notebooks = {"territory": str(Path(notebook or DEFAULT_NOTEBOOK).resolve()), "rollup": str(ROLLUP_NOTEBOOK)}
    for path in notebooks.values():
        if not Path(path).is_file():
            raise TerritoryReportsError(f"notebook not found: {path}")
    profile = parameters.load_profile(profile_path)
    ds = load_dataset(Path(data), extra_channels=profile.get("extra_channels", ()))
    parameters.check_territories(profile, ds.territories["territory_id"], source=str(profile_path or "parameters"))
    if territories:
        parameters.check_territories({"territories": list(territories)}, ds.territories["territory_id"],
                                     source="--territories")
        if isinstance(profile.get("territories"), list):  # the national pass must cover them too
            profile = {**profile, "territories": list(dict.fromkeys([*profile["territories"], *territories]))}
    renderer_name = get_renderer(renderer).name

    out.mkdir(parents=True, exist_ok=True)
    work = out / WORK
    register_kernel(work)
    t0 = time.perf_counter()
    tables = national_pass(ds, profile)
    store = write_store(tables, work / "store")
    national_seconds = time.perf_counter() - t0

    window = make_window(ds.sales["period"], profile.get("period_end"), profile.get("period_months", 3))
    selected = list(territories) if territories else selected_territories(ds, profile)
    job_list = _jobs(ds, profile, selected, out, work, store, window, notebooks, renderer_name, timeout)

    manifest = read_manifest(out)
    manifest.update({"generated": now(), "version": __version__, "data": str(Path(data).resolve()),
                     "profile": str(profile_path) if profile_path else None, "renderer": renderer_name,
                     "analysis_period": window.label("analysis"), "comparison_period": window.label("comparison")})
    entries = manifest.setdefault("territories", {})
    rollups = manifest.setdefault("rollups", {})
    jobs = jobs or os.cpu_count() or 1
    outcomes: list[Outcome] = []
    bar = tqdm(total=len(job_list), desc="reports", unit="report", disable=not progress, file=sys.stderr)
    with ProcessPoolExecutor(max_workers=min(jobs, max(len(job_list), 1)), mp_context=get_context("spawn")) as pool:
        futures = {pool.submit(execute, job): job for job in job_list}
        for future in as_completed(futures):
            job, outcome = futures[future], future.result()
            outcomes.append(outcome)
            book = entries if job.kind == "territory" else rollups
            book[job.key] = _entry(job, outcome, book.get(job.key, {}), tables["kpis"])
            bar.set_postfix_str(f"{job.key} {outcome.status}")
            bar.update()
    bar.close()
    manifest["timings"] = {"national_pass": national_seconds, "total": time.perf_counter() - started}
    manifest["failed"] = sorted(o.key for o in outcomes if o.status != "ok")
    write_manifest(out, manifest)
    write_index(out, manifest)
    return manifest
