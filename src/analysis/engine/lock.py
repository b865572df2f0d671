"""The run lock: one run at a time per output folder.

A run holds ``OUT/.work/lock`` for its whole life: the file names the run (pid, host,
start time, command and a run id) and the run keeps an exclusive ``flock`` on it. The
kernel drops that ``flock`` when the process ends, however it ends (even SIGKILL), so a
lock left by a dead run is recognised without trusting a pid that may have been reused:
the next run takes it over and says whose it was. A second run while the first is alive
is refused with a :class:`RunLockedError` naming the running one.

Workers never take the lock; before publishing they ask :func:`still_held` whether the
run that sent them still holds it (same run id, owner alive), so a worker outliving its
run publishes nothing.
"""
from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from analysis.errors import RunLockedError

LOCK = "lock"
#: How long to wait for a holder that has just taken the lock to write its name in it.
_SETTLE = 2.0
#: How long a lock may look taken before it is: a :meth:`RunLock.peek` holds it shared for an instant.
_PEEK = 0.5


@dataclass(frozen=True)
class Holder:
    """Who holds (or held) a lock."""

    pid: int
    host: str
    started: str
    command: str
    run_id: str

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host}, started {self.started}: {self.command}"

    def alive(self) -> bool | None:
        """Whether the holder's process runs (None: it runs on another host, unknown here)."""
        if self.host != socket.gethostname():
            return None
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # someone else's process of that pid: alive
            return True
        return True


def _read(path: Path) -> Holder | None:
    """The holder written in a lock file (None: no file, empty or unreadable)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Holder(**{k: data[k] for k in Holder.__dataclass_fields__})
    except (OSError, ValueError, KeyError, TypeError):
        return None


def still_held(path: str | Path, run_id: str) -> bool:
    """True while the run ``run_id`` holds the lock at ``path`` and its process is alive."""
    holder = _read(Path(path))
    return holder is not None and holder.run_id == run_id and holder.alive() is not False


class RunLock:
    """The lock of one output folder's ``.work`` folder; a context manager.

    ``acquire`` returns the holder of a lock left by a dead run it took over (None when
    there was none); ``release`` removes the lock. ``peek`` tells, without taking
    anything, which live run holds it.
    """

    def __init__(self, work: Path, command: str | None = None):
        self.path = Path(work) / LOCK
        self.command = command if command is not None else " ".join(sys.argv)
        self.run_id = uuid.uuid4().hex
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def peek(self) -> Holder | None:
        """The live run holding this lock, if any (reads only)."""
        if not self.path.is_file():
            return None
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return self._holder() or Holder(0, "?", "?", "(starting)", "")
        finally:
            os.close(fd)  # closing drops our shared lock, if we got it
        return None

    def _holder(self) -> Holder | None:
        deadline = time.monotonic() + _SETTLE
        while (holder := _read(self.path)) is None and time.monotonic() < deadline:
            time.sleep(0.05)  # it has just taken the lock and is writing its name
        return holder

    def refuse(self, holder: Holder) -> RunLockedError:
        return RunLockedError(f"another run is using the output folder {self.path.parent.parent}: "
                              f"{holder.describe()}. Wait for it to finish (or stop it), then run again; "
                              f"a lock left by a run that is no longer running is taken over")

    def acquire(self) -> Holder | None:
        """Take the lock or raise :class:`RunLockedError`; returns a dead run's holder taken over."""
        if self.held:
            return None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        patience = time.monotonic() + _PEEK  # another run's peek holds a shared lock for an instant
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                if time.monotonic() < patience:
                    time.sleep(0.02)
                    continue
                raise self.refuse(self._holder() or Holder(0, "?", "?", "(starting)", "")) from None
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path, follow_symlinks=False).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)  # the file we locked was removed by its releasing holder: again
        previous = _read(self.path)
        me = Holder(pid=os.getpid(), host=socket.gethostname(),
                    started=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    command=self.command, run_id=self.run_id)
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(asdict(me)).encode(), 0)
        os.fsync(fd)
        self._fd = fd
        return previous

    def release(self) -> None:
        """Remove the lock (unlinked while still held, then closed)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            if _read(self.path) is not None and _read(self.path).run_id == self.run_id:
                self.path.unlink(missing_ok=True)
            os.ftruncate(fd, 0)
        except OSError:
            pass
        finally:
            os.close(fd)

    def __enter__(self) -> "RunLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
