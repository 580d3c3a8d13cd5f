"""SQLAlchemy 2.0 tables. Nothing here goes on chain; the chain holds only Merkle roots of salted digests.

No table holds health data in the clear: record payloads are AES-256-GCM ciphertexts whose data keys are stored
only wrapped (ML-KEM-768) for the service and for readers the patient allowed; audit events name key ids and
record digests, never clinical content.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime

from sqlalchemy import (JSON, BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, LargeBinary, String, Text,
                        UniqueConstraint)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class RecordRow(Base):
    """One accepted submission: the encrypted canonical bundle, its salt and signatures, and where it is anchored."""

    __tablename__ = "records"

    # Small columns first, blobs last: SQLite keeps a row's head on its b-tree page and the rest on overflow
    # pages, so the anchorer's scans and status updates never walk ~20 KB of signatures per row.
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(66), unique=True)  # 0x + hex SHA3-256 digest
    patient_id: Mapped[str] = mapped_column(String(66), index=True)  # the patient's identity key id
    status: Mapped[str] = mapped_column(String(16), default="accepted")
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("batches.id"), default=None)
    leaf_index: Mapped[int | None] = mapped_column(Integer, default=None)
    accepted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    accepted_block: Mapped[int] = mapped_column(BigInteger)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    registry_address: Mapped[str] = mapped_column("registry", String(42))
    salt: Mapped[bytes] = mapped_column(LargeBinary(32))
    proof: Mapped[list | None] = mapped_column(JSON, default=None)
    payload: Mapped[bytes] = mapped_column(LargeBinary)  # AES-256-GCM of the RFC 8785 canonical JSON, as hashed
    service_key: Mapped[bytes] = mapped_column(LargeBinary)  # the data key, wrapped for the service's ML-KEM key
    owner_public_key: Mapped[bytes] = mapped_column(LargeBinary)
    owner_signature: Mapped[bytes] = mapped_column(LargeBinary)
    endorsements: Mapped[list] = mapped_column(JSON)  # [{key_id, authority, signature(b64)}]

    __table_args__ = (Index("ix_records_unbatched", "batch_id", "seq"),)


@dataclass(frozen=True, slots=True)
class NewRecord:
    """An accepted record on its way into ``records``: the columns an insert writes (the database assigns ``seq``,
    the anchorer the batch, leaf and proof). A plain value, not a mapped ``RecordRow``: building an ORM object
    costs ~25 µs of instrumentation a record, and the insert is a Core statement that never needed one."""

    id: str
    patient_id: str
    payload: bytes
    service_key: bytes
    salt: bytes
    owner_public_key: bytes
    owner_signature: bytes
    endorsements: list
    chain_id: int
    registry_address: str
    accepted_at: datetime
    accepted_block: int
    status: str = "accepted"

    def to_row(self) -> RecordRow:
        """The same record as a mapped row, for the ORM's own insert."""
        return RecordRow(**{f.name: getattr(self, f.name) for f in fields(self)})


class BatchRow(Base):
    """A Merkle batch: claimed (proofs written), then anchored once its transaction is mined."""

    __tablename__ = "batches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16), default="records")  # records | audit
    root: Mapped[str] = mapped_column(String(66), unique=True)
    size: Mapped[int] = mapped_column(Integer)
    # The ids in leaf order, so a completeness check can name a row that was deleted since (its leaf alone cannot).
    members: Mapped[list | None] = mapped_column(JSON, default=None)
    status: Mapped[str] = mapped_column(String(16), default="claimed")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sealed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    tx_hash: Mapped[str | None] = mapped_column(String(66), default=None)
    block_number: Mapped[int | None] = mapped_column(BigInteger, default=None)
    block_time: Mapped[int | None] = mapped_column(BigInteger, default=None)
    gas_used: Mapped[int | None] = mapped_column(BigInteger, default=None)
    anchored_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    # Set once BINDAAS_CONFIRMATIONS blocks stand on the anchor; until then a reorganisation may drop it.
    final_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class ModelRow(Base):
    """A trained model: where its artifact lives, what it was trained on and where the chain records it."""

    __tablename__ = "models"

    id: Mapped[str] = mapped_column(String(66), primary_key=True)  # SHA3-256 of configuration + weights
    task: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    artifact_path: Mapped[str] = mapped_column(Text)
    config: Mapped[dict] = mapped_column(JSON)
    metrics: Mapped[dict] = mapped_column(JSON)
    training_root: Mapped[str] = mapped_column(String(66))
    training_records: Mapped[list] = mapped_column(JSON)  # record ids (digests), sorted
    excluded: Mapped[dict] = mapped_column(JSON)  # why records were left out, by reason
    tx_hash: Mapped[str | None] = mapped_column(String(66), default=None)
    block_number: Mapped[int | None] = mapped_column(BigInteger, default=None)


class WrappedKeyRow(Base):
    """A record's data key wrapped for one reader's ML-KEM-768 key (the patient, or a grantee with consent)."""

    __tablename__ = "wrapped_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    record_id: Mapped[str] = mapped_column(String(66), index=True)
    reader_id: Mapped[str] = mapped_column(String(66), index=True)
    wrapped: Mapped[bytes] = mapped_column(LargeBinary)

    __table_args__ = (UniqueConstraint("record_id", "reader_id"),)


class DicomObjectRow(Base):
    """A DICOM object of an imaging record, sealed like payloads (AES-256-GCM under its own data key, wrapped for
    the service's ML-KEM key). Its SHA3-256 is inside the record's signed bundle, so the signatures and the anchor
    cover it."""

    __tablename__ = "dicom_objects"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    record_id: Mapped[str] = mapped_column(String(66), index=True)
    sha3: Mapped[str] = mapped_column(String(64))
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    service_key: Mapped[bytes] = mapped_column(LargeBinary)

    __table_args__ = (UniqueConstraint("record_id", "sha3"),)


class ChallengeRow(Base):
    """An authentication challenge: usable once, by one key, until it expires."""

    __tablename__ = "challenges"

    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(66))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class AuditRow(Base):
    """One FHIR AuditEvent (canonical JSON, no clinical content), anchored in Merkle batches like records."""

    __tablename__ = "audit_events"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(66), unique=True)  # 0x + SHA3-256 of the tagged canonical event
    patient_id: Mapped[str | None] = mapped_column(String(66), index=True)
    agent_id: Mapped[str | None] = mapped_column(String(66))
    action: Mapped[str] = mapped_column(String(32))
    success: Mapped[bool] = mapped_column(Boolean)
    event_json: Mapped[str] = mapped_column(Text)
    accepted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # when the service logged it
    status: Mapped[str] = mapped_column(String(16), default="accepted")
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("batches.id"), default=None)
    leaf_index: Mapped[int | None] = mapped_column(Integer, default=None)
    proof: Mapped[list | None] = mapped_column(JSON, default=None)

    __table_args__ = (Index("ix_audit_unbatched", "batch_id", "seq"),)
