"""The batch: national pass once, then one isolated notebook job per report.

Each job runs in a worker process (local pool or Dask): Papermill executes the
notebook in the job's own folder, in a kernel of its own (warm by default: see
:mod:`analysis.engine.kernels`) and within the job's time limit, the tables are exported, the
renderer writes HTML and PDF, and only then are the files moved into place. A failing
or hanging report is retried once, then recorded in the manifest with its error and failing cell; it keeps its last
good report and never stops the others. A report whose fingerprint (data slice,
parameters, notebook, templates, renderer, version) is unchanged is skipped; the
manifest is rewritten after every job, so an interrupted run resumes where it stopped.

Crash consistency: a report is "unchanged" only when its folder's record
(:func:`analysis.report.publish.verified_record`: fingerprint and the sha256 of every
published file, written after the files) matches its files on disk and its fingerprint
is the job's; the manifest's entries are derived from those records, so whatever moment
a run was killed, the next one re-renders every report whose files are not those of its
fingerprint. One run at a time per output folder (:mod:`analysis.engine.lock`); a
worker publishes only while the run that sent it still holds the lock, and an
interrupted run (Ctrl-C, SIGTERM, SIGHUP through the CLI) ends every process it started
(workers, fork servers, kernels, renderers) before it returns. Every path is checked
(:func:`analysis.report.publish.check_output`) before anything is written.
"""
from __future__ import annotations

import os
import shutil
import signal
import sys
import time
from collections.abc import Callable
from concurrent.futures import as_completed
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from analysis import __version__
from analysis.contract import params as parameters
from analysis.contract import privacy
from analysis.contract.columnar import choose_engine, estimated_rows
from analysis.contract.dataset import cache_dataset, cached_dataset, input_key, load_dataset
from analysis.errors import NotebookTimeoutError, TerritoryReportsError
from analysis.engine.executors import get_executor
from analysis.report.exports import call_plan_workbook, export_tables
from analysis.engine.fingerprint import files_hash, job_fingerprint, table_hashes
from analysis.engine.kernels import KERNEL_NAMES, kernel_manager, register_kernel
from analysis.engine.lock import RunLock, still_held
from analysis.domain.national import national_pass, selected_territories, span_of, windows_of
from analysis.domain.periods import make_window
from analysis.report.publish import (check_output, now, publish_folder, read_manifest, remove_leftovers, safe_name,
                                     verified_record, write_index, write_manifest, write_tables)
from analysis.report.render import TEMPLATES, FrontMatter, get_renderer
from analysis.contract.store import TerritoryReader, read_meta, read_table, write_store

#: The notebooks shipped inside the package (the repository's ``notebooks/``, linked in);
#: ``run(notebook=..., rollup_notebook=...)`` takes a user's own copy instead.
NOTEBOOKS = Path(str(resources.files("analysis") / "notebooks"))
DEFAULT_NOTEBOOK = NOTEBOOKS / "territory.ipynb"
ROLLUP_NOTEBOOK = NOTEBOOKS / "rollup.ipynb"
ROLLUPS = "rollups"
WORK = ".work"
ATTEMPTS = 2  # a failing report is retried once
#: The folders under ``.work`` a run writes into (checked for links before anything is written).
WORK_FOLDERS = (WORK, *(f"{WORK}/{name}" for name in ("input", "store", "staging", "logs", "jupyter", "duckdb")))
#: Seconds an interrupted run's processes get to end after SIGTERM, before SIGKILL.
STOP_GRACE = 3.0


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
    fingerprint: str = ""
    kernels: str = "warm"  # warm (forked from a fork server) | fresh (a new interpreter)
    lock: str = ""      # the run's lock file: the job publishes only while its run holds it
    run_id: str = ""


class Abandoned(Exception):
    """The run that sent a job no longer holds the output folder's lock: nothing is published."""


@dataclass
class Outcome:
    key: str
    status: str         # ok | failed | skipped
    error: str | None = None
    failing_cell: str | None = None
    timings: dict = field(default_factory=dict)
    attempts: int = 0


