"""The audit trail: every read, export, prediction on a stored record, consent change and failed access attempt
becomes a FHIR R4 ``AuditEvent``. Events name key ids and record digests only (never clinical content), are stored
with the SHA3-256 of their canonical JSON as id, and are anchored in Merkle batches on chain like records, so an
edited or deleted event no longer matches what the chain holds.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bindaas.chain.client import ChainClient
from bindaas.crypto.canonical import canonical_json
from bindaas.crypto.digest import audit_leaf
from bindaas.crypto.merkle import ProofStep, merkle_root_and_proofs, root_from_proof
from bindaas.store import repository
from bindaas.store.models import AuditRow, BatchRow

_EVENT_TAG = b"BINDAAS/audit/v1\x00"
KEY_SYSTEM = "urn:bindaas:key-id"
RECORD_SYSTEM = "urn:bindaas:record"
_DCM = "http://dicom.nema.org/resources/ontology/DCM"
_REST = "http://hl7.org/fhir/restful-interaction"

# action -> (AuditEvent.type, subtype, FHIR action code C/R/U/D/E)
ACTIONS: dict[str, tuple[dict, dict, str]] = {
    "read": ({"system": _DCM, "code": "110110", "display": "Patient Record"}, {"system": _REST, "code": "read"}, "R"),
    "export": ({"system": _DCM, "code": "110106", "display": "Export"}, {"system": _REST, "code": "read"}, "R"),
    "predict": ({"system": _DCM, "code": "110110", "display": "Patient Record"},
                {"system": "urn:bindaas:audit", "code": "predict", "display": "Risk prediction"}, "E"),
    "consent": ({"system": _DCM, "code": "110110", "display": "Patient Record"},
                {"system": _REST, "code": "update", "display": "Consent change"}, "U"),
    "access-log": ({"system": _DCM, "code": "110110", "display": "Patient Record"},
                   {"system": _REST, "code": "search-type", "display": "Access log"}, "R"),
    "sign-in": ({"system": _DCM, "code": "110114", "display": "User Authentication"},
                {"system": _DCM, "code": "110122", "display": "Login"}, "E"),
}


def event_digest(event_json: str) -> str:
    return "0x" + hashlib.sha3_256(_EVENT_TAG + event_json.encode("utf-8")).hexdigest()


def _key_ref(key_id: str) -> dict[str, Any]:
    return {"identifier": {"system": KEY_SYSTEM, "value": key_id}}


def audit_event(*, action: str, agent: str | None, role: str | None, patient: str | None, record: str | None,
                success: bool, detail: str, at: datetime) -> dict[str, Any]:
    """The FHIR R4 AuditEvent for one access (valid against HL7's R4 schema)."""
    event_type, subtype, code = ACTIONS[action]
    who: dict[str, Any] = _key_ref(agent) if agent else {"display": "unauthenticated caller"}
    agent_entry: dict[str, Any] = {"who": who, "requestor": True}
    if role:
        agent_entry["role"] = [{"text": role}]
    entities = []
    if record:
        entities.append({"what": {"identifier": {"system": RECORD_SYSTEM, "value": record}},
                         "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "2",
                                  "display": "System Object"}})
    if patient:
        entities.append({"what": _key_ref(patient),
                         "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "1",
                                  "display": "Person"},
                         "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "1",
                                  "display": "Patient"}})
    event: dict[str, Any] = {
        "resourceType": "AuditEvent", "id": uuid.uuid4().hex, "type": event_type, "subtype": [subtype],
        "action": code, "recorded": at.isoformat().replace("+00:00", "Z"),
        "outcome": "0" if success else "4", "outcomeDesc": detail, "agent": [agent_entry],
        "source": {"observer": {"display": "BinDaaS"},
                   "type": [{"system": "http://terminology.hl7.org/CodeSystem/security-source-type", "code": "4",
                             "display": "Application Server"}]},
    }
    if entities:
        event["entity"] = entities
    return event


