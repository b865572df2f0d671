"""Killed, stopped and concurrent runs: crash-consistent publishing, signals, the run lock,
paths checked before writing, and what the CLI prints for a user error and for a bug.

The kill loop runs the real CLI in its own process group and SIGKILLs the whole group
(CLI, workers, fork servers; kernels, in sessions of their own, follow their server) at
12 random moments, one in each twelfth of a run's length (stratified: no stretch of the run
longer than two twelfths goes without a kill, where 20 moments drawn anywhere left gaps
of 2 s and more), in two tests of 6, each with its output folder, so that the two
workers can share them, alternating two parameter profiles, so that each killed run is
overwriting the other profile's reports; after each rerun every published table must
equal, byte for byte, that of an uninterrupted run with the same profile, and so must
the HTML and the PDF once the PDF's creation time (and the document id Typst derives
from it) is masked. The notebooks executed are two tiny ones (a parameters cell and a
few lines printing the parameters, see ``conftest.tiny_notebook``): what is under test is the
publishing machinery, and each kill moment then costs seconds, not the minutes of the
full notebooks on a shared 2-core machine.
"""
from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from conftest import made_once, tiny_notebook

from analysis.engine.cli import main
from analysis.engine.lock import RunLock

ROOT = Path(__file__).resolve().parents[1]
#: The kill loop's moments: one in each of so many equal slices of a run's length.
MOMENTS = 12
#: The kill loop's moments in so many tests (one output folder each), so that both workers
#: can take one: every PARTS-th slice, so that each test's kills span the whole run.
PARTS = 2
SEED = 20261201
#: Files that legitimately differ between two identical runs (times, durations).
VOLATILE = {"manifest.json", "index.html", ".published.json", "report.ipynb"}
_PDF_VOLATILE = re.compile(rb"D:\d{14}Z|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:[+-]\d\d:\d\d|Z)"
                           rb"|(?<=<xmpMM:InstanceID>)[^<]+|(?<=<xmpMM:DocumentID>)[^<]+|/ID\[\([^)]*\)\([^)]*\)\]")


# --- helpers ------------------------------------------------------------------------------

def kill_moments(seconds: float) -> list[float]:
    """The kill loop's moments for a run of ``seconds`` (and the CLI's start-up): one drawn
    in each of :data:`MOMENTS` equal slices, the same whatever the parts."""
    rng = random.Random(SEED)
    longest = seconds + 2.0
    return [(i + rng.random()) * longest / MOMENTS for i in range(MOMENTS)]


def normalized(path: Path) -> bytes:
    """A published file's bytes; for a PDF with its creation time and document id masked."""
    data = path.read_bytes()
    return _PDF_VOLATILE.sub(lambda m: b"#" * len(m.group()), data) if path.suffix == ".pdf" else data


def published_files(out: Path) -> dict[str, bytes]:
    """Every published file of ``out`` (tables, HTML, PDF), outside ``.work``."""
    return {str(p.relative_to(out)): normalized(p) for p in sorted(out.rglob("*"))
            if p.is_file() and WORKDIR not in p.relative_to(out).parts and p.name not in VOLATILE}


WORKDIR = ".work"


def manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text())