class Deadline:
    """nbclient's ``timeout_func`` for a whole notebook: each cell may run until the
    notebook's time is up. Remembers the cell it was last asked about, which is the one
    running when the time ran out."""

    def __init__(self, seconds: float):
        self.seconds, self.start, self.cell = seconds, time.monotonic(), None

    def __call__(self, cell) -> float:
        self.cell = cell
        return max(1.0, self.seconds - (time.monotonic() - self.start))


#: This worker process's reader of each store it has read territories of (see
#: :class:`~analysis.contract.store.TerritoryReader`: a worker's jobs come in territory
#: order and mostly share the row groups read for the one before).
_READERS: dict[Path, TerritoryReader] = {}


def job_tables(job: Job) -> dict:
    """The machine-readable tables published beside a report."""
    store = Path(job.store)
    if job.kind == "territory":
        if store not in _READERS:  # (one store at a time: a long-lived Dask worker keeps no old files open)
            _READERS.clear()
            _READERS[store] = TerritoryReader(store)
        return export_tables(_READERS[store].read(job.key), min_rate_base=_min_rate_base(job))
    kpis, flags, trend = (read_table(store, name) for name in ("kpis", "coaching_flags", "trend"))
    if job.kind == "national":
        return {"territories": kpis, "regions": read_table(store, "regions"), "nation": read_table(store, "nation"),
                "coaching_flags": flags, "trend": trend}
    regions = read_table(store, "regions")
    ids = kpis.loc[kpis["region"] == job.region, "territory_id"]
    return {"territories": kpis[kpis["region"] == job.region], "region": regions[regions["region"] == job.region],
            "coaching_flags": flags[flags["territory_id"].isin(ids)], "trend": trend[trend["territory_id"].isin(ids)]}


def write_job_tables(job: Job, staging: Path) -> None:
    """The files exported beside a report into ``staging``: ``tables/*.csv`` (and a
    territory's call-plan workbook). The same for a full run and ``--tables-only``."""
    tables = job_tables(job)
    write_tables(tables, staging / "tables")
    if job.kind == "territory" and "call_plan" in tables:  # (its reasons: the CSV's)
        call_plan_workbook(tables["call_plan"], staging / "call_plan.xlsx", min_rate_base=_min_rate_base(job))


def _min_rate_base(job: Job) -> int:
    """The report's ``min_rate_base`` (its effective parameters'), which reasons quote."""
    return int((job.parameters.get("params") or {}).get("min_rate_base", parameters.DEFAULTS["min_rate_base"]))


def export_only(job: Job) -> Outcome:
    """``--tables-only``: export one report's tables into staging, then publish them (no
    notebook, no render); retried once like a report, never raises."""
    for attempt in range(1, ATTEMPTS + 1):
        timings: dict[str, float] = {}
        staging = Path(job.staging)
        try:
            _still_wanted(job)
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir(parents=True)
            start = time.perf_counter()
            write_job_tables(job, staging)
            timings["tables"] = time.perf_counter() - start
            _still_wanted(job)
            publish_folder(staging, Path(job.target), {"key": job.key, "fingerprint": job.fingerprint,
                                                       "published": now(), "timings": timings,
                                                       "tables_only": True})
            return Outcome(job.key, "ok", timings=timings, attempts=attempt)
        except Abandoned as exc:
            shutil.rmtree(staging, ignore_errors=True)
            return Outcome(job.key, "failed", error=str(exc), timings=timings, attempts=attempt)
        except Exception as exc:  # one territory's failure is recorded, never raised
            error = f"{type(exc).__name__}: {exc}"
            shutil.rmtree(staging, ignore_errors=True)
    return Outcome(job.key, "failed", error=error[:1000], timings=timings, attempts=ATTEMPTS)


class Paced:
    """Calls ``write`` unless it was called lately: not before ``ratio`` times its last
    duration has passed since it returned, so that it takes at most about 1/``ratio`` of
    the time (:meth:`now`: at once). The manifest after each job: a small one is written
    after every job as before; one of 1,500 territories (4 MB, 0.3 s) every few seconds,
    where writing it after each job took the run's main process about as long as the
    workers took to export the tables."""

    def __init__(self, write: Callable[[], object], ratio: float = 20.0,
                 clock: Callable[[], float] = time.monotonic):
        self.write, self.ratio, self.clock, self.due = write, ratio, clock, float("-inf")

    def __call__(self) -> None:
        if self.clock() >= self.due:
            self.now()

    def now(self) -> None:
        start = self.clock()
        self.write()
        end = self.clock()
        self.due = end + self.ratio * (end - start)


