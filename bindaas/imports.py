"""Imports made on a request thread, after start-up: the ML stack (torch, scikit-learn) loads only when a model is
trained or asked, not in every worker that never serves one.

CPython before 3.12 can fail such an import with ``KeyError: <thread id>``: when a garbage collection runs inside
the module lock's bookkeeping and a finalizer it calls imports in turn (formatting a ResourceWarning for an unclosed
socket imports ``tracemalloc``), the inner import deletes the entry the outer one then deletes again
(python/cpython#91351). A bench run met it as a 500 from ``POST /models/train``. Holding the collector off for the
import closes that window; 3.12 mended the bookkeeping itself."""

from __future__ import annotations

import gc
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_NEEDED = sys.version_info < (3, 12)
_lock = threading.Lock()
_holders = 0
_was_enabled = False


@contextmanager
def collector_held() -> Iterator[None]:
    """Hold the garbage collector off (the process's: every thread's) for the block, usually one lazy import; the
    last block to leave restores it as the first found it. Nothing on CPython 3.12 and later."""
    global _holders, _was_enabled
    if not _NEEDED:
        yield
        return
    with _lock:
        if _holders == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0 and _was_enabled:
                gc.enable()
