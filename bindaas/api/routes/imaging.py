"""The DICOM objects of imaging records: uploaded after the record's signed ImagingStudy bundle (each must be one
the bundle lists, by SHA3-256), read back by those who may read the record."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status
from starlette.concurrency import run_in_threadpool

from bindaas.access.policy import authorize_record, unseen
from bindaas.api.auth import CallerDep, require_role
from bindaas.access.signin import Caller
from bindaas.api.deps import ServicesDep
from bindaas.api.services import Services
from bindaas.api.params import RecordId
from bindaas.api.routes.records import SUBMITTERS
from bindaas.errors import NotFound
from bindaas.imports import collector_held
from bindaas.ledger.imaging import open_object, store_object
from bindaas.ledger.payload import open_payload
from bindaas.store import repository
from bindaas.store.models import RecordRow

router = APIRouter(prefix="/records", tags=["imaging"])
Sha3 = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$", description="the object's SHA3-256, 64 lower-case hex digits")]
DICOM = "application/dicom"


@router.put("/{record_id}/objects/{sha3}", status_code=status.HTTP_201_CREATED,
            responses={200: {"description": "stored before: nothing changed"}},
            openapi_extra={"requestBody": {"required": True, "content": {DICOM: {"schema": {"type": "string",
                                                                                              "format": "binary"}}}}})
async def upload(record_id: RecordId, sha3: Sha3, request: Request, services: ServicesDep, caller: CallerDep,
                 response: Response) -> dict:
    """Store one DICOM object (`Content-Type: application/dicom`) of an imaging record: its SHA3-256 must be one
    the record's signed bundle lists. Sent again, it changes nothing (200)."""
    require_role(caller, *SUBMITTERS, doing="upload DICOM objects")
    data = await request.body()
    with services.sessions() as session:
        row = repository.get_record(session, record_id=record_id.lower())
    if row is None or (caller.role == "patient" and row.patient_id != caller.key_id):
        raise unseen(record_id.lower())
    bundle = json.loads(open_payload(row, services.service_key))
    created = await run_in_threadpool(store_object, services.sessions, record=row, bundle=bundle, sha3=sha3,
                                      data=data, service_public_key=services.service_key.public_key)
    if not created:
        response.status_code = status.HTTP_200_OK
    return {"record": row.id, "sha3": sha3, "bytes": len(data), "created": created}


def _readable_object(services: Services, caller: Caller, record_id: str, sha3: str, *,
                     action: str) -> tuple[RecordRow, bytes]:
    """A stored DICOM object of a record the caller may read for ``action`` (the same refusal as for a missing
    record otherwise), decrypted."""
    with services.sessions() as session:
        row = repository.get_record(session, record_id=record_id.lower())
        stored = [o for o in repository.dicom_objects(session, record_id=record_id.lower()) if o.sha3 == sha3]
    row = authorize_record(caller, row=row, record_id=record_id.lower(), action=action, content=True,
                           access=services.access, audit=services.audit)
    if not stored:
        raise NotFound(f"record {row.id} has no stored DICOM object {sha3}", field="sha3")
    return row, open_object(stored[0], services.service_key)


@router.get("/{record_id}/objects/{sha3}", response_class=Response,
            responses={200: {"content": {DICOM: {}}, "description": "the DICOM object"}})
def download(record_id: RecordId, sha3: Sha3, services: ServicesDep, caller: CallerDep) -> Response:
    """One DICOM object of a record the caller may read (the patient, consented readers); on the access log."""
    row, data = _readable_object(services, caller, record_id, sha3, action="export")
    services.audit.record(action="export", agent=caller.key_id, role=caller.role, patient=row.patient_id,
                          record=row.id, success=True, detail=f"DICOM object {sha3[:16]}… read")
    return Response(data, media_type=DICOM)


@router.post("/{record_id}/objects/{sha3}/predict")
def predict_object(record_id: RecordId, sha3: Sha3, services: ServicesDep, caller: CallerDep,
                   model_id: str | None = Query(None, pattern=r"^0x[0-9a-fA-F]{64}$")) -> dict:
    """The brain MRI tumour model on one stored DICOM object of a record the caller may read (the patient,
    consented readers): probability, label and Grad-CAM heatmap; on the patient's access log."""
    from bindaas.api.routes.predict import PREDICTORS, predict_pixels
    with collector_held():
        from bindaas.imaging.pixels import rgb_from_bytes

    require_role(caller, *PREDICTORS, doing="request predictions")
    row, data = _readable_object(services, caller, record_id, sha3, action="predict")
    answer = predict_pixels(services, rgb_from_bytes(data, DICOM), model_id=model_id)
    services.audit.record(action="predict", agent=caller.key_id, role=caller.role, patient=row.patient_id,
                          record=row.id, success=True, detail=f"imaging prediction on DICOM object {sha3[:16]}…")
    return answer
