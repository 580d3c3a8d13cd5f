"""Records: submit a signed envelope, read it back (with the patient's consent), export it encrypted, verify it."""

from __future__ import annotations

import asyncio
import json
from functools import partial
from typing import Any, TypeVar

import orjson
from fastapi import APIRouter, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from bindaas.access.policy import authorize_record
from bindaas.access.signin import Caller
from bindaas.api.auth import CallerDep, require_role
from bindaas.api.deps import ServicesDep
from bindaas.api.limits import PARSED_BODY
from bindaas.api.params import RecordId
from bindaas.api.services import Services
from bindaas.crypto.mldsa import b64
from bindaas.errors import BindaasError, Forbidden, RecordDamaged
from bindaas.ledger.accept import accept_many
from bindaas.ledger.envelope import Envelope, validate_json
from bindaas.ledger.payload import open_payload, wrapped_for
from bindaas.ledger.receipt import build_receipt
from bindaas.ledger.verify import verify_stored
from bindaas.observability import metrics
from bindaas.store import repository
from bindaas.store.models import BatchRow, NewRecord, RecordRow

router = APIRouter(prefix="/records", tags=["records"])
SUBMITTERS = ("authority", "clinician", "patient")


def record_summary(row: NewRecord | RecordRow) -> dict[str, Any]:
    return {"id": row.id, "digest": row.id, "patient": row.patient_id, "status": row.status,
            "accepted_block": row.accepted_block,
            "links": {"self": f"/records/{row.id}", "verify": f"/records/{row.id}/verify"}}


def anchor_view(row: RecordRow, batch: BatchRow | None) -> dict[str, Any] | None:
    if batch is None or row.proof is None:
        return None
    return {"root": batch.root, "batch_size": batch.size, "status": batch.status, "tx_hash": batch.tx_hash,
            "block": batch.block_number, "block_time": batch.block_time, "final": batch.final_at is not None,
            "leaf_index": row.leaf_index, "proof": row.proof}


def load_record(services: Services, caller: Caller, record_id: str, *, action: str,
                content: bool) -> tuple[RecordRow, BatchRow | None]:
    """The record and its batch, if ``caller`` may see it (``authorize_record``); else the same 404 as for none."""
    with services.sessions() as session:
        row = repository.get_record(session, record_id=record_id.lower())
        batch = repository.get_batch(session, batch_id=row.batch_id) if row is not None and row.batch_id else None
    row = authorize_record(caller, row=row, record_id=record_id.lower(), action=action, content=content,
                           access=services.access, audit=services.audit)
    return row, batch


def _check_submitter(caller: Caller, envelope: Envelope, field: str = "patient") -> None:
    require_role(caller, *SUBMITTERS, doing="submit records")
    if caller.role == "patient" and envelope.patient.lower() != caller.key_id:
        raise Forbidden("a patient submits records only about themselves", field=field)


def signatures_view(row: RecordRow) -> dict[str, Any]:
    return {"salt": row.salt.hex(), "chain_id": row.chain_id, "registry": row.registry_address,
            "accepted_at": row.accepted_at.isoformat(),
            "owner": {"public_key": b64(row.owner_public_key), "signature": b64(row.owner_signature)},
            "endorsements": row.endorsements}


class BulkSubmission(BaseModel):
    envelopes: list[Envelope] = Field(min_length=1, max_length=1000)


Body = TypeVar("Body", bound=BaseModel)


def _parse(model: type[Body], body: bytes, parsed: Any = None) -> Body:
    """The submission routes parse their bodies into the model on the worker thread, not on the event loop, the
    one thread all requests share; ``parsed``, when given, is ``body`` as the request limits parsed it already.
    Errors read as any other request validation error."""
    try:
        return validate_json(model, body) if parsed is None else model.model_validate(parsed)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False, include_context=False)) from None


RAW_BODY_MODELS = (Envelope, BulkSubmission)  # parsed by _parse; the app documents them in OpenAPI
_ENVELOPE_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": {"$ref": "#/components/schemas/Envelope"}}}}}