def cli(*args: str, **kw) -> subprocess.Popen:
    """The CLI in a process group (and session) of its own."""
    return subprocess.Popen([sys.executable, "-m", "analysis.engine.cli", *args], start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def run_args(case: dict, profile: Path, out: Path, *extra: str) -> list[str]:
    return ["run", "--data", str(case["data"]), "--params", str(profile), "--out", str(out),
            "--notebook", str(case["notebook"]), "--rollup-notebook", str(case["rollup"]),
            "--renderer", "builtin", "--jobs", "2", "--kernels", "fresh", "--quiet", *extra]


# --- fixtures -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def case(tmp_path_factory) -> dict:
    """Demo data (2 territories, 1 region, 200 customers), two profiles and tiny notebooks
    (made once for all workers)."""
    return made_once(tmp_path_factory, "crash", _case)


def _case(base: Path) -> dict:
    from analysis.contract.demo import generate, write

    data = base / "data"
    write(generate(seed=5, n_regions=1, n_territories=2, n_customers=200), data)
    demo = (ROOT / "params" / "demo.yaml").read_text()
    profiles = {"a": base / "a.yaml", "b": base / "b.yaml"}
    profiles["a"].write_text(demo)
    profiles["b"].write_text(demo.replace("vip_share: 0.8", "vip_share: 0.7"))
    assert profiles["a"].read_text() != profiles["b"].read_text()
    notebooks = {kind: tiny_notebook(base / f"{kind}.ipynb", kind) for kind in ("territory", "rollup")}
    case = {"data": data, "profiles": profiles, "notebook": notebooks["territory"], "rollup": notebooks["rollup"],
            "base": base, "reference": {}, "seconds": {}}
    for name, profile in profiles.items():  # an uninterrupted run of each profile, in a folder of its own
        out = base / f"reference-{name}"
        start = time.perf_counter()
        assert main(run_args(case, profile, out)) == 0
        case["seconds"][name] = time.perf_counter() - start
        case["reference"][name] = {"files": published_files(out), "manifest": manifest(out)}
    assert case["reference"]["a"]["files"].keys() == case["reference"]["b"]["files"].keys()
    assert case["reference"]["a"]["files"] != case["reference"]["b"]["files"]  # the profiles differ in print
    return case


# --- crash consistency ------------------------------------------------------------------------

def test_kill_moments_cover_every_slice_of_the_run():
    moments = kill_moments(10.0)
    assert len(moments) == MOMENTS and moments == sorted(moments)
    assert all(i * 12.0 / MOMENTS <= m < (i + 1) * 12.0 / MOMENTS for i, m in enumerate(moments))
    parts = [list(range(part, MOMENTS, PARTS)) for part in range(PARTS)]
    assert sorted(i for part in parts for i in part) == list(range(MOMENTS))  # each slice in one part


@pytest.mark.parametrize("part", range(PARTS))
def test_kill_at_random_moments_then_rerun_equals_an_uninterrupted_run(case, tmp_path, part):
    out = tmp_path / "out"
    drawn = kill_moments(max(case["seconds"].values()))
    moments = []
    for turn, i in enumerate(range(part, MOMENTS, PARTS)):  # this part's slices
        name = "ab"[turn % 2]  # each killed run overwrites the other profile's reports
        profile = case["profiles"][name]
        moment = drawn[i]
        proc = cli(*run_args(case, profile, out))
        try:
            proc.wait(timeout=moment)
            finished = True
        except subprocess.TimeoutExpired:
            finished = False
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        proc.communicate()
        moments.append((round(moment, 2), finished))
        assert main(run_args(case, profile, out)) == 0, f"rerun after a kill at {moment:.2f} s"
        reference = case["reference"][name]
        assert published_files(out) == reference["files"], f"kill {i} at {moment:.2f} s ({name})"
        m = manifest(out)
        for book in ("territories", "rollups"):
            assert {k: (e["status"], e["fingerprint"]) for k, e in m[book].items()} == {
                k: ("ok", e["fingerprint"]) for k, e in reference["manifest"][book].items()}, f"kill {i}"
    print(f"kill moments (s, run had finished): {moments}")
    assert sum(not finished for _, finished in moments) >= len(moments) // 2  # most kills hit a running run


def test_killed_while_publishing_is_re_rendered_whatever_the_manifest_says(case, tmp_path):
    out = tmp_path / "out"
    assert main(run_args(case, case["profiles"]["a"], out)) == 0
    before = manifest(out)
    # the moment the issue describes: the new files landed, the record did not (SIGKILL in between)
    (out / "T01" / ".published.json").unlink()
    # and a table changed behind the tool's back
    table = next((out / "T02" / "tables").glob("*.csv"))
    table.write_bytes(table.read_bytes() + b"\n")
    assert manifest(out) == before and before["territories"]["T01"]["status"] == "ok"
    assert main(run_args(case, case["profiles"]["a"], out)) == 0
    m = manifest(out)
    assert not m["territories"]["T01"]["skipped"] and not m["territories"]["T02"]["skipped"]
    assert m["rollups"]["national"]["skipped"]
    assert published_files(out) == case["reference"]["a"]["files"]


# --- signals ---------------------------------------------------------------------------------

@pytest.mark.parametrize("signum, kernels", [(signal.SIGTERM, "warm"), (signal.SIGHUP, "fresh")])
def test_stop_signal_to_the_cli_alone_ends_every_process_and_publishes_nothing_after(case, tmp_path, signum,
                                                                                       kernels):
    out = tmp_path / "out"
    assert main(run_args(case, case["profiles"]["a"], out)) == 0
    proc = cli(*run_args(case, case["profiles"]["b"], out, "--kernels", kernels))
    seen: dict[int, psutil.Process] = {}
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:  # until a kernel of this run runs a report
        for process in _descendants(proc.pid):
            seen.setdefault(process.pid, process)
        if _kernels(seen.values()):
            break
        time.sleep(0.05)
    assert proc.poll() is None and _kernels(seen.values()), "no kernel seen before the run ended"
    for process in _descendants(proc.pid):
        seen.setdefault(process.pid, process)
    tracker = [seen.pop(pid) for pid, p in list(seen.items()) if "resource_tracker" in " ".join(_cmd(p))]
    os.kill(proc.pid, signum)  # the CLI alone, as `kill PID` or a closed terminal does
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signum, err
    assert "Traceback" not in err and "nothing more is published" in err
    left = [" ".join(_cmd(p)) for p in seen.values() if _alive(p)]
    assert not left, left  # workers, fork servers, kernels: all ended with the CLI
    if tracker:  # multiprocessing's resource tracker (no job of its own) ends on the CLI's exit
        tracker[0].wait(timeout=10)
    snapshot = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    time.sleep(3)  # and nothing lands afterwards
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == snapshot
    assert not (out / ".work" / "lock").exists()
    assert main(run_args(case, case["profiles"]["b"], out)) == 0
    assert published_files(out) == case["reference"]["b"]["files"]


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def _kernels(processes) -> list[psutil.Process]:
    """Kernels among ``processes``: fresh (ipykernel_launcher) or forked by a fork server."""
    found = []
    for process in processes:
        cmd = " ".join(_cmd(process))
        if "ipykernel_launcher" in cmd:
            found.append(process)
        elif "analysis.engine.forkserver" in cmd and _alive(process):
            try:
                found.extend(process.children())
            except psutil.Error:
                pass
    return [p for p in found if _alive(p)]


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _cmd(process: psutil.Process) -> list[str]:
    try:
        return process.cmdline()
    except psutil.Error:
        return []


# --- the run lock ------------------------------------------------------------------------------

def test_two_runs_started_together_one_is_refused_the_other_completes(case, tmp_path):
    out = tmp_path / "out"
    profile = case["profiles"]["a"]
    first, second = cli(*run_args(case, profile, out)), cli(*run_args(case, profile, out))
    results = [(p.pid, p.wait(timeout=300), *p.communicate()) for p in (first, second)]
    codes = sorted(code for _, code, _, _ in results)
    assert codes == [0, 2], results
    (winner, *_), (_, _, _, refused) = sorted(results, key=lambda r: r[1])
    assert "another run is using the output folder" in refused and f"pid {winner} " in refused
    assert "started 20" in refused and "Traceback" not in refused
    assert published_files(out) == case["reference"]["a"]["files"]
    assert manifest(out)["summary"]["failed"] == 0


def test_a_second_run_on_a_busy_folder_is_refused_before_writing(case, tmp_path):
    out = tmp_path / "out"
    assert main(run_args(case, case["profiles"]["a"], out)) == 0
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from pathlib import Path; from analysis.engine.lock import RunLock\n"
        f"lock = RunLock(Path({str(out / '.work')!r}), 'territory-reports run (the other one)'); lock.acquire()\n"
        "print('held', flush=True); time.sleep(60)")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
        proc = cli(*run_args(case, case["profiles"]["b"], out))
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 2 and f"pid {holder.pid} on " in err and "(the other one)" in err, err
        assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == before
    finally:
        holder.kill()
        holder.wait()


