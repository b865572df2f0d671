"""Kernels for the report jobs: IPC sockets, a log for their chatter, and warm starts.

A fresh kernel costs an interpreter start and the notebook's imports (ipykernel,
pandas, matplotlib, seaborn, the analysis package): about a second per report
(``bench/batch.py`` measures it), as much as a small territory's analysis. ``warm``
kernels remove that cost without giving up isolation: each worker process keeps a fork
server (:mod:`analysis.engine.forkserver`) that has imported those modules once, and every
report still gets a kernel process of its own, forked from the server's clean state,
never reused. ``fresh`` kernels are
started the ordinary way (a new interpreter per report).

The warm start is a kernel provisioner (``territory-reports-warm``, registered as a
``jupyter_client.kernel_provisioners`` entry point) named in the kernelspec that
:func:`register_kernel` writes, so Papermill and nbclient drive warm kernels exactly as
any other. Whenever a warm start is impossible (no ``fork``, a kernel command that is
not ipykernel, a server that cannot start), the provisioner says why in the log and
starts the kernel the ordinary way.

Either kind is reached through :class:`IPCKernelManager`: IPC sockets instead of TCP
ports, and a client that is ready as soon as the kernel has answered (no fixed pauses).
"""
from __future__ import annotations

import atexit
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from queue import Empty

import zmq
import zmq.asyncio
from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning import LocalProvisioner
from traitlets import List, Unicode, default

from analysis.engine import forkserver as forkserver
from analysis.errors import KernelStartError

KERNEL_NAMES = {"warm": "territory-reports-warm", "fresh": "territory-reports"}
PROVISIONER = "territory-reports-warm"
#: What the report notebooks import: preloaded by the fork server.
WARM_MODULES = ("pandas", "pyarrow.parquet", "matplotlib.pyplot", "seaborn", "analysis.report.figures",
                "analysis.report.sections", "analysis.report.territory", "analysis.report.scope")
#: Seconds a fork server may take to import its modules.
START_TIMEOUT = 180
#: The server must stay single-threaded to fork safely: no BLAS thread pools in it, and
#: no background thread in pyarrow's jemalloc (a fork keeps only the forking thread).
_SINGLE_THREADED = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                    "JE_ARROW_MALLOC_CONF": "background_thread:false"}


# -- the kernelspec and the manager used by the jobs --------------------------------

def register_kernel(work: Path, modules: tuple[str, ...] = WARM_MODULES) -> Path:
    """Kernelspecs for this interpreter (``warm`` and ``fresh``), found first through JUPYTER_PATH."""
    folder = work / "jupyter"
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    for kind, name in KERNEL_NAMES.items():
        spec = {"argv": argv, "display_name": f"Territory reports ({kind})", "language": "python"}
        if kind == "warm":
            spec["metadata"] = {"kernel_provisioner": {"provisioner_name": PROVISIONER,
                                                       "config": {"preload": list(modules)}}}
        path = folder / "kernels" / name / "kernel.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(spec, indent=1)
        if not path.is_file() or path.read_text() != text:
            path.write_text(text)
    paths = [str(folder), *filter(None, os.environ.get("JUPYTER_PATH", "").split(os.pathsep))]
    os.environ["JUPYTER_PATH"] = os.pathsep.join(dict.fromkeys(paths))
    return folder


