"""Background threads that carry their name down to the operating system, so that `top -H`, py-spy and
/proc/<pid>/task/<tid>/comm (and with them `bindaas bench`'s CPU by thread) tell the anchorer from the registry
watcher and from the request threads. Python 3.11 names a thread for Python alone; the kernel keeps the name the
process started with for every thread."""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
import threading
from functools import cache
from typing import Any, Callable

_PR_SET_NAME = 15  # prctl(2)
_COMM_BYTES = 15  # the kernel keeps 16 bytes with the terminating NUL


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