@router.post("", status_code=status.HTTP_202_ACCEPTED, openapi_extra=_ENVELOPE_BODY)
async def submit_record(request: Request, services: ServicesDep, caller: CallerDep) -> Response:
    """Accept a signed FHIR R4 Bundle (an `Envelope`); it is stored durably (encrypted) now and anchored on chain
    within a second."""
    # Served by ``bindaas.api.submissions`` in front of the router; declared here for the OpenAPI document, and
    # answering the same way wherever that is not installed.
    return await answer_submission(services, caller, await request.body(), request.scope.get(PARSED_BODY))


async def answer_submission(services: Services, caller: Caller, body: bytes, parsed: Any = None) -> Response:
    """Check and store one submitted envelope (``body``; ``parsed``: the same, parsed by the request limits) for
    ``caller``: 202 with the record's summary, whether new or already stored (``created``). Refusals are raised
    (``BindaasError``, ``RequestValidationError``)."""
    try:
        # Checked on the intake thread with whatever else was submitted meanwhile (``GroupedIntake``).
        accepted = await asyncio.wrap_future(services.intake.submit(partial(_vetted, body, parsed, caller)))
    except BindaasError as exc:
        metrics.records_refused.labels(exc.slug).inc()
        raise
    except RequestValidationError:
        metrics.records_refused.labels("invalid-input").inc()
        raise
    metrics.records_accepted.inc()
    services.anchorer.notify()
    answer = {**record_summary(accepted.record), "created": accepted.created}
    return Response(orjson.dumps(answer), status_code=status.HTTP_202_ACCEPTED, media_type="application/json")


def _vetted(body: bytes, parsed: Any, caller: Caller) -> Envelope:
    envelope = _parse(Envelope, body, parsed)
    _check_submitter(caller, envelope)
    return envelope


_BULK_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": {"$ref": "#/components/schemas/BulkSubmission"}}}}}


@router.post("/bulk", openapi_extra=_BULK_BODY)
async def submit_many(request: Request, services: ServicesDep, caller: CallerDep) -> Response:
    """Accept up to 1,000 signed envelopes at once (a `BulkSubmission`); each gets its own result (record or
    problem), and all that pass are stored in one transaction before the answer."""
    return await run_in_threadpool(_submit_many, await request.body(), request.scope.get(PARSED_BODY), services,
                                   caller)


def _submit_many(body: bytes, parsed: Any, services: Services, caller: Caller) -> Response:
    submission = _parse(BulkSubmission, body, parsed)
    for index, envelope in enumerate(submission.envelopes):
        _check_submitter(caller, envelope, field=f"envelopes[{index}].patient")
    results = accept_many(submission.envelopes, chain=services.chain, access=services.access, sessions=services.sessions,
                          settings=services.settings, service_public_key=services.service_key.public_key,
                          anchorer=services.anchorer)
    services.anchorer.notify(rows=len(submission.envelopes))
    out = []
    for index, result in enumerate(results):
        if isinstance(result, BindaasError):
            field = f"envelopes[{index}].{result.field}" if result.field else f"envelopes[{index}]"
            out.append({"index": index, "problem": {"type": f"urn:bindaas:problem:{result.slug}",
                                                    "title": result.title, "status": result.status,
                                                    "detail": result.detail, "field": field}})
        else:
            out.append({"index": index, **record_summary(result.record), "created": result.created})
    accepted = sum(1 for r in results if not isinstance(r, BindaasError))
    metrics.records_accepted.inc(accepted)
    for result in results:
        if isinstance(result, BindaasError):
            metrics.records_refused.labels(result.slug).inc()
    answer = {"accepted": accepted, "results": out}
    return Response(orjson.dumps(answer), media_type="application/json")


