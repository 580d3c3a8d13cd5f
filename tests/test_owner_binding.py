"""Only an identity the chain enrolled may own a record: a patient about themselves, a clinician about a patient
who consented to them. A forged owner is refused at the door, and one already in the store is reported invalid."""

from __future__ import annotations

from bindaas.crypto.canonical import canonical_json
from bindaas.crypto.mldsa import PrivateKey, unb64
from bindaas.demo import signed_envelope
from bindaas.ledger.envelope import build_envelope, endorse
from bindaas.ledger.payload import seal_payload
from bindaas.store import repository
from bindaas.store.models import RecordRow
from tests.helpers import refused_submission


def _endorsed(bundle, owner, service, patient):
    envelope = build_envelope(bundle, owner=owner, chain_id=service.chain.chain_id,
                              registry=service.chain.deployment.registry, patient=patient)
    for authority in service.authorities:
        envelope = endorse(envelope, authority_key=authority.key, authority=authority.address)
    return envelope


def test_a_never_enrolled_owner_key_naming_an_enrolled_patient_is_refused(service, framingham_bundles):
    patient = service.enroll("patient")
    problem = refused_submission(service, _endorsed(framingham_bundles[0], PrivateKey.generate(), service, patient.key_id))
    assert problem["type"] == "urn:bindaas:problem:owner-not-allowed"
    assert problem["field"] == "owner.public_key"
    assert "is not enrolled" in problem["detail"]


def test_a_patient_files_only_about_themselves(service, framingham_bundles):
    alice, bob = service.enroll("patient"), service.enroll("patient")
    problem = refused_submission(service, _endorsed(framingham_bundles[0], alice.key, service, bob.key_id))
    assert problem["field"] == "patient"
    accepted = service.client.submit(_endorsed(framingham_bundles[0], alice.key, service, alice.key_id))
    assert accepted["patient"] == alice.key_id


def test_a_clinician_files_about_a_patient_only_with_that_patients_consent(service, framingham_bundles):
    patient, clinician = service.enroll("patient"), service.enroll("clinician")
    envelope = _endorsed(framingham_bundles[1], clinician.key, service, patient.key_id)
    problem = refused_submission(service, envelope)
    assert (problem["field"], "no consent in force" in problem["detail"]) == ("patient", True)
    patient.client.set_consent(clinician.key_id)
    accepted = service.client.submit(envelope)
    service.client.wait_anchored([accepted["id"]], timeout_s=30)
    assert service.client.verify(accepted["id"])["verdict"] == "valid"


def test_auditors_revoked_keys_and_non_patients_cannot_own_or_be_the_subject(service, framingham_bundles):
    auditor, clinician, other = service.enroll("auditor"), service.enroll("clinician"), service.enroll("clinician")
    assert "enrolled as auditor" in refused_submission(
        service, _endorsed(framingham_bundles[0], auditor.key, service, auditor.key_id))["detail"]
    assert refused_submission(service, _endorsed(framingham_bundles[0], clinician.key, service,
                                       other.key_id))["field"] == "patient"
    patient = service.enroll("patient")
    service.client.revoke_identity(patient.key_id)
    problem = refused_submission(service, _endorsed(framingham_bundles[0], patient.key, service, patient.key_id))
    assert "was revoked" in problem["detail"]


def test_a_forged_owner_written_straight_into_the_store_is_reported_invalid(service, framingham_bundles):
    # As a record accepted before owners were bound to identities: a stranger's key, valid signatures throughout.
    stranger = PrivateKey.generate()
    patient = service.enroll("patient")
    honest = service.client.submit(signed_envelope(framingham_bundles[2], service.chain, service.authorities,
                                                   owner=patient.key))
    forged = _endorsed(framingham_bundles[3], stranger, service, patient.key_id)
    with service.services.sessions() as session:
        row = repository.get_record(session, record_id=honest["id"])
    payload, wrapped = seal_payload(canonical_json(forged.bundle), record_id="0x" + forged.digest().hex(),
                                    service_public_key=service.services.service_key.public_key)
    with service.services.sessions() as session:
        repository.insert_record(session, row=RecordRow(
            id="0x" + forged.digest().hex(), patient_id=patient.key_id, payload=payload, service_key=wrapped,
            salt=forged.salt_bytes(), owner_public_key=stranger.public_key().raw,
            owner_signature=unb64(forged.owner.signature, field="owner"),
            endorsements=[e.model_dump() for e in forged.endorsements], chain_id=forged.chain_id,
            registry_address=forged.registry, accepted_at=repository.now(), accepted_block=row.accepted_block,
            status="accepted"))
    service.services.anchorer.notify()
    service.client.wait_anchored(["0x" + forged.digest().hex()], timeout_s=30)
    report = service.client.verify("0x" + forged.digest().hex())
    assert (report["verdict"], report["failed_check"]) == ("invalid", "owner_identity")
    assert next(c for c in report["checks"] if c["name"] == "owner_signature")["ok"]


def test_a_groups_owners_read_in_one_call_are_what_the_registry_holds_of_each(deployed):
    """The streaming import reads a group's new owners with one enrolmentsOf call (a word each); what it caches
    must be exactly what identityOf says of each (enrolled, revoked, never enrolled)."""
    from bindaas.chain.access import ROLES, AccessChain, Enrolment
    from bindaas.demo import enroll_patients

    keys = [PrivateKey.generate() for _ in range(6)]
    enroll_patients(deployed.chain, keys[:4])
    grouped = AccessChain(deployed.chain)
    grouped.revoke(keys[1].public_key().key_id)
    ids = {k.public_key().key_id for k in keys}
    expected = {}
    for key_id in ids:
        role, enrolled, revoked, _by, _kem_hash = grouped.identities.functions.identityOf(
            bytes.fromhex(key_id[2:])).call()
        expected[key_id] = Enrolment(key_id, ROLES[role], enrolled, revoked) if enrolled else None
    deployed.chain.watch(0.2)
    try:
        grouped.prefetch_identities(ids)
        assert {k: grouped.enrolment(k) for k in ids} == expected
    finally:
        deployed.chain.stop_watching()
    assert sum(e is None for e in expected.values()) == 2 and expected[keys[1].public_key().key_id].revoked_block
