"""SQLite page size: a record's row is ~26 KB, so a new store is laid out on 32 KB pages (inserting a record on
4 KB pages spread it over seven overflow pages and cost a third more CPU). A store made before keeps its own page
size and everything in it."""

from __future__ import annotations

import sqlite3

from bindaas.store.database import make_engine


def _page_size(path) -> int:
    with sqlite3.connect(path) as connection:
        return connection.execute("PRAGMA page_size").fetchone()[0]


def test_a_new_store_uses_32_kib_pages_in_wal_mode(tmp_path):
    path = tmp_path / "new.db"
    engine = make_engine(f"sqlite:///{path}")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    engine.dispose()
    assert _page_size(path) == 32768


def test_an_existing_store_keeps_its_page_size_and_its_rows(tmp_path):
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE kept (value TEXT)")
        connection.execute("INSERT INTO kept VALUES ('made before')")
    engine = make_engine(f"sqlite:///{path}")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT value FROM kept").scalar() == "made before"
    engine.dispose()
    assert _page_size(path) == 4096