class AuditLog:
    """Writes audit events (committed before the response) and wakes the anchorer."""

    def __init__(self, sessions: sessionmaker[Session], notify: Any) -> None:
        self.sessions = sessions
        self.notify = notify

    def record(self, *, action: str, agent: str | None, role: str | None = None, patient: str | None = None,
               record: str | None = None, success: bool, detail: str) -> str:
        """Store one event; returns its id."""
        at = datetime.now(timezone.utc)
        event = audit_event(action=action, agent=agent, role=role, patient=patient, record=record, success=success,
                            detail=detail, at=at)
        text = canonical_json(event).decode("utf-8")
        row = AuditRow(id=event_digest(text), patient_id=patient, agent_id=agent, action=action, success=success,
                       event_json=text, accepted_at=at)
        with self.sessions() as session:
            session.add(row)
            session.commit()
        self.notify()
        return row.id


def patient_events(session: Session, *, patient: str, limit: int, offset: int) -> list[AuditRow]:
    stmt = (select(AuditRow).where(AuditRow.patient_id == patient).order_by(AuditRow.seq)
            .offset(offset).limit(limit))
    return list(session.scalars(stmt))


@dataclass
class EventCheck:
    ok: bool
    detail: str


def check_event(row: AuditRow, batch: BatchRow | None, chain: ChainClient) -> EventCheck:
    """Recompute the event's digest, its leaf and root, and find the root on chain."""
    if event_digest(row.event_json) != row.id:
        return EventCheck(False, "event content does not match its digest: edited")
    if batch is None or row.proof is None:
        return EventCheck(True, "not anchored yet")
    try:
        root = root_from_proof(audit_leaf(bytes.fromhex(row.id[2:])), [ProofStep.from_json(s) for s in row.proof])
    except (KeyError, ValueError, TypeError):
        return EventCheck(False, "inclusion proof is malformed")
    if "0x" + root.hex() != batch.root:
        return EventCheck(False, "inclusion proof does not lead to the batch root")
    anchor = chain.anchor_of(root)
    if anchor is None:
        return EventCheck(False, "batch root is not anchored on chain")
    return EventCheck(True, f"anchored in block {anchor.block_number}")


def verify_audit_log(session: Session, chain: ChainClient) -> dict[str, Any]:
    """Check the whole log against the chain: each anchored audit batch must still hold exactly the events the
    chain's root and count commit to (an edited or deleted event breaks this), and every root this service
    anchored on chain must still have its batch (a deleted batch breaks that)."""
    problems: list[str] = []
    every_batch = repository.list_batches(session)
    batches = [b for b in every_batch if b.kind == "audit" and b.status == "anchored"]
    events = 0
    for batch in batches:
        rows = repository.batch_records(session, batch_id=batch.id, ledger=AuditRow)
        events += len(rows)
        edited = [r.id for r in rows if event_digest(r.event_json) != r.id]
        if edited:
            problems.append(f"batch {batch.root}: {len(edited)} event(s) edited, e.g. {edited[0]}")
        root = merkle_root_and_proofs([audit_leaf(bytes.fromhex(r.id[2:])) for r in rows])[0] if rows else b""
        anchor = chain.anchor_of(bytes.fromhex(batch.root[2:]))
        if anchor is None:
            problems.append(f"batch {batch.root} is not anchored on chain")
        elif anchor.record_count != len(rows):
            problems.append(f"batch {batch.root}: chain commits to {anchor.record_count} events, "
                            f"{len(rows)} are stored: {anchor.record_count - len(rows)} deleted")
        elif "0x" + root.hex() != batch.root:
            problems.append(f"batch {batch.root}: stored events no longer hash to the anchored root")
    known = {b.root for b in every_batch}
    on_chain = chain.anchored_roots(submitter=chain.sender)
    missing = [r for r in on_chain if r not in known]
    if missing:
        problems.append(f"{len(missing)} root(s) this service anchored on chain have no batch in the store "
                        f"(deleted), e.g. {missing[0]}")
    pending = session.scalar(select(AuditRow.seq).where(AuditRow.batch_id.is_(None)).limit(1)) is not None
    return {"verdict": "invalid" if problems else "valid", "problems": problems, "audit_batches": len(batches),
            "anchored_events": events, "roots_on_chain": len(on_chain), "events_pending": pending}
