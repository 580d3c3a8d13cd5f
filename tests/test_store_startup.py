"""API workers starting together on a new store all start: they race to create its tables, and one that lost the
race used to fail its start-up ("table ... already exists"), which stopped `bindaas serve --workers 2`."""

from __future__ import annotations

import multiprocessing
import sqlite3

from sqlalchemy import inspect

from bindaas.store.database import SQLITE_PAGE_BYTES, make_engine
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


def test_a_new_store_commits_through_its_log_with_a_sync_in_8_kb_pages_and_an_older_store_keeps_its_pages(tmp_path):
    """Acknowledged records must survive power loss (WAL, synchronous FULL); a new store's pages are 8 KB (a record
    is ~27 KB); a store made before that keeps its 4 KB pages and opens as before."""
    def pragmas(url: str) -> tuple:
        engine = make_engine(url)
        with engine.connect() as conn:
            found = tuple(conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                          for name in ("journal_mode", "synchronous", "page_size"))
            tables = set(inspect(conn).get_table_names())
        engine.dispose()
        assert tables >= set(Base.metadata.tables)
        return found

    assert pragmas(f"sqlite:///{tmp_path / 'new.db'}") == ("wal", 2, SQLITE_PAGE_BYTES) == ("wal", 2, 8192)
    older = sqlite3.connect(tmp_path / "older.db")
    older.executescript("PRAGMA page_size=4096; CREATE TABLE kept (a INTEGER); INSERT INTO kept VALUES (1);")
    older.close()
    assert pragmas(f"sqlite:///{tmp_path / 'older.db'}") == ("wal", 2, 4096)
