"""Warm kernels: forked from a pre-imported server, yet one fresh process per report."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import papermill as pm
import pytest

from analysis.engine import kernels
from analysis.errors import KernelStartError
from analysis.engine.kernels import KERNEL_NAMES, ForkedKernel, IPCKernelManager, register_kernel

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="warm kernels need fork (POSIX)")

PROBE = """import gc, json, os, sys
preloaded = 'analysis.report.figures' in sys.modules
import analysis.report.figures as figures
seen = getattr(figures, '_touched_by_an_earlier_report', False)
figures._touched_by_an_earlier_report = True
print(json.dumps({"pid": os.getpid(), "ppid": os.getppid(), "preloaded": preloaded, "seen": seen,
                  "cwd": os.getcwd(), "marker": os.environ.get("TR_TEST_MARKER"), "path": sys.path,
                  "argv0": os.path.basename(sys.argv[0]), "frozen": gc.get_freeze_count()}))"""


def gone(pid: int) -> bool:
    """Exited (a zombie counts: an orphan's new parent may never reap it)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError):
        return True


def probe(tmp_path: Path, kernel: str) -> dict:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(PROBE)]
    source, out = tmp_path / "probe.ipynb", tmp_path / f"probe-{kernel}-{time.monotonic_ns()}.ipynb"
    nbformat.write(nb, source)
    folder = tmp_path / "job"
    folder.mkdir(exist_ok=True)
    done = pm.execute_notebook(str(source), str(out), kernel_name=KERNEL_NAMES[kernel], cwd=str(folder),
                               progress_bar=False, kernel_manager_class=kernels.kernel_manager(tmp_path / "k.log"))
    return json.loads(done.cells[0].outputs[0]["text"])


@pytest.fixture()
def specs(tmp_path, monkeypatch):
    monkeypatch.setenv("JUPYTER_PATH", os.environ.get("JUPYTER_PATH", ""))
    monkeypatch.setenv("TR_TEST_MARKER", "from-the-job")
    register_kernel(tmp_path)
    return tmp_path


def test_warm_kernels_are_fresh_processes_forked_from_one_server(specs):
    first, second = probe(specs, "warm"), probe(specs, "warm")
    assert first["preloaded"] and second["preloaded"]  # imports paid once, by the server
    assert first["pid"] != second["pid"] and first["ppid"] == second["ppid"] != os.getpid()
    assert not first["seen"] and not second["seen"]  # nothing leaks from one report to the next
    assert first["cwd"] == str(specs / "job") and first["marker"] == "from-the-job"  # the job's folder and env
    # the server's imports are kept out of the kernels' garbage collections (gc.freeze)
    assert first["frozen"] > 100_000 and second["frozen"] == first["frozen"]


def test_fresh_kernels_start_a_new_interpreter(specs):
    fresh, warm = probe(specs, "fresh"), probe(specs, "warm")
    assert not fresh["preloaded"] and fresh["ppid"] == os.getpid()
    # a warm kernel looks like a fresh one from inside: same import path and program name
    assert warm["path"] == fresh["path"] and warm["argv0"] == fresh["argv0"] == "ipykernel_launcher.py"


def test_server_restarts_when_the_package_changes(monkeypatch):
    first = kernels.SERVERS.get(sys.executable, kernels.WARM_MODULES)
    monkeypatch.setattr(kernels, "_package_stamp", lambda: (("figures.py", 1, 1),))
    second = kernels.SERVERS.get(sys.executable, kernels.WARM_MODULES)
    assert second is not first and second.alive() and not first.alive()


def test_fork_server_is_single_threaded():
    server = kernels.SERVERS.get(sys.executable, kernels.WARM_MODULES)
    assert server.alive()
    assert len(os.listdir(f"/proc/{server.process.pid}/task")) == 1


def test_server_that_cannot_start_falls_back_to_a_fresh_kernel(tmp_path, monkeypatch):
    monkeypatch.setenv("JUPYTER_PATH", os.environ.get("JUPYTER_PATH", ""))
    register_kernel(tmp_path, modules=("analysis.no_such_module",))
    with pytest.raises(KernelStartError, match="no_such_module"):
        kernels.SERVERS.get(sys.executable, ("analysis.no_such_module",))
    result = probe(tmp_path, "warm")  # the report still runs, in a fresh kernel
    assert result["ppid"] == os.getpid() and not result["preloaded"]


def test_kernel_arguments_only_for_ipykernel_commands():
    assert kernels._kernel_arguments(["python", "-m", "ipykernel_launcher", "-f", "c.json"]) == ["-f", "c.json"]
    assert kernels._kernel_arguments(["R", "--slave", "-e", "IRkernel::main()"]) is None


def test_kernel_ends_when_its_server_dies(specs):
    async def start():
        km = IPCKernelManager(kernel_name=KERNEL_NAMES["warm"])
        await km.start_kernel()
        return km

    km = asyncio.run(start())
    pid = km.provisioner.pid
    server = next(s for s in kernels.SERVERS._servers.values() if isinstance(s, kernels.ForkServer) and s.alive())
    os.kill(pid, 0)
    server.process.kill()
    server.process.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and km.provisioner.process.poll() is None:
        time.sleep(0.2)
    assert km.provisioner.process.poll() is not None, "the kernel outlived its server"
    asyncio.run(km.cleanup_resources())
    # the next warm kernel gets a new server
    assert kernels.SERVERS.get(sys.executable, kernels.WARM_MODULES).alive()


def test_server_ends_with_the_process_that_started_it():
    code = ("import sys; from analysis.engine import kernels; "
            "s = kernels.SERVERS.get(sys.executable, ('json',)); print(s.process.pid, s.folder, flush=True); "
            "import os; os._exit(0)")  # no clean-up: the server must notice on its own
    pid, folder = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                 check=True).stdout.split()
    pid = int(pid)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not gone(pid):
        time.sleep(0.2)
    if not gone(pid):
        os.kill(pid, signal.SIGKILL)
        pytest.fail("the fork server outlived its parent")
    assert not Path(folder).exists()  # its socket and log went with it


def test_forked_kernel_handle_polls_waits_and_kills():
    proc = subprocess.Popen(["sleep", "30"])
    handle = ForkedKernel(proc.pid)
    assert handle.poll() is None
    with pytest.raises(subprocess.TimeoutExpired):
        handle.wait(0.1)
    handle.kill()
    proc.wait()  # ours to reap here; in a batch the fork server's system reaps it
    assert handle.wait(5) == -signal.SIGKILL and handle.poll() == -signal.SIGKILL
