"""The signed submission envelope: a FHIR R4 Bundle, its salt, the owner's signature and authority endorsements.

Built and signed on the client: the owner's private key (the patient's or submitting clinician's) never leaves
it, and each authority endorses with its own key. ``patient`` names the identity (key id) whose consent governs
who may read the record; it defaults to the owner, and it is signed, so nobody can re-file the record under another.
"""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, Field

from bindaas.crypto.canonical import canonical_json
from bindaas.crypto.digest import new_salt, record_digest, signed_message
from bindaas.crypto.mldsa import ENDORSEMENT_CONTEXT, OWNER_CONTEXT, PrivateKey, b64


class OwnerSignature(BaseModel):
    """The record owner's ML-DSA-65 public key and signature (base64)."""

    model_config = ConfigDict(extra="forbid")
    public_key: str = Field(description="base64 ML-DSA-65 public key (1952 bytes)")
    signature: str = Field(description="base64 ML-DSA-65 signature (3309 bytes)")


class Endorsement(BaseModel):
    """An authority's ML-DSA-65 endorsement, naming the key the registry published."""

    model_config = ConfigDict(extra="forbid")
    key_id: str = Field(pattern=r"^0x[0-9a-fA-F]{64}$", description="keccak256 of the authority's public key")
    authority: str | None = Field(None, description="the authority's Ethereum address (checked if given)")
    signature: str = Field(description="base64 ML-DSA-65 signature (3309 bytes)")


class Envelope(BaseModel):
    """What ``POST /records`` takes."""

    model_config = ConfigDict(extra="forbid")
    bundle: dict[str, Any] = Field(description="a FHIR R4 Bundle")
    salt: str = Field(pattern=r"^(0x)?[0-9a-fA-F]{64}$", description="32 random bytes, hex; kept off-chain")
    chain_id: int = Field(ge=1)
    registry: str = Field(pattern=r"^0x[0-9a-fA-F]{40}$", description="address of the AuthorityRegistry")
    patient: str = Field(pattern=r"^0x[0-9a-fA-F]{64}$", description="key id of the patient the record is about")
    owner: OwnerSignature
    endorsements: list[Endorsement] = Field(default_factory=list)

    def salt_bytes(self) -> bytes:
        return bytes.fromhex(self.salt.removeprefix("0x"))

    def digest(self) -> bytes:
        return record_digest(canonical_json(self.bundle), self.salt_bytes())

    def message(self) -> bytes:
        return signed_message(self.digest(), chain_id=self.chain_id, registry=self.registry, patient=self.patient)


Model = TypeVar("Model", bound=BaseModel)


def validate_json(model: type[Model], text: bytes | str) -> Model:
    """``text`` parsed into ``model``: orjson builds the objects and pydantic validates them, about half of what
    pydantic's own JSON parser costs for a 26 KB envelope (mostly base64 text). Text orjson refuses goes to
    pydantic's parser, whose error names the place (``json_invalid``), so a bad body reads as it always did."""
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        return model.model_validate_json(text)
    return model.model_validate(data)


def build_envelope(bundle: dict[str, Any], *, owner: PrivateKey, chain_id: int, registry: str,
                   patient: str | None = None, salt: bytes | None = None) -> Envelope:
    """Salt and owner-sign ``bundle`` for the deployment (``chain_id``, ``registry``) and ``patient`` (a key id;
    default: the owner's)."""
    salt = salt or new_salt()
    patient = (patient or owner.public_key().key_id).lower()
    digest = record_digest(canonical_json(bundle), salt)
    message = signed_message(digest, chain_id=chain_id, registry=registry, patient=patient)
    return Envelope(
        bundle=bundle, salt=salt.hex(), chain_id=chain_id, registry=registry, patient=patient,
        owner=OwnerSignature(public_key=b64(owner.public_key().raw),
                             signature=b64(owner.sign(message, context=OWNER_CONTEXT))),
    )


def endorse(envelope: Envelope, *, authority_key: PrivateKey, authority: str | None = None) -> Envelope:
    """Return ``envelope`` with one more endorsement, by ``authority_key``."""
    signature = authority_key.sign(envelope.message(), context=ENDORSEMENT_CONTEXT)
    endorsement = Endorsement(key_id=authority_key.public_key().key_id, authority=authority, signature=b64(signature))
    return envelope.model_copy(update={"endorsements": [*envelope.endorsements, endorsement]})