def _tables_unchanged(job: Job, record: dict | None) -> bool:
    """``--tables-only``: the folder's files are those of its record, of this job's
    fingerprint, and hold the tables (a full run's report or an earlier tables-only run)."""
    return (record is not None and record.get("fingerprint") == job.fingerprint
            and any(name.startswith("tables/") for name in record["files"]))


def _attempt(job: Job, timings: dict) -> None:
    """One attempt: execute, export, render into staging, then publish. Raises on failure."""
    import papermill as pm
    from nbclient.exceptions import CellTimeoutError

    staging, target = Path(job.staging), Path(job.target)
    _still_wanted(job)
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    notebook_out = staging / "report.ipynb"
    start = time.perf_counter()
    log = Path(job.store).parent / "logs" / f"{Path(job.staging).name}.kernel.log"
    deadline = Deadline(job.timeout)
    try:
        pm.execute_notebook(job.notebook, str(notebook_out), kernel_name=KERNEL_NAMES[job.kernels],
                            cwd=str(staging), parameters=job.parameters, progress_bar=False, log_output=False,
                            request_save_on_cell_execute=False,  # one write at the end, not two per cell
                            shutdown_kernel="immediate",  # its work is done: no graceful-exit wait
                            timeout_func=deadline, kernel_manager_class=kernel_manager(log))
    except CellTimeoutError as exc:
        raise NotebookTimeoutError(job.timeout, getattr(deadline.cell, "source", None)) from exc
    timings["execute"] = time.perf_counter() - start

    start = time.perf_counter()
    write_job_tables(job, staging)
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

    _still_wanted(job)  # a run that has ended (or been killed) publishes nothing more
    publish_folder(staging, target, {"key": job.key, "fingerprint": job.fingerprint, "published": now(),
                                     "timings": timings})
    (target / "last-failure.ipynb").unlink(missing_ok=True)


def _still_wanted(job: Job) -> None:
    if job.lock and not still_held(job.lock, job.run_id):
        raise Abandoned(f"not published: the run that started {job.key} has ended (its lock {job.lock} is gone)")


def execute(job: Job) -> Outcome:
    """Run one report, retrying once; never raises (the failure is in the outcome)."""
    register_kernel(Path(job.store).parent)  # on this worker too (a Dask worker may be another machine)
    for attempt in range(1, ATTEMPTS + 1):
        timings: dict[str, float] = {}
        try:
            _attempt(job, timings)
            return Outcome(job.key, "ok", timings=timings, attempts=attempt)
        except Abandoned as exc:  # no retry: nobody wants this report any more
            shutil.rmtree(job.staging, ignore_errors=True)
            return Outcome(job.key, "failed", error=str(exc), timings=timings, attempts=attempt)
        except Exception as exc:  # one report's failure is recorded, never raised
            failure = _failure(job, exc)
            shutil.rmtree(job.staging, ignore_errors=True)
    return Outcome(job.key, "failed", error=failure[0][:1000], failing_cell=failure[1], timings=timings,
                   attempts=ATTEMPTS)


def _failure(job: Job, exc: Exception) -> tuple[str, str | None]:
    """The error message and failing cell; the failing notebook is kept beside the report."""
    if isinstance(exc, NotebookTimeoutError):
        return str(exc), f"cell running at the time limit: {exc.cell[:300]}" if exc.cell else None
    if exc.__class__.__name__ != "PapermillExecutionError":
        return f"{type(exc).__name__}: {exc}", None
    cell = f"cell {getattr(exc, 'exec_count', '?')}: {getattr(exc, 'source', '')[:300]}"
    notebook_out = Path(job.staging) / "report.ipynb"
    if notebook_out.is_file():
        Path(job.target).mkdir(parents=True, exist_ok=True)
        os.replace(notebook_out, Path(job.target) / "last-failure.ipynb")
    return f"{getattr(exc, 'ename', type(exc).__name__)}: {getattr(exc, 'evalue', exc)}", cell


