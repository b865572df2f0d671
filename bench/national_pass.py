"""Benchmark: the vectorised national pass against a per-territory pandas loop.

Generates (once, cached as Parquet under bench/out/) a large synthetic dataset with the
demo generator, then measures in this same run, each in its own child process:

* the national pass: every table for every territory in one call;
* the baseline: a loop over territories, each computing the same tables from its own
  slice of the dataset (``Dataset.territory`` then the same analysis call);

and prints both times, the ratio and the peak memory (max RSS) of each process.

    python bench/national_pass.py                       # 500 territories, 100,000 customers, ~5M activities
    python bench/national_pass.py --territories 50 --customers 10000 --activities 4.2
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import sys
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"


def dataset_folder(args) -> Path:
    from analysis.contract.demo import generate, write

    folder = OUT / f"data_t{args.territories}_c{args.customers}_a{args.activities}"
    if not (folder / "activities.parquet").is_file():
        print(f"generating {folder.name} ...", flush=True)
        start = time.perf_counter()
        tables = generate(seed=1, n_regions=max(3, args.territories // 25), n_territories=args.territories,
                          n_customers=args.customers, activities_per_customer_month=args.activities)
        write(tables, folder, fmt="parquet")
        print(f"  {', '.join(f'{k} {len(v):,}' for k, v in tables.items())} in {time.perf_counter() - start:.0f}s",
              flush=True)
    return folder


def _national(folder: str, queue) -> None:
    from analysis.contract.dataset import load_dataset
    from analysis.domain.national import national_pass

    ds = load_dataset(folder)
    start = time.perf_counter()
    tables = national_pass(ds, {})
    seconds = time.perf_counter() - start
    queue.put({"seconds": seconds, "rows": sum(len(t) for t in tables.values()),
               "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})


def _loop(folder: str, limit: int | None, queue) -> None:
    from analysis.contract.dataset import load_dataset
    from analysis.domain.national import analyse, parameter_groups

    ds = load_dataset(folder)
    ids = ds.territories["territory_id"].tolist()
    measured = ids[:limit] if limit else ids
    params = parameter_groups(ids[:1], {})[0][0]
    start = time.perf_counter()
    rows = 0
    for tid in measured:
        tables = analyse(ds.territory(tid), params)
        rows += sum(len(t) for t in tables.values())
    seconds = time.perf_counter() - start
    queue.put({"seconds": seconds * len(ids) / len(measured), "measured": len(measured), "of": len(ids),
               "rows": rows, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})


def _child(target, *args) -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=target, args=(*args, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--territories", type=int, default=500)
    p.add_argument("--customers", type=int, default=100_000)
    p.add_argument("--activities", type=float, default=4.2, help="activities per customer and month")
    p.add_argument("--loop-sample", type=int, default=None,
                   help="time the baseline loop on the first N territories and scale to all (default: all)")
    args = p.parse_args(argv)
    folder = str(dataset_folder(args))
    national = _child(_national, folder)
    print(f"national pass : {national['seconds']:8.1f} s  peak {national['peak_mb']:,.0f} MB", flush=True)
    loop = _child(_loop, folder, args.loop_sample)
    scaled = f" (measured on {loop['measured']} of {loop['of']} territories, scaled)" if loop["measured"] < loop["of"] else ""
    print(f"baseline loop : {loop['seconds']:8.1f} s  peak {loop['peak_mb']:,.0f} MB{scaled}")
    print(f"ratio         : {loop['seconds'] / national['seconds']:8.1f}x faster (target >= 20x); "
          f"national pass peak {national['peak_mb'] / 1024:.2f} GB (target < 4 GB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
