"""Identities: authorities enrol patients, clinicians, auditors (and their own reading keys) on chain."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, Field

from bindaas.api.auth import CallerDep, require_role
from bindaas.api.deps import ServicesDep
from bindaas.api.params import KeyId
from bindaas.chain.access import Identity, check_key_id
from bindaas.crypto.mldsa import PublicKey, b64, unb64
from bindaas.crypto.sealing import check_kem_public_key
from bindaas.errors import NotFound

router = APIRouter(prefix="/identities", tags=["identities"])


class KeyPair(BaseModel):
    model_config = ConfigDict(extra="forbid")
    public_key: str = Field(description="base64 ML-DSA-65 public key (signs in)")
    kem_public_key: str = Field(description="base64 ML-KEM-768 public key (record keys are wrapped for it)")


class Enrolment(KeyPair):
    role: Literal["patient", "clinician", "auditor", "authority"]


def identity_view(identity: Identity) -> dict[str, Any]:
    return {"key_id": identity.key_id, "role": identity.role, "active": identity.active,
            "enrolled_block": identity.enrolled_block, "revoked_block": identity.revoked_block or None,
            "enrolled_by": identity.enrolled_by, "public_key": b64(identity.signing_key),
            "kem_public_key": b64(identity.kem_key)}


@router.post("", status_code=status.HTTP_201_CREATED)
def enroll(enrolment: Enrolment, services: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    """Enrol a key with a role (authorities only); the transaction is sent by this service's authority account."""
    require_role(caller, "authority", doing="enrol identities")
    signing = PublicKey.from_bytes(unb64(enrolment.public_key, field="public_key"), field="public_key")
    kem = check_kem_public_key(unb64(enrolment.kem_public_key, field="kem_public_key"), field="kem_public_key")
    receipt = services.access.enroll(signing_key=signing.raw, kem_key=kem, role=enrolment.role)
    identity = services.access.identity(signing.key_id)
    assert identity is not None
    return {**identity_view(identity), "tx_hash": receipt.tx_hash}


class BulkEnrolment(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["patient", "clinician", "auditor"]
    identities: list[KeyPair] = Field(min_length=1, max_length=256)


@router.post("/bulk", status_code=status.HTTP_201_CREATED)
def enroll_many(enrolment: BulkEnrolment, services: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    """Enrol up to 256 keys with one role (authorities only), 64 per transaction: a hospital joining with its
    patients. One bad or already enrolled key refuses its whole transaction."""
    require_role(caller, "authority", doing="enrol identities")
    keys = []
    for i, pair in enumerate(enrolment.identities):
        field = f"identities[{i}]"
        signing = PublicKey.from_bytes(unb64(pair.public_key, field=f"{field}.public_key"), field=f"{field}.public_key")
        kem = check_kem_public_key(unb64(pair.kem_public_key, field=f"{field}.kem_public_key"),
                                   field=f"{field}.kem_public_key")
        keys.append((signing.raw, kem))
    receipts = services.access.enroll_many(keys=keys, role=enrolment.role)
    return {"role": enrolment.role, "enrolled": [PublicKey(signing).key_id for signing, _ in keys],
            "tx_hashes": [r.tx_hash for r in receipts]}


@router.get("/{key_id}")
def get_identity(key_id: KeyId, services: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    """An enrolled identity's role, status and public keys."""
    identity = services.access.identity(check_key_id(key_id, field="key_id"))
    if identity is None:
        raise NotFound(f"no identity enrolled under {key_id}", field="key_id")
    return identity_view(identity)


@router.post("/{key_id}/revoke")
def revoke(key_id: KeyId, services: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    """Revoke an identity (authorities only): its tokens are refused from now on."""
    require_role(caller, "authority", doing="revoke identities")
    key_id = check_key_id(key_id, field="key_id")
    if services.access.identity(key_id) is None:
        raise NotFound(f"no identity enrolled under {key_id}", field="key_id")
    receipt = services.access.revoke(key_id)
    identity = services.access.identity(key_id)
    assert identity is not None
    return {**identity_view(identity), "tx_hash": receipt.tx_hash}
