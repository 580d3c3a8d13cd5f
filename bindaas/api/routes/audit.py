"""The audit trail: a patient's access log, and the auditors' check of the whole log against the chain."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Query

from bindaas.access.audit import check_event, patient_events, verify_audit_log
from bindaas.api.auth import CallerDep, require_role
from bindaas.api.deps import ServicesDep
from bindaas.api.params import PatientId
from bindaas.chain.access import check_key_id
from bindaas.errors import Forbidden
from bindaas.ledger.completeness import check_record_batches
from bindaas.store import repository

router = APIRouter(tags=["audit"])


@router.get("/patients/{patient_id}/access-log")
def access_log(patient_id: PatientId, services: ServicesDep, caller: CallerDep, verify: bool = False,
               limit: int = Query(500, ge=1, le=5000), offset: int = Query(0, ge=0, le=2**62)) -> dict[str, Any]:
    """Who read, exported or ran predictions on the patient's records, who was refused, and consent changes: as
    FHIR AuditEvents, oldest first, each with its anchor; ``verify=true`` checks each against the chain."""
    patient = check_key_id(patient_id, field="patient_id")
    if caller.key_id != patient and caller.role != "auditor":
        services.audit.record(action="access-log", agent=caller.key_id, role=caller.role, patient=patient,
                              success=False, detail="refused: only the patient and auditors see the access log")
        raise Forbidden("only the patient and auditors see a patient's access log", field="patient_id")
    with services.sessions() as session:
        rows = patient_events(session, patient=patient, limit=limit, offset=offset)
        batches = repository.batches_by_id(session, ids={r.batch_id for r in rows if r.batch_id})
    entries = []
    for row in rows:
        batch = batches.get(row.batch_id) if row.batch_id else None
        entry: dict[str, Any] = {
            "id": row.id, "action": row.action, "agent": row.agent_id, "success": row.success,
            "recorded": json.loads(row.event_json).get("recorded"), "status": row.status,
            "anchor": {"root": batch.root, "tx_hash": batch.tx_hash, "block": batch.block_number,
                       "leaf_index": row.leaf_index, "proof": row.proof} if batch and row.proof is not None else None,
            "event": json.loads(row.event_json)}
        if verify:
            check = check_event(row, batch, services.chain)
            entry["verified"] = {"ok": check.ok, "detail": check.detail}
        entries.append(entry)
    return {"patient": patient, "events": entries, "limit": limit, "offset": offset}


@router.get("/audit/verify")
def verify_log(services: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    """Auditors: every anchored audit and record batch must still hold exactly what its on-chain root and count
    commit to, and every root this service anchored must still have its batch; an edited or deleted event or
    record is named (batch, leaf index, id)."""
    require_role(caller, "auditor", "authority", doing="verify the audit log")
    with services.sessions() as session:
        audit = verify_audit_log(session, services.chain)
        records = check_record_batches(session, services.chain, services.service_key)
    problems = audit["problems"] + records.pop("problems")
    return {**audit, **records, "problems": problems, "verdict": "invalid" if problems else "valid"}
