"""Records: submit a signed envelope, read it back, verify it."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, Field

from bindaas.api.deps import ServicesDep
from bindaas.crypto.mldsa import b64
from bindaas.errors import BindaasError, NotFound
from bindaas.ledger.accept import accept_envelope, accept_many
from bindaas.ledger.envelope import Envelope
from bindaas.ledger.verify import verify_record
from bindaas.store import repository
from bindaas.store.models import BatchRow, RecordRow

router = APIRouter(prefix="/records", tags=["records"])


def record_summary(row: RecordRow) -> dict[str, Any]:
    return {"id": row.id, "digest": row.id, "status": row.status, "accepted_block": row.accepted_block,
            "links": {"self": f"/records/{row.id}", "verify": f"/records/{row.id}/verify"}}


def anchor_view(row: RecordRow, batch: BatchRow | None) -> dict[str, Any] | None:
    if batch is None or row.proof is None:
        return None
    return {"root": batch.root, "batch_size": batch.size, "status": batch.status, "tx_hash": batch.tx_hash,
            "block": batch.block_number, "block_time": batch.block_time, "leaf_index": row.leaf_index,
            "proof": row.proof}


def load_record(services: ServicesDep, record_id: str) -> tuple[RecordRow, BatchRow | None]:
    with services.sessions() as session:
        row = repository.get_record(session, record_id=record_id.lower())
        if row is None:
            raise NotFound(f"no record with id {record_id}", field="id")
        batch = repository.get_batch(session, batch_id=row.batch_id) if row.batch_id else None
    return row, batch


@router.post("", status_code=status.HTTP_202_ACCEPTED)
def submit_record(envelope: Envelope, services: ServicesDep) -> dict[str, Any]:
    """Accept a signed FHIR R4 Bundle; it is stored durably now and anchored on chain within a second."""
    accepted = accept_envelope(envelope, chain=services.chain, sessions=services.sessions,
                               settings=services.settings)
    services.anchorer.notify()
    return {**record_summary(accepted.record), "created": accepted.created}


class BulkSubmission(BaseModel):
    envelopes: list[Envelope] = Field(min_length=1, max_length=1000)


@router.post("/bulk")
def submit_many(submission: BulkSubmission, services: ServicesDep) -> dict[str, Any]:
    """Accept up to 1,000 signed envelopes at once; each gets its own result (record or problem), and all that
    pass are stored in one transaction before the answer."""
    results = accept_many(submission.envelopes, chain=services.chain, sessions=services.sessions,
                          settings=services.settings)
    services.anchorer.notify()
    out = []
    for index, result in enumerate(results):
        if isinstance(result, BindaasError):
            field = f"envelopes[{index}].{result.field}" if result.field else f"envelopes[{index}]"
            out.append({"index": index, "problem": {"type": f"urn:bindaas:problem:{result.slug}",
                                                    "title": result.title, "status": result.status,
                                                    "detail": result.detail, "field": field}})
        else:
            out.append({"index": index, **record_summary(result.record), "created": result.created})
    return {"accepted": sum(1 for r in results if not isinstance(r, BindaasError)), "results": out}


@router.get("")
def list_records(services: ServicesDep, limit: int = Query(100, ge=1, le=1000),
                 offset: int = Query(0, ge=0, le=2**62)) -> dict[str, Any]:
    """List stored records (ids and status), oldest first."""
    with services.sessions() as session:
        rows = repository.list_records(session, limit=limit, offset=offset)
    return {"records": [record_summary(row) for row in rows], "limit": limit, "offset": offset}


@router.get("/{record_id}")
def get_record(record_id: str, services: ServicesDep) -> dict[str, Any]:
    """The bundle, its salt and signatures, its status and its anchor."""
    row, batch = load_record(services, record_id)
    try:
        bundle = json.loads(row.bundle_json)
    except ValueError:
        bundle = None  # a damaged stored copy is still shown; /verify says what is wrong
    return {
        **record_summary(row), "bundle": bundle, "salt": row.salt.hex(),
        "chain_id": row.chain_id, "registry": row.registry_address,
        "accepted_at": row.accepted_at.isoformat(),
        "owner": {"public_key": b64(row.owner_public_key), "signature": b64(row.owner_signature)},
        "endorsements": row.endorsements, "anchor": anchor_view(row, batch),
    }


@router.get("/{record_id}/verify")
def verify(record_id: str, services: ServicesDep) -> dict[str, Any]:
    """Recompute the digest, Merkle proof, on-chain anchor, signatures, signers and policy; give the verdict."""
    row, batch = load_record(services, record_id)
    return verify_record(row, batch, services.chain).to_json()
