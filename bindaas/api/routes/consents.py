"""Consents: a patient grants or revokes a clinician's or authority's read access, signed with the patient's
ML-DSA-65 key and relayed to the ConsentRegistry by this service's authority account."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, ConfigDict, Field

from bindaas.api.auth import CallerDep, require_role
from bindaas.api.deps import ServicesDep
from bindaas.chain.access import check_key_id
from bindaas.crypto.mldsa import CONSENT_CONTEXT, PublicKey, unb64
from bindaas.errors import InvalidInput
from bindaas.ledger.payload import drop_reader, wrap_patient_records

router = APIRouter(prefix="/consents", tags=["consents"])


class ConsentChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    grantee: str = Field(pattern=r"^0x[0-9a-fA-F]{64}$", description="key id of the clinician or authority")
    granted: bool = Field(description="true to grant read access, false to revoke it")
    not_after: int = Field(0, ge=0, lt=2**64, description="unix time the grant ends; 0 = no end")
    nonce: int = Field(ge=1, lt=2**64, description="the patient's next consent nonce (GET /consents/nonce)")
    signature: str = Field(description="base64 ML-DSA-65 signature of the statement, context 'bindaas/consent/v1'")


@router.get("/nonce")
def next_nonce(services: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    """What a patient needs to build the statement to sign: chain id, consent contract and next nonce."""
    require_role(caller, "patient", doing="change consents")
    return {"patient": caller.key_id, "chain_id": services.chain.chain_id,
            "contract": services.access.consents.address, "nonce": services.access.next_nonce(caller.key_id)}


@router.post("", status_code=status.HTTP_201_CREATED)
def change_consent(change: ConsentChange, services: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    """Grant or revoke; the signature is checked here, the change recorded on chain, and the grantee's wrapped
    record keys made (grant) or deleted (revoke)."""
    require_role(caller, "patient", doing="change consents")
    if change.granted and change.not_after and change.not_after <= time.time():
        raise InvalidInput(f"not_after {change.not_after} is in the past: a grant must end in the future (or 0 for "
                           f"no end)", field="not_after")
    grantee = change.grantee.lower()
    identity = services.access.identity(grantee)
    if identity is None or not identity.active or identity.role not in ("clinician", "authority"):
        raise InvalidInput(f"{grantee} is not an enrolled, active clinician or authority", field="grantee")
    statement = services.access.statement(patient=caller.key_id, grantee=grantee, granted=change.granted,
                                          not_after=change.not_after, nonce=change.nonce)
    expected = services.access.next_nonce(caller.key_id)
    if change.nonce != expected:
        raise InvalidInput(f"nonce {change.nonce} is stale; the next consent nonce is {expected}", field="nonce")
    assert caller.identity is not None
    signature = unb64(change.signature, field="signature")
    PublicKey(caller.identity.signing_key).verify(signature, statement.message(), context=CONSENT_CONTEXT,
                                                  field="signature")
    receipt = services.access.set_consent(statement, signature, patient_key=caller.identity.signing_key)
    with services.sessions() as session:
        if change.granted:
            keys = wrap_patient_records(session, patient=caller.key_id, reader=grantee,
                                        reader_kem_key=identity.kem_key, service_key=services.service_key)
        else:
            keys = drop_reader(session, patient=caller.key_id, reader=grantee)
    verb = "granted" if change.granted else "revoked"
    services.audit.record(action="consent", agent=caller.key_id, role=caller.role, patient=caller.key_id,
                          success=True, detail=f"consent {verb} for {grantee} (nonce {change.nonce})")
    return {**services.access.consent(caller.key_id, grantee).to_json(), "tx_hash": receipt.tx_hash,
            "block": receipt.block_number, "signature_checked_on_chain": services.access.consent_verified_on_chain, "wrapped_keys_added" if change.granted else "wrapped_keys_removed": keys}


@router.get("")
def list_consents(services: ServicesDep, caller: CallerDep,
                  patient: str | None = Query(None, description="auditors: whose consents")) -> dict[str, Any]:
    """Consent changes from the chain, each with the patient's signature checked: a patient's own, those naming
    a clinician or authority as grantee, or (auditors) any patient's."""
    if caller.role == "patient":
        changes = services.access.history(patient=caller.key_id)
    elif caller.role == "auditor":
        if patient is None:
            raise InvalidInput("auditors name the patient: ?patient=<key id>", field="patient")
        changes = services.access.history(patient=check_key_id(patient, field="patient"))
    else:
        require_role(caller, "clinician", "authority", doing="list consents")
        changes = services.access.history(grantee=caller.key_id)
    latest = {(c.patient, c.grantee): c.nonce for c in changes}
    return {"consents": [c.to_json() | {"superseded": latest[(c.patient, c.grantee)] != c.nonce,
                                        "in_force": latest[(c.patient, c.grantee)] == c.nonce and c.allows()}
                         for c in changes]}