@router.get("")
def list_records(services: ServicesDep, caller: CallerDep, limit: int = Query(100, ge=1, le=1000),
                 offset: int = Query(0, ge=0, le=2**62)) -> dict[str, Any]:
    """List stored records (ids and status, no content), oldest first: all of them for auditors and authorities,
    a patient's own for a patient, and for a clinician those of the patients whose consent to them is in force."""
    require_role(caller, "auditor", "authority", "patient", "clinician", doing="list records")
    patients = None
    if caller.role == "patient":
        patients = [caller.key_id]
    elif caller.role == "clinician":
        from bindaas.api.fhir_source import readable_patients

        patients = readable_patients(caller, services)
    with services.sessions() as session:
        rows = repository.list_records(session, limit=limit, offset=offset, patients=patients)
    return {"records": [record_summary(row) for row in rows], "limit": limit, "offset": offset}


@router.get("/{record_id}")
def get_record(record_id: RecordId, services: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    """The bundle, its salt and signatures, its status and its anchor: for the patient and readers they consented
    to (checked on chain now). Every read is on the patient's access log."""
    row, batch = load_record(services, caller, record_id, action="read", content=True)
    try:
        bundle = json.loads(open_payload(row, services.service_key))
    except (RecordDamaged, ValueError):  # a damaged stored copy is still shown; /verify says what is wrong
        bundle = None
    services.audit.record(action="read", agent=caller.key_id, role=caller.role, patient=row.patient_id,
                          record=row.id, success=True, detail="record read")
    return {**record_summary(row), "bundle": bundle, **signatures_view(row), "anchor": anchor_view(row, batch)}


@router.get("/{record_id}/export")
def export_record(record_id: RecordId, services: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    """The record still encrypted: the AES-256-GCM payload and its data key wrapped for the caller's ML-KEM-768
    key, to decrypt and verify on the caller's side (`bindaas export`)."""
    row, batch = load_record(services, caller, record_id, action="export", content=True)
    if caller.kem_key is None:
        raise Forbidden(f"key {caller.key_id} has no enrolled ML-KEM-768 key to wrap the record key for",
                        field="Authorization")
    with services.sessions() as session:
        wrapped = wrapped_for(session, row=row, reader=caller.key_id, reader_kem_key=caller.kem_key,
                              service_key=services.service_key)
    services.audit.record(action="export", agent=caller.key_id, role=caller.role, patient=row.patient_id,
                          record=row.id, success=True, detail="record exported (encrypted for the reader)")
    return {**record_summary(row), "encryption": {"payload": "AES-256-GCM", "key_wrap": "ML-KEM-768 + AES-256-GCM",
                                                  "reader": caller.key_id},
            "payload": b64(row.payload), "wrapped_key": b64(wrapped), **signatures_view(row),
            "anchor": anchor_view(row, batch),
            "receipt": build_receipt(row, batch, services.chain) if row.status == "anchored" else None}


@router.get("/{record_id}/receipt")
def receipt(record_id: RecordId, services: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    """The record's receipt (docs/spec.md): keys, signatures, salt, inclusion proof and anchor, no content; with the
    bundle it lets anyone verify the record against the chain alone (`bindaas verify-receipt`)."""
    row, batch = load_record(services, caller, record_id, action="read", content=False)
    return build_receipt(row, batch, services.chain)


@router.get("/{record_id}/status")
def record_status(record_id: RecordId, services: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    """Status and anchor of a record, without content."""
    row, batch = load_record(services, caller, record_id, action="read", content=False)
    return {**record_summary(row), "anchor": anchor_view(row, batch)}


@router.get("/{record_id}/verify")
def verify(record_id: RecordId, services: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    """Recompute the digest (decrypting in memory only), Merkle proof, on-chain anchor, signatures, signers and
    policy; give the verdict. Auditors get the report, never the content."""
    row, batch = load_record(services, caller, record_id, action="read", content=False)
    with services.sessions() as session:
        objects = repository.dicom_objects(session, record_id=row.id)
    report = verify_stored(row, batch, services.chain, services.access, services.service_key,
                           confirmations=services.settings.confirmations, objects=objects)
    metrics.verifications.labels(report.verdict).inc()
    return report.to_json()
