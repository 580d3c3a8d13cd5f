"""API workers starting together on a new store all start: they race to create its tables, and one that lost the
race used to fail its start-up ("table ... already exists"), which stopped `bindaas serve --workers 2`."""

from __future__ import annotations

import multiprocessing

from sqlalchemy import inspect

from bindaas.store.database import make_engine
from bindaas.store.models import Base


def _open_store(url: str) -> None:
    make_engine(url).dispose()


def test_processes_opening_a_new_store_together_all_succeed(tmp_path):
    context = multiprocessing.get_context("fork")  # forked, they start within microseconds of each other
    failures = 0
    for attempt in range(30):
        url = f"sqlite:///{tmp_path / f'store{attempt}.db'}"
        processes = [context.Process(target=_open_store, args=(url,)) for _ in range(3)]
        for process in processes:
            process.start()
        for process in processes:
            process.join(timeout=60)
        failures += sum(process.exitcode != 0 for process in processes)
    assert failures == 0, f"{failures} of 90 processes failed to open a new store"
    engine = make_engine(f"sqlite:///{tmp_path / 'store0.db'}")
    assert set(inspect(engine).get_table_names()) == set(Base.metadata.tables)
    engine.dispose()
