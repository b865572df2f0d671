"""Executor back ends: where the report jobs run, behind one ``concurrent.futures`` API.

``local``: a process pool (one thread per process: papermill is process-safe but not
thread-safe with ``cwd``, papermill#473). ``dask``: a Dask distributed cluster through
``Client.get_executor()``, at ``scheduler`` or a ``LocalCluster`` started for the run.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from multiprocessing import get_context

from analysis.errors import TerritoryReportsError


@contextlib.contextmanager
def local(jobs: int, scheduler: str | None = None) -> Iterator[Executor]:
    if scheduler:
        raise TerritoryReportsError("--scheduler needs --executor dask")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
        yield pool


@contextlib.contextmanager
def dask(jobs: int, scheduler: str | None = None) -> Iterator[Executor]:
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise TerritoryReportsError("the dask executor needs dask distributed: pip install 'dask[distributed]'") from exc
    with contextlib.ExitStack() as stack:
        if scheduler:
            client = stack.enter_context(Client(scheduler))
        else:
            cluster = stack.enter_context(LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True,
                                                       dashboard_address=None))
            client = stack.enter_context(Client(cluster))
        executor = client.get_executor(pure=False)
        try:
            yield executor
        finally:
            executor.shutdown(wait=True)


EXECUTORS = {"local": local, "dask": dask}


def get_executor(name: str, jobs: int, scheduler: str | None = None):
    """The executor context manager for ``name`` (``local`` or ``dask``)."""
    if name not in EXECUTORS:
        raise TerritoryReportsError(f"unknown executor {name!r}; expected {', '.join(EXECUTORS)}")
    return EXECUTORS[name](jobs, scheduler)