def _headline(kpis, territory_id: str) -> dict:
    row = kpis[kpis["territory_id"] == territory_id]
    if row.empty:
        return {}
    keep = ("customers", "coverage", "support", "vip_share", "effort_on_priority", "mismatched_effort", "roi")
    out = {k: (None if row.iloc[0][k] != row.iloc[0][k] else float(row.iloc[0][k])) for k in keep if k in row}
    caveats = row.iloc[0].get("caveats")
    return {**out, "caveats": caveats if isinstance(caveats, str) else ""}


def _folders(ds, selected: list[str]) -> dict[str, str]:
    """Each report's folder relative to the output folder (territory ids first, then
    ``rollups/...``); raises when an id gives no folder name or two share one."""
    folders: dict[str, str] = {}
    owners: dict[str, str] = {}
    for tid in selected:
        folder = safe_name(tid)
        if folder == ROLLUPS or folder in owners:
            other = "the roll-up folder" if folder == ROLLUPS else f"territory {owners[folder]!r}"
            raise TerritoryReportsError(f"territory id {tid!r} would publish to folder {folder!r}, like {other}: "
                                        "rename one of them")
        owners[folder], folders[tid] = tid, folder
    territories = ds.territories.set_index("territory_id")
    for region in sorted(territories.loc[selected, "region"].astype(str).unique()):
        folders[f"region:{region}"] = f"{ROLLUPS}/region-{safe_name(region)}"
    folders["national"] = f"{ROLLUPS}/national"
    return folders


def _jobs(ds, profile: dict, selected: list[str], out: Path, work: Path, store: Path, window, notebooks: dict,
          renderer: str, timeout: int, hashes, kernels: str = "warm", lock: RunLock | None = None,
          periods: dict[str, str] | None = None) -> list[Job]:
    """One job per selected territory, then one per region and the national roll-up.

    ``periods`` maps a territory to its own analysis period (an override may set its
    ``period_end``); the roll-ups and territories without one take the run's window.
    """
    territories = ds.territories.set_index("territory_id")
    common = {"store": str(store), "renderer": renderer, "timeout": timeout, "kernels": kernels,
              "lock": str(lock.path) if lock else "", "run_id": lock.run_id if lock else ""}
    code = {"version": __version__, "renderer": renderer,
            "templates": files_hash(sorted(Path(str(TEMPLATES)).glob("*")))}
    notebook_hash = {kind: files_hash([path]) for kind, path in notebooks.items()}
    period = f"Analysis period {window.label('analysis')}"
    jobs = []
    folders = _folders(ds, selected)
    for tid in selected:
        folder = folders[tid]
        name, region = str(territories.loc[tid, "territory_name"]), str(territories.loc[tid, "region"])
        params = parameters.effective(profile, tid)
        own = f"Analysis period {periods[tid]}" if periods and tid in periods else period
        jobs.append(Job(key=tid, kind="territory", name=name, region=region, notebook=notebooks["territory"],
                        parameters={"territory_id": tid, "store_path": str(store), "data_path": None,
                                    "params": params},
                        staging=str(work / "staging" / folder), target=str(out / folder),
                        front={"title": f"{name} ({tid})", "subtitle": f"Territory report · region {region}",
                               "date": own},
                        fingerprint=job_fingerprint(data=hashes.get(tid), params=params, front=own, **code,
                                                    notebook=notebook_hash["territory"]), **common))
    regions = sorted(territories.loc[selected, "region"].astype(str).unique())
    base = parameters.effective(profile)
    for scope in [*regions, "all"]:
        national = scope == "all"
        folder = Path(folders["national" if national else f"region:{scope}"]).name
        title = "National report" if national else f"Region {scope}"
        members = territories.index if national else territories.index[territories["region"].astype(str) == scope]
        jobs.append(Job(key="national" if national else f"region:{scope}", kind="national" if national else "region",
                        name=title, region="" if national else scope, notebook=notebooks["rollup"],
                        parameters={"scope": scope, "store_path": str(store), "data_path": None, "params": base},
                        staging=str(work / "staging" / ROLLUPS / folder), target=str(out / ROLLUPS / folder),
                        front={"title": title, "subtitle": "Territories side by side", "date": period},
                        fingerprint=job_fingerprint(data=sorted(hashes.reindex(members).fillna("").tolist()),
                                                    params=base, front=period, **code,
                                                    notebook=notebook_hash["rollup"]), **common))
    return jobs


