"""``territory-reports``: demo data, validation and the batch, from the terminal.

Exit codes: 0 success; 1 some territories failed (the others are published);
2 bad input or parameters (nothing written), or another run is using the output folder;
3 a bug (its traceback is printed, with how to report it); 128 + the signal's number when
interrupted (Ctrl-C: 130, SIGTERM: 143, SIGHUP: 129).

SIGTERM and SIGHUP are handled like Ctrl-C: the run ends every process it started
(workers, kernels, renderers) before the command exits, so nothing is published after
it; published reports are whole, and the next run finishes the rest.
"""
from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import time
import traceback
from collections.abc import Iterator
from pathlib import Path

from analysis import __version__
from analysis.contract.importers.cli import add_import_parser
from analysis.engine.memory import use_returning_pool
from analysis.errors import TerritoryReportsError

#: ``--engine``: how the data is read and validated (see :func:`analysis.contract.columnar.choose_engine`).
LOADERS = ("auto", "pandas", "duckdb")

#: Signals handled like Ctrl-C.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


def _demo_data(args) -> int:
    from analysis.contract.demo import generate, write

    start = time.perf_counter()
    tables = generate(seed=args.seed, n_territories=args.territories, n_customers=args.customers)
    paths = write(tables, Path(args.out), fmt=args.format)
    sizes = ", ".join(f"{name} {len(frame):,}" for name, frame in tables.items())
    print(f"wrote {len(paths)} tables to {args.out} in {time.perf_counter() - start:.1f}s ({sizes})")
    return 0


def _validate(args) -> int:
    from analysis.contract.columnar import choose_engine, estimated_rows
    from analysis.contract.dataset import load_dataset
    from analysis.contract.params import check_against_data, load_profile
    from analysis.domain.national import span_of

    profile = load_profile(args.params)  # types, ranges and choices: before reading any data
    engine = choose_engine(Path(args.data), args.engine)
    if engine == "duckdb":  # a national export: a minute or more, say so before
        print(f"checking {args.data} out of core (about {estimated_rows(Path(args.data)):,} rows of sales and "
              f"activities) ...", file=sys.stderr, flush=True)
    start = time.perf_counter()
    # out of core, every row is checked but only the windows' rows are kept, as a run keeps them
    kept = span_of(profile) if engine == "duckdb" else None
    ds = load_dataset(Path(args.data), extra_channels=profile.get("extra_channels", ()), engine=engine,
                      span_of=kept)
    check_against_data(profile, ds, source=str(args.params or "parameters"))  # names the data must have
    counts = ", ".join(f"{name} {len(getattr(ds, name)):,}" for name in
                       ("territories", "reps", "customers", "products", "markets", "sales", "activities"))
    if ds.spans:  # every row was checked; these are the rows a run keeps
        counts += "; rows of the months a run reads: " + ", ".join(f"{name} {first} to {last}"
                                                                   for name, (first, last) in ds.spans.items())
    print(f"{args.data}: valid ({counts}; checked in {time.perf_counter() - start:.1f}s)")
    if args.params:
        print(f"{args.params}: valid for this data")
    return 0


def _run(args) -> int:
    from analysis.engine.batch import run

    manifest = run(Path(args.data), Path(args.params) if args.params else None, Path(args.out), jobs=args.jobs,
                   renderer=args.renderer, notebook=Path(args.notebook) if args.notebook else None,
                   rollup_notebook=Path(args.rollup_notebook) if args.rollup_notebook else None,
                   timeout=args.timeout, progress=not args.quiet,
                   territories=args.territories.split(",") if args.territories else None, force=args.force,
                   executor=args.executor, scheduler=args.scheduler, kernels=args.kernels,
                   privacy_key=Path(args.privacy_key) if args.privacy_key else None,
                   tables_only=args.tables_only, loader=args.engine)
    entries = {**manifest["territories"], **manifest.get("rollups", {})}
    print(summary_table(manifest))
    summary = manifest["summary"]
    if manifest.get("tables_only"):
        print(f"tables of {summary['ok']} report(s) exported, {summary['skipped']} unchanged, {summary['failed']} "
              f"failed, in {manifest['timings']['total']:.1f}s (load {manifest['timings']['load']:.1f}s, national "
              f"pass {manifest['timings']['national_pass']:.1f}s; files: {Path(args.out)}/*/tables/)")
    else:
        print(f"{summary['ok']} report(s) rendered, {summary['skipped']} unchanged, {summary['failed']} failed, "
              f"in {manifest['timings']['total']:.1f}s (index: {Path(args.out) / 'index.html'})")
    if manifest["failed"]:
        print(f"{len(manifest['failed'])} report(s) failed:", file=sys.stderr)
        for tid in manifest["failed"]:
            entry = entries[tid]
            print(f"  {tid}: {entry['error']}" + (f" [{entry['failing_cell'].splitlines()[0]}]"
                                                   if entry.get("failing_cell") else ""), file=sys.stderr)
        return 1
    return 0


