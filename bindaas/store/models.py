"""SQLAlchemy 2.0 tables. Nothing here goes on chain; the chain holds only Merkle roots of salted digests.

No table holds health data in the clear: record payloads are AES-256-GCM ciphertexts whose data keys are stored
only wrapped (ML-KEM-768) for the service and for readers the patient allowed; audit events name key ids and
record digests, never clinical content.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime

from sqlalchemy import (JSON, BigInteger, Boolean, Column, DateTime, ForeignKey, Index, Integer, LargeBinary, String,
                        Table, Text, UniqueConstraint)
from sqlalchemy.orm import DeclarativeBase, Mapped, column_property, mapped_column


class Base(DeclarativeBase):
    pass


# A record is two rows. ``records`` holds what anchoring reads and rewrites (status, batch, leaf, proof) beside the
# small immutable columns; ``record_bodies`` the ~26 KB written once (sealed bundle, owner key and signature,
# endorsements). SQLite rewrites a whole row, overflow pages and all, whenever an update changes its size: with the
# bodies in the same row, claiming 256 rows for a batch rewrote ~7 MB into the log and held the store's one writer
# ~19 ms, and moving them to anchored ~7 ms more, while every worker's record writer queued behind it.
records_table = Table(
    "records", Base.metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String(66), unique=True, nullable=False),  # 0x + hex SHA3-256 digest
    Column("patient_id", String(66), index=True, nullable=False),  # the patient's identity key id
    Column("status", String(16), default="accepted", nullable=False),
    Column("batch_id", ForeignKey("batches.id"), default=None),
    Column("leaf_index", Integer, default=None),
    Column("accepted_at", DateTime(timezone=True), nullable=False),
    Column("accepted_block", BigInteger, nullable=False),
    Column("chain_id", BigInteger, nullable=False),
    Column("registry", String(42), key="registry_address", nullable=False),
    Column("salt", LargeBinary(32), nullable=False),
    Column("proof", JSON, default=None),
    Index("ix_records_unbatched", "batch_id", "seq"),
)
record_bodies_table = Table(
    "record_bodies", Base.metadata,
    Column("id", String(66), ForeignKey("records.id"), primary_key=True),
    Column("payload", LargeBinary, nullable=False),  # AES-256-GCM of the RFC 8785 canonical JSON, as hashed
    Column("service_key", LargeBinary, nullable=False),  # the data key, wrapped for the service's ML-KEM key
    Column("owner_public_key", LargeBinary, nullable=False),
    Column("owner_signature", LargeBinary, nullable=False),
    Column("endorsements", JSON, nullable=False),  # [{key_id, authority, signature(b64)}]
)
BODY_COLUMNS = tuple(c.name for c in record_bodies_table.c if c.name != "id")  # what lives in record_bodies


class RecordRow(Base):
    """One accepted submission: the encrypted canonical bundle, its salt and signatures, and where it is anchored.
    Mapped over both tables: reads and the ORM's inserts see one row; bulk writes go to the tables themselves
    (``records_table`` for anchoring, ``record_bodies_table`` once at insert)."""

    __table__ = records_table.join(record_bodies_table, records_table.c.id == record_bodies_table.c.id)
    __mapper_args__ = {"primary_key": [records_table.c.seq]}

    id: Mapped[str] = column_property(records_table.c.id, record_bodies_table.c.id)
    seq: Mapped[int]
    patient_id: Mapped[str]
    status: Mapped[str]
    batch_id: Mapped[int | None]
    leaf_index: Mapped[int | None]
    accepted_at: Mapped[datetime]
    accepted_block: Mapped[int]
    chain_id: Mapped[int]
    registry_address: Mapped[str]
    salt: Mapped[bytes]
    proof: Mapped[list | None]
    payload: Mapped[bytes]
    service_key: Mapped[bytes]
    owner_public_key: Mapped[bytes]
    owner_signature: Mapped[bytes]
    endorsements: Mapped[list]


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
