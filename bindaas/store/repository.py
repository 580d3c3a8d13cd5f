"""Keyword-only functions over the tables; the ledger calls these, never raw SQL."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, load_only

from bindaas.store.models import AuditRow, BatchRow, ModelRow, RecordRow

Ledger = type[RecordRow] | type[AuditRow]  # the two kinds of rows anchored in Merkle batches
BATCH_KIND: dict[type, str] = {RecordRow: "records", AuditRow: "audit"}


def now() -> datetime:
    return datetime.now(timezone.utc)


def get_record(session: Session, *, record_id: str) -> RecordRow | None:
    return session.scalar(select(RecordRow).where(RecordRow.id == record_id))


def insert_record(session: Session, *, row: RecordRow) -> tuple[RecordRow, bool]:
    """Insert ``row`` and commit; returns (stored row, created). The same digest twice yields the first row."""
    session.add(row)
    try:
        session.commit()
        return row, True
    except IntegrityError:
        session.rollback()
        existing = get_record(session, record_id=row.id)
        assert existing is not None
        return existing, False


def insert_records(session: Session, *, rows: list[RecordRow]) -> list[RecordRow]:
    """Insert ``rows`` in one transaction and return those newly created; ids already stored are skipped."""
    if not rows:
        return []
    unique = list({row.id: row for row in rows}.values())
    existing = set(session.scalars(select(RecordRow.id).where(RecordRow.id.in_([r.id for r in unique]))))
    fresh = [row for row in unique if row.id not in existing]
    session.add_all(fresh)
    try:
        session.commit()
        return fresh
    except IntegrityError:  # a concurrent writer stored one of them first: fall back to one at a time
        session.rollback()
        return [row for row in fresh if insert_record(session, row=_copy(row))[1]]


def _copy(row: RecordRow) -> RecordRow:
    return RecordRow(**{c.key: getattr(row, c.key) for c in RecordRow.__mapper__.column_attrs if c.key != "seq"})


def list_records(session: Session, *, limit: int, offset: int = 0, patient: str | None = None) -> list[RecordRow]:
    stmt = select(RecordRow).order_by(RecordRow.seq).offset(offset).limit(limit)
    if patient is not None:
        stmt = stmt.where(RecordRow.patient_id == patient)
    return list(session.scalars(stmt))


def count_by_status(session: Session) -> dict[str, int]:
    return dict(session.execute(select(RecordRow.status, func.count()).group_by(RecordRow.status)).all())


def unbatched_keys(session: Session, *, limit: int, ledger: Ledger = RecordRow) -> list:
    """The oldest rows of ``ledger`` that no batch has claimed yet, loading only what a Merkle leaf needs (not
    payloads or proofs). Rows another anchorer holds are skipped (``FOR UPDATE SKIP LOCKED`` on PostgreSQL;
    SQLite serializes writers instead)."""
    columns = [ledger.seq, ledger.id, ledger.accepted_at] + ([RecordRow.accepted_block] if ledger is RecordRow else [])
    stmt = (select(ledger).options(load_only(*columns)).where(ledger.batch_id.is_(None)).order_by(ledger.seq)
            .limit(limit).with_for_update(skip_locked=True))
    return list(session.scalars(stmt))


def waiting(session: Session, *, ledger: Ledger = RecordRow) -> tuple[int, datetime | None]:
    """How many rows of ``ledger`` wait for a batch, and when the oldest was accepted (one cheap query)."""
    count, oldest = session.execute(select(func.count(), func.min(ledger.accepted_at))
                                    .where(ledger.batch_id.is_(None))).one()
    return count, oldest


def claim_batch(session: Session, *, root: str, records: list, proofs: list[list[dict]],
                ledger: Ledger = RecordRow) -> BatchRow | None:
    """Claim ``records`` (rows of ``ledger``) for a new batch with ``root`` in one transaction, writing each
    inclusion proof. Returns None (and changes nothing) when another anchorer claimed any of them first.
    """
    batch = BatchRow(root=root, kind=BATCH_KIND[ledger], size=len(records), status="claimed", created_at=now())
    session.add(batch)
    try:
        session.flush()
    except IntegrityError:  # another anchorer claimed the very same rows (same root) a moment earlier
        session.rollback()
        return None
    claimed = session.execute(
        update(ledger)
        .where(ledger.seq.in_([r.seq for r in records]), ledger.batch_id.is_(None))
        .values(batch_id=batch.id)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != len(records):
        session.rollback()
        return None
    table = ledger.__table__  # Core UPDATE: one executemany, not the ORM's per-object path
    session.execute(
        update(table).where(table.c.seq == bindparam("row_seq")).values(leaf_index=bindparam("leaf"),
                                                                        proof=bindparam("path")),
        [{"row_seq": r.seq, "leaf": i, "path": p} for i, (r, p) in enumerate(zip(records, proofs))],
    )
    session.commit()
    return batch


def open_batches(session: Session) -> list[BatchRow]:
    """Batches claimed but not yet confirmed anchored (after a crash or a chain outage)."""
    return list(session.scalars(select(BatchRow).where(BatchRow.status != "anchored").order_by(BatchRow.id)))


def batch_records(session: Session, *, batch_id: int, ledger: Ledger = RecordRow) -> list:
    stmt = select(ledger).where(ledger.batch_id == batch_id).order_by(ledger.leaf_index)
    return list(session.scalars(stmt))


def mark_sealed(session: Session, *, batch_id: int) -> None:
    session.execute(update(BatchRow).where(BatchRow.id == batch_id).values(status="sent", sealed_at=now()))
    session.commit()


def mark_anchored(session: Session, *, batch_id: int, tx_hash: str | None, block_number: int, block_time: int,
                  gas_used: int | None) -> None:
    """Record the batch's anchor and move its records to ``anchored``, in one transaction."""
    session.execute(update(BatchRow).where(BatchRow.id == batch_id).values(
        status="anchored", tx_hash=tx_hash, block_number=block_number, block_time=block_time, gas_used=gas_used,
        anchored_at=now()))
    session.execute(update(RecordRow).where(RecordRow.batch_id == batch_id).values(status="anchored"))
    session.execute(update(AuditRow).where(AuditRow.batch_id == batch_id).values(status="anchored"))
    session.commit()


def get_batch(session: Session, *, batch_id: int) -> BatchRow | None:
    return session.get(BatchRow, batch_id)


def list_batches(session: Session) -> list[BatchRow]:
    return list(session.scalars(select(BatchRow).order_by(BatchRow.id)))


def insert_model(session: Session, *, row: "ModelRow") -> "ModelRow":
    session.add(row)
    session.commit()
    return row


def get_model(session: Session, *, model_id: str) -> "ModelRow | None":
    return session.get(ModelRow, model_id)


def list_models(session: Session, *, task: str | None = None) -> list["ModelRow"]:
    stmt = select(ModelRow).order_by(ModelRow.created_at.desc())
    if task:
        stmt = stmt.where(ModelRow.task == task)
    return list(session.scalars(stmt))


def records_page(session: Session, *, after_seq: int, limit: int) -> list[RecordRow]:
    stmt = select(RecordRow).where(RecordRow.seq > after_seq).order_by(RecordRow.seq).limit(limit)
    return list(session.scalars(stmt))


def batches_by_id(session: Session, *, ids: set[int]) -> dict[int, BatchRow]:
    if not ids:
        return {}
    return {b.id: b for b in session.scalars(select(BatchRow).where(BatchRow.id.in_(ids)))}
