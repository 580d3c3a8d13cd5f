"""Background threads that carry their name down to the operating system, so that `top -H`, py-spy and
/proc/<pid>/task/<tid>/comm (and with them `bindaas bench`'s CPU by thread) tell the anchorer from the registry
watcher and from the request threads. Python 3.11 names a thread for Python alone; the kernel keeps the name the
process started with for every thread."""

from __future__ import annotations

import ctypes
import ctypes.util
import queue
import sys
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from functools import cache
from typing import Any, Callable, Generic, TypeVar

_PR_SET_NAME = 15  # prctl(2)
_COMM_BYTES = 15  # the kernel keeps 16 bytes with the terminating NUL
_STOP = object()
Item = TypeVar("Item")
Result = TypeVar("Result")


@cache
def _prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def name_os_thread(name: str) -> None:
    """Give the calling thread ``name`` (its first 15 bytes) at the operating-system level; nothing where the
    platform has no prctl."""
    prctl = _prctl()
    if prctl is not None:
        prctl(_PR_SET_NAME, name.encode()[:_COMM_BYTES], 0, 0, 0)


def named_thread(target: Callable[[], Any], name: str, *, daemon: bool = True) -> threading.Thread:
    """A thread (not started) running ``target`` under ``name``, for Python and for the operating system."""

    def run() -> None:
        name_os_thread(name)
        target()

    return threading.Thread(target=run, name=name, daemon=daemon)


class GroupingThread(Generic[Item, Result]):
    """Work handed to one named thread, which takes whatever has queued meanwhile as a group (up to ``most``), with
    no timer: alone, an item is a group of one. Each item's submitter holds a future, which it may cancel until its
    group is taken; ``_work`` settles the rest, and an error it raises settles every future it left unsettled."""

    def __init__(self, name: str, *, most: int) -> None:
        self.name = name
        self.most = most
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def _hand(self, item: Item) -> Future[Result]:
        with self._start_lock:
            if self._thread is None:
                self._thread = named_thread(self._run, self.name)
                self._thread.start()
        done: Future[Result] = Future()
        self._queue.put((item, done))
        return done

    def stop(self) -> None:
        """Work through what is queued, then end the thread."""
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout=30)
            self._thread = None

    def _work(self, group: list[tuple[Item, Future[Result]]]) -> None:
        """Do the work of ``group`` (never empty) and settle each of its futures."""
        raise NotImplementedError

    def _run(self) -> None:
        while (group := self._next_group()) is not None:
            # A submitter that gave up (its future cancelled while queued) is skipped; the rest can no longer be
            # cancelled, so settling them below cannot fail on one that was.
            group = [(item, done) for item, done in group if done.set_running_or_notify_cancel()]
            if not group:
                continue
            try:
                self._work(group)
            except Exception as exc:  # noqa: BLE001 - every submitter must hear of it; later groups still run
                for _, done in group:
                    if not done.done():
                        done.set_exception(exc)

    def _next_group(self) -> list[tuple[Item, Future[Result]]] | None:
        first = self._queue.get()
        if first is _STOP:
            return None
        group = [first]
        while len(group) < self.most:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                self._queue.put(_STOP)
                break
            group.append(item)
        return group


def map_in_shares(work: Callable[[Sequence[Item]], list[Result]], items: Sequence[Item], threads: int, *,
                  name: str) -> list[Result]:
    """``work`` over ``items`` cut into at most ``threads`` contiguous shares, one thread each, the results joined in
    the order of ``items``. A share a thread, not a task an item: for work that releases the GIL in short stretches,
    a task an item has the threads hand the GIL and the executor's locks to each other at every item."""
    threads = max(1, min(threads, len(items)))
    if threads == 1:
        return work(items)
    size = -(-len(items) // threads)
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix=name) as pool:
        return [result for part in pool.map(work, [items[i:i + size] for i in range(0, len(items), size)])
                for result in part]