def test_a_lock_left_by_a_dead_run_is_taken_over(case, tmp_path, capsys):
    out = tmp_path / "out"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (out / ".work").mkdir(parents=True)
    (out / ".work" / "lock").write_text(json.dumps({
        "pid": dead.pid, "host": os.uname().nodename, "started": "2026-01-01T00:00:00+00:00",
        "command": "territory-reports run (killed)", "run_id": "0" * 32}))
    assert main(run_args(case, case["profiles"]["a"], out)) == 0
    err = capsys.readouterr().err
    assert "took over the lock of a run that is no longer running" in err and f"pid {dead.pid}" in err
    assert not (out / ".work" / "lock").exists()
    assert published_files(out) == case["reference"]["a"]["files"]


def test_lock_is_exclusive_and_released(tmp_path):
    first, second = RunLock(tmp_path / ".work", "first"), RunLock(tmp_path / ".work", "second")
    assert first.acquire() is None
    assert second.peek().command == "first"
    with pytest.raises(Exception, match=rf"pid {os.getpid()} on .*: first"):
        second.acquire()
    first.release()
    assert second.peek() is None and second.acquire() is None and second.held
    second.release()
    assert not (tmp_path / ".work" / "lock").exists()


# --- paths checked before anything is written --------------------------------------------------

