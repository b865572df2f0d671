"""Tables computed side by side in a forked process: the same results as in order, a
failing or killed child never loses a table, and no child outlives the call."""
from __future__ import annotations

import logging
import os
import signal
import time

import pandas as pd
import psutil
import pytest

from analysis.contract.dataset import load_dataset
from analysis.contract.demo import generate, write
from analysis.domain import forking
from analysis.domain.forking import Reading, side_by_side
from analysis.domain.national import ANALYSIS_TABLES, national_pass

needs_fork = pytest.mark.skipif(not forking.can_fork(), reason="fork() is used on Linux only")


def _children() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True)}


@needs_fork
def test_there_runs_in_another_process_and_results_come_back():
    parent = os.getpid()
    frame = pd.DataFrame({"x": [1.5, 2.5], "id": pd.array(["a", None], dtype="string[pyarrow]")})
    made = side_by_side({"here": os.getpid, "double": lambda: frame.assign(x=frame["x"] * 2)},
                        {"there": os.getpid, "sum": lambda: float(frame["x"].sum()), "same": lambda: frame},
                        workers=2)
    assert list(made) == ["here", "double", "there", "sum", "same"]
    assert made["here"] == parent and made["there"] != parent
    assert made["sum"] == 4.0
    pd.testing.assert_frame_equal(made["same"], frame)  # dtypes and missing values too
    pd.testing.assert_frame_equal(made["double"], frame.assign(x=[3.0, 5.0]))


def test_one_worker_runs_everything_here_in_order():
    order = []
    made = side_by_side({"a": lambda: order.append("a") or os.getpid()},
                        {"b": lambda: order.append("b") or os.getpid()}, workers=1)
    assert order == ["a", "b"] and made == {"a": os.getpid(), "b": os.getpid()}


def test_without_fork_everything_runs_here(monkeypatch):
    monkeypatch.setattr(forking, "can_fork", lambda: False)
    made = side_by_side({"a": os.getpid}, {"b": os.getpid}, workers=2)
    assert made == {"a": os.getpid(), "b": os.getpid()}


@needs_fork
def test_a_task_here_reads_a_result_made_there_while_it_runs():
    parent = os.getpid()
    arrived = []

    def reads(made):
        arrived.append(time.monotonic())
        return ("read", made("first"))

    made = side_by_side({"a": Reading(reads)}, {"first": os.getpid, "slow": lambda: time.sleep(1.0) or "slow"},
                        workers=2)
    assert list(made) == ["a", "first", "slow"]
    assert made["a"] == ("read", made["first"]) and made["first"] != parent  # the child's, not made again
    assert made["slow"] == "slow"


@pytest.mark.parametrize("workers", [1, 2])
def test_a_result_read_here_is_made_once(workers, tmp_path):
    marks = tmp_path / "made"

    def first():
        with open(marks, "a") as out:  # (in whichever process makes it)
            out.write("x")
        return 7

    made = side_by_side({"a": Reading(lambda made: made("first") + made("first"))}, {"first": first},
                        workers=workers)
    assert made == {"a": 14, "first": 7}
    assert marks.read_text() == "x"


@needs_fork
def test_a_result_read_here_that_the_child_never_sends_is_made_here(caplog):
    parent = os.getpid()

    def dies_in_the_child():
        if os.getpid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)
        return "made here"

    start = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="analysis.domain.forking"):
        made = side_by_side({"a": Reading(lambda made: made("b"))}, {"b": dies_in_the_child, "c": lambda: 3},
                            workers=2)
    assert made == {"a": "made here", "b": "made here", "c": 3}
    assert "failed (killed by signal 9)" in caplog.text
    assert time.monotonic() - start < forking.PATIENCE / 4  # the wait ends with the child, not by patience


def test_only_a_task_here_reads_results_and_only_of_tasks_there():
    with pytest.raises(ValueError, match="'b'"):
        side_by_side({"a": lambda: 1}, {"b": Reading(lambda made: 1)}, workers=2)
    with pytest.raises(KeyError, match="'nope'"):
        side_by_side({"a": Reading(lambda made: made("nope"))}, {"b": lambda: 1}, workers=1)


