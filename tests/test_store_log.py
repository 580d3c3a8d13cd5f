"""A SQLite store's write-ahead log is copied into the database file by a thread of its own: a commit only appends
to the log and syncs it, and the log does not grow with what was ever written."""

from __future__ import annotations

import os
import sqlite3
import time

from sqlalchemy import text

from bindaas.store.database import make_engine, make_sessionmaker


def test_commits_leave_the_copying_to_the_checkpointer_and_the_log_stays_small(tmp_path):
    database = tmp_path / "store.db"
    engine = make_engine(f"sqlite:///{database}")
    sessions = make_sessionmaker(engine)
    with sessions() as session:
        session.execute(text("CREATE TABLE blobs (b BLOB)"))
        session.commit()
        assert session.execute(text("PRAGMA wal_autocheckpoint")).scalar() == 0  # commits do not copy the log
    written = 0
    for _ in range(24):
        with sessions() as session:
            session.execute(text("INSERT INTO blobs VALUES (:b)"), {"b": os.urandom(1 << 20)})
            session.commit()
        written += 1 << 20
        time.sleep(0.02)
    log = database.with_name("store.db-wal")
    deadline = time.monotonic() + 10
    while os.path.getsize(database) < written and time.monotonic() < deadline:
        time.sleep(0.05)
    assert os.path.getsize(database) >= written  # every commit's pages are in the database file itself
    assert os.path.getsize(log) < written / 3, "the log kept what was written rather than starting over"
    engine.dispose()
    reader = sqlite3.connect(database)
    assert reader.execute("SELECT count(*), sum(length(b)) FROM blobs").fetchone() == (24, written)
    reader.close()