class ReadyKernelClient(AsyncKernelClient):
    """A client that is ready as soon as the kernel has answered ``kernel_info`` and
    IOPub has carried that request's idle status (proof that IOPub is connected), and
    that reconnects quickly to sockets the kernel has not bound yet.

    jupyter_client's own check then waits for IOPub to stay silent for 0.2 s, twice
    over: a fixed pause in every report, idle time that two workers on two cores cannot
    fill. nbclient reads IOPub by request id, so earlier messages need no flushing.
    """

    @default("context")
    def _context_default(self) -> zmq.asyncio.Context:
        # the client connects before the kernel has bound its sockets: retry every 10 ms,
        # not zmq's default 100 ms (a fork-started kernel binds within a few ms)
        self._created_context = True
        context = zmq.asyncio.Context()
        context.setsockopt(zmq.RECONNECT_IVL, 10)
        return context

    async def wait_for_ready(self, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (float("inf") if timeout is None else timeout)
        while True:
            self.kernel_info()
            try:
                reply = await self.shell_channel.get_msg(timeout=1)
            except Empty:
                reply = None
            if reply is not None and reply["msg_type"] == "kernel_info_reply":
                if await self._idle_on_iopub(reply["parent_header"].get("msg_id"), seconds=0.1):
                    self._handle_kernel_info_reply(reply)
                    return
            if not await self.is_alive():
                raise RuntimeError("Kernel died before replying to kernel_info")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Kernel didn't respond in {timeout:g} seconds")

    async def _idle_on_iopub(self, msg_id: str | None, seconds: float) -> bool:
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            try:
                msg = await self.iopub_channel.get_msg(timeout=left)
            except Empty:
                return False
            if (msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "status"
                    and msg["content"].get("execution_state") == "idle"):
                return True
        return False


class IPCKernelManager(AsyncKernelManager):
    """Kernels reached over IPC sockets: no TCP ports to race for between concurrent
    launches (papermill#511) and no plain-TCP warning from the kernel. The kernel
    process's own stderr (start-up and shutdown chatter) goes to ``log_path`` when set,
    not to the batch's terminal."""

    transport = "ipc"
    log_path: str | None = None

    @default("client_factory")
    def _ready_client(self) -> type:
        return ReadyKernelClient

    async def _async_wait(self, pollinterval: float = 0.1) -> None:
        # after a kill, look every 10 ms, not 100 ms: a killed kernel is gone in a few
        await super()._async_wait(pollinterval=min(pollinterval, 0.01))

    async def start_kernel(self, **kw):
        if not self.log_path:
            return await super().start_kernel(**kw)
        Path(self.log_path).parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:  # the kernel process keeps its own copy of the handle
            return await super().start_kernel(**{"stderr": log, **kw})


def kernel_manager(log_path: Path) -> type[IPCKernelManager]:
    """An :class:`IPCKernelManager` writing the kernel's stderr to ``log_path``."""
    return type("JobKernelManager", (IPCKernelManager,), {"log_path": str(log_path)})


# -- forked kernels -----------------------------------------------------------------

class ForkedKernel:
    """The ``subprocess.Popen`` surface jupyter_client uses, for a kernel forked by a server.

    The kernel is the server's child, not ours: liveness comes from a pidfd (or a null
    signal), and as the system reaps it for the server, its exit status is reported as
    0, or as minus the signal this handle sent to end it.
    """

    stdin = stdout = stderr = None

    def __init__(self, pid: int):
        self.pid = pid
        self.returncode: int | None = None
        self._ended_by: int | None = None
        try:
            self._pidfd: int | None = os.pidfd_open(pid)
        except (AttributeError, OSError):
            self._pidfd = None

    def _gone(self, timeout: float | None = 0) -> bool:
        if self._pidfd is not None:
            return bool(select.select([self._pidfd], [], [], timeout)[0])
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                return True
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(0.05)

    def _settle(self) -> int:
        self.returncode = -self._ended_by if self._ended_by else 0
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None
        return self.returncode

    def poll(self) -> int | None:
        if self.returncode is None and self._gone():
            self._settle()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            if not self._gone(timeout):
                raise subprocess.TimeoutExpired(f"kernel {self.pid}", timeout)
            self._settle()
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, signum)
            self._ended_by = signum

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def __del__(self):
        if getattr(self, "_pidfd", None) is not None:
            os.close(self._pidfd)


