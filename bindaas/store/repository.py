"""Keyword-only functions over the tables; the ledger calls these, never raw SQL."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cache, wraps
from typing import Any, TypeVar

from sqlalchemy import Insert, Table, bindparam, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bindaas.store.database import committed, write_turn
from bindaas.store.models import (AuditRow, BatchRow, DicomObjectRow, ModelRow, NewRecord, RecordRow,
                                  record_bodies_table, records_table)

Ledger = type[RecordRow] | type[AuditRow]  # the two kinds of rows anchored in Merkle batches
BATCH_KIND: dict[type, str] = {RecordRow: "records", AuditRow: "audit"}
# The table holding each ledger's anchoring columns (status, batch, leaf, proof): what the anchorer reads and writes.
ANCHORING: dict[type, Table] = {RecordRow: records_table, AuditRow: AuditRow.__table__}  # type: ignore[dict-item]
T = TypeVar("T")


def _in_write_turn(write: Callable[..., T]) -> Callable[..., T]:
    """Run ``write`` (which commits) holding the store's turn to write (``database.write_turn``)."""
    @wraps(write)
    def in_turn(session: Session, **kwargs: Any) -> T:
        with write_turn(session.get_bind()):
            return write(session, **kwargs)
    return in_turn


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


def insert_records(session: Session, *, rows: list[NewRecord]) -> list[NewRecord]:
    """Insert ``rows`` in one transaction and return those newly created; ids already stored are skipped.

    Where the driver takes positional parameters (SQLite), one executemany of ``INSERT ... ON CONFLICT (id) DO
    NOTHING`` on a connection of the pool, past the session: through the session (a multi-row ``INSERT ...
    RETURNING``) a group of four 26 KB records cost 0.27 ms of CPU a record, this way 0.14, about as much as SQLite
    itself. When the count it inserted falls short (an id stored already: a re-sent record), it is rolled back and
    the group inserted again the exact way, which names the rows it created. Elsewhere (PostgreSQL), that exact way
    alone; on a database without ``ON CONFLICT``, the ORM's, a row at a time."""
    if not rows:
        return []
    unique = list({row.id: row for row in rows}.values())
    engine = session.get_bind()
    if engine.dialect.name not in _UPSERT:
        with write_turn(engine):
            return [row for row in unique if insert_record(session, row=row.to_row())[1]]
    driver = _driver_insert(engine.dialect, claimed=False)
    if driver is not None and isinstance(engine, Engine) and _inserted_all(engine, unique, driver):
        return unique
    with write_turn(engine):
        created = _insert_new(session, unique)
        session.commit()
    return [row for row in unique if row.id in created]


def _inserted_all(engine: Engine, rows: list[NewRecord], driver: DriverInsert) -> bool:
    """Insert ``rows`` with the driver's executemany, skipping ids stored already, and commit if every one of them
    was new; otherwise roll back and say so."""
    parameters = _driver_parameters(driver.records, rows)
    bodies = _driver_parameters(driver.bodies, rows)
    connection = engine.raw_connection()
    try:
        with write_turn(engine):
            cursor = connection.cursor()
            cursor.executemany(driver.records[0], parameters)
            if cursor.rowcount == len(rows):
                cursor.executemany(driver.bodies[0], bodies)
                connection.commit()
                committed(engine)
                return True
            connection.rollback()
            return False
    finally:
        connection.close()


def _insert_skipping_stored(session: Session, table: Table) -> Insert:
    """``INSERT INTO <table> ... ON CONFLICT (id) DO NOTHING`` in the session's dialect."""
    return _UPSERT[session.get_bind().dialect.name](table).on_conflict_do_nothing(index_elements=[table.c.id])


def _insert_new(session: Session, rows: list[NewRecord]) -> set[str]:
    """One multi-row ``INSERT ... ON CONFLICT (id) DO NOTHING RETURNING id`` of ``rows``, then the bodies of those it
    created: the ids it created."""
    stmt = _insert_skipping_stored(session, records_table).returning(records_table.c.id)
    created = set(session.scalars(stmt, [_insert_values(row, records_table) for row in rows]).all())
    bodies = [_insert_values(row, record_bodies_table) for row in rows if row.id in created]
    if bodies:
        session.execute(_insert_skipping_stored(session, record_bodies_table), bodies)
    return created


def _new_batch(session: Session, *, root: str, kind: str, members: list[str]) -> BatchRow | None:
    """Add a claimed batch with ``root`` (flushed, so it has an id); None, rolled back, when the root is taken."""
    batch = BatchRow(root=root, kind=kind, size=len(members), members=members, status="claimed", created_at=now())
    session.add(batch)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        return None
    return batch


