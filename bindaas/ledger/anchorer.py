"""The anchorer: commits accepted records, and audit events, to the chain in Merkle batches.

Records are committed to the store before the API answers; the anchorer claims the oldest unbatched ones (a
full batch, or whatever waited ``batch_max_delay_s``), writes each record's inclusion proof in the same database
transaction, then sends one ``anchorBatch`` transaction. A large group (a bulk request, a slice of an import) is
instead inserted already claimed by batches of its own (``store_group``), each row written once with its proof.
If the chain is unreachable, claimed batches wait and are sent when it returns; after a crash a claimed batch is
first looked up on chain, so no root is anchored twice.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from bindaas.chain.client import ChainClient
from bindaas.config import Settings
from bindaas.crypto.digest import audit_leaf, record_leaf
from bindaas.crypto.merkle import ProofStep, merkle_levels, proof_paths
from bindaas.errors import ChainError, ChainUnavailable
from bindaas.observability import metrics
from bindaas.store import repository
from bindaas.store.database import seal_turn
from bindaas.store.models import AuditRow, BatchRow, NewRecord, RecordRow
from bindaas.threads import named_thread

log = logging.getLogger(__name__)


def leaf_of(row: Any, *, audit: bool = False) -> bytes:
    """The Merkle leaf a row is anchored under: a record (a ``RecordRow``, a ``NewRecord`` or the anchoring columns
    ``repository.unbatched_keys`` reads) binds its acceptance block; an audit event (``audit``, or an ``AuditRow``)
    only its digest."""
    digest = bytes.fromhex(row.id[2:])
    if audit or isinstance(row, AuditRow):
        return audit_leaf(digest)
    return record_leaf(digest, row.accepted_block)


def sealed(rows: Sequence[Any], *, audit: bool = False) -> tuple[str, list[list[dict]]]:
    """The Merkle root (0x hex) of ``rows`` in this order, and each row's inclusion proof as stored
    (``ProofStep.to_json`` of each step). A node's step is written once and shared by the proofs of every leaf under
    its sibling: a 750-row store built 7,500 steps and their JSON one by one, ~18 ms of its CPU."""
    levels = merkle_levels([leaf_of(row, audit=audit) for row in rows])
    steps = [[ProofStep(node, left=not index & 1).to_json() for index, node in enumerate(level)]
             for level in levels[:-1]]
    return "0x" + levels[-1][0].hex(), [[steps[depth][sibling] for depth, sibling in path]
                                        for path in proof_paths(levels)]


def as_utc(moment: datetime) -> datetime:
    """SQLite hands datetimes back naive; they were stored in UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


