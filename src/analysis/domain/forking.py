"""Tables computed side by side: some here, the others in a forked copy of this process.

The national pass is pandas, on one core. Its tables are pure functions of frames that
are already made, so on a machine with two cores a share of them can be computed at the
same time in a child made by ``fork()``: the child inherits every frame without a copy
(the pages stay shared until one side writes them), computes its tables and sends each
back pickled over a socket as soon as it is made (a thread here takes it). Tasks that
either process may make (``either``) go to whichever is free first. The tables are
the ones a sequential run makes (the same functions of the same inputs, results pickled
losslessly): only the wall time changes.

Without ``fork`` (Windows; or ``workers`` 1) every task runs here, in order. If the
child fails for any reason (killed for memory, an exception in a task, stuck: see
:data:`PATIENCE`), its tasks whose results did not arrive are run here instead, so a
task's exception is raised here with its own traceback and a killed child costs time,
never a table.

A task here may read the result of a task there (:class:`Reading`): it waits for that
result to arrive (made here if the child fails), so that a stage's work can be split
where one side would otherwise wait for the other at its end.
"""
from __future__ import annotations

import functools
import io
import logging
import mmap
import os
import pickle
import signal
import socket
import sys
import threading
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from itertools import chain

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reading:
    """A ``here`` task of :func:`side_by_side` that reads results of ``there`` tasks:
    ``task(made)``, where ``made(name)`` is the result of the ``there`` task ``name``,
    waited for when it is made meanwhile (a forked child: ``there`` is made in its order,
    so the tasks read are best first)."""

    task: Callable[[Callable[[str], object]], object]


Tasks = Mapping[str, Callable[[], object] | Reading]

#: A forked child still busy this long after this process finished its share (seconds,
#: or :data:`SLOWER` times that share's time when longer) is stopped, its tasks made here.
PATIENCE = 120.0
SLOWER = 4.0


def can_fork() -> bool:
    """Whether this platform forks processes safely enough for pure computations (Linux)."""
    return hasattr(os, "fork") and sys.platform.startswith("linux")