def insert_claimed(session: Session, *, rows: list[NewRecord], root: str, proofs: list[list[dict]]) -> BatchRow | None:
    """Insert ``rows`` (distinct ids, in leaf order) claimed by a new batch with ``root``, each with its inclusion
    proof, in one transaction. Returns None, and changes nothing, when any of them is stored already (or the root
    is), or on a database without ``ON CONFLICT``: the caller then stores them unbatched."""
    if not rows or session.get_bind().dialect.name not in _UPSERT:
        return None
    # The rows' parameters are built before the batch's insert takes the store's turn to write, which the other
    # worker's stores wait on: as the driver takes them where its parameters are positional (SQLite), so that
    # SQLAlchemy's per-row work (~20 ms of a 750-row store, more while the other stream holds the GIL) is done
    # outside the turn too.
    claims = [{"leaf_index": leaf, "proof": proof, "batch_id": None} for leaf, proof in enumerate(proofs)]
    driver = _driver_insert(session.get_bind().dialect, claimed=True)
    if driver is not None:
        batch_at = driver.records[1].index("batch_id")
        parameters = _driver_parameters(driver.records, rows, claims)
        bodies = [tuple(p) for p in _driver_parameters(driver.bodies, rows)]
    else:
        values = [{**_insert_values(row, records_table), **claim} for row, claim in zip(rows, claims)]
        body_values = [_insert_values(row, record_bodies_table) for row in rows]
    with write_turn(session.get_bind()):
        batch = _new_batch(session, root=root, kind="records", members=[row.id for row in rows])
        if batch is None:
            return None
        if driver is not None:
            for row_parameters in parameters:
                row_parameters[batch_at] = batch.id
            session.connection().exec_driver_sql(driver.records[0], [tuple(p) for p in parameters])
            session.connection().exec_driver_sql(driver.bodies[0], bodies)
        else:
            for value in values:
                value["batch_id"] = batch.id
            session.execute(_insert_skipping_stored(session, records_table), values)
            session.execute(_insert_skipping_stored(session, record_bodies_table), body_values)
        # All or nothing, so the count of rows inserted is answer enough: a plain executemany without RETURNING
        # takes 128 ms of CPU for 1,000 rows of 26 KB on SQLite, the multi-row INSERT ... RETURNING that names each
        # row created 176 ms. The rows inserted are those carrying the new batch's id (SQLAlchemy reports no
        # rowcount for psycopg's executemany).
        inserted = session.scalar(select(func.count()).select_from(records_table)
                                  .where(records_table.c.batch_id == batch.id))
        if inserted != len(rows):
            session.rollback()
            return None
        session.commit()
        return batch


Driver = tuple[str, tuple[str, ...], tuple[Callable[[Any], Any] | None, ...]]  # SQL, columns, bind processors


@dataclass(frozen=True)
class DriverInsert:
    """A record's two inserts as the driver takes them: into ``records``, then into ``record_bodies``."""

    records: Driver
    bodies: Driver


@cache
def _driver_insert(dialect: Dialect, *, claimed: bool) -> DriverInsert | None:
    """The inserts of rows (``claimed``: with their batch, leaf and proof), skipping ids already stored, as the
    driver takes them. None where the driver's parameters are named (psycopg): SQLAlchemy's own executemany does
    there."""
    records = _driver_statement(dialect, records_table, ("leaf_index", "proof", "batch_id") if claimed else ())
    bodies = _driver_statement(dialect, record_bodies_table, ())
    return None if records is None or bodies is None else DriverInsert(records, bodies)


def _driver_statement(dialect: Dialect, table: Table, claim_columns: tuple[str, ...]) -> Driver | None:
    """One table's insert: its SQL, the columns in the order of its parameters, and each column's bind processor
    (what SQLAlchemy applies to a value, from the same dialect); None where the driver's parameters are named."""
    names = [*_inserted_columns(table), *claim_columns]
    statement = (_UPSERT[dialect.name](table).values({name: bindparam(name) for name in names})
                 .on_conflict_do_nothing(index_elements=[table.c.id]))
    compiled = statement.compile(dialect=dialect)
    if not compiled.positional or compiled.positiontup is None:
        return None
    columns = tuple(compiled.positiontup)
    return str(compiled), columns, tuple(table.c[c].type.dialect_impl(dialect).bind_processor(dialect)
                                         for c in columns)