class Anchorer:
    """Batches accepted records and anchors their Merkle roots; ``start`` runs it in a background thread."""

    def __init__(self, *, chain: ChainClient, sessions: sessionmaker[Session], settings: Settings) -> None:
        self.chain = chain
        self.sessions = sessions
        self.settings = settings
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._noticed = 0  # rows accepted since the last pass, as told by notify()
        self._idle = True  # the last pass found nothing waiting
        self._due_in: float | None = None  # seconds until the rows the last pass saw waiting are due
        self._noticed_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.last_error: str | None = None
        self.mining_times_ms: list[float] = []
        self._mine: set[int] = set()  # batches this process claimed and has not anchored yet
        self._mine_lock = threading.Lock()  # request threads add the groups they store (store_group)
        # One pass at a time in a process: a drain beside the background loop sent the same open batch twice at
        # once, which costs a transaction, and a node that numbers transactions itself gave both the same nonce.
        self._pass_lock = threading.Lock()

    def run_once(self, *, force: bool = False) -> int:
        """Finish open batches, then seal and anchor at most one new batch of records and one of audit events.
        Returns rows anchored. A pass already running in this process is waited for."""
        with self._pass_lock:
            return self._pass(force=force)

    def _pass(self, *, force: bool) -> int:
        anchored = 0
        with self.sessions() as session:
            if self.settings.confirmations:
                self._follow_finality(session)
            # Another process's batch is taken over only once it has gone unanchored for anchor_takeover_s (that
            # process died, or lost the chain): taking over one it is still sending cost both processes a
            # transaction, the second refused as a duplicate root.
            claimed_before = None if force else repository.now() - timedelta(seconds=self.settings.anchor_takeover_s)
            with self._mine_lock:
                mine = set(self._mine)
            for batch in repository.open_batches(session, mine=mine, claimed_before=claimed_before):
                anchored += self._anchor(session, batch)
            for ledger in (RecordRow, AuditRow):
                anchored += self._seal(session, ledger, force=force)
        return anchored

    def _seal(self, session: Session, ledger: repository.Ledger, *, force: bool) -> int:
        # Every worker's anchorer finds the same rows due at the same moment. Each sealed them, and all but one saw
        # their claim refused (~14 µs of Merkle work a row, and a read of every key, lost); taking turns, the next
        # one finds them claimed.
        with seal_turn(session.get_bind()):
            batch = self._claim_due(session, ledger, force=force)
        return 0 if batch is None else self._anchor(session, batch)

    def _claim_due(self, session: Session, ledger: repository.Ledger, *, force: bool) -> BatchRow | None:
        """Seal and claim the rows of ``ledger`` that are due (a full batch, or whatever waited long enough);
        None when none are."""
        # Runs on every pass: decide from a count first, and load rows (keys only) just when sealing.
        count, oldest = repository.waiting(session, ledger=ledger)
        metrics.queue_depth.labels(repository.BATCH_KIND[ledger]).set(count)
        if count == 0 or oldest is None:
            return None
        waited = (repository.now() - as_utc(oldest)).total_seconds()
        if not force and count < self.settings.batch_size and waited < self.settings.batch_max_delay_s:
            due_in = self.settings.batch_max_delay_s - waited
            self._due_in = due_in if self._due_in is None else min(self._due_in, due_in)
            return None
        rows = repository.unbatched_keys(session, limit=self.settings.batch_size, ledger=ledger)
        if not rows:
            session.rollback()  # another anchorer holds them
            return None
        root, proofs = sealed(rows, audit=ledger is AuditRow)
        batch = repository.claim_batch(session, root=root, records=rows, ledger=ledger, proofs=proofs)
        if batch is None:  # another anchorer took some of these rows first
            metrics.anchor_claims_refused.labels(repository.BATCH_KIND[ledger]).inc()
        else:
            self._adopt(batch.id)
        return batch

    def store_group(self, session: Session, rows: list[NewRecord]) -> list[NewRecord]:
        """Store ``rows`` durably and return those newly created (ids already stored are skipped), as
        ``repository.insert_records`` does. A group of at least a quarter batch is inserted already claimed, by
        batches of its own (at most ``batch_size`` rows each, of even size), and sent at once: each row is written
        once, with its proof. Claiming it later rewrote every ~26 KB row (SQLite rewrites a row whose size
        changes), which cost as much CPU as the insert. Smaller groups wait to be batched with others, so that a
        trickle of small requests does not send a transaction each; a group holding a record already stored goes
        in the same way, since its batch could not name that record."""
        unique = list({row.id: row for row in rows}.values())
        size = self.settings.batch_size
        if len(unique) * 4 < size:
            return repository.insert_records(session, rows=unique)
        parts = -(-len(unique) // size)
        created: list[NewRecord] = []
        for part in range(parts):
            group = unique[part * len(unique) // parts:(part + 1) * len(unique) // parts]
            root, proofs = sealed(group)
            batch = repository.insert_claimed(session, rows=group, root=root, proofs=proofs)
            if batch is None:
                created += repository.insert_records(session, rows=group)
                continue
            created += group
            self._adopt(batch.id)
        self._wake.set()
        return created

    def _adopt(self, batch_id: int) -> None:
        with self._mine_lock:
            self._mine.add(batch_id)

    def _anchor(self, session: Session, batch: BatchRow) -> int:
        root = bytes.fromhex(batch.root[2:])
        existing = self.chain.anchor_of(root)
        if existing is None:
            repository.mark_sealed(session, batch_id=batch.id)
            sealed = time.perf_counter()
            try:
                receipt = self.chain.anchor_batch(root, batch.size)
            except ChainError as exc:
                if exc.error_name != "AnchorDuplicateRoot":
                    raise
                receipt = None  # another process anchored it between our look-up and our transaction
            else:
                self.mining_times_ms.append((time.perf_counter() - sealed) * 1000)
            existing = self.chain.anchor_of(root)
            if existing is None:
                raise ChainError(f"batch {batch.id} root {batch.root} not found on chain after anchoring")
            tx_hash, gas = (receipt.tx_hash, receipt.gas_used) if receipt else (batch.tx_hash, None)
        else:
            tx_hash, gas = batch.tx_hash, None
        if tx_hash is None:  # anchored by another process, or before a crash: the chain's event names the tx
            tx_hash = self.chain.anchor_tx(root, existing.block_number)
        final = self.settings.confirmations == 0
        repository.mark_anchored(session, batch_id=batch.id, tx_hash=tx_hash, block_number=existing.block_number,
                                 block_time=existing.timestamp, gas_used=gas, final=final)
        with self._mine_lock:
            self._mine.discard(batch.id)
        metrics.anchor_batches.labels(batch.kind).inc()
        if gas:
            metrics.anchor_gas.labels(batch.kind).inc(gas)
        self._observe_latency(session, batch, metrics.submit_to_anchored, also=metrics.submit_to_final if final else None)
        log.info("anchored batch %s (%d records) in block %d", batch.root, batch.size, existing.block_number)
        return batch.size

    def _follow_finality(self, session: Session) -> None:
        """Watch anchored batches until ``confirmations`` blocks stand on them. An anchor a reorganisation dropped
        goes back to be sent again (the contract refuses a root twice, so it cannot be anchored twice); one the
        chain re-included elsewhere gets its new block and transaction."""
        head = self.chain.block_number()
        for batch in repository.unfinal_batches(session):
            found = self.chain.anchor_of(bytes.fromhex(batch.root[2:]), fresh=True)
            if found is None:
                metrics.anchor_dropped.inc()
                log.warning("batch %s: its anchor in block %s was dropped by a reorganisation; sending it again",
                            batch.root, batch.block_number)
                repository.mark_dropped(session, batch_id=batch.id)
                self._adopt(batch.id)  # the process that saw it dropped sends it again, at once
                continue
            if found.block_number != batch.block_number:
                tx_hash = self.chain.anchor_tx(bytes.fromhex(batch.root[2:]), found.block_number)
                repository.mark_anchored(session, batch_id=batch.id, tx_hash=tx_hash, block_number=found.block_number,
                                         block_time=found.timestamp, gas_used=batch.gas_used, final=False)
            elif head - found.block_number >= self.settings.confirmations:
                repository.mark_final(session, batch_id=batch.id)
                self._observe_latency(session, batch, metrics.submit_to_final)

    @staticmethod
    def _observe_latency(session: Session, batch: BatchRow, histogram: Any, also: Any = None) -> None:
        """Submit-to-now latency of every record in ``batch`` (audit batches are not submissions)."""
        if batch.kind != "records":
            return
        now = repository.now()
        for accepted_at in repository.batch_acceptance_times(session, batch_id=batch.id):
            seconds = (now - as_utc(accepted_at)).total_seconds()
            for target in (histogram, also):
                if target is not None:
                    target.observe(seconds)

    def drain(self, *, timeout_s: float = 60.0) -> None:
        """Anchor everything accepted so far, without waiting for the batch delay (for tests and the CLI)."""
        deadline = time.monotonic() + timeout_s
        while True:
            self.run_once(force=True)
            with self.sessions() as session:
                idle = all(repository.waiting(session, ledger=ledger)[0] == 0 for ledger in (RecordRow, AuditRow))
                if idle and not repository.open_batches(session):
                    return
            if time.monotonic() > deadline:
                raise TimeoutError("records still waiting to be anchored")

    def notify(self, rows: int = 1) -> None:
        """Tell the background loop ``rows`` were accepted. It wakes when it was idle (to learn when they fall
        due) or when they could fill a batch; otherwise it already sleeps exactly until the oldest waiting row is
        due. Waking it for every record made it re-query the store hundreds of times a second under load."""
        with self._noticed_lock:
            self._noticed += rows
            wake = self._idle or self._noticed >= self.settings.batch_size
            self._idle = False
        if wake:
            self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._wake.clear()  # before the pass: a notify during it makes the wait below return at once
                with self._noticed_lock:
                    self._noticed = 0
                self._due_in = None
                anchored = self.run_once()
                self.last_error = None
                if anchored:
                    continue  # a backlog (a burst, or batches held by an outage) goes out without pausing
                with self._noticed_lock:
                    self._idle = self._due_in is None and self._noticed == 0
                # Sleep until the waiting rows are due, a batch fills, or the poll for rows this process was not
                # told of (other workers', or left by a crash) comes round.
                poll = self.settings.anchor_poll_s
                self._wake.wait(poll if self._due_in is None else min(poll, self._due_in))
            except (ChainUnavailable, ChainError) as exc:
                self.last_error = str(exc)
                metrics.chain_errors.labels(type(exc).__name__).inc()
                log.warning("anchoring paused: %s", exc)
                paused = time.perf_counter()
                self._stop.wait(self.settings.anchor_retry_s)
                metrics.chain_outage.inc(time.perf_counter() - paused)
            except Exception as exc:  # never let the thread die: accepted records must still get anchored
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("anchorer failed; retrying")
                self._stop.wait(self.settings.anchor_retry_s)

    def start(self) -> None:
        self._thread = named_thread(self._loop, "anchorer")
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout=30)
