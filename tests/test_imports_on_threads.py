"""A module imported on a request thread for the first time (the ML stack, loaded when a model is first trained or
asked) is imported even while garbage collections run finalizers that import: on CPython 3.11 such an import
failed with ``KeyError: <thread id>`` (a 500 from ``POST /models/train`` in a bench run)."""

from __future__ import annotations

import gc
import importlib
import sys
import threading
from contextlib import nullcontext
from pathlib import Path

import pytest

from bindaas.imports import collector_held


def _imports_under_collections(folder: Path, count: int, around) -> tuple[list[str], list[str]]:
    """Import ``count`` modules never imported before on a new thread, each inside ``around()``, while a collection
    runs at nearly every allocation and each one's finalizer imports another new module (as formatting a
    ResourceWarning imports tracemalloc). Returns (the modules imported, the KeyErrors raised)."""
    tag = folder.name.replace("-", "_")
    for i in range(count * 50):
        (folder / f"lazy_{tag}_{i}.py").write_text(f"VALUE = {i}\n")
    sys.path.insert(0, str(folder))
    names = [f"lazy_{tag}_{i}" for i in range(count * 50)]
    wanted, spare = names[:count], names[count:]

    class Finalizer:
        def __init__(self) -> None:
            self.cycle = self  # only a collection frees it

        def __del__(self) -> None:
            if spare:
                importlib.import_module(spare.pop())
                Finalizer()

    imported, failures = [], []

    def work() -> None:
        for name in wanted:
            try:
                with around():
                    importlib.import_module(name)
                imported.append(name)
            except KeyError as exc:
                failures.append(f"{name}: {exc!r}")

    threshold = gc.get_threshold()
    gc.set_threshold(1)
    try:
        Finalizer()
        thread = threading.Thread(target=work)
        thread.start()
        thread.join(timeout=60)
    finally:
        spare.clear()
        gc.set_threshold(*threshold)
        gc.collect()
        sys.path.remove(str(folder))
    return imported, failures


def test_an_import_on_a_thread_survives_collections_whose_finalizers_import(tmp_path):
    imported, failures = _imports_under_collections(tmp_path, 15, collector_held)
    assert failures == [] and len(imported) == 15
    assert gc.isenabled()


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="CPython 3.12 mended the module lock's bookkeeping")
def test_without_the_collector_held_such_imports_fail_on_this_python(tmp_path):
    """The harness above reproduces the failure: without holding the collector, some of the same imports fail."""
    _, failures = _imports_under_collections(tmp_path, 15, nullcontext)
    assert failures and all("KeyError" in failure for failure in failures)


def test_nested_holds_restore_the_collector_only_when_the_last_one_ends():
    with collector_held():
        with collector_held():
            assert not gc.isenabled() or sys.version_info >= (3, 12)
        assert not gc.isenabled() or sys.version_info >= (3, 12)
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_held():
            pass
        assert not gc.isenabled()  # someone else had it off: it stays off
    finally:
        gc.enable()