def _driver_parameters(driver: Driver, rows: list[NewRecord], claims: list[dict[str, Any]] | None = None
                       ) -> list[list[Any]]:
    """Each row's parameters in the order ``driver`` takes them, each through its column's bind processor; the
    columns a claimed insert adds (leaf, proof, batch) come from ``claims``, one dict a row."""
    _, columns, processors = driver
    parameters = []
    for index, row in enumerate(rows):
        claim = claims[index] if claims else {}
        values = (claim[c] if c in _SET_LATER else getattr(row, c) for c in columns)
        parameters.append([value if process is None else process(value) for value, process in zip(values, processors)])
    return parameters


_UPSERT = {"sqlite": sqlite_insert, "postgresql": postgresql_insert}
_SET_LATER = {"seq", "batch_id", "leaf_index", "proof"}  # assigned by the database or by the anchorer


@cache
def _inserted_columns(table: Table) -> tuple[str, ...]:
    """The keys of the columns of ``table`` an insert sets, which are also ``NewRecord``'s attribute names
    (``registry_address`` for the column ``registry``)."""
    return tuple(column.key for column in table.c if column.key not in _SET_LATER)


def _insert_values(row: NewRecord, table: Table) -> dict:
    return {column: getattr(row, column) for column in _inserted_columns(table)}


def update_record(session: Session, *, record_id: str, values: dict[str, Any]) -> None:
    """Overwrite columns (by attribute name) of the stored record ``record_id``, each in the table that holds it;
    not committed. Acceptance never rewrites a record: this is for showing that verification catches one that was
    (the demo, the tamper tests)."""
    for table in (records_table, record_bodies_table):
        mine = {key: value for key, value in values.items() if key in table.c and key != "id"}
        if mine:
            session.execute(update(table).where(table.c.id == record_id).values(mine))


def list_records(session: Session, *, limit: int, offset: int = 0, patient: str | None = None,
                 patients: list[str] | None = None) -> list[RecordRow]:
    """Records oldest first; of ``patient`` (or of any of ``patients``, when that list is given) only."""
    stmt = select(RecordRow).order_by(RecordRow.seq).offset(offset).limit(limit)
    if patient is not None:
        stmt = stmt.where(RecordRow.patient_id == patient)
    if patients is not None:
        stmt = stmt.where(RecordRow.patient_id.in_(patients))
    return list(session.scalars(stmt))


def count_by_status(session: Session) -> dict[str, int]:
    status = records_table.c.status
    return dict(session.execute(select(status, func.count()).group_by(status)).all())


_OLDEST_AMONG = 256  # rows looked at for the oldest acceptance time


def unbatched_keys(session: Session, *, limit: int, ledger: Ledger = RecordRow) -> list:
    """The oldest rows of ``ledger`` that no batch has claimed yet, loading only what a Merkle leaf needs (not
    payloads or proofs): rows with ``seq``, ``id``, ``accepted_at`` (and for records ``accepted_block``). Rows
    another anchorer holds are skipped (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite serializes writers
    instead)."""
    table = ANCHORING[ledger]
    columns = [table.c.seq, table.c.id, table.c.accepted_at] + ([table.c.accepted_block] if ledger is RecordRow else [])
    stmt = (select(*columns).where(table.c.batch_id.is_(None)).order_by(table.c.seq)
            .limit(limit).with_for_update(skip_locked=True))
    return list(session.execute(stmt))


def waiting(session: Session, *, ledger: Ledger = RecordRow) -> tuple[int, datetime | None]:
    """How many rows of ``ledger`` wait for a batch, and when the oldest was accepted. Asked on every anchorer pass
    of every worker: the count is answered from the (batch_id, seq) index alone, and the oldest
    acceptance time is looked for among the first rows by seq only (rows are stored in acceptance order, give or
    take one group commit), not by reading every waiting row."""
    table = ANCHORING[ledger]
    count = session.scalar(select(func.count()).select_from(table).where(table.c.batch_id.is_(None))) or 0
    if count == 0:
        return 0, None
    head = (select(table.c.accepted_at).where(table.c.batch_id.is_(None)).order_by(table.c.seq)
            .limit(_OLDEST_AMONG).subquery())
    return count, session.scalar(select(func.min(head.c.accepted_at)))


