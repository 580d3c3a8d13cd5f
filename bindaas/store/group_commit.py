"""Group commit for accepted records: request threads hand their rows to one writer thread, which stores whatever
has queued up in a single transaction. On SQLite this replaces dozens of threads contending for the one write lock
(whose busy handler sleeps up to 100 ms between tries) with one writer and one fsync per group; every caller still
returns only after its row is committed."""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future

from sqlalchemy.orm import Session, sessionmaker

from bindaas.store import repository
from bindaas.store.models import NewRecord, RecordRow
from bindaas.threads import named_thread

_STOP = object()


class RecordWriter:
    """Stores records durably, many per transaction; ``insert`` blocks until its record is committed."""

    def __init__(self, sessions: sessionmaker[Session], *, max_group: int = 256) -> None:
        self.sessions = sessions
        self.max_group = max_group
        self._queue: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def insert(self, row: NewRecord, *, timeout_s: float = 60.0) -> tuple[NewRecord | RecordRow, bool]:
        """Commit ``row``; returns (stored row, created). The same digest twice yields the first row."""
        with self._start_lock:
            if self._thread is None:
                self._thread = named_thread(self._run, "record-writer")
                self._thread.start()
        done: Future[tuple[NewRecord | RecordRow, bool]] = Future()
        self._queue.put((row, done))
        return done.result(timeout=timeout_s)

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout=30)
            self._thread = None

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            group = [first]
            while len(group) < self.max_group:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    self._queue.put(_STOP)
                    break
                group.append(item)
            self._commit(group)

    def _commit(self, group: list[tuple[NewRecord, Future]]) -> None:
        try:
            with self.sessions() as session:
                fresh = {row.id: row for row in repository.insert_records(session, rows=[r for r, _ in group])}
                for row, done in group:
                    created = fresh.pop(row.id, None)
                    if created is not None:
                        done.set_result((created, True))
                        continue
                    existing = repository.get_record(session, record_id=row.id)  # stored before, or twice here
                    if existing is None:
                        done.set_exception(RuntimeError(f"record {row.id} vanished while being stored"))
                    else:
                        done.set_result((existing, False))
        except Exception as exc:  # noqa: BLE001 - every waiting request must hear of it
            for _, done in group:
                if not done.done():
                    done.set_exception(exc)