def _notebooks(args) -> int:
    from analysis.engine.batch import NOTEBOOKS

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for source in sorted(NOTEBOOKS.glob("*.ipynb")):
        target = out / source.name
        if target.exists() and not args.force:
            raise TerritoryReportsError(f"{target} exists: not overwritten (--force replaces it)")
        target.write_bytes(source.read_bytes())
        written.append(target.name)
    print(f"wrote {', '.join(written)} to {out}; render with them: territory-reports run ... "
          f"--notebook {out / 'territory.ipynb'} --rollup-notebook {out / 'rollup.ipynb'}")
    return 0


def summary_table(manifest: dict) -> str:
    """Per kind of report of this run (``manifest["run"]``; of an older manifest: every
    entry): how many rendered (with ``--tables-only``: exported), skipped, failed, and the
    median step times."""
    from statistics import median

    made, steps = ("exported", ("tables",)) if manifest.get("tables_only") else ("rendered", ("execute", "render"))
    lines = [f"{'reports':<12}{made:>9}{'unchanged':>10}{'failed':>7}" + "".join(f"{f'{s} s':>11}" for s in steps)]
    for kind, book_name in (("territories", "territories"), ("roll-ups", "rollups")):
        book = manifest.get(book_name, {})
        ran = manifest.get("run", {}).get(book_name)
        entries = [book[key] for key in ran if key in book] if ran is not None else list(book.values())
        done = [e for e in entries if not e.get("skipped") and e.get("timings")]
        step = lambda name: f"{median(e['timings'].get(name, 0.0) for e in done):.1f}" if done else "-"
        lines.append(f"{kind:<12}{sum(not e.get('skipped') and e['status'] == 'ok' for e in entries):>9}"
                     f"{sum(bool(e.get('skipped')) for e in entries):>10}"
                     f"{sum(e['status'] in ('failed', 'stale') for e in entries):>7}"
                     + "".join(f"{step(s):>11}" for s in steps))
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="territory-reports", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    add_import_parser(sub)  # territory-reports import cms-partd | table

    demo = sub.add_parser("demo-data", help="write the synthetic demo dataset")
    demo.add_argument("out", help="folder to write the tables into")
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--territories", type=int, default=12)
    demo.add_argument("--customers", type=int, default=1500)
    demo.add_argument("--format", choices=("csv", "parquet"), default="csv")
    demo.set_defaults(func=_demo_data)

    val = sub.add_parser("validate", help="check a data folder against the data contract")
    val.add_argument("data", help="data folder (one CSV or Parquet file per table)")
    val.add_argument("--params", help="run profile (YAML): its parameters are checked too (types, ranges, and the "
                                      "territories, markets and months it names)")
    val.add_argument("--engine", choices=LOADERS, default="auto",
                     help="how the data is read and checked: pandas (in memory), duckdb (the large tables checked "
                          "out of core: a broken file's offending rows alone reach memory; same checks and messages) "
                          "or auto (default: duckdb from a million rows of sales and activities)")
    val.set_defaults(func=_validate)

    nbs = sub.add_parser("notebooks", help="write copies of the packaged notebooks, to edit and run with --notebook")
    nbs.add_argument("out", help="folder to write territory.ipynb, rollup.ipynb and explorer.ipynb into")
    nbs.add_argument("--force", action="store_true", help="overwrite existing files")
    nbs.set_defaults(func=_notebooks)

    run = sub.add_parser("run", help="render every territory's report")
    run.add_argument("--data", required=True, help="data folder")
    run.add_argument("--params", help="run profile (YAML); default: the package defaults")
    run.add_argument("--out", required=True, help="output folder (e.g. reports/demo)")
    run.add_argument("--territories", help="comma-separated territory ids to render (default: the profile's)")
    run.add_argument("--jobs", type=int, default=None,
                     help="parallel territory jobs; from 2, the national pass also uses a second process "
                          "(default: number of cores)")
    run.add_argument("--renderer", choices=("auto", "builtin", "quarto"), default="auto",
                     help="auto: Quarto when on PATH, otherwise the built-in pandoc/Typst renderer")
    run.add_argument("--notebook", help="territory notebook (default: the packaged territory.ipynb; "
                                        "`territory-reports notebooks DIR` writes copies to edit)")
    run.add_argument("--rollup-notebook", help="region and national roll-up notebook (default: the packaged rollup.ipynb)")
    run.add_argument("--timeout", type=int, default=600, metavar="SECONDS",
                     help="how long one report's notebook may run before it is stopped and retried once "
                          "(default 600)")
    run.add_argument("--force", action="store_true", help="re-render reports whose inputs did not change")
    run.add_argument("--executor", choices=("local", "dask"), default="local",
                     help="local worker processes, or a Dask distributed cluster")
    run.add_argument("--scheduler", help="Dask scheduler address (default: a LocalCluster for this run)")
    run.add_argument("--kernels", choices=("warm", "fresh"), default="warm",
                     help="warm: each report's kernel is forked from a pre-imported server (fast); "
                          "fresh: a new interpreter per report. Either way every report has its own kernel")
    run.add_argument("--privacy-key", metavar="FILE",
                     help="secret key file for privacy: pseudonymise (default: $TERRITORY_REPORTS_PRIVACY_KEY_FILE, "
                          "else ~/.config/territory-reports/privacy.key, created on first use); never inside --out")
    run.add_argument("--tables-only", action="store_true",
                     help="the national pass and every report's exported tables (tables/*.csv, as a full run "
                          "writes them), no notebooks and no PDF/HTML")
    run.add_argument("--engine", choices=LOADERS, default="auto",
                     help="how the data is read and validated: pandas (in memory, kept in the input cache), "
                          "duckdb (the large tables checked and reduced out of core, spilling under "
                          "OUT/.work/duckdb; same checks and messages; only the analysis windows' rows reach "
                          "memory) or auto (default: duckdb from a million rows of sales and activities)")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.set_defaults(func=_run)
    return p