def _entry(job: Job, outcome: Outcome, record: dict | None, previous: dict, kpis) -> dict:
    """The manifest entry of one report after its job, derived from its folder's verified
    record (``record``; None: no record matches the folder's files), not from the old
    manifest (``previous`` only lends the attempts of a skipped report)."""
    skipped = outcome.status == "skipped"
    published = outcome.status == "ok" or record is not None
    status = "ok" if outcome.status in ("ok", "skipped") else ("stale" if published else "failed")
    if skipped:
        fingerprint = record["fingerprint"]
    else:
        fingerprint = job.fingerprint if outcome.status == "ok" else (record or {}).get("fingerprint")
    folder = Path(job.target).name if job.kind == "territory" else f"{ROLLUPS}/{Path(job.target).name}"
    entry = {"kind": job.kind, "territory_name": job.name, "region": job.region, "folder": folder,
             "status": status, "error": outcome.error, "failing_cell": outcome.failing_cell, "published": published,
             "params": job.parameters.get("params"), "fingerprint": fingerprint,
             "attempts": outcome.attempts, "skipped": skipped, "timings": outcome.timings, "finished": now(),
             "headline": _headline(kpis, job.key) if job.kind == "territory" else {}}
    if skipped:
        same = previous.get("fingerprint") == fingerprint
        entry.update(attempts=previous.get("attempts", 1) if same else 1, timings=record.get("timings", {}),
                     finished=record.get("published"), checked=now())
    return entry


def _unchanged(job: Job, record: dict | None) -> bool:
    """The folder's files are those of its record, and the record's fingerprint is the job's."""
    return (record is not None and record.get("fingerprint") == job.fingerprint
            and {"report.html", "report.pdf"} <= set(record["files"]))


def _check_others(out: Path, book: dict, keys: set[str]) -> None:
    """Entries of reports outside this run: a folder whose files no longer match its
    record (a run killed while publishing it) is marked stale, never left ``ok``."""
    for key, entry in book.items():
        if key in keys or not entry.get("published"):
            continue
        record = verified_record(out / entry.get("folder", safe_name(key)))
        if record is None or record.get("fingerprint") != entry.get("fingerprint"):
            entry.update(status="stale", published=record is not None, skipped=False,
                         error="its files are not those of its last render (a run was interrupted while "
                               "publishing it): run it again", fingerprint=(record or {}).get("fingerprint"))


def _descendants() -> list:
    """This process's descendants, except multiprocessing's resource tracker (it runs no job,
    ends by itself when this process does, and is relaunched with a warning if killed)."""
    import psutil

    try:
        children = psutil.Process().children(recursive=True)
    except psutil.Error:
        return []
    kept = []
    for child in children:
        try:
            if "multiprocessing.resource_tracker" not in " ".join(child.cmdline()):
                kept.append(child)
        except psutil.Error:
            pass
    return kept


def _wait_gone(processes: list, timeout: float) -> list:
    """Wait until every process has ended (or is a zombie), up to ``timeout`` s; return the others.

    Never reaps: ``psutil.wait_procs`` would collect the exit status of the process pool's
    own workers, and the pool, unable to see them end, would then wait for them forever.
    """
    import psutil

    def running(process) -> bool:
        try:
            return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False

    deadline = time.monotonic() + timeout
    alive = [p for p in processes if running(p)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [p for p in alive if running(p)]
    return alive


def _stop_processes(before: set[int]) -> int:
    """End every process this run started (workers, fork servers, kernels, renderers), and
    wait for them: nothing of an interrupted run may publish after it returns.

    The processes are first frozen (SIGSTOP) until no new one appears, so none can start
    another (or be reparented out of reach) meanwhile; then SIGTERM, and SIGKILL after
    :data:`STOP_GRACE` seconds. The socket folders of fork servers ended that way are
    removed. Returns how many processes were ended.
    """
    import psutil

    stopping = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, stopping)  # a second Ctrl-C must not cut this short
    try:
        frozen: dict[int, psutil.Process] = {}
        for _ in range(50):
            new = [p for p in _descendants() if p.pid not in before and p.pid not in frozen]
            if not new:
                break
            for process in new:
                try:
                    process.suspend()
                    frozen[process.pid] = process
                except psutil.Error:
                    pass
        folders = []
        for process in frozen.values():
            try:
                cmd = process.cmdline()
                if "analysis.engine.forkserver" in cmd and len(cmd) > cmd.index("analysis.engine.forkserver") + 1:
                    folders.append(Path(cmd[cmd.index("analysis.engine.forkserver") + 1]).parent)
                process.terminate()
                process.resume()
            except psutil.Error:
                pass
        alive = _wait_gone(list(frozen.values()), STOP_GRACE)
        for process in alive:
            try:
                process.kill()
            except psutil.Error:
                pass
        _wait_gone(alive, STOP_GRACE)
        for folder in folders:
            if folder.name.startswith("territory-reports-kernels-"):
                shutil.rmtree(folder, ignore_errors=True)
        return len(frozen)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


