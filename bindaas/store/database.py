"""Engine and session factory for a database URL; SQLite gets WAL and a busy timeout so the API and the anchorer
can write side by side, and its log copied into the database by a thread of its own (``checkpoint``)."""

from __future__ import annotations

import fcntl
import json
import os
import threading
import weakref
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, Iterator

import orjson
from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from bindaas.store.checkpoint import WalCheckpointer
from bindaas.store.models import BODY_COLUMNS, Base

_checkpointers: "weakref.WeakKeyDictionary[Engine, WalCheckpointer]" = weakref.WeakKeyDictionary()


SQLITE_PAGE_BYTES = 8192


def _json_text(value: Any) -> str:
    """JSON columns' text. Lists (a record's endorsements, 13 KB of base64, its proof, a batch's members) go
    through orjson: the standard library's encoder cost ~2% of an import's CPU. Anything else (model configs and
    metrics, which may hold NaN, which orjson would write as null) keeps the standard library's encoding."""
    if type(value) is list:
        try:
            return orjson.dumps(value).decode()
        except TypeError:
            pass
    return json.dumps(value)


def _json_value(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:  # NaN, as the standard library writes it
        return json.loads(text)


def make_engine(url: str) -> Engine:
    """Create the engine for ``url`` and the tables if missing."""
    codec = {"json_serializer": _json_text, "json_deserializer": _json_value}
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **codec)
        checkpointer = None if path == ":memory:" else WalCheckpointer(path)
        if checkpointer is not None:
            _checkpointers[engine] = checkpointer
            event.listen(engine, "engine_disposed", lambda _engine: checkpointer.stop())

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            # A new store's pages are 8 KB, not 4: a record is ~27 KB (sealed bundle, owner key and signature,
            # endorsements), so half as many overflow pages and WAL frames a row. A 750-row store's insert and
            # commit took ~55 ms of CPU rather than ~68, its rows' status updates ~10 rather than ~12, and 3,000-line
            # imports ran at 1,232-1,240 records/s against 1,128-1,199 (three alternating pairs); 16 KB pages were
            # slower again. An existing store keeps its page size (the pragma is a no-op once tables exist).
            cur.execute(f"PRAGMA page_size={SQLITE_PAGE_BYTES}")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")  # an acknowledged record must survive power loss
            if checkpointer is not None:  # commits append to the log; the checkpointer's thread copies it
                cur.execute("PRAGMA wal_autocheckpoint=0")
            cur.close()
    else:
        engine = create_engine(url, pool_pre_ping=True, **codec)
    # Workers starting together on a new store race to create its tables: another may create one between this
    # process's check and its CREATE TABLE ("already exists"), which failed a worker's start-up and with it
    # `serve --workers 2`. Each try finds more tables made; a real failure raises on the last.
    for remaining in reversed(range(len(Base.metadata.tables) + 1)):
        try:
            Base.metadata.create_all(engine)
            break
        except DBAPIError:
            if not remaining:
                raise
    _move_record_bodies(engine)
    return engine


def _move_record_bodies(engine: Engine) -> None:
    """A store made while a record was one row keeps its bodies in ``records``: copy them into ``record_bodies``
    (which ``create_all`` has just made) and drop those columns, in one transaction, so nothing stored is lost.
    Workers starting together may race here: the one that finds the columns gone once its copy fails lost a race
    to another that moved them."""
    if not _has_bodies_in_records(engine):
        return
    names = ", ".join(BODY_COLUMNS)
    try:
        with engine.begin() as connection:
            connection.execute(text(f"INSERT INTO record_bodies (id, {names}) SELECT id, {names} FROM records"))
            for name in BODY_COLUMNS:
                connection.execute(text(f"ALTER TABLE records DROP COLUMN {name}"))
    except DBAPIError:
        if _has_bodies_in_records(engine):
            raise


def _has_bodies_in_records(engine: Engine) -> bool:
    return "payload" in {column["name"] for column in inspect(engine).get_columns("records")}


def committed(engine: Engine) -> None:
    """Tell ``engine``'s WAL checkpointer (a SQLite store's) of a commit made past a session; a session's commits
    tell it themselves (``make_sessionmaker``)."""
    checkpointer = _checkpointers.get(engine)
    if checkpointer is not None:
        checkpointer.committed()


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions on ``engine``; on a SQLite store each commit tells its WAL checkpointer."""
    factory = sessionmaker(engine, expire_on_commit=False)
    checkpointer = _checkpointers.get(engine)
    if checkpointer is not None:
        event.listen(factory, "after_commit", lambda _session: checkpointer.committed())
    return factory


_turns: dict[tuple[int, str], tuple[threading.Lock, int]] = {}  # by process: a forked child opens its own file
_turns_lock = threading.Lock()


@contextmanager
def _file_turn(engine: Engine, name: str) -> Iterator[None]:
    """Hold the lock ``name`` of ``engine``'s SQLite store, a file beside the database, across threads and
    processes; on other databases (and in memory) there is nothing to hold."""
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:":
        yield
        return
    path = f"{database}-{name}"
    key = (os.getpid(), path)
    with _turns_lock:
        if key not in _turns:
            _turns[key] = (threading.Lock(), os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600))
        lock, fd = _turns[key]
    with lock:  # flock belongs to an open file, which this process's threads share: one of them asks at a time
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)


def write_turn(engine: Engine) -> AbstractContextManager[None]:
    """Hold the store's turn to write for the block, commit included (SQLite: one writer at a time, across threads
    and processes; other databases: nothing to hold). SQLite's busy handler waits for its write lock by sleeping,
    up to 100 ms a nap once it has waited a while, so the last of four 750-row stores queued at the end of an import
    woke ~0.15 s after the one before it had committed; a lock on a file beside the database wakes its waiter as it
    is released (~0.075 s, the store's own time). The ledger's writers take turns so; the rest (audit events,
    consents, challenges) are small and still wait on SQLite's handler, which, holding no turn, never blocks one."""
    return _file_turn(engine, "turn")


def seal_turn(engine: Engine) -> AbstractContextManager[None]:
    """Hold the store's turn to seal a batch: from reading which rows wait to claiming them (SQLite, across
    processes; other databases skip the rows another anchorer has locked instead). Taken before ``write_turn``,
    never inside it."""
    return _file_turn(engine, "seal")
