"""The kernel fork server: imports a kernel's heavy modules once, then forks one fresh
kernel process per request.

Run as ``python -m analysis.engine.forkserver SOCKET [MODULE ...]`` by
:class:`analysis.engine.kernels.ForkServer` (one server per worker process). It imports
ipykernel and the given modules (pandas, matplotlib, the analysis package: what the
report notebooks import), freezes what they made out of garbage collection
(``gc.freeze``), says ``ready`` on stdout and listens on the Unix socket.
Each request carries a kernel's arguments, environment and working folder, with its
stdout and stderr as file descriptors; the server forks, the child becomes an ordinary
ipykernel in its own session (so signals reach its process group) and the server
answers with the child's pid.

The server never runs notebook code, so every kernel starts from the same freshly
imported state: each report still gets a process of its own, isolated from the others,
without paying for the interpreter start and the imports every time. The server stays
single-threaded (forking a threaded process is unsafe), ignores Ctrl-C (its client
decides when it ends) and exits when the process that started it is gone; its kernels
watch the server the same way (``JPY_PARENT_PID``) and exit after it.
"""
from __future__ import annotations

import atexit
import gc
import importlib
import importlib.util
import json
import os
import signal
import socket
import struct
import sys
import traceback

#: Kernel modules imported by every server before the caller's own list.
KERNEL_MODULES = ("ipykernel.kernelapp", "ipykernel.ipkernel", "IPython.display")
#: The inline backend, as the kernel would set it (matplotlib reads it when imported).
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"
_HEADER = struct.Struct("!I")
#: ``python -m`` put the server's start folder first on sys.path; a kernel gets its own.
_START_FOLDER = sys.path[0] if sys.path else ""
_MAX_FDS = 2


# -- the wire format, shared with the client (analysis.engine.kernels) ---------------------

def send_message(sock: socket.socket, message: dict, fds: list[int] | tuple = ()) -> None:
    """One length-prefixed JSON message, with ``fds`` passed alongside (SCM_RIGHTS)."""
    body = json.dumps(message).encode()
    data = _HEADER.pack(len(body)) + body
    sent = socket.send_fds(sock, [data], list(fds)) if fds else sock.send(data)
    if sent < len(data):
        sock.sendall(data[sent:])


def receive_message(sock: socket.socket) -> tuple[dict, list[int]]:
    """The message sent by :func:`send_message` and the descriptors that came with it."""
    data, fds, _flags, _addr = socket.recv_fds(sock, 65536, _MAX_FDS)
    if len(data) < _HEADER.size:
        raise ConnectionError("fork server: truncated message")
    (size,) = _HEADER.unpack(data[:_HEADER.size])
    body = bytearray(data[_HEADER.size:])
    while len(body) < size:
        chunk = sock.recv(size - len(body))
        if not chunk:
            raise ConnectionError("fork server: connection closed mid-message")
        body += chunk
    return json.loads(bytes(body)), fds


# -- the server ----------------------------------------------------------------------

def preload(modules: list[str]) -> None:
    """Import the kernel and ``modules`` once, as the kernel would (inline backend)."""
    os.environ.setdefault("MPLBACKEND", INLINE_BACKEND)
    for name in [*KERNEL_MODULES, *modules]:
        importlib.import_module(name)


def serve(address: str, modules: list[str]) -> None:
    """Preload, then fork a kernel per request until the parent process is gone."""
    parent = os.getppid()
    signal.signal(signal.SIGINT, signal.SIG_IGN)       # Ctrl-C is for the batch; it ends us
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)      # kernels are reaped by the system
    preload(modules)
    # what the imports made is never garbage: kept out of every collection, here and in
    # each kernel, so that a kernel's collections (frequent while a figure is built)
    # traverse only the notebook's own objects
    gc.collect()
    gc.freeze()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(address)
    listener.listen(16)
    listener.settimeout(0.5)
    print("ready", flush=True)
    try:
        while os.getppid() == parent:
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(30)
                _answer(listener, conn)
    finally:
        listener.close()
        _remove_folder(address)


def _remove_folder(address: str) -> None:
    """The socket's folder (made for this server by its client) goes with the server."""
    folder = os.path.dirname(address)
    for name in os.listdir(folder) if os.path.isdir(folder) else ():
        try:
            os.unlink(os.path.join(folder, name))
        except OSError:
            pass
    try:
        os.rmdir(folder)
    except OSError:
        pass


def _answer(listener: socket.socket, conn: socket.socket) -> None:
    fds: list[int] = []
    try:
        request, fds = receive_message(conn)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _become_kernel(listener, conn, request, fds)  # never returns
        send_message(conn, {"pid": pid})
    except Exception as exc:  # a bad request must not end the server
        try:
            send_message(conn, {"error": f"{type(exc).__name__}: {exc}"})
        except OSError:
            pass
    finally:
        for fd in fds:
            os.close(fd)


def _become_kernel(listener: socket.socket, conn: socket.socket, request: dict, fds: list[int]) -> None:
    """In the forked child: take the request's streams, folder and environment, run the kernel."""
    code = 1
    try:
        listener.close()
        conn.close()
        os.setsid()
        for signum in (signal.SIGCHLD, signal.SIGTERM, signal.SIGPIPE):
            signal.signal(signum, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        for target, fd in zip((1, 2), fds):
            os.dup2(fd, target)
        server = os.getppid()  # the kernel exits when the server does (ipykernel's parent poller)
        env = {**request["env"], "JPY_PARENT_PID": str(server)}
        os.environ.clear()
        os.environ.update(env)
        os.chdir(request["cwd"])
        if sys.path and sys.path[0] == _START_FOLDER:  # as ipykernel_launcher does; the kernel's
            del sys.path[0]                            # shell puts its own folder back
        launcher = importlib.util.find_spec("ipykernel_launcher")
        sys.argv = [launcher.origin if launcher else "ipykernel_launcher", *request["argv"]]
        from ipykernel import kernelapp

        # parent_handle's default was read from the environment when the server imported
        # ipykernel: give it on the command line
        kernelapp.launch_new_instance(argv=[*request["argv"], f"--IPKernelApp.parent_handle={server}"])
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # noqa: BLE001 - the child must never return into the server loop
        traceback.print_exc()
    finally:
        try:
            atexit._run_exitfuncs()  # as an interpreter would at exit; then never back into the server
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args:
        print("usage: python -m analysis.engine.forkserver SOCKET [MODULE ...]", file=sys.stderr)
        return 2
    serve(args[0], args[1:])
    return 0


if __name__ == "__main__":
    sys.exit(main())