def run(data: Path, profile_path: Path | None, out: Path, *, jobs: int | None = None, renderer: str = "auto",
        notebook: Path | None = None, rollup_notebook: Path | None = None, timeout: int = 600, progress: bool = True,
        territories: list[str] | None = None, force: bool = False, executor: str = "local",
        scheduler: str | None = None, kernels: str = "warm", privacy_key: Path | None = None,
        tables_only: bool = False, loader: str = "auto") -> dict:
    """Render every selected territory and the roll-ups; returns the manifest (also in ``out``).

    ``territories`` narrows which territory reports are rendered (e.g. one to look at);
    the national pass, and so every region comparison, still covers the profile's
    selection. ``force`` re-renders unchanged reports. ``executor`` is ``local`` (a
    process pool of ``jobs`` workers) or ``dask`` (``scheduler`` address, or a
    LocalCluster of ``jobs`` workers). ``kernels`` is ``warm`` (each report's kernel is
    forked from a pre-imported fork server in its worker) or ``fresh`` (a new interpreter
    per report); both give every report a kernel process of its own. With
    ``privacy: pseudonymise`` the dataset is pseudonymised (key: ``privacy_key``, else
    see :func:`analysis.contract.privacy.load_key`) before anything is written.

    ``tables_only``: the national pass and every report's exported tables (``tables/``,
    the same files as a full run's), no notebook and no render (what BI users and the
    scale benchmark run). ``loader``: ``pandas`` (in memory, then kept in the input
    cache), ``duckdb`` (reading, validation and reduction of the large tables out of core,
    see :mod:`analysis.contract.columnar`; its spill files under ``.work/duckdb``; only
    the windows' months of raw rows reach pandas, and they are not cached) or ``auto``
    (default: ``duckdb`` from :data:`~analysis.contract.columnar.AUTO_ROWS` rows of sales
    and activities, else ``pandas``).
    """
    if kernels not in KERNEL_NAMES:
        raise TerritoryReportsError(f"unknown kernels {kernels!r}; expected {', '.join(KERNEL_NAMES)}")
    started = time.perf_counter()
    notebooks = {"territory": str(Path(notebook or DEFAULT_NOTEBOOK).resolve()),
                 "rollup": str(Path(rollup_notebook or ROLLUP_NOTEBOOK).resolve())}
    for kind, path in notebooks.items():
        if not Path(path).is_file():
            raise TerritoryReportsError(f"{kind} notebook not found: {path} (territory-reports notebooks DIR "
                                        "writes a copy of the packaged notebooks to edit)")
    profile = parameters.load_profile(profile_path)
    out = check_output(Path(out), (ROLLUPS,), WORK_FOLDERS)  # before anything is written
    work = out / WORK
    lock = RunLock(work)
    if (holder := lock.peek()) is not None:  # another run: say so before loading anything
        raise lock.refuse(holder)
    if work.is_dir():  # the input cache and the store are read under the lock
        _take(lock)
    try:
        return _run(data, profile_path, profile, out, work, lock, started, notebooks, jobs=jobs, renderer=renderer,
                    timeout=timeout, progress=progress, territories=territories, force=force, executor=executor,
                    scheduler=scheduler, kernels=kernels, privacy_key=privacy_key, tables_only=tables_only,
                    loader=loader)
    finally:
        lock.release()


