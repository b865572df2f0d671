"""Benchmark: the project's batch against the naive papermill loop (issue 5).

Measured in one run, on a large synthetic dataset (default 200 territories, 100,000
customers, 24 months, ~5 million activities):

* floor: the ``papermill`` command line on an empty notebook (the cost of the approach);
* kernel start-up: an empty notebook through papermill in one process, with a fresh
  kernel (a new interpreter) and with a warm one (forked from the fork server), and the
  notebook's imports in a fresh interpreter, which warm kernels no longer pay;
* baseline: a sequential loop of the ``papermill`` command line per territory, each
  notebook loading the national files itself and filtering its territory, then rendering
  (HTML + PDF with the built-in renderer);
* the project's batch with default settings (``territory-reports run``);
* the same batch again with nothing changed;

and prints the ratio, the cost per territory against the floor, the re-run share and the
peak memory. The baseline and the batch can be timed on a sample of territories and
scaled to all (``--baseline-sample``, ``--batch-sample``; 0 = all): the batch's fixed
costs (loading, national pass) are measured in full, its per-report cost scaled.

    python bench/batch.py                      # the whole batch; the baseline on 3 territories (~7 min)
    python bench/batch.py --baseline-sample 0  # the baseline on every territory too (about an hour)
"""
from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / "out"
NOTEBOOK = ROOT / "notebooks" / "territory.ipynb"


def dataset(territories: int, customers: int, activities: float) -> Path:
    from analysis.contract.demo import generate, write

    folder = OUT / f"data_t{territories}_c{customers}_a{activities}"
    if not (folder / "activities.parquet").is_file():
        print(f"generating {folder.name} ...", flush=True)
        write(generate(seed=1, n_regions=max(3, territories // 25), n_territories=territories,
                       n_customers=customers, activities_per_customer_month=activities), folder, fmt="parquet")
    return folder


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def empty_notebook(path: Path) -> Path:
    """A notebook of one ``pass`` cell, for the default ``python3`` kernel."""
    import nbformat

    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                           "language": "python"}})
    nb.cells = [nbformat.v4.new_code_cell("pass")]
    nbformat.write(nb, path)
    return path


def floor(work: Path) -> float:
    """Median wall time of the papermill CLI on an empty notebook (5 runs: it varies by a
    few tenths of a second from run to run on a shared machine)."""
    empty = empty_notebook(work / "empty.ipynb")
    papermill = str(Path(sys.executable).parent / "papermill")
    return statistics.median(timed([papermill, str(empty), str(work / "empty-out.ipynb"), "--no-progress-bar"])
                             for _ in range(5))


def kernel_startup(work: Path, runs: int = 5) -> dict:
    """Median seconds per empty notebook through papermill (one process) per kind of kernel,
    and the seconds a fresh interpreter spends importing what the report notebooks import."""
    import papermill as pm

    from analysis.engine.kernels import KERNEL_NAMES, WARM_MODULES, kernel_manager, register_kernel

    register_kernel(work)
    empty = empty_notebook(work / "startup.ipynb")  # the kernel is named below
    result = {}
    for kind, name in KERNEL_NAMES.items():
        def once():
            start = time.perf_counter()
            pm.execute_notebook(str(empty), str(work / "startup-out.ipynb"), kernel_name=name, progress_bar=False,
                                shutdown_kernel="immediate",  # as the batch does
                                kernel_manager_class=kernel_manager(work / "startup.log"))
            return time.perf_counter() - start
        once()  # the warm kind starts its fork server here
        result[kind] = statistics.median(once() for _ in range(runs))
    imports = "import time; t = time.perf_counter(); import " + ", ".join(WARM_MODULES) + \
              "; print(time.perf_counter() - t)"
    result["imports"] = statistics.median(
        float(subprocess.run([sys.executable, "-c", imports], capture_output=True, text=True, check=True).stdout)
        for _ in range(3))
    return result


