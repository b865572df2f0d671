"""Benchmark: what rendering (HTML + PDF) costs per territory, as a share of the batch.

Renders the demo (12 territories and the roll-ups) once with default settings and
reads the per-report timings the batch records in ``manifest.json``:

    python bench/render_share.py [--jobs N] [--renderer auto|builtin|quarto]
"""
from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"
ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--jobs", type=int, default=None)
    p.add_argument("--renderer", default="auto")
    args = p.parse_args(argv)
    from analysis.engine.batch import run
    from analysis.contract.demo import generate, write

    data, out = OUT / "demo", OUT / "render_share"
    if not (data / "sales.csv").is_file():
        write(generate(), data)
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    manifest = run(data, ROOT / "params" / "demo.yaml", out, jobs=args.jobs, renderer=args.renderer, progress=False)
    wall = time.perf_counter() - start
    entries = list(manifest["territories"].values())
    step = lambda name: sum(e["timings"].get(name, 0.0) for e in entries)
    execute, tables, render = step("execute"), step("tables"), step("render")
    work = execute + tables + render
    n = len(entries)
    print(f"renderer {manifest['renderer']}, {n} territories, batch wall time {wall:.1f}s "
          f"(national pass {manifest['timings']['national_pass']:.1f}s)")
    print(f"per territory: execute {execute / n:.2f}s, tables {tables / n:.2f}s, render (HTML + PDF) {render / n:.2f}s")
    print(f"rendering share of the territory work: {render / work:.1%}; "
          f"of the batch wall time (cores x wall): {render / (wall * (args.jobs or __import__('os').cpu_count())):.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
