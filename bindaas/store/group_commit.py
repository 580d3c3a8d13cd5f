"""Group commit for accepted records: rows are handed to one writer thread, which stores whatever has queued up in
a single transaction. On SQLite this replaces dozens of threads contending for the one write lock (whose busy handler
sleeps up to 100 ms between tries) with one writer and one fsync per group; every submitter still hears back only
after its row is committed."""

from __future__ import annotations

from concurrent.futures import Future

from sqlalchemy.orm import Session, sessionmaker

from bindaas.store import repository
from bindaas.store.models import NewRecord, RecordRow
from bindaas.threads import GroupingThread

Stored = tuple[NewRecord | RecordRow, bool]  # the stored row, and whether this submission created it


class RecordWriter(GroupingThread[NewRecord, Stored]):
    """Stores records durably, many per transaction; ``submit``'s future is done once its record is committed."""

    def __init__(self, sessions: sessionmaker[Session], *, max_group: int = 256) -> None:
        super().__init__("record-writer", most=max_group)
        self.sessions = sessions

    def submit(self, row: NewRecord) -> Future[Stored]:
        """Queue ``row`` for the next commit; the future gives (stored row, created) once it is committed. The same
        digest twice yields the first row."""
        return self._hand(row)

    def _work(self, group: list[tuple[NewRecord, Future[Stored]]]) -> None:
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