def _stage_lines(progress: bool) -> Callable[[str], None]:
    """What says, on standard error, which stage of a long run is under way (nothing when
    ``progress`` is off: ``--quiet``); the reports have their progress bar."""
    if not progress:
        return lambda line: None
    return lambda line: print(line, file=sys.stderr, flush=True)


def _take(lock: RunLock) -> None:
    """Take the run lock; a lock left by a run that is no longer running is taken over, with a warning."""
    left = lock.acquire()
    if left is not None:
        print(f"warning: took over the lock of a run that is no longer running ({left.describe()}); its "
              "unfinished reports are re-rendered", file=sys.stderr)


def _run(data: Path, profile_path: Path | None, profile: dict, out: Path, work: Path, lock: RunLock, started: float,
         notebooks: dict, *, jobs: int | None, renderer: str, timeout: int, progress: bool,
         territories: list[str] | None, force: bool, executor: str, scheduler: str | None, kernels: str,
         privacy_key: Path | None, tables_only: bool = False, loader: str = "auto") -> dict:
    """:func:`run` once the output folder is checked (and locked, when it existed)."""
    t0 = time.perf_counter()
    say = _stage_lines(progress)
    extra = tuple(profile.get("extra_channels", ()))
    key = privacy.load_key(out, privacy_key) if privacy.pseudonymising(profile) else None
    tag = privacy.cache_tag(profile, key)  # the cache never serves the other privacy mode, or another key
    ds = cached_dataset(Path(data), work / "input", extra_channels=extra, cache_tag=tag)
    if ds is None:  # pseudonymised here, before the input cache (or anything else) is written
        loader = choose_engine(Path(data), loader)
        say(f"reading and checking {data}" + (f" out of core (about {estimated_rows(Path(data)):,} rows of sales "
                                              "and activities)" if loader == "duckdb" else "") + " ...")
        ds = privacy.apply_dataset(load_dataset(Path(data), extra_channels=extra, engine=loader,
                                                work=work / "duckdb", span_of=span_of(profile),
                                                windows_of=windows_of(profile)), profile, key)
        say(f"  valid: {len(ds.territories):,} territories, {len(ds.customers):,} customers "
            f"(read and checked in {time.perf_counter() - t0:.1f}s)")
    else:
        say(f"{data}: unchanged since it was checked, read from the input cache")
    load_seconds = time.perf_counter() - t0
    profile = parameters.check_against_data(profile, ds, source=str(profile_path or "parameters"))
    if territories:
        parameters.check_territories({"territories": list(territories)}, ds.territories["territory_id"],
                                     source="--territories")
        if isinstance(profile.get("territories"), list):  # the national pass must cover them too
            profile = {**profile, "territories": list(dict.fromkeys([*profile["territories"], *territories]))}
    renderer_name = get_renderer(renderer).name
    selected = list(territories) if territories else selected_territories(ds, profile)
    folders = _folders(ds, selected)  # ids that give no folder, or share one: refused before writing
    check_output(out, [ROLLUPS, *folders.values()], WORK_FOLDERS)
    _take(lock)  # first write of a new output folder: its lock
    cache_dataset(ds, work / "input", extra_channels=extra, cache_tag=tag)  # inputs are valid

    shutil.rmtree(work / "staging", ignore_errors=True)  # leftovers of an interrupted run
    remove_leftovers(out)  # a manifest or index cut short between its write and its rename
    if not tables_only:
        register_kernel(work)
    t0 = time.perf_counter()
    store = work / "store"
    # the bytes actually validated (hashed once; () means a file changed during the load)
    store_key = job_fingerprint(inputs=input_key(Path(data), extra, tag, digests=ds.inputs or None),
                                profile=profile, version=__version__)
    try:
        meta = read_meta(store)
    except ValueError:  # a store.json cut short by a killed run: the store is rebuilt
        meta = {}
    if not force and meta.get("key") == store_key:  # same inputs and parameters: the store stands
        say("the national pass's tables stand (same inputs and parameters as the last run)")
        tables = {"kpis": read_table(store, "kpis")}
        hashes = pd.Series(meta["hashes"], dtype=object)
    else:
        say("national pass (every territory's tables) ...")
        # the pass computes about half its tables in a forked process when two cores are asked for
        tables = national_pass(ds, profile, workers=jobs or os.cpu_count() or 1)
        hashes = table_hashes({k: v for k, v in tables.items() if k not in ("regions", "nation")})
        write_store(tables, store, meta={"key": store_key, "hashes": hashes.to_dict()})
        say(f"  done in {time.perf_counter() - t0:.1f}s")
    national_seconds = time.perf_counter() - t0

    window = make_window(pd.Series(ds.sales_periods, dtype=object), profile.get("period_end"), profile.get("period_months", 3))
    kpis = tables["kpis"]
    periods = dict(zip(kpis["territory_id"].astype(str), kpis["analysis_period"].astype(str)))
    job_list = _jobs(ds, profile, selected, out, work, store, window, notebooks, renderer_name, timeout, hashes,
                     kernels, lock, periods)

    manifest = read_manifest(out)
    manifest.update({"generated": now(), "version": __version__, "data": str(Path(data).resolve()),
                     "profile": str(profile_path) if profile_path else None, "renderer": renderer_name,
                     "executor": executor, "kernels": kernels, "analysis_period": window.label("analysis"),
                     "comparison_period": window.label("comparison")})
    books = {"territory": manifest.setdefault("territories", {}), "rollup": manifest.setdefault("rollups", {})}
    book = lambda job: books["territory" if job.kind == "territory" else "rollup"]
    keys = {job.key for job in job_list}
    for entries in books.values():
        _check_others(out, entries, keys)
    records = {job.key: verified_record(Path(job.target)) for job in job_list}  # what is on disk, not the manifest
    outcomes: list[Outcome] = []

    save = Paced(lambda: write_manifest(out, manifest))

    def record(job: Job, outcome: Outcome) -> None:
        outcomes.append(outcome)
        if outcome.status == "ok":
            records[job.key] = verified_record(Path(job.target))
        book(job)[job.key] = _entry(job, outcome, records[job.key], book(job).get(job.key, {}), tables["kpis"])
        save()  # after (nearly) every job; an interrupted run resumes from the reports' own records

    todo = []
    for job in job_list:
        if not force and (_tables_unchanged if tables_only else _unchanged)(job, records[job.key]):
            record(job, Outcome(job.key, "skipped"))
        else:
            todo.append(job)
    bar = tqdm(total=len(todo), desc="reports", unit="report", disable=not progress or not todo, file=sys.stderr)
    workers = max(1, min(jobs or os.cpu_count() or 1, len(todo) or 1))
    if todo:
        before = {p.pid for p in _descendants()}  # processes that are not this run's
        try:
            with get_executor(executor, workers, scheduler) as pool:
                try:
                    task = export_only if tables_only else execute
                    futures = {pool.submit(task, job): job for job in todo}
                    for future in as_completed(futures):
                        job, outcome = futures[future], future.result()
                        record(job, outcome)
                        bar.set_postfix_str(f"{job.key} {outcome.status}")
                        bar.update()
                except BaseException:  # interrupted (or a bug): end the workers now, not after their jobs
                    _stop_processes(before)
                    try:
                        save.now()  # the jobs recorded so far
                    except OSError:  # (the interruption is what the user is told of)
                        pass
                    raise
        except BaseException:
            _stop_processes(before)  # interrupted while the executor was starting or stopping
            raise
    bar.close()
    manifest["timings"] = {"load": load_seconds, "national_pass": national_seconds,
                           "total": time.perf_counter() - started}
    manifest["failed"] = sorted(o.key for o in outcomes if o.status == "failed")
    manifest["summary"] = {status: sum(o.status == status for o in outcomes) for status in ("ok", "skipped", "failed")}
    # this run's reports (the books also hold the other territories' entries of earlier runs)
    manifest["run"] = {name: sorted(job.key for job in job_list if book(job) is books[kind])
                       for kind, name in (("territory", "territories"), ("rollup", "rollups"))}
    manifest["tables_only"] = tables_only
    write_manifest(out, manifest)
    if not tables_only:  # the index links reports: a tables-only run renders none
        write_index(out, manifest)
    return manifest
