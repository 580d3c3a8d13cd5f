"""How a SQLite store writes: its write-ahead log is copied into the database file by a thread of its own (a commit
only appends to the log and syncs it, and the log does not grow with what was ever written), and the ledger's
writers take turns through a lock that wakes the next as it is released."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import threading
import time

from sqlalchemy import text

from bindaas.store.database import make_engine, make_sessionmaker, write_turn


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
        # No commit copies: the database file grows only as the checkpointer catches up. Waiting for it (rather
        # than sleeping a fixed time, which a slow machine outran in CI) means the next commit finds the log
        # fully copied and starts it again from the beginning.
        _wait_for_size(database, written)
        assert os.path.getsize(database) >= written, "the checkpointer did not copy the commit into the database"
    log = database.with_name("store.db-wal")
    assert os.path.getsize(log) < written / 3, "the log kept what was written rather than starting over"
    engine.dispose()
    reader = sqlite3.connect(database)
    assert reader.execute("SELECT count(*), sum(length(b)) FROM blobs").fetchone() == (24, written)
    reader.close()


def _wait_for_size(path, size: int, timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while os.path.getsize(path) < size and time.monotonic() < deadline:
        time.sleep(0.01)


def _take_turns(database: str, log: str, times: int) -> None:
    engine = make_engine(f"sqlite:///{database}")
    for _ in range(times):
        with write_turn(engine):
            started = time.monotonic()
            time.sleep(0.01)
            with open(log, "a") as out:
                out.write(f"{started} {time.monotonic()}\n")
    engine.dispose()


def test_the_ledgers_writers_take_turns_across_threads_and_processes(tmp_path):
    """One writer at a time holds the store's turn (the ledger's stores, claims and status updates take it), whether
    the others are threads of the same process or other workers."""
    database, log = str(tmp_path / "store.db"), str(tmp_path / "turns.log")
    make_engine(f"sqlite:///{database}").dispose()
    forked = multiprocessing.get_context("fork")
    processes = [forked.Process(target=_take_turns, args=(database, log, 10)) for _ in range(2)]
    threads = [threading.Thread(target=_take_turns, args=(database, log, 10)) for _ in range(2)]
    for worker in processes + threads:
        worker.start()
    for worker in processes + threads:
        worker.join(timeout=60)
    held = sorted(tuple(map(float, line.split())) for line in open(log))
    assert len(held) == 40
    assert all(earlier[1] <= later[0] for earlier, later in zip(held, held[1:])), "two writers held the turn at once"