@_in_write_turn
def claim_batch(session: Session, *, root: str, records: list, proofs: list[list[dict]],
                ledger: Ledger = RecordRow) -> BatchRow | None:
    """Claim ``records`` (rows of ``ledger``) for a new batch with ``root`` in one transaction, writing each
    inclusion proof. Returns None (and changes nothing) when another anchorer claimed any of them first.
    """
    # None when another anchorer claimed the very same rows (same root) a moment earlier
    batch = _new_batch(session, root=root, kind=BATCH_KIND[ledger], members=[r.id for r in records])
    if batch is None:
        return None
    table = ANCHORING[ledger]  # Core UPDATE: one executemany, not the ORM's per-object path
    # One statement per row sets batch, leaf and proof together: SQLite rewrites a whole row on every update that
    # changes its size, so claiming costs one rewrite, not two.
    claimed = session.execute(
        update(table).where(table.c.seq == bindparam("row_seq"), table.c.batch_id.is_(None))
        .values(batch_id=batch.id, leaf_index=bindparam("leaf"), proof=bindparam("path")),
        [{"row_seq": r.seq, "leaf": i, "path": p} for i, (r, p) in enumerate(zip(records, proofs))],
    )
    if claimed.rowcount != len(records):
        session.rollback()
        return None
    session.commit()
    return batch


def open_batches(session: Session, *, mine: Collection[int] = (), claimed_before: datetime | None = None
                 ) -> list[BatchRow]:
    """Batches claimed but not yet confirmed anchored (after a crash or a chain outage). With ``claimed_before``,
    only those claimed before then or whose id is in ``mine``: another process is still sending the rest."""
    stmt = select(BatchRow).where(BatchRow.status != "anchored")
    if claimed_before is not None:
        stmt = stmt.where(or_(BatchRow.created_at < claimed_before, BatchRow.id.in_(list(mine))))
    return list(session.scalars(stmt.order_by(BatchRow.id)))


def batch_records(session: Session, *, batch_id: int, ledger: Ledger = RecordRow) -> list:
    stmt = select(ledger).where(ledger.batch_id == batch_id).order_by(ledger.leaf_index)
    return list(session.scalars(stmt))


@_in_write_turn
def mark_sealed(session: Session, *, batch_id: int) -> None:
    session.execute(update(BatchRow).where(BatchRow.id == batch_id).values(status="sent", sealed_at=now()))
    session.commit()


@_in_write_turn
def mark_anchored(session: Session, *, batch_id: int, tx_hash: str | None, block_number: int, block_time: int,
                  gas_used: int | None, final: bool) -> None:
    """Record the batch's anchor (final at once when no confirmations are asked for) and move its records to
    ``anchored``, in one transaction."""
    at = now()
    session.execute(update(BatchRow).where(BatchRow.id == batch_id).values(
        status="anchored", tx_hash=tx_hash, block_number=block_number, block_time=block_time, gas_used=gas_used,
        anchored_at=at, final_at=at if final else None))
    for table in ANCHORING.values():
        session.execute(update(table).where(table.c.batch_id == batch_id).values(status="anchored"))
    session.commit()


def batch_acceptance_times(session: Session, *, batch_id: int) -> list[datetime]:
    return list(session.scalars(select(records_table.c.accepted_at).where(records_table.c.batch_id == batch_id)))


def unfinal_batches(session: Session, *, limit: int = 256) -> list[BatchRow]:
    """Anchored batches not yet final: the ones a reorganisation could still drop."""
    stmt = (select(BatchRow).where(BatchRow.status == "anchored", BatchRow.final_at.is_(None))
            .order_by(BatchRow.id).limit(limit))
    return list(session.scalars(stmt))


@_in_write_turn
def mark_final(session: Session, *, batch_id: int) -> None:
    session.execute(update(BatchRow).where(BatchRow.id == batch_id).values(final_at=now()))
    session.commit()


@_in_write_turn
def mark_dropped(session: Session, *, batch_id: int) -> None:
    """A reorganisation dropped the batch's anchor: back to claimed (proofs kept, the root is the same), its rows
    back to accepted, so the anchorer sends it again."""
    session.execute(update(BatchRow).where(BatchRow.id == batch_id).values(
        status="claimed", tx_hash=None, block_number=None, block_time=None, anchored_at=None, final_at=None))
    for table in ANCHORING.values():
        session.execute(update(table).where(table.c.batch_id == batch_id).values(status="accepted"))
    session.commit()


def insert_dicom_object(session: Session, *, row: "DicomObjectRow") -> bool:
    """Store ``row`` unless the record already has that object; returns whether it was new."""
    session.add(row)
    try:
        session.commit()
        return True
    except IntegrityError:
        session.rollback()
        return False


def dicom_objects(session: Session, *, record_id: str) -> list["DicomObjectRow"]:
    return list(session.scalars(select(DicomObjectRow).where(DicomObjectRow.record_id == record_id)))


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
