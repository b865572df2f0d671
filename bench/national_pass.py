"""Benchmark: load + validation + national pass, the DuckDB path against the pandas path.

Generates (once, cached under bench/out/) synthetic datasets with the demo generator,
as CSV and as Parquet, then measures in this same run, each in its own child process
(so each has its own peak memory):

* ``pandas``: :func:`load_dataset` as it was (pandas/Arrow in memory), then the pass;
* ``duckdb``: :func:`load_dataset` with ``engine="duckdb"`` (the large tables read,
  validated and normalized out of core), then the same pass;

and prints for each size and format: load + validation seconds, pass seconds, total,
peak memory (the child's VmHWM, or with the process the pass forks, both together) and the
ratios pandas / duckdb. The pass's tables are compared too (neither the DuckDB path nor
the pass's processes may change them: two by default, as the command line gives it on two
cores; ``--pass-workers 1,2`` measures one and two). ``--million`` adds 1,000,000
customers from Parquet, new path only (the pandas one does not fit).

    python bench/national_pass.py                                  # 100k and 300k customers, CSV and Parquet
    python bench/national_pass.py --sizes 20000 --formats parquet  # quicker
    python bench/national_pass.py --sizes 300000 --formats parquet --engines duckdb --pass-workers 1,2
    python bench/national_pass.py --loop                           # the older benchmark: pass vs a per-territory loop
    python bench/national_pass.py --tables-only --sizes 300000 --formats parquet  # the whole command BI users run

``--tables-only`` times the command ``territory-reports run --tables-only`` as a whole (its
load, pass and every report's exported tables: 1,561 reports at 300,000 customers) in a
fresh output folder, and prints its own split of the time and the largest process's peak.
"""
from __future__ import annotations

import argparse
import hashlib
import multiprocessing as mp
import os
import resource
import sys
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"
#: Territories per customer of the demo scale (500 territories for 100,000 customers).
CUSTOMERS_PER_TERRITORY = 200
#: The pass's processes (``workers`` of ``national_pass``), as the command line gives them
#: on this 2-core machine (``--jobs`` 2); ``--pass-workers 1,2`` measures both.
PASS_WORKERS = "2"
#: Customers -> (seconds, GB) of load + validation + pass, the issue's targets.
TARGETS = {300_000: (25, 3), 1_000_000: (120, 8)}