def test_a_name_given_twice_is_refused():
    with pytest.raises(ValueError, match="'a'"):
        side_by_side({"a": lambda: 1}, {"a": lambda: 2}, workers=2)


@needs_fork
def test_a_killed_child_costs_time_not_a_table(caplog):
    parent = os.getpid()

    def dies_in_the_child():
        if os.getpid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)  # as the kernel kills a process out of memory
        return "made here"

    with caplog.at_level(logging.WARNING, logger="analysis.domain.forking"):
        made = side_by_side({"a": lambda: 1}, {"b": dies_in_the_child, "c": lambda: 3}, workers=2)
    assert made == {"a": 1, "b": "made here", "c": 3}
    assert "killed by signal 9" in caplog.text and "b, c" in caplog.text


@needs_fork
def test_an_error_in_the_child_is_raised_here_with_its_type():
    def fails():
        raise KeyError("no such column")

    with pytest.raises(KeyError, match="no such column"):
        side_by_side({"a": lambda: 1}, {"b": fails}, workers=2)


@needs_fork
def test_unpicklable_result_is_made_here():
    parent = os.getpid()
    made = side_by_side({"a": lambda: 1}, {"b": lambda: (lambda: None) if os.getpid() != parent else "here"},
                        workers=2)
    assert made == {"a": 1, "b": "here"}


@needs_fork
def test_no_child_outlives_a_failure_here():
    before = _children()

    def fails():
        raise RuntimeError("here")

    start = time.monotonic()
    with pytest.raises(RuntimeError, match="here"):
        side_by_side({"a": fails}, {"b": lambda: time.sleep(60)}, workers=2)
    assert time.monotonic() - start < 30  # not waiting for the child's minute
    assert _children() <= before


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    folder = tmp_path_factory.mktemp("forking")
    write(generate(seed=5, n_regions=2, n_territories=4, n_customers=400), folder)
    return load_dataset(folder)


@needs_fork
@pytest.mark.parametrize("profile", [{}, {"overrides": {"T01": {"period_months": 2}}}], ids=["one group", "two"])
def test_the_pass_makes_the_same_tables_with_two_workers(dataset, profile):
    alone, forked = national_pass(dataset, profile), national_pass(dataset, profile, workers=2)
    assert list(forked) == list(alone) == [*ANALYSIS_TABLES, "regions", "nation"]
    for name, table in alone.items():
        pd.testing.assert_frame_equal(forked[name], table, obj=name)


@needs_fork
@pytest.mark.parametrize("size", [0, 1, forking.CHUNK_BYTES - 1, forking.CHUNK_BYTES, 2 * forking.CHUNK_BYTES + 7])
def test_results_of_any_size_cross_whole(size):
    """Results larger than a chunk come from the child in several, next to small ones, byte for byte."""
    parent = os.getpid()
    large = bytes(range(256)) * (size // 256) + bytes(size % 256)
    sent = lambda: (os.getpid(), large)  # noqa: E731
    made = side_by_side({"here": lambda: 1}, {"large": sent, "small": os.getpid, "again": sent}, workers=2)
    assert made["large"][1] == large and made["again"][1] == large
    assert parent not in {made["large"][0], made["small"], made["again"][0]}  # none made here again


@needs_fork
def test_results_sent_before_a_failure_are_kept():
    parent = os.getpid()

    def fails_in_the_child():
        if os.getpid() != parent:
            raise MemoryError
        return "made here"

    made = side_by_side({"a": lambda: 1}, {"b": os.getpid, "c": fails_in_the_child, "d": os.getpid}, workers=2)
    assert made["b"] != parent  # sent by the child before it failed
    assert made["c"] == "made here" and made["d"] == parent  # the rest made here


@needs_fork
def test_a_stuck_child_is_stopped_and_its_tasks_made_here(monkeypatch, caplog):
    monkeypatch.setattr(forking, "PATIENCE", 0.5)
    parent = os.getpid()

    def stuck_in_the_child():
        while os.getpid() != parent:  # as a child waiting forever on a lock
            time.sleep(1)
        return "made here"

    before = _children()
    start = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="analysis.domain.forking"):
        made = side_by_side({"a": lambda: 1}, {"b": stuck_in_the_child}, workers=2)
    assert made == {"a": 1, "b": "made here"} and time.monotonic() - start < 30
    assert "did not finish in time" in caplog.text and _children() <= before