class ForkServer:
    """A running :mod:`analysis.engine.forkserver` process, and the client side of its socket."""

    def __init__(self, python: str, modules: tuple[str, ...], stamp: tuple = ()):
        self.stamp = stamp  # the package's modules as the server imported them (_package_stamp)
        self.folder = Path(tempfile.mkdtemp(prefix="territory-reports-kernels-"))
        self.address = str(self.folder / "socket")
        self.log_path = self.folder / "server.log"
        env = {**os.environ, **{k: os.environ.get(k, v) for k, v in _SINGLE_THREADED.items()}}
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen([python, "-m", "analysis.engine.forkserver", self.address, *modules],
                                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log,
                                            env=env, cwd=self.folder)
        self._await_ready()

    def _await_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.process.stdout], [], [], 0.5)
            if ready:
                line = self.process.stdout.readline().decode(errors="replace").strip()
                if line == "ready":
                    return
                if not line and self.process.poll() is not None:
                    break
            elif self.process.poll() is not None:
                break
        lines = self.log_path.read_text(errors="replace").strip().splitlines() if self.log_path.is_file() else []
        self.close()
        raise KernelStartError("the kernel fork server did not start" + (f": {lines[-1]}" if lines else
                                                                          f" within {START_TIMEOUT} s"))

    def alive(self) -> bool:
        return self.process.poll() is None

    def spawn(self, argv: list[str], env: dict, cwd: str, stdout: int, stderr: int) -> ForkedKernel:
        """Fork a kernel with these arguments, environment, folder and output streams."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(30)
            sock.connect(self.address)
            forkserver.send_message(sock, {"argv": argv, "env": env, "cwd": cwd}, [stdout, stderr])
            answer, _ = forkserver.receive_message(sock)
        if "pid" not in answer:
            raise KernelStartError(f"the kernel fork server refused: {answer.get('error', answer)}")
        return ForkedKernel(int(answer["pid"]))

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout:
            self.process.stdout.close()
        shutil.rmtree(self.folder, ignore_errors=True)


class _Servers:
    """This process's fork servers, one per interpreter and module list, started on first use.

    A server that failed to start is remembered as such (no second try per process); one
    that died is started again.
    """

    def __init__(self):
        self._servers: dict[tuple, ForkServer | KernelStartError] = {}
        self._lock = threading.Lock()
        atexit.register(self.close)

    def get(self, python: str, modules: tuple[str, ...]) -> ForkServer:
        key = (python, modules)
        stamp = _package_stamp()
        with self._lock:
            server = self._servers.get(key)
            if isinstance(server, ForkServer) and (not server.alive() or server.stamp != stamp):
                server.close()  # dead, or holding an older version of the package's code
                server = None
            if server is None:
                try:
                    server = ForkServer(python, modules, stamp)
                except (KernelStartError, OSError) as exc:
                    server = exc if isinstance(exc, KernelStartError) else KernelStartError(str(exc))
                self._servers[key] = server
        if isinstance(server, KernelStartError):
            raise server
        return server

    def close(self) -> None:
        with self._lock:
            for server in self._servers.values():
                if isinstance(server, ForkServer):
                    server.close()
            self._servers.clear()


def _package_stamp() -> tuple:
    """Names, sizes and times of the package's modules: a server imported an older version
    of them when this changes (a long-lived Dask worker outliving an upgrade or an edit)."""
    folder = Path(__file__).parents[1]
    return tuple((str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns)
                 for p in sorted(folder.rglob("*.py")))


SERVERS = _Servers()


def _kernel_arguments(cmd: list[str]) -> list[str] | None:
    """The ipykernel arguments of a ``python -m ipykernel_launcher ...`` command, else None."""
    if len(cmd) >= 3 and cmd[1] == "-m" and cmd[2] in ("ipykernel_launcher", "ipykernel"):
        return list(cmd[3:])
    return None


def _stream(value, default: int) -> int | None:
    """A file descriptor for a Popen-style stream argument (None: ours; PIPE cannot be forked)."""
    if value is None:
        return default
    if isinstance(value, int):
        return value if value >= 0 else None
    return value.fileno() if hasattr(value, "fileno") else None


class ForkProvisioner(LocalProvisioner):
    """A :class:`LocalProvisioner` whose kernels are forked from a warm fork server."""

    preload = List(Unicode(), default_value=list(WARM_MODULES),
                   help="Modules the fork server imports once for all its kernels.").tag(config=True)

    async def launch_kernel(self, cmd: list[str], **kwargs) -> dict:
        try:
            process = self._fork(cmd, kwargs)
        except (KernelStartError, OSError) as exc:
            self.log.warning("warm kernel start impossible (%s); starting a fresh kernel", exc)
            return await super().launch_kernel(cmd, **kwargs)
        self.process = process
        self.pid = self.pgid = process.pid  # the kernel leads its own session
        self.cwd = kwargs.get("cwd") or os.getcwd()
        return self.connection_info

    def _fork(self, cmd: list[str], kwargs: dict) -> ForkedKernel:
        arguments = _kernel_arguments(cmd)
        if arguments is None:
            raise KernelStartError(f"not an ipykernel command: {cmd[:3]}")
        if not hasattr(os, "fork"):
            raise KernelStartError("this system cannot fork")
        streams = [_stream(kwargs.get("stdout"), 1), _stream(kwargs.get("stderr"), 2)]
        if None in streams:
            raise KernelStartError("piped kernel output cannot be passed to a forked kernel")
        env = dict(kwargs.get("env") or os.environ)
        cwd = str(kwargs.get("cwd") or os.getcwd())
        try:
            return SERVERS.get(cmd[0], tuple(self.preload)).spawn(arguments, env, cwd, *streams)
        except (ConnectionError, FileNotFoundError, socket.timeout):  # the server died: once more
            return SERVERS.get(cmd[0], tuple(self.preload)).spawn(arguments, env, cwd, *streams)