def side_by_side(here: Tasks, there: Tasks, workers: int = 1, either: Tasks | None = None) -> dict[str, object]:
    """Each task's result, by name (``here``'s, then ``there``'s, then ``either``'s, in their order).

    With ``workers`` >= 2 (and :func:`can_fork`), ``there`` runs in a forked child while
    ``here`` runs in this process; ``either``'s tasks are made by whichever is free:
    the child takes them from the first on once ``there`` is made, this process from
    the last on once ``here`` is (:func:`_claimed`), so that neither waits for the other
    long. Otherwise all run here, ``here`` first. The tasks must be pure (they read what
    exists when this is called; what a child writes is lost) and their results picklable.
    """
    either = dict(either or {})
    names = [*here, *there, *either]
    if len(set(names)) < len(names):
        raise ValueError(f"a task is named twice: {next(n for n in names if names.count(n) > 1)!r}")
    reading = [name for name, task in {**there, **either}.items() if isinstance(task, Reading)]
    if reading:
        raise ValueError(f"only a task made here reads another's result, not {reading[0]!r}")
    if workers < 2 or not (there or either) or not here or not can_fork():
        made_first: dict = {}  # the there tasks a task here read, made when read (nothing arrives)
        ours = _run(here, read=_reader(there, lambda name: _UNMADE, made_first))
        return {**ours, **{name: made_first[name] if name in made_first else task()
                           for name, task in there.items()}, **_run(either)}
    # memory freed but kept by the allocators goes back first: reused here after the fork,
    # its pages would be copied, the child keeping the old ones
    _give_back()
    claims = mmap.mmap(-1, max(1, 2 * len(either)))  # shared with the child: see _claimed
    here_end, child_end = socket.socketpair()
    with warnings.catch_warnings():  # (Python 3.12+ warns of threads; the child runs pure code only)
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: compute, send, leave without running the parent's exit handlers
        code = 1
        try:
            here_end.close()
            with io.BufferedWriter(_Sent(child_end), CHUNK_BYTES) as stream:
                for name, task in chain(there.items(), _claimed(either, claims, first=True)):
                    pickle.dump((name, task()), stream, protocol=pickle.HIGHEST_PROTOCOL)  # each sent when made,
                    stream.flush()  # then let go
                    _give_back_when_large()
                pickle.dump((None, None), stream)  # all sent
            code = 0
        except BaseException:  # noqa: BLE001 - the parent runs the tasks again and raises it
            pass
        finally:
            os._exit(code)
    child_end.close()
    stream = io.BufferedReader(_Received(here_end), CHUNK_BYTES)
    received: dict = {}
    arrived = threading.Condition()
    # the child's results are taken as they come (a thread waiting on the socket), so that
    # neither process holds all of them twice
    reader = threading.Thread(target=_receive, args=(stream, received, arrived), name="side-by-side", daemon=True)
    reader.start()
    reaped = False
    made_here: dict = {}  # the there tasks a task here read but the child did not send

    def arrival(name: str) -> object:  # the child's result, once sent (_UNMADE if it never will be)
        with arrived:
            arrived.wait_for(lambda: name in received or _ENDED in received, timeout=PATIENCE)
            return received.get(name, _UNMADE)

    try:
        started = time.monotonic()
        ours = _run(here, give_back=True, read=_reader(there, arrival, made_here))
        for name, task in _claimed(either, claims, first=False):  # each claimed just before it is made
            ours[name] = task()
            _give_back_when_large()
        # a child far slower than this share is stuck (say, a lock held by another thread at
        # the fork): it is stopped and its tasks are made here
        reader.join(max(PATIENCE, SLOWER * (time.monotonic() - started)))
        if reader.is_alive():
            log.warning("the forked process computing %s did not finish in time: stopped",
                        ", ".join(n for n in [*there, *either] if n not in ours))
            os.kill(pid, signal.SIGKILL)
            reader.join()
        _, status = os.waitpid(pid, 0)
        reaped = True
        complete = received.pop(None, False)
        received.pop(_ENDED, None)
        received = {**made_here, **received}
        missing = {name: task for name, task in [*there.items(), *either.items()]
                   if name not in received and name not in ours}
        if not complete or status != 0:
            log.warning("the forked process computing %s failed (%s): computed here instead",
                        ", ".join(missing), _exit_text(status))
            received.update(_run(missing))
        return {**{name: ours[name] for name in here}, **{name: received[name] for name in there},
                **{name: ours[name] if name in ours else received[name] for name in either}}
    finally:
        if not reaped:  # interrupted, or a task here failed: the child is not left behind
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
            reader.join()  # (the socket's other end is closed: it ends)
        stream.close()
        claims.close()


def _claimed(tasks: Tasks, claims: mmap.mmap, first: bool):
    """The ``(name, task)`` of ``tasks`` this process makes, claimed one at a time in
    ``claims`` (memory shared by the two processes, two bytes per task: the child's
    mark, then the parent's). The child (``first``) goes from the first task on, the
    parent from the last one back; each marks a task, then reads the other's mark:
    the child stops at a task the parent marked, the parent at one the child marked
    and makes it only when the child had not. A task both mark at once may be made
    twice (the same result: the parent's is kept), never by neither."""
    order = range(len(tasks)) if first else reversed(range(len(tasks)))
    items = list(tasks.items())
    for i in order:
        mine, theirs = (2 * i, 2 * i + 1) if first else (2 * i + 1, 2 * i)
        if first and claims[theirs]:  # the child: taken by the parent, and so is the rest
            return
        claims[mine] = 1
        if not first and claims[theirs]:  # the parent: the child has it, and all before it
            return
        yield items[i]


#: The bytes the child sends at a time. The thread here taking them waits for each whole
#: chunk in the kernel (``MSG_WAITALL``), so it needs the interpreter's lock once a chunk:
#: read as a pipe's 64 KiB at a time, a table of 20 MB held the child up for about half a
#: second (a third with a pipe of 1 MiB), the thread waiting for the lock (up to a switch
#: interval, 5 ms) while this process computes.
CHUNK_BYTES = 8 << 20


class _Sent(io.RawIOBase):
    """The child's end of the socket as a file: each write sent whole, after its length."""

    def __init__(self, sock: socket.socket):
        self.sock = sock

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        size = memoryview(data).nbytes
        if size == 0:  # (a chunk of no bytes would read as the end)
            return 0
        self.sock.sendall(size.to_bytes(8, "little"))
        self.sock.sendall(data)
        return size

    def close(self) -> None:
        super().close()
        self.sock.close()