def test_symlinked_territory_folder_is_refused_before_anything_is_written(case, tmp_path, capsys):
    out, outside = tmp_path / "out", tmp_path / "outside"
    out.mkdir()
    outside.mkdir()
    (out / "T01").symlink_to(outside, target_is_directory=True)
    assert main(run_args(case, case["profiles"]["a"], out)) == 2
    err = capsys.readouterr().err
    assert "symbolic link" in err and str(out / "T01") in err and "Traceback" not in err
    assert sorted(p.name for p in out.iterdir()) == ["T01"] and not list(outside.iterdir())


def test_symlinked_tables_or_work_folder_is_refused(case, tmp_path, capsys):
    out, outside = tmp_path / "out", tmp_path / "outside"
    assert main(run_args(case, case["profiles"]["a"], out)) == 0
    outside.mkdir()
    for link in (out / "T02" / "tables", out / ".work" / "staging"):
        real = link.with_name(link.name + ".real")
        link.rename(real) if link.exists() else None
        link.symlink_to(outside, target_is_directory=True)
        assert main(run_args(case, case["profiles"]["b"], out)) == 2
        assert "symbolic link" in capsys.readouterr().err
        assert not list(outside.iterdir())
        link.unlink()
        if real.exists():
            real.rename(link)


def test_id_without_a_folder_name_is_refused_before_the_work_folder_exists(tiny_dataset, tmp_path, capsys):
    from conftest import read_text_table, write_table

    for table in ("territories", "reps", "customers"):
        frame = read_text_table(tiny_dataset, table)
        frame["territory_id"] = frame["territory_id"].replace({"T01": "..."})
        write_table(tiny_dataset, table, frame)
    out = tmp_path / "out"
    assert main(["run", "--data", str(tiny_dataset), "--out", str(out), "--quiet"]) == 2
    assert "gives no usable folder name" in capsys.readouterr().err
    assert not out.exists()


# --- what the CLI prints ------------------------------------------------------------------------

def test_user_error_prints_no_traceback_and_a_bug_prints_one_with_how_to_report(tiny_dataset, tmp_path,
                                                                                    capsys, monkeypatch):
    assert main(["run", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err and "please report" not in err

    import analysis.engine.batch as batch

    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(batch, "national_pass", broken)
    assert main(["run", "--data", str(tiny_dataset), "--out", str(tmp_path / "o2"), "--quiet"]) == 3
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "ZeroDivisionError: a bug" in err
    assert "This is a bug in territory-reports" in err and "please report it" in err
    assert not (tmp_path / "o2" / ".work" / "lock").exists()  # the lock goes with the failed run


def test_a_manifest_cut_short_by_a_kill_is_removed_by_the_next_run(tmp_path):
    """atomic_write's temporary file, left when a run is killed between write and rename."""
    from analysis.report.publish import remove_leftovers

    (tmp_path / ".manifest.json.abc123.tmp").write_text('{"territories": {')
    (tmp_path / ".index.html.x.tmp").write_text("<html>")
    (tmp_path / "keep.tmp").write_text("not ours")
    removed = remove_leftovers(tmp_path)
    assert sorted(p.name for p in removed) == [".index.html.x.tmp", ".manifest.json.abc123.tmp"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.tmp"]
