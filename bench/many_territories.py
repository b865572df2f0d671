"""Benchmark: many territories (10,000 of one or a few customers each).

Generates the dataset with the demo generator (fast: about a second; cached as Parquet
under bench/out/), then measures in this one process:

* the national pass (the same in both columns);
* the fingerprints: the vectorised ``table_hashes`` against the former one (a Python
  lambda per territory and table, then one sha256 per territory, kept below as
  ``lambda_table_hashes``);
* the national roll-up notebook executed by papermill on the analysis store (a fresh
  kernel), summarising (the default: above ``MANY_TERRITORIES``) against ``many=None``,
  which draws and lists one row per territory as before. ``--render`` adds the builtin
  renderer (HTML and PDF) to the summary (``--render-baseline`` to the baseline too:
  its one-row-per-territory figure takes many minutes and gigabytes to render).

and prints each time, the ratio, and the total against the 60 s target.

    python bench/many_territories.py                        # 10,000 territories
    python bench/many_territories.py --territories 2000 --no-baseline-notebook
"""
from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

OUT = Path(__file__).resolve().parent / "out"
ROOT = Path(__file__).resolve().parents[1]


def lambda_table_hashes(tables, key: str = "territory_id") -> pd.Series:
    """The former fingerprints: a Python lambda per territory and table, a sha256 per territory."""
    parts = []
    for name in sorted(tables):
        frame = tables[name]
        if key not in frame or frame.empty:
            continue
        rows = pd.util.hash_pandas_object(frame.astype({c: object for c in frame.select_dtypes("category")}),
                                          index=False)
        keys = frame[key].astype(str).to_numpy()
        per_key = pd.Series(rows.to_numpy(), index=keys).groupby(level=0).agg(lambda s: int(s.sum()) % (1 << 64))
        parts.append(per_key.astype(str).rename(name))
    if not parts:
        return pd.Series(dtype=str)
    combined = pd.concat(parts, axis=1).fillna("-")
    return combined.apply(lambda row: hashlib.sha256("|".join(row).encode()).hexdigest(), axis=1)


def dataset_folder(territories: int, customers: int) -> Path:
    from analysis.contract.demo import generate, write

    folder = OUT / f"many_t{territories}_c{customers}"
    if not (folder / "activities.parquet").is_file():
        start = time.perf_counter()
        tables = generate(seed=1, n_regions=8, n_territories=territories, n_customers=customers)
        write(tables, folder, fmt="parquet")
        print(f"generated {folder.name}: {', '.join(f'{k} {len(v):,}' for k, v in tables.items())} "
              f"in {time.perf_counter() - start:.1f} s", flush=True)
    return folder


def run_rollup(store: Path, work: Path, many, render: bool) -> dict:
    """Execute (and optionally render) the national roll-up notebook; seconds per step."""
    import papermill as pm

    from analysis.engine.kernels import KERNEL_NAMES, kernel_manager
    from analysis.report.render import FrontMatter, get_renderer

    name = "summary" if many is not None else "every-row"
    out = work / f"national-{name}"
    out.mkdir(parents=True, exist_ok=True)
    times = {}
    start = time.perf_counter()
    pm.execute_notebook(str(ROOT / "notebooks" / "rollup.ipynb"), str(out / "report.ipynb"),
                        kernel_name=KERNEL_NAMES["fresh"], cwd=str(out), progress_bar=False, log_output=False,
                        request_save_on_cell_execute=False, shutdown_kernel="immediate",
                        kernel_manager_class=kernel_manager(work / f"{name}.kernel.log"),
                        parameters={"scope": "all", "store_path": str(store), "data_path": None, "params": {},
                                    "many": many})
    times["execute"] = time.perf_counter() - start
    times["notebook_mb"] = (out / "report.ipynb").stat().st_size / 1e6
    if render:
        start = time.perf_counter()
        (out / "render").mkdir(exist_ok=True)
        get_renderer("builtin").render(out / "report.ipynb", out / "render",
                                       FrontMatter(title="National report", subtitle="bench", date="bench"))
        times["render"] = time.perf_counter() - start
    return times


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--territories", type=int, default=10_000)
    p.add_argument("--customers", type=int, default=30_000,
                   help="customers in all (the generator spreads them unevenly: one to a few per territory)")
    p.add_argument("--no-baseline-notebook", action="store_true",
                   help="skip the one-row-per-territory notebook (minutes at 10,000 territories)")
    p.add_argument("--render", action="store_true", help="also render the roll-up (builtin renderer)")
    p.add_argument("--render-baseline", action="store_true", help="render the baseline roll-up too (slow)")
    args = p.parse_args(argv)

    from analysis.contract.dataset import load_dataset
    from analysis.contract.store import write_store
    from analysis.domain.national import national_pass
    from analysis.engine.fingerprint import table_hashes
    from analysis.engine.kernels import register_kernel

    ds = load_dataset(dataset_folder(args.territories, args.customers))
    per = ds.customers.groupby("territory_id").size().reindex(ds.territories["territory_id"]).fillna(0)
    print(f"{len(ds.territories):,} territories, {len(ds.customers):,} customers: {per.median():.0f} per territory "
          f"(median), {(per == 0).sum():,} without any", flush=True)
    start = time.perf_counter()
    tables = national_pass(ds, {})
    national = time.perf_counter() - start
    per_territory = {k: v for k, v in tables.items() if k not in ("regions", "nation")}
    start = time.perf_counter()
    hashes = table_hashes(per_territory)
    vectorised = time.perf_counter() - start
    start = time.perf_counter()
    old = lambda_table_hashes(per_territory)
    lambdas = time.perf_counter() - start
    assert sorted(hashes.index) == sorted(old.index), (hashes.index[:5], old.index[:5], len(hashes), len(old))

    with tempfile.TemporaryDirectory(prefix="many-territories-") as tmp:
        work = Path(tmp)
        store = write_store(tables, work / "store")
        register_kernel(work)
        import os
        os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(work / "jupyter"),
                                                                   os.environ.get("JUPYTER_PATH")]))
        new = run_rollup(store, work, 40, args.render)
        base = None if args.no_baseline_notebook else run_rollup(store, work, None, args.render_baseline)

    notebook = new["execute"] + new.get("render", 0.0)
    print(f"national pass          : {national:8.1f} s")
    print(f"fingerprints           : {vectorised:8.2f} s  (lambda per group {lambdas:.1f} s: "
          f"{lambdas / vectorised:.0f}x faster)")
    step = "execute + render" if args.render else "execute"
    if base is not None:
        old_notebook = base["execute"] + base.get("render", 0.0)
        same = base.get("render") is not None or not args.render
        compared = notebook if same else new["execute"]
        print(f"national roll-up ({step}): {notebook:8.1f} s, notebook {new['notebook_mb']:.1f} MB  "
              f"(one row per territory, {'execute + render' if 'render' in base else 'execute'} "
              f"{old_notebook:.1f} s, {base['notebook_mb']:.1f} MB: {old_notebook / compared:.1f}x faster"
              f"{'' if same else ', execute against execute'})")
    else:
        print(f"national roll-up ({step}): {notebook:8.1f} s, notebook {new['notebook_mb']:.1f} MB")
    total = national + vectorised + notebook
    line = f"total                  : {total:8.1f} s (target < 60 s)"
    if base is not None:
        before = national + lambdas + base["execute"] + base.get("render", 0.0)
        line += f"; before {before:.1f} s{'' if 'render' in base or not args.render else ' without rendering'}"
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