def baseline(data: Path, work: Path, sample: list[str]) -> float:
    """Seconds for the naive loop over ``sample``: papermill CLI loading national files, then render."""
    papermill = str(Path(sys.executable).parent / "papermill")
    render = ("import sys; from pathlib import Path; from analysis.report.render import BuiltinRenderer, FrontMatter; "
              "BuiltinRenderer().render(Path(sys.argv[1]), Path(sys.argv[2]), FrontMatter(sys.argv[3]))")
    start = time.perf_counter()
    for tid in sample:
        folder = work / "baseline" / tid
        folder.mkdir(parents=True, exist_ok=True)
        executed = folder / "report.ipynb"
        subprocess.run([papermill, str(NOTEBOOK), str(executed), "-p", "territory_id", tid, "-p", "data_path",
                        str(data), "--cwd", str(folder), "--no-progress-bar"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.run([sys.executable, "-c", render, str(executed), str(folder), tid], check=True)
    return time.perf_counter() - start


def batch(data: Path, out: Path, territories: list[str] | None) -> dict:
    cmd = [sys.executable, "-m", "analysis.engine.cli", "run", "--data", str(data), "--out", str(out), "--quiet"]
    if territories:
        cmd += ["--territories", ",".join(territories)]
    wall = timed(cmd)
    manifest = json.loads((out / "manifest.json").read_text())
    return {"wall": wall, "manifest": manifest}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--territories", type=int, default=200)
    p.add_argument("--customers", type=int, default=100_000)
    p.add_argument("--activities", type=float, default=4.2, help="activities per customer and month")
    p.add_argument("--baseline-sample", type=int, default=3)
    p.add_argument("--batch-sample", type=int, default=0)
    args = p.parse_args(argv)

    data = dataset(args.territories, args.customers, args.activities)
    work = OUT / "batch_bench"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    import pandas as pd

    territories = pd.read_parquet(data / "territories.parquet")
    ids = territories["territory_id"].tolist()
    n = len(ids)
    all_reports = n + territories["region"].nunique() + 1  # territories, regions, national

    empty = floor(work)
    print(f"floor: papermill CLI on an empty notebook {empty:.2f} s", flush=True)
    startup = kernel_startup(work)
    print(f"kernel start-up (empty notebook through papermill, one process): fresh kernel {startup['fresh']:.2f} s, "
          f"warm kernel {startup['warm']:.2f} s; the notebook imports in a fresh kernel "
          f"{startup['imports']:.2f} s more (none in a warm one)", flush=True)

    base_ids = ids[: args.baseline_sample] if args.baseline_sample else ids
    base = baseline(data, work, base_ids) * n / len(base_ids)
    print(f"baseline (sequential papermill CLI, national files, render): {base:,.0f} s for {n} territories"
          + (f" (timed on {len(base_ids)}, scaled)" if len(base_ids) < n else ""), flush=True)

    batch_ids = ids[: args.batch_sample] if args.batch_sample else None
    first = batch(data, work / "reports", batch_ids)
    m = first["manifest"]
    fixed = m["timings"]["load"] + m["timings"]["national_pass"]
    rendered = len(m["territories"]) + len(m["rollups"])
    per_report = (first["wall"] - fixed) / rendered
    full = fixed + per_report * all_reports if batch_ids else first["wall"]
    print(f"project batch (default settings, {m['executor']} executor): {full:,.0f} s for {n} territories"
          + (f" (timed on {len(batch_ids)} territories + roll-ups, per-report cost scaled)" if batch_ids else "")
          + f"; loading {m['timings']['load']:.1f} s, national pass {m['timings']['national_pass']:.1f} s", flush=True)

    again = batch(data, work / "reports", batch_ids)
    print(f"re-run with nothing changed: {again['wall']:.1f} s = {again['wall'] / full:.1%} of the full batch "
          f"(target < 5%); summary {again['manifest']['summary']}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024 / 1024
    print(f"ratio: {base / full:.1f}x faster than the baseline (target >= 5x)")
    print(f"cost per territory: {full / n:.2f} s = {full / n / empty:.2f}x the empty-notebook floor (target <= 1.0x)")
    print(f"peak memory of any process: {peak:.2f} GB (target < 4 GB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