class _Received(io.RawIOBase):
    """This end of the socket as a file of what :class:`_Sent` wrote: read a chunk at a
    time, each received whole in the kernel (the caller's buffer permitting)."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.left = 0  # of the chunk being read

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self.left == 0:
            header = bytearray(8)
            if self._fill(memoryview(header)) < 8:
                return 0  # the child is gone
            self.left = int.from_bytes(header, "little")
        view = memoryview(buffer).cast("B")[:self.left]
        got = self._fill(view)
        self.left -= got
        return got

    def _fill(self, view: memoryview) -> int:
        got = 0
        while got < len(view):
            n = self.sock.recv_into(view[got:], len(view) - got, socket.MSG_WAITALL)
            if n == 0:
                break
            got += n
        return got

    def close(self) -> None:
        super().close()
        self.sock.close()


def _receive(stream, received: dict, arrived: threading.Condition) -> None:
    """Read ``(name, result)`` pairs from ``stream`` into ``received`` until the child says
    all is sent (``received[None]`` then True) or the stream is cut short; ``arrived`` is
    notified of each, and of the end (``received[_ENDED]`` then True)."""
    try:
        while True:
            name, value = pickle.load(stream)
            with arrived:
                received[name] = True if name is None else value
                arrived.notify_all()
            if name is None:
                return
    except Exception:  # noqa: BLE001 - cut short: the child failed (what is missing is made again)
        return
    finally:
        with arrived:  # nothing more will come: a task waiting here sees it
            received[_ENDED] = True
            arrived.notify_all()


#: What :func:`_reader`'s ``arrival`` gives for a result that will not arrive.
_UNMADE = object()
#: The key :func:`_receive` marks its end with.
_ENDED = object()


def _reader(there: Tasks, arrival: Callable[[str], object], made_here: dict) -> Callable[[str], object]:
    """The ``made`` of a :class:`Reading` task: the result of the ``there`` task named, as
    ``arrival`` gives it, else made here once (kept in ``made_here``)."""
    def made(name: str) -> object:
        if name not in there:
            raise KeyError(f"no task {name!r} among those made meanwhile ({', '.join(there) or 'none'})")
        value = arrival(name)
        if value is _UNMADE:
            if name not in made_here:
                made_here[name] = there[name]()
            value = made_here[name]
        return value
    return made


def _give_back() -> None:
    """Return the memory the allocators keep once freed (Arrow's pool, glibc's heap) to
    the system: while a child is forked, what either process keeps is counted twice."""
    try:
        import pyarrow as pa

        pa.default_memory_pool().release_unused()
    except Exception:  # noqa: BLE001 - an older pyarrow, or a pool without it
        pass
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


#: While forked, a process gives back what a task freed (:func:`_give_back`) when it
#: then holds more than this (resident bytes). Below it, the freed memory is kept for the
#: next tasks: given back, it would be taken from the system again page by page, each
#: page zeroed (at 300,000 customers, a third of the forked process's page faults; kept,
#: the whole run took 0.96x the time, its peak 2.65-2.84 GB against 2.49-2.60). Above it (a
#: national pass of a million customers, near its 8 GB) what either process keeps
#: would count twice.
GIVE_BACK_ABOVE = 3 << 30


def _give_back_when_large() -> None:
    """:func:`_give_back` when this process holds more than :data:`GIVE_BACK_ABOVE`."""
    if _resident_bytes() > GIVE_BACK_ABOVE:
        _give_back()


def _resident_bytes() -> int:
    """The memory this process holds (its resident set), in bytes; unknown: as much as can be."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):  # not Linux: given back, as before
        return sys.maxsize


@functools.cache
def _malloc_trim():
    """glibc's ``malloc_trim`` (None elsewhere), looked up once."""
    import ctypes

    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None


def _run(tasks: Tasks, give_back: bool = False, read: Callable[[str], object] | None = None) -> dict[str, object]:
    """Each task's result, in order (``give_back``: :func:`_give_back_when_large` after each;
    ``read``: the ``made`` of a :class:`Reading` task)."""
    out = {}
    for name, task in tasks.items():
        out[name] = task.task(read) if isinstance(task, Reading) else task()
        if give_back:
            _give_back_when_large()
    return out


def _exit_text(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by signal {os.WTERMSIG(status)}"
    return f"exit code {os.waitstatus_to_exitcode(status)}"
