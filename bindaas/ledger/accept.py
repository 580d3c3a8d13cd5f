"""Acceptance of a signed envelope: every check passes or nothing is stored.

A record is accepted only with a valid owner signature and valid endorsements from at least k distinct
authorities that the registry shows registered and not revoked at the current block (k read from the chain too).
The block is stored with the record and bound into its Merkle leaf, so verification later judges the signers
against the registry as it was then.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from bindaas.chain.client import ChainClient
from bindaas.config import Settings
from bindaas.crypto.canonical import canonical_json
from bindaas.crypto.digest import record_digest, signed_message
from bindaas.crypto.mldsa import ENDORSEMENT_CONTEXT, OWNER_CONTEXT, PublicKey, unb64
from bindaas.errors import BindaasError, PayloadTooLarge, PolicyNotMet, UnknownSigner, WrongDeployment
from bindaas.fhir.validate import validate_bundle
from bindaas.ledger.envelope import Envelope
from bindaas.ledger.payload import seal_payload
from bindaas.store import repository
from bindaas.store.group_commit import RecordWriter
from bindaas.store.models import RecordRow


@dataclass(frozen=True)
class Accepted:
    record: RecordRow
    created: bool


def check_deployment(envelope: Envelope, chain: ChainClient) -> None:
    """Refuse envelopes signed for another chain or registry: a signature must not replay across deployments."""
    if envelope.chain_id != chain.chain_id:
        raise WrongDeployment(f"envelope is signed for chain id {envelope.chain_id}; this service runs on "
                              f"chain id {chain.chain_id}", field="chain_id")
    if envelope.registry.lower() != chain.deployment.registry.lower():
        raise WrongDeployment(f"envelope is signed for registry {envelope.registry}; this service uses "
                              f"{chain.deployment.registry}", field="registry")


def check_endorsements(envelope: Envelope, message: bytes, chain: ChainClient, *, block: int) -> set[str]:
    """Verify every endorsement against the registry at ``block``; return the distinct authorities."""
    authorities: set[str] = set()
    for i, endorsement in enumerate(envelope.endorsements):
        field = f"endorsements[{i}]"
        status = chain.key_status(endorsement.key_id, at_block=block)
        if not status.valid_at(block):
            state = "was revoked" if status.revoked_at else "is not registered"
            raise UnknownSigner(f"key {endorsement.key_id} {state} in the authority registry",
                                field=f"{field}.key_id")
        if endorsement.authority and endorsement.authority.lower() != status.authority.lower():
            raise UnknownSigner(f"key {endorsement.key_id} belongs to {status.authority}, not "
                                f"{endorsement.authority}", field=f"{field}.authority")
        key = PublicKey.from_bytes(chain.public_key(endorsement.key_id), field=f"{field}.key_id")
        key.verify(unb64(endorsement.signature, field=f"{field}.signature"), message,
                   context=ENDORSEMENT_CONTEXT, field=f"{field}.signature")
        authorities.add(status.authority)
    return authorities


def prepare_record(envelope: Envelope, *, chain: ChainClient, settings: Settings,
                   service_public_key: bytes) -> RecordRow:
    """Check ``envelope`` completely and return the row to store (payload encrypted, its key wrapped for the
    service's ML-KEM key); raises the first problem found."""
    if len(envelope.endorsements) > settings.max_endorsements:
        raise PayloadTooLarge(f"{len(envelope.endorsements)} endorsements; at most {settings.max_endorsements}",
                              field="endorsements")
    check_deployment(envelope, chain)
    validate_bundle(envelope.bundle, mode=settings.fhir_validation, max_entries=settings.max_bundle_entries)

    owner_key = PublicKey.from_bytes(unb64(envelope.owner.public_key, field="owner.public_key"),
                                     field="owner.public_key")
    owner_signature = unb64(envelope.owner.signature, field="owner.signature")
    canonical = canonical_json(envelope.bundle)
    digest = record_digest(canonical, envelope.salt_bytes())
    message = signed_message(digest, chain_id=envelope.chain_id, registry=envelope.registry,
                             patient=envelope.patient)
    owner_key.verify(owner_signature, message, context=OWNER_CONTEXT, field="owner.signature")

    block = chain.head_for_acceptance()
    authorities = check_endorsements(envelope, message, chain, block=block)
    required = chain.threshold_at(block)
    if len(authorities) < required:
        raise PolicyNotMet(f"{len(authorities)} distinct authorities endorsed this record; the policy needs "
                           f"{required}", field="endorsements")

    record_id = "0x" + digest.hex()
    payload, service_key = seal_payload(canonical, record_id=record_id, service_public_key=service_public_key)
    row = RecordRow(
        id=record_id, patient_id=envelope.patient.lower(), payload=payload, service_key=service_key,
        salt=envelope.salt_bytes(),
        owner_public_key=owner_key.raw, owner_signature=owner_signature,
        endorsements=[e.model_dump() for e in envelope.endorsements], chain_id=envelope.chain_id,
        registry_address=envelope.registry, accepted_at=repository.now(), accepted_block=block, status="accepted",
    )
    return row


def accept_envelope(envelope: Envelope, *, chain: ChainClient, sessions: sessionmaker[Session],
                    settings: Settings, service_public_key: bytes, writer: RecordWriter | None = None) -> Accepted:
    """Check ``envelope`` completely, then store it durably (committed before returning; through ``writer``'s
    group commit when given)."""
    row = prepare_record(envelope, chain=chain, settings=settings, service_public_key=service_public_key)
    if writer is not None:
        return Accepted(*writer.insert(row))
    with sessions() as session:
        stored, created = repository.insert_record(session, row=row)
    return Accepted(stored, created)


def accept_many(envelopes: list[Envelope], *, chain: ChainClient, sessions: sessionmaker[Session],
                settings: Settings, service_public_key: bytes) -> list[Accepted | BindaasError]:
    """Check every envelope; store all that pass in one transaction. One result per envelope, in order."""
    results: list[Accepted | BindaasError] = []
    rows: list[RecordRow] = []
    for envelope in envelopes:
        try:
            rows.append(prepare_record(envelope, chain=chain, settings=settings,
                                       service_public_key=service_public_key))
            results.append(Accepted(rows[-1], True))
        except BindaasError as exc:
            results.append(exc)
    with sessions() as session:
        created = repository.insert_records(session, rows=rows)
    fresh = {row.id for row in created}
    out: list[Accepted | BindaasError] = []
    for result in results:
        if isinstance(result, Accepted):
            rid = result.record.id
            result = Accepted(result.record, rid in fresh)
            fresh.discard(rid)  # the same envelope twice in one bulk is created once
        out.append(result)
    return out
