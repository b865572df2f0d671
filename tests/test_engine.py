"""The batch engine: incremental re-render, retry, interruption, and the Dask executor."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import tiny_notebook

from analysis.engine.cli import main

ROOT = Path(__file__).resolve().parents[1]


def manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text())


def copy(published, tmp_path) -> Path:
    out = tmp_path / "reports"
    shutil.copytree(published["out"], out)
    return out


def test_unchanged_reports_are_skipped_and_changes_rerender(published, tmp_path):
    out = copy(published, tmp_path)
    profile = ROOT / "params" / "demo.yaml"
    args = ["run", "--data", str(published["data"]), "--params", str(profile), "--out", str(out), "--quiet"]
    start = time.perf_counter()
    assert main(args) == 0
    assert time.perf_counter() - start < 20  # only the national pass: no notebook runs
    m = manifest(out)
    assert m["summary"] == {"ok": 0, "skipped": 4, "failed": 0}  # 2 territories, 1 region, national
    # a threshold change for T02 re-renders T02 and the roll-ups that contain it, not T01
    changed = tmp_path / "changed.yaml"
    changed.write_text(profile.read_text() + "  T02:\n    vip_share: 0.7\n")
    assert main([*args[:3], "--params", str(changed), *args[5:]]) == 0
    m = manifest(out)
    assert m["territories"]["T01"]["skipped"] and not m["territories"]["T02"]["skipped"]
    assert m["territories"]["T02"]["params"]["vip_share"] == 0.7
    assert m["summary"]["skipped"] == 1 and m["summary"]["ok"] == 3


def test_flaky_report_is_retried_once(published, tmp_path, monkeypatch):
    out = tmp_path / "reports"
    marker = tmp_path / "markers"
    marker.mkdir()
    monkeypatch.setenv("FLAKY_MARKERS", str(marker))
    flaky = tiny_notebook(tmp_path / "flaky.ipynb", cells=(
        "import os, pathlib\nm = pathlib.Path(os.environ['FLAKY_MARKERS']) / territory_id\n"
        "if not m.exists():\n    m.touch()\n    raise RuntimeError('flaky first attempt')",))
    rollup = tiny_notebook(tmp_path / "rollup.ipynb", "rollup")
    assert main(["run", "--data", str(published["data"]), "--out", str(out), "--notebook", str(flaky),
                 "--rollup-notebook", str(rollup), "--territories", "T01", "--quiet"]) == 0
    entry = manifest(out)["territories"]["T01"]
    assert entry["status"] == "ok" and entry["attempts"] == 2
    assert manifest(out)["run"]["territories"] == ["T01"]  # what the summary table counts


def test_hanging_report_is_stopped_retried_and_listed(published, tmp_path, capsys):
    out = copy(published, tmp_path)
    before = {p: p.read_bytes() for p in (out / "T01").glob("report.*")}
    hanging = tiny_notebook(tmp_path / "hanging.ipynb", cells=(
        "import time\nif territory_id == 'T01':\n    time.sleep(600)",))
    rollup = tiny_notebook(tmp_path / "rollup.ipynb", "rollup")
    start = time.perf_counter()
    assert main(["run", "--data", str(published["data"]), "--out", str(out), "--notebook", str(hanging),
                 "--rollup-notebook", str(rollup), "--params", str(ROOT / "params" / "demo.yaml"), "--timeout", "10",
                 "--force", "--quiet"]) == 1
    # stopped twice at 10 s, not after 600 s (T02's notebook takes about a second; the demo
    # notebook takes 5 to 9 s on 2 busy cores: the machinery is the same)
    assert time.perf_counter() - start < 100
    m = manifest(out)
    t01, t02 = m["territories"]["T01"], m["territories"]["T02"]
    assert t02["status"] == "ok" and m["failed"] == ["T01"]  # the other territory is not held up
    assert t01["status"] == "stale" and t01["attempts"] == 2  # failed twice, last good report kept
    assert "time limit of 10 s" in t01["error"] and "time.sleep(600)" in t01["failing_cell"]
    assert {p: p.read_bytes() for p in (out / "T01").glob("report.*")} == before
    assert "T01: the notebook ran longer than its time limit" in capsys.readouterr().err


def test_interrupted_run_keeps_reports_and_resumes(published, tmp_path):
    out = copy(published, tmp_path)
    before = {p: p.read_bytes() for p in out.rglob("report.*")}
    cmd = [sys.executable, "-m", "analysis.engine.cli", "run", "--data", str(published["data"]), "--out", str(out),
           "--force", "--jobs", "1", "--quiet"]
    started = time.time()
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline:  # wait until one report of this run is published, then Ctrl-C
        entries = manifest(out)["territories"].values() if (out / "manifest.json").is_file() else []
        if any(e.get("finished", "") >= time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(started)) for e in entries):
            break
        time.sleep(0.5)
    interrupted = time.time()
    os.killpg(proc.pid, signal.SIGINT)
    proc.wait(timeout=180)  # generous: a loaded CI machine; the run's own clean-up is bounded (3 s per process)
    assert time.time() - interrupted < 180
    for path in before:  # every published report is still there, whole
        assert path.is_file() and path.stat().st_size > 1000, path
    assert not [p for p in out.rglob("*") if p.name.startswith(".report") or p.suffix == ".tmp"]
    assert main(["run", "--data", str(published["data"]), "--out", str(out), "--quiet"]) == 0
    m = manifest(out)
    assert m["summary"]["failed"] == 0 and m["summary"]["skipped"] >= 1
    assert all(e["status"] == "ok" for e in m["territories"].values())


def test_dask_local_cluster_matches_local_executor(published, tmp_path):
    pytest.importorskip("distributed")
    out = tmp_path / "dask"
    assert main(["run", "--data", str(published["data"]), "--params", str(ROOT / "params" / "demo.yaml"),
                 "--out", str(out), "--executor", "dask", "--jobs", "2", "--quiet"]) == 0
    m = manifest(out)
    assert m["executor"] == "dask" and m["kernels"] == "warm"  # fork servers on the Dask workers too
    assert m["summary"] == {"ok": 4, "skipped": 0, "failed": 0}
    local = published["out"]
    for csv in sorted(local.glob("*/tables/*.csv")):
        assert (out / csv.relative_to(local)).read_bytes() == csv.read_bytes(), csv
    assert {e["fingerprint"] for e in m["territories"].values()} == {
        e["fingerprint"] for e in manifest(local)["territories"].values()}


@pytest.mark.parametrize("delay", [3.0, 9.0])
def test_killed_run_never_shows_half_written_files(published, tmp_path, delay):
    out = copy(published, tmp_path)
    before = {p: p.read_bytes() for p in out.rglob("report.*")}
    cmd = [sys.executable, "-m", "analysis.engine.cli", "run", "--data", str(published["data"]), "--out", str(out),
           "--force", "--jobs", "2", "--quiet"]
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(delay)
    os.killpg(proc.pid, signal.SIGKILL)  # no chance to clean up
    proc.wait(timeout=30)
    for path, content in before.items():  # each published file is the old one or a complete new one
        assert path.is_file()
        data = path.read_bytes()
        if path.suffix == ".pdf":
            assert data.startswith(b"%PDF-") and b"%%EOF" in data[-1024:], path
        elif path.suffix == ".html":
            assert data.rstrip().endswith(b"</html>"), path
    json.loads((out / "manifest.json").read_text())  # never half written
    assert main(["run", "--data", str(published["data"]), "--out", str(out), "--quiet"]) == 0
    assert manifest(out)["summary"]["failed"] == 0


def test_the_manifest_is_written_paced_by_its_own_cost():
    """Paced writes at once the first time, then not before ``ratio`` times the last write's
    duration has passed; ``now`` writes whatever the time."""
    from analysis.engine.batch import Paced

    clock, writes = [0.0], []

    def write():  # a write taking 0.5 s of the clock
        writes.append(clock[0])
        clock[0] += 0.5

    paced = Paced(write, ratio=10.0, clock=lambda: clock[0])
    paced()
    assert writes == [0.0]  # the first job's record: at once (due 0.5 + 10 * 0.5 = 5.5)
    clock[0] = 5.4
    paced()
    assert writes == [0.0]  # too soon
    clock[0] = 5.5
    paced()
    assert writes == [0.0, 5.5]
    paced.now()  # (an interrupted run, the last record)
    assert writes == [0.0, 5.5, 6.0]