class Interrupted(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised in the main thread as Ctrl-C's KeyboardInterrupt is."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _interrupt(signum: int, _frame) -> None:
    raise Interrupted(signum)


@contextlib.contextmanager
def stop_signals_interrupt() -> Iterator[None]:
    """While inside: SIGTERM and SIGHUP raise :class:`Interrupted` (a KeyboardInterrupt) in
    the main thread, so they unwind the run as Ctrl-C does. Elsewhere than the main thread
    (where handlers cannot be set) nothing changes."""
    try:
        previous = {signum: signal.signal(signum, _interrupt) for signum in STOP_SIGNALS}
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    use_returning_pool()
    with stop_signals_interrupt():
        try:
            return args.func(args)
        except TerritoryReportsError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except OSError as exc:  # read-only or full output folder, missing permissions
            print(f"error: cannot write {exc.filename or ''}: {exc.strerror or exc} "
                  "(published reports are untouched)", file=sys.stderr)
            return 2
        except KeyboardInterrupt as exc:
            signum = getattr(exc, "signum", signal.SIGINT)
            print(f"interrupted ({signal.Signals(signum).name}): every process of the run has ended and nothing "
                  "more is published; published reports are whole; run again to finish", file=sys.stderr)
            return 128 + int(signum)
        except Exception:  # noqa: BLE001 - anything else is a bug: say so, with what to report
            traceback.print_exc()
            print(f"\nThis is a bug in territory-reports {__version__}, not a problem with your data or "
                  "parameters: please report it with the traceback above and the command you ran "
                  f"(territory-reports {' '.join(sys.argv[1:] if argv is None else argv)}). "
                  "Published reports are untouched.", file=sys.stderr)
            return 3


if __name__ == "__main__":
    sys.exit(main())
