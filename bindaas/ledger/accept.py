"""Acceptance of a signed envelope: every check passes or nothing is stored.

A record is accepted only with a valid owner signature by an identity the chain enrolled as a patient or clinician
(see ``check_owner``) and valid endorsements from at least k distinct authorities that the registry shows
registered and not revoked at the current block (k read from the chain too).
The block is stored with the record and bound into its Merkle leaf, so verification later judges the signers
against the registry as it was then.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from bindaas.chain.access import AccessChain, Enrolment
from bindaas.chain.client import ChainClient
from bindaas.config import Settings
from bindaas.crypto.canonical import canonical_json
from bindaas.crypto.digest import record_digest, signed_message
from bindaas.crypto.mldsa import ENDORSEMENT_CONTEXT, OWNER_CONTEXT, PublicKey, key_id, unb64
from bindaas.errors import (BindaasError, OwnerNotAllowed, PayloadTooLarge, PolicyNotMet, UnknownSigner,
                            WrongDeployment)
from bindaas.fhir.validate import validate_bundle
from bindaas.ledger.anchorer import Anchorer
from bindaas.ledger.envelope import Envelope
from bindaas.ledger.payload import seal_payload
from bindaas.store import repository
from bindaas.store.models import NewRecord, RecordRow


@dataclass(frozen=True)
class Accepted:
    record: NewRecord | RecordRow  # as accepted now, or as stored before (the same envelope sent again)
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


OWNER_ROLES = ("patient", "clinician")


def owner_binding_problem(owner_key_id: str, patient: str, owner: Enrolment | None, subject: Enrolment | None, *,
                          block: int) -> tuple[str, str] | None:
    """Why the owner may not own a record about ``patient`` at ``block`` as (field, sentence), or None when it may:
    the owner must be enrolled and active then as a patient or a clinician; a patient owns records only about
    themselves; a clinician only about an enrolled, active patient (``subject``)."""
    if owner is None or not owner.active_at(block):
        state = "is not enrolled" if owner is None else "was revoked" if owner.revoked_block else "was not active"
        return "owner.public_key", f"owner key {owner_key_id} {state} in the identity registry at block {block}"
    if owner.role not in OWNER_ROLES:
        return "owner.public_key", (f"owner key {owner_key_id} is enrolled as {owner.role}; only a patient or a "
                                    f"clinician owns records")
    if owner.role == "patient" and patient != owner_key_id:
        return "patient", f"a patient owns records only about themselves: patient must be {owner_key_id}"
    if owner.role == "clinician" and (subject is None or subject.role != "patient" or not subject.active_at(block)):
        return "patient", f"patient {patient} is not an enrolled, active patient at block {block}"
    return None


def check_owner(envelope: Envelope, owner: PublicKey, access: AccessChain, *, block: int) -> int:
    """Bind the owner's key to an identity on chain, and return the acceptance block (moved to the chain's head
    when the owner was enrolled after the block the registry view was last read at).

    Beyond ``owner_binding_problem``: a clinician files about a patient only while that patient's consent to the
    clinician is in force, so whoever may write into a patient's record is someone the patient chose.
    """
    patient = envelope.patient.lower()
    enrolment = access.enrolment(owner.key_id)
    if enrolment is not None and enrolment.enrolled_block > block:
        block = access.chain.block_number()
    subject = access.enrolment(patient) if enrolment is not None and enrolment.role == "clinician" else None
    problem = owner_binding_problem(owner.key_id, patient, enrolment, subject, block=block)
    if problem is not None:
        raise OwnerNotAllowed(problem[1], field=problem[0])
    if subject is not None and not access.consent(patient, owner.key_id).allows():
        raise OwnerNotAllowed(f"clinician {owner.key_id} holds no consent in force from patient {patient} to file "
                              f"records about them", field="patient")
    return block


def prepare_record(envelope: Envelope, *, chain: ChainClient, access: AccessChain, settings: Settings,
                   service_public_key: bytes) -> NewRecord:
    """Check ``envelope`` completely and return the record to store (payload encrypted, its key wrapped for the
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

    block = check_owner(envelope, owner_key, access, block=chain.head_for_acceptance())
    authorities = check_endorsements(envelope, message, chain, block=block)
    required = chain.threshold_at(block)
    if len(authorities) < required:
        raise PolicyNotMet(f"{len(authorities)} distinct authorities endorsed this record; the policy needs "
                           f"{required}", field="endorsements")

    record_id = "0x" + digest.hex()
    payload, service_key = seal_payload(canonical, record_id=record_id, service_public_key=service_public_key)
    return NewRecord(
        id=record_id, patient_id=envelope.patient.lower(), payload=payload, service_key=service_key,
        salt=envelope.salt_bytes(),
        owner_public_key=owner_key.raw, owner_signature=owner_signature,
        endorsements=[e.model_dump() for e in envelope.endorsements], chain_id=envelope.chain_id,
        registry_address=envelope.registry, accepted_at=repository.now(), accepted_block=block,
    )


def accept_envelope(envelope: Envelope, *, chain: ChainClient, access: AccessChain, sessions: sessionmaker[Session],
                    settings: Settings, service_public_key: bytes) -> Accepted:
    """Check ``envelope`` completely, then store it durably (committed before returning). The API checks single
    submissions a group at a time instead (``bindaas.ledger.intake``)."""
    row = prepare_record(envelope, chain=chain, access=access, settings=settings,
                         service_public_key=service_public_key)
    with sessions() as session:
        if repository.insert_records(session, rows=[row]):
            return Accepted(row, True)
        stored = repository.get_record(session, record_id=row.id)
    assert stored is not None
    return Accepted(stored, False)


def _owner_key_id(envelope: Envelope) -> str:
    """The owner's key id, or "" when the key is not even base64 (prepare_record names that problem)."""
    try:
        return key_id(unb64(envelope.owner.public_key, field="owner.public_key"))
    except BindaasError:
        return ""


def prepare_many(envelopes: list[Envelope], *, chain: ChainClient, access: AccessChain, settings: Settings,
                 service_public_key: bytes) -> list[NewRecord | BindaasError]:
    """Check every envelope of a group, as ``prepare_record`` does, reading the identities of the owners it has not
    seen in one call first; one row or problem per envelope, in order."""
    access.prefetch_identities({_owner_key_id(e) for e in envelopes} - {""})
    out: list[NewRecord | BindaasError] = []
    for envelope in envelopes:
        try:
            out.append(prepare_record(envelope, chain=chain, access=access, settings=settings,
                                      service_public_key=service_public_key))
        except BindaasError as exc:
            out.append(exc)
    return out


def accept_many(envelopes: list[Envelope], *, chain: ChainClient, access: AccessChain, sessions: sessionmaker[Session],
                settings: Settings, service_public_key: bytes, anchorer: Anchorer | None = None
                ) -> list[Accepted | BindaasError]:
    """Check every envelope; store all that pass before returning (through ``anchorer.store_group`` when given:
    a large group is stored as batches of its own). One result per envelope, in order."""
    prepared = prepare_many(envelopes, chain=chain, access=access, settings=settings,
                            service_public_key=service_public_key)
    return store_prepared(prepared, sessions=sessions, anchorer=anchorer)


def store_prepared(prepared: list[NewRecord | BindaasError], *, sessions: sessionmaker[Session],
                   anchorer: Anchorer | None = None) -> list[Accepted | BindaasError]:
    """Store the rows of checked groups (``prepare_many``'s results, possibly of several groups one after the
    other) in one transaction; problems pass through. One result per item, in order."""
    rows = [item for item in prepared if isinstance(item, NewRecord)]
    with sessions() as session:
        created = (anchorer.store_group(session, rows) if anchorer is not None
                   else repository.insert_records(session, rows=rows))
    fresh = {row.id for row in created}
    out: list[Accepted | BindaasError] = []
    for item in prepared:
        if isinstance(item, NewRecord):
            out.append(Accepted(item, item.id in fresh))
            fresh.discard(item.id)  # the same envelope twice in one bulk is created once
        else:
            out.append(item)
    return out