@needs_fork
@pytest.mark.parametrize("slower", ["here", "there"])
def test_either_tasks_are_made_by_the_process_free_first(slower):
    """The child takes ``either``'s tasks from the first on once ``there`` is made, this
    process from the last on once ``here`` is: a slow share leaves them to the other."""
    parent = os.getpid()
    slow = lambda: time.sleep(1.5) or os.getpid()
    quick = os.getpid
    either = {name: os.getpid for name in ("c", "d", "e", "f")}
    made = side_by_side({"a": slow if slower == "here" else quick}, {"b": slow if slower == "there" else quick},
                        workers=2, either=either)
    assert list(made) == ["a", "b", "c", "d", "e", "f"]
    assert made["a"] == parent and made["b"] != parent
    by_child = [name for name in either if made[name] != parent]
    assert by_child == (list(either) if slower == "here" else [])


@pytest.mark.parametrize("seed", range(20))
def test_claimed_tasks_are_a_prefix_for_the_child_and_the_rest_for_the_parent(seed):
    """Whatever the interleaving of the two claimers (one step each at a time), every task
    is made once: the child's from the first on, the parent's from the last back."""
    import random

    rng = random.Random(seed)
    tasks = {str(i): None for i in range(rng.randint(0, 7))}
    claims = bytearray(2 * len(tasks))
    claimers = {True: forking._claimed(tasks, claims, first=True), False: forking._claimed(tasks, claims, first=False)}
    made = {True: [], False: []}
    while claimers:
        first = rng.choice(list(claimers))
        try:
            made[first].append(next(claimers[first])[0])
        except StopIteration:
            del claimers[first]
    assert made[True] + made[False][::-1] == list(tasks)


@needs_fork
def test_a_child_killed_in_either_leaves_its_tasks_here():
    parent = os.getpid()

    def dies_in_the_child():
        if os.getpid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)
        return "made here"

    made = side_by_side({"a": lambda: time.sleep(1) or 1}, {"b": lambda: 2},
                        workers=2, either={"c": dies_in_the_child, "d": os.getpid})
    assert made == {"a": 1, "b": 2, "c": "made here", "d": parent}


def test_either_runs_last_with_one_worker():
    order = []
    made = side_by_side({"a": lambda: order.append("a")}, {"b": lambda: order.append("b")}, workers=1,
                        either={"c": lambda: order.append("c")})
    assert order == ["a", "b", "c"] and list(made) == ["a", "b", "c"]


@needs_fork
@pytest.mark.parametrize("above, after_tasks", [(0, 2), (1 << 62, 0)])
def test_memory_is_given_back_after_a_task_only_by_a_large_process(monkeypatch, above, after_tasks):
    given = []
    monkeypatch.setattr(forking, "_give_back", lambda: given.append(os.getpid()))
    monkeypatch.setattr(forking, "GIVE_BACK_ABOVE", above)
    made = side_by_side({"a": lambda: 1, "b": lambda: 2}, {"c": lambda: 3}, workers=2)
    assert made == {"a": 1, "b": 2, "c": 3}
    # (here: once before the fork, whatever the size, then after each of its two tasks when large)
    assert given == [os.getpid()] * (1 + after_tasks)


@needs_fork  # (Linux: read from /proc)
def test_resident_bytes_are_this_process_resident_set():
    resident = forking._resident_bytes()
    assert resident == pytest.approx(psutil.Process().memory_info().rss, rel=0.1)
