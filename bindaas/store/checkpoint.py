"""Write-ahead log checkpoints for a SQLite store, on a thread of their own. SQLite's automatic checkpoint runs
inside the commit that fills the log past its threshold, so the request whose import committed ~20 MB of records
also copied them into the database file (and synced it) before it could answer: ~35 ms of a 750-row store's wall
time and about a third of its CPU, on the path every waiting writer queued behind. Here commits only append to the
log and sync it (what durability needs); this thread copies the log into the database after commits, at most every
``CHECKPOINT_EVERY_S``, while the requests get on with their next lines."""

from __future__ import annotations

import logging
import os
import sqlite3
import threading

from bindaas.threads import named_thread

log = logging.getLogger(__name__)

# Once a checkpoint has copied the whole log, the next writer starts it again from the beginning; the file is cut
# back to this size then, rather than keeping the largest size it ever reached.
WAL_KEPT_BYTES = 64 * 1024 * 1024
# The least time between two checkpoints of one process. Each costs ~0.6 ms of CPU whatever it copies (the log's
# index read, two syncs), and single submissions commit ~50 groups of ~8 records a second in each worker: copying
# after every commit spent 0.08-0.11 ms of CPU a record, copying at most every 0.1 s 0.03-0.04 (single-record
# phase, 3,000 records, three alternating pairs). The log then holds at most ~0.1 s of commits beyond the copy.
CHECKPOINT_EVERY_S = 0.1


class WalCheckpointer:
    """Copies committed log frames into the database file at ``path`` after the commits it hears of (``committed``),
    at most every ``CHECKPOINT_EVERY_S``, never blocking a reader or a writer (a passive checkpoint); stops with
    ``stop``."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._due = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = 0  # the process the thread runs in: a forked child has none, whatever it inherited
        self._start_lock = threading.Lock()

    def committed(self) -> None:
        """A transaction was committed: copy its frames soon (starting the thread if it is not running)."""
        if self._thread is None or self._pid != os.getpid():
            with self._start_lock:
                if self._thread is None or self._pid != os.getpid():
                    self._due, self._stopping = threading.Event(), threading.Event()
                    self._thread = named_thread(self._run, "wal-checkpoint")
                    self._pid = os.getpid()
                    self._thread.start()
        self._due.set()

    def stop(self) -> None:
        """Stop the thread after the checkpoint under way, if any; a later commit starts another."""
        with self._start_lock:
            thread, self._thread = self._thread, None
            if thread is None or self._pid != os.getpid():
                return
            # Left set: a thread that outlives the join still ends, and the next start makes fresh events.
            self._stopping.set()
            self._due.set()
            thread.join(timeout=30)

    def _run(self) -> None:
        connection = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
        try:
            connection.execute(f"PRAGMA journal_size_limit={WAL_KEPT_BYTES}")
            while True:
                self._due.wait()
                if self._stopping.is_set():
                    return
                self._due.clear()
                self._checkpoint(connection)
                if self._stopping.wait(CHECKPOINT_EVERY_S):
                    return
        finally:
            connection.close()

    def _checkpoint(self, connection: sqlite3.Connection) -> None:
        try:
            busy, frames, copied = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as exc:  # the next commit tries again; a commit never waits on this
            log.warning("WAL checkpoint of %s failed: %s", self.path, exc)
            return
        # Frames a reader still needed (or another process's checkpoint held the lock): try again shortly, so the
        # log does not wait for the next commit to be copied.
        if (busy or copied < frames) and not self._due.wait(0.1):
            self._due.set()
