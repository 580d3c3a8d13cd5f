"""The FHIR resources a caller may read: those inside the stored, signed bundles of the patients whose records the
caller may read now (their own, or patients whose consent to them is in force, as for record reads). Each
resource carries the record it came from (``meta.source`` = urn:bindaas:record:<id>, so its receipt can be
fetched and checked), and every record opened is on its patient's access log, once per request."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterator

from bindaas.access.policy import read_refusal
from bindaas.access.signin import Caller
from bindaas.api.services import Services
from bindaas.errors import RecordDamaged
from bindaas.fhir.risk import RECORD_SYSTEM
from bindaas.ledger.payload import open_payload
from bindaas.store import repository


@dataclass(frozen=True)
class Found:
    """One resource from one stored record."""

    record_id: str
    patient_key: str
    resource: dict[str, Any]


def readable_patients(caller: Caller, services: Services) -> list[str]:
    """Key ids of the patients whose records ``caller`` may read now."""
    if caller.role == "patient":
        return [caller.key_id]
    if caller.role not in ("clinician", "authority"):
        return []
    granted = {c.patient for c in services.access.history(grantee=caller.key_id)}
    return sorted(p for p in granted if read_refusal(caller, p, services.access) is None)


def subject_id(resource: dict[str, Any]) -> str | None:
    """The id of the Patient a resource is about ('Patient/x', 'urn:uuid:x' or a Patient's own id)."""
    if resource.get("resourceType") == "Patient":
        return resource.get("id")
    reference = (resource.get("subject") or resource.get("patient") or {}).get("reference", "")
    return reference.rsplit("/", 1)[-1].removeprefix("urn:uuid:") or None


def readable_resources(caller: Caller, services: Services, *, action: str,
                       patients: list[str] | None = None) -> Iterator[Found]:
    """Every resource of every record ``caller`` may read (of ``patients``' records only, when given)."""
    allowed = readable_patients(caller, services)
    for patient in (p for p in allowed if patients is None or p in patients):
        with services.sessions() as session:
            rows = repository.list_records(session, limit=100_000, patient=patient)
        for row in rows:
            try:
                bundle = json.loads(open_payload(row, services.service_key))
            except RecordDamaged:
                continue  # /verify names it; a damaged copy is never served as data
            services.audit.record(action=action, agent=caller.key_id, role=caller.role, patient=patient,
                                  record=row.id, success=True, detail="read through the FHIR API")
            for entry in bundle.get("entry", []) or []:
                resource = entry.get("resource") if isinstance(entry, dict) else None
                if isinstance(resource, dict) and resource.get("resourceType"):
                    yield Found(row.id, patient, with_source(resource, row.id))


def with_source(resource: dict[str, Any], record_id: str) -> dict[str, Any]:
    """``resource`` with ``meta.source`` naming the signed record it was served from."""
    meta = dict(resource.get("meta") or {})
    meta["source"] = f"{RECORD_SYSTEM}:{record_id}"
    return {**resource, "meta": meta}