def dataset_folder(territories: int, customers: int, activities: float, fmt: str = "parquet") -> Path:
    """The synthetic dataset of that size in ``fmt`` (generated once, both formats written)."""
    from analysis.contract.demo import generate, write

    base = OUT / f"data_t{territories}_c{customers}_a{activities}"
    folder = base if fmt == "parquet" else base.with_name(base.name + "_csv")
    marker = {"parquet": base / "activities.parquet", "csv": base.with_name(base.name + "_csv") / "activities.csv"}
    if not marker[fmt].is_file():
        print(f"generating {base.name} ({fmt}) ...", flush=True)
        start = time.perf_counter()
        tables = generate(seed=1, n_regions=max(3, territories // 25), n_territories=territories,
                          n_customers=customers, activities_per_customer_month=activities)
        write(tables, folder, fmt=fmt)
        print(f"  {', '.join(f'{k} {len(v):,}' for k, v in tables.items())} in {time.perf_counter() - start:.0f}s",
              flush=True)
        del tables
    return folder


def _peak_mb() -> float:
    """This process's peak resident memory (VmHWM), in MB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


_PAGE_MB = os.sysconf("SC_PAGE_SIZE") / 2**20


def _rss_mb(pid: int) -> float:
    """Process ``pid``'s resident memory, in MB (from ``statm``: cheap to read often)."""
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * _PAGE_MB


def _children_uss_mb(pid: int) -> float:
    """The memory that ``pid``'s child processes hold of their own (Private_Clean +
    Private_Dirty: pages a forked child shares with ``pid`` are not counted), in MB."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            try:
                for line in Path(f"/proc/{child}/smaps_rollup").read_text().splitlines():
                    if line.startswith(("Private_Clean:", "Private_Dirty:")):
                        total += int(line.split()[1])
            except OSError:  # ended meanwhile
                continue
    return total / 1024


def _digest(tables) -> str:
    """A hash of every table of the pass (values, columns and dtypes)."""
    import pandas as pd

    h = hashlib.sha256()
    for name in sorted(tables):
        frame = tables[name]
        h.update(name.encode())
        h.update(repr(list(zip(frame.columns, map(str, frame.dtypes)))).encode())
        h.update(pd.util.hash_pandas_object(frame.astype(object).where(frame.notna(), None), index=False)
                 .to_numpy().tobytes())
    return h.hexdigest()[:16]


def _engine(folder: str, engine: str, work: str, workers: int, queue) -> None:
    from analysis.contract.dataset import load_dataset
    from analysis.domain.national import national_pass, span_of, windows_of
    from analysis.engine.memory import use_returning_pool

    use_returning_pool()  # as the command line does

    start = time.perf_counter()
    # as the batch loads: the DuckDB path keeps the raw activities of the windows' months
    # only, and the sales summed per window
    duckdb = engine == "duckdb"
    ds = load_dataset(folder, engine=engine, work=work, span_of=span_of({}) if duckdb else None,
                      windows_of=windows_of({}) if duckdb else None)
    load = time.perf_counter() - start
    load_peak = _peak_mb()
    start = time.perf_counter()
    tables = national_pass(ds, {}, workers=workers)
    seconds = time.perf_counter() - start
    queue.put({"load": load, "pass": seconds, "load_peak_mb": load_peak, "peak_mb": _peak_mb(),
               "rows": {"sales": _sales_rows(ds), "activities": len(ds.activities)}})
    queue.put({"digest": _digest(tables)})  # (after the measures: the digest's copies are not the pass's)


def _sales_rows(ds) -> int:
    """The sales rows that reached pandas: raw rows, or their sums per window."""
    return len(ds.sales) + sum(len(units) for units in (ds.window_sales or {}).values())


def _national(folder: str, queue) -> None:
    from analysis.contract.dataset import load_dataset
    from analysis.domain.national import national_pass

    ds = load_dataset(folder)
    start = time.perf_counter()
    tables = national_pass(ds, {})
    seconds = time.perf_counter() - start
    queue.put({"seconds": seconds, "rows": sum(len(t) for t in tables.values()), "peak_mb": _peak_mb()})


def _loop(folder: str, limit: int | None, queue) -> None:
    from analysis.contract.dataset import load_dataset
    from analysis.domain.national import analyse, parameter_groups, prepare

    ds = load_dataset(folder)
    ids = ds.territories["territory_id"].tolist()
    measured = ids[:limit] if limit else ids
    params = parameter_groups(ids[:1], {})[0][0]
    has_activities = bool(ds.has_activities and len(ds.activities) > 0)
    start = time.perf_counter()
    rows = 0
    for tid in measured:
        tables = analyse(prepare(ds.territory(tid), params, has_activities))
        rows += sum(len(t) for t in tables.values())
    seconds = time.perf_counter() - start
    queue.put({"seconds": seconds * len(ids) / len(measured), "measured": len(measured), "of": len(ids),
               "rows": rows, "peak_mb": _peak_mb()})


def _child(target, *args) -> dict | None:
    """``target`` run in a process of its own: its result, or None when it died (out of
    memory). The result's ``peak_mb`` is the larger of the process's own peak (VmHWM) and
    the peak of its resident memory plus its children's own memory (the pass forks one),
    sampled together twice a second (reading a child's own memory walks its page tables)."""
    import queue as queues

    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=target, args=(*args, queue))
    proc.start()
    tree_peak, sampled = 0.0, 0.0
    while True:
        try:
            result = queue.get(timeout=0.1)  # (then a sample)
            break
        except queues.Empty:
            if not proc.is_alive():
                print(f"  the measuring process died (exit code {proc.exitcode}: out of memory?)", flush=True)
                return None
            try:  # both at the same instant, twice a second
                if time.monotonic() - sampled >= 0.5:
                    sampled = time.monotonic()
                    tree_peak = max(tree_peak, _children_uss_mb(proc.pid) + _rss_mb(proc.pid))
            except OSError:  # it ended meanwhile
                pass
    if "peak_mb" in result:  # (sampled until the measures came: not while the digest is made)
        result["peak_mb"] = max(result["peak_mb"], tree_peak)
        if target is _engine:
            result.update(queue.get())
    proc.join()
    return result


def _loop_benchmark(args) -> int:
    folder = str(dataset_folder(args.territories, args.customers, args.activities))
    national = _child(_national, folder)
    print(f"national pass : {national['seconds']:8.1f} s  peak {national['peak_mb']:,.0f} MB", flush=True)
    loop = _child(_loop, folder, args.loop_sample)
    scaled = f" (measured on {loop['measured']} of {loop['of']} territories, scaled)" if loop["measured"] < loop["of"] else ""
    print(f"baseline loop : {loop['seconds']:8.1f} s  peak {loop['peak_mb']:,.0f} MB{scaled}")
    print(f"ratio         : {loop['seconds'] / national['seconds']:8.1f}x faster (target >= 20x); "
          f"national pass peak {national['peak_mb'] / 1024:.2f} GB (target < 4 GB)")
    return 0


def _line(size: int, fmt: str, engine: str, workers: int, r: dict) -> str:
    return (f"{size:>9,} {fmt:<8}{engine:<7}{workers:>5}"
            f"{r['load']:>8.1f}{r['pass']:>8.1f}{r['load'] + r['pass']:>8.1f}"
            f"{r['load_peak_mb'] / 1024:>10.2f}{r['peak_mb'] / 1024:>9.2f}   {r['rows']['sales']:>11,} "
            f"{r['rows']['activities']:>11,}")


def _tables_only(size: int, fmt: str, activities: float) -> None:
    """Times the whole command ``territory-reports run --tables-only`` (load, pass, every
    report's exported tables; the CLI's own processes) in a fresh output folder, and prints
    its wall time, the largest process's peak and the run's own split of the time."""
    import json
    import shutil
    import subprocess

    folder = dataset_folder(max(1, size // CUSTOMERS_PER_TERRITORY), size, activities, fmt)
    out = OUT / "tables_only" / f"{size}_{fmt}"
    shutil.rmtree(out, ignore_errors=True)
    command = [sys.executable, "-m", "analysis.engine.cli", "run", "--data", str(folder), "--out", str(out),
               "--tables-only", "--quiet"]
    start = time.perf_counter()
    done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        print(f"{size:>9,} {fmt:<8}the command failed ({done.returncode}):\n{done.stdout[-2000:]}", flush=True)
        return
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20  # (KB: the largest process so far)
    manifest = json.loads((out / "manifest.json").read_text())
    timings, summary = manifest["timings"], manifest["summary"]
    reports = summary["ok"] + summary["skipped"] + summary["failed"]
    print(f"{size:>9,} {fmt:<8}{reports:>8,}{wall:>9.1f}{timings['load']:>8.1f}{timings['national_pass']:>8.1f}"
          f"{wall - timings['load'] - timings['national_pass']:>10.1f}{peak:>9.2f}"
          f"   {summary['failed']} failed", flush=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="100000,300000", help="customers, comma-separated (default 100000,300000)")
    p.add_argument("--formats", default="csv,parquet")
    p.add_argument("--engines", default="pandas,duckdb")
    p.add_argument("--million", action="store_true", help="also 1,000,000 customers from Parquet, DuckDB path only")
    p.add_argument("--pass-workers", default=PASS_WORKERS,
                   help=f"the pass's processes, comma-separated (default {PASS_WORKERS})")
    p.add_argument("--activities", type=float, default=4.2, help="activities per customer and month")
    p.add_argument("--loop", action="store_true", help="the older benchmark: national pass vs a per-territory loop")
    p.add_argument("--territories", type=int, default=500, help="--loop: territories")
    p.add_argument("--customers", type=int, default=100_000, help="--loop: customers")
    p.add_argument("--loop-sample", type=int, default=None,
                   help="--loop: time the baseline loop on the first N territories and scale to all (default: all)")
    p.add_argument("--tables-only", action="store_true",
                   help="time the whole command `territory-reports run --tables-only` instead (each size and format)")
    args = p.parse_args(argv)
    if args.loop:
        return _loop_benchmark(args)
    if args.tables_only:
        print(f"{'customers':>9} {'format':<8}{'reports':>8}{'total s':>9}{'load s':>8}{'pass s':>8}{'exports s':>10}"
              f"{'peak GB':>9}", flush=True)
        for size in [int(s) for s in args.sizes.split(",") if s] + ([1_000_000] if args.million else []):
            for fmt in args.formats.split(",") if size != 1_000_000 else ["parquet"]:
                _tables_only(size, fmt, args.activities)
        return 0
    workers = [int(w) for w in args.pass_workers.split(",") if w]
    runs = [(int(s), f, e, w) for s in args.sizes.split(",") if s for f in args.formats.split(",")
            for e in args.engines.split(",") for w in workers]
    if args.million:
        runs += [(1_000_000, "parquet", "duckdb", w) for w in workers]
    print(f"{'customers':>9} {'format':<8}{'engine':<7}{'procs':>5}{'load s':>8}{'pass s':>8}{'total s':>8}"
          f"{'load GB':>10}{'peak GB':>9}   {'sales':>11} {'activities':>11}", flush=True)
    results = {}
    for size, fmt, engine, procs in runs:
        folder = dataset_folder(max(1, size // CUSTOMERS_PER_TERRITORY), size, args.activities, fmt)
        work = OUT / "work" / engine
        r = _child(_engine, str(folder), engine, str(work), procs)
        if r is None:
            continue
        results[size, fmt, engine, procs] = r
        print(_line(size, fmt, engine, procs, r), flush=True)
    print()
    for (size, fmt, engine, procs), new in results.items():
        digests = {r["digest"] for (s, f, _, _), r in results.items() if (s, f) == (size, fmt)}
        if len(digests) > 1:
            print(f"{size:>9,} {fmt:<8} {engine} with {procs} process(es): TABLES DIFFER from another run's")
        old = results.get((size, fmt, "pandas", procs))
        if engine != "duckdb" or old is None:
            continue
        same = "same tables" if old["digest"] == new["digest"] else "TABLES DIFFER"
        print(f"{size:>9,} {fmt:<8} {procs} process(es), pandas/duckdb: load {old['load'] / new['load']:.2f}x faster, "
              f"total {(old['load'] + old['pass']) / (new['load'] + new['pass']):.2f}x, "
              f"peak {old['peak_mb'] / new['peak_mb']:.2f}x lower (load peak "
              f"{old['load_peak_mb'] / new['load_peak_mb']:.2f}x); {same}")
    print()
    for (size, fmt, engine, procs), r in results.items():
        target = TARGETS.get(size)
        if engine != "duckdb" or target is None or (size == 1_000_000 and fmt != "parquet"):
            continue
        seconds, gigabytes = target
        total, peak = r["load"] + r["pass"], r["peak_mb"] / 1024
        verdict = "met" if total <= seconds and peak <= gigabytes else "NOT met"
        print(f"target {size:>9,} {fmt:<8}{procs} process(es): <= {seconds} s and <= {gigabytes} GB: {total:.1f} s "
              f"({total / seconds:.2f}x the target), {peak:.2f} GB ({peak / gigabytes:.2f}x): {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
