"""Record payloads at rest: the canonical bundle sealed with AES-256-GCM under a fresh data key per record; the
data key is stored wrapped with ML-KEM-768 for the service (verification, training) and for each reader the
patient allows (the patient, and grantees with consent), never in the clear."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from bindaas.crypto.sealing import DecryptionFailed, KemPrivateKey, new_data_key, seal, unseal, wrap_key
from bindaas.errors import RecordDamaged
from bindaas.store.models import RecordRow, WrappedKeyRow

SERVICE_READER = "service"


def seal_payload(canonical: bytes, *, record_id: str, service_public_key: bytes) -> tuple[bytes, bytes]:
    """(sealed payload, data key wrapped for the service)."""
    data_key = new_data_key()
    return (seal(canonical, data_key, record_id=record_id),
            wrap_key(data_key, service_public_key, record_id=record_id, reader=SERVICE_READER))


def data_key_of(row: RecordRow, service_key: KemPrivateKey) -> bytes:
    """The record's data key; raises RecordDamaged if its wrapped copy was altered."""
    try:
        return service_key.unwrap(bytes(row.service_key), record_id=row.id, reader=SERVICE_READER)
    except DecryptionFailed as exc:
        raise RecordDamaged(f"stored record {row.id} does not decrypt: {exc}; /verify reports it",
                            field="record_id") from exc


def open_payload(row: RecordRow, service_key: KemPrivateKey) -> bytes:
    """The canonical bundle bytes; raises RecordDamaged if the ciphertext or its wrapped key was altered."""
    try:
        return unseal(bytes(row.payload), data_key_of(row, service_key), record_id=row.id)
    except DecryptionFailed as exc:
        raise RecordDamaged(f"stored record {row.id} does not decrypt: {exc}; /verify reports it",
                            field="record_id") from exc


def wrapped_for(session: Session, *, row: RecordRow, reader: str, reader_kem_key: bytes,
                service_key: KemPrivateKey) -> bytes:
    """The record's data key wrapped for ``reader``, made (and stored) on first use."""
    found = session.scalar(select(WrappedKeyRow.wrapped).where(WrappedKeyRow.record_id == row.id,
                                                               WrappedKeyRow.reader_id == reader))
    if found is not None:
        return bytes(found)
    wrapped = wrap_key(data_key_of(row, service_key), reader_kem_key, record_id=row.id, reader=reader)
    session.add(WrappedKeyRow(record_id=row.id, reader_id=reader, wrapped=wrapped))
    session.commit()
    return wrapped


def wrap_patient_records(session: Session, *, patient: str, reader: str, reader_kem_key: bytes,
                         service_key: KemPrivateKey) -> int:
    """Wrap the data key of every record of ``patient`` for ``reader`` (a consent was granted); returns how many."""
    have = set(session.scalars(select(WrappedKeyRow.record_id).where(WrappedKeyRow.reader_id == reader)))
    rows = [r for r in session.scalars(select(RecordRow).where(RecordRow.patient_id == patient)) if r.id not in have]
    session.add_all([WrappedKeyRow(record_id=r.id, reader_id=reader,
                                   wrapped=wrap_key(data_key_of(r, service_key), reader_kem_key, record_id=r.id,
                                                    reader=reader)) for r in rows])
    session.commit()
    return len(rows)


def drop_reader(session: Session, *, patient: str, reader: str) -> int:
    """Delete ``reader``'s wrapped keys for every record of ``patient`` (consent revoked); returns how many."""
    ids = select(RecordRow.id).where(RecordRow.patient_id == patient)
    removed = session.execute(delete(WrappedKeyRow).where(WrappedKeyRow.reader_id == reader,
                                                          WrappedKeyRow.record_id.in_(ids)))
    session.commit()
    return removed.rowcount or 0
