"""Nobody reads a record without being signed in and allowed by the patient, as the chain says at read time."""

from __future__ import annotations

import base64
import os
import time

import pytest

from bindaas.errors import ChainError
from sqlalchemy import func, select

from bindaas.client import ApiError
from bindaas.demo import signed_envelope
from bindaas.store.models import WrappedKeyRow


@pytest.fixture
def clinic(service, framingham_bundles):
    patient = service.enroll("patient")
    clinician = service.enroll("clinician")
    envelope = signed_envelope(framingham_bundles[0], service.chain, service.authorities, owner=patient.key)
    record_id = service.client.submit(envelope)["id"]
    return {"patient": patient, "clinician": clinician, "record": record_id, "bundle": framingham_bundles[0]}


def _status(call) -> int:
    with pytest.raises(ApiError) as caught:
        call()
    assert caught.value.problem["status"] == caught.value.status
    return caught.value.status


def _wrapped_keys(service, reader: str) -> int:
    with service.services.sessions() as session:
        return session.scalar(select(func.count()).where(WrappedKeyRow.reader_id == reader))


def test_unauthenticated_read_is_401(service, clinic):
    response = service.client.http.get(f"/records/{clinic['record']}", headers={"authorization": ""})
    assert response.status_code == 401
    assert response.json()["field"] == "Authorization"


def test_consent_grant_and_revocation_gate_a_clinician(service, clinic):
    clinician, patient, record = clinic["clinician"], clinic["patient"], clinic["record"]
    assert _status(lambda: clinician.client.record(record)) == 404

    granted = patient.client.set_consent(clinician.key_id)
    assert granted["in_force"] and granted["patient_signature_valid"] and granted["wrapped_keys_added"] == 1
    assert clinician.client.record(record)["bundle"] == clinic["bundle"]
    exported = clinician.client.export(record)  # decrypted on the clinician's side with its ML-KEM key
    assert exported["bundle"] == clinic["bundle"] and exported["encryption"]["reader"] == clinician.key_id
    assert _wrapped_keys(service, clinician.key_id) == 1

    revoked = patient.client.set_consent(clinician.key_id, granted=False)
    assert revoked["in_force"] is False and revoked["wrapped_keys_removed"] == 1
    assert _status(lambda: clinician.client.record(record)) == 404
    assert _status(lambda: clinician.client.export(record)) == 404
    assert _wrapped_keys(service, clinician.key_id) == 0


def test_time_limited_consent_ends_on_time(service, clinic):
    clinician, patient = clinic["clinician"], clinic["patient"]
    access = service.services.access
    if access.consent_verified_on_chain:  # a patient's first on-chain grant registers their key: seconds of work
        access.ensure_key_proven(patient.key.public_key().raw)
    # The window runs from before the grant is sent: on a slow machine the grant's transaction took most of a
    # 3-second window, and the read inside it came too late. Ten seconds, then a wait until one past its end.
    not_after = int(time.time()) + 10
    patient.client.set_consent(clinician.key_id, not_after=not_after)
    assert clinician.client.record(clinic["record"])["id"] == clinic["record"]
    time.sleep(max(0.0, not_after + 1 - time.time()))
    assert _status(lambda: clinician.client.record(clinic["record"])) == 404


def test_endorsing_authority_is_not_a_reader_and_auditor_verifies_without_content(service, clinic):
    assert _status(lambda: service.client.record(clinic["record"])) == 404  # it endorsed, but no consent
    auditor = service.enroll("auditor")
    service.client.wait_anchored([clinic["record"]], timeout_s=30)
    report = auditor.client.verify(clinic["record"])
    assert report["verdict"] == "valid"
    assert "Framingham" not in str(report) and "bundle" not in report
    assert _status(lambda: auditor.client.record(clinic["record"])) == 404


def test_patients_read_only_their_own_and_file_only_their_own(service, clinic, framingham_bundles):
    other = service.enroll("patient")
    assert _status(lambda: other.client.record(clinic["record"])) == 404
    assert clinic["patient"].client.record(clinic["record"])["patient"] == clinic["patient"].key_id
    mine_about_someone_else = signed_envelope(framingham_bundles[1], service.chain, service.authorities,
                                              owner=clinic["patient"].key)
    assert _status(lambda: other.client.submit(mine_about_someone_else)) == 403
    listing = other.client.request("GET", "/records")["records"]
    assert listing == []


def test_a_consent_without_the_patients_signature_is_not_honoured(service, clinic):
    """Where the chain checks ML-DSA-65 (Hardhat, anvil) a forged grant reverts; where authorities relay (the
    embedded py-evm chain, too slow for on-chain verification), an authority that forges a grant on chain (a random
    signature) gains nothing: the service checks the patient's signature in the event."""
    access = service.services.access
    patient, clinician = clinic["patient"], clinic["clinician"]
    statement = access.statement(patient=patient.key_id, grantee=clinician.key_id, granted=True, not_after=0,
                                 nonce=access.next_nonce(patient.key_id))
    if access.consent_verified_on_chain:
        with pytest.raises(ChainError) as caught:
            access.set_consent(statement, os.urandom(3309), patient_key=patient.key.public_key().raw)
        assert caught.value.error_name == "ConsentForged"
        assert not access.consent(patient.key_id, clinician.key_id).granted
        return
    assert service.chain.embedded
    access.set_consent(statement, os.urandom(3309))
    assert service.chain.call(lambda: access.consents.functions.hasConsent(
        bytes.fromhex(patient.key_id[2:]), bytes.fromhex(clinician.key_id[2:])).call(), "hasConsent")
    with pytest.raises(ApiError) as caught:
        clinician.client.record(clinic["record"])
    assert caught.value.status == 404  # refused as if the record did not exist; the reason is on the patient's log
    refused = [e for e in patient.client.access_log(patient.key_id)["events"] if not e["success"]]
    assert "valid patient signature" in refused[-1]["event"]["outcomeDesc"]


def test_consent_signed_by_someone_else_is_refused(service, clinic):
    patient, clinician = clinic["patient"], clinic["clinician"]
    info = patient.client.request("GET", "/consents/nonce")
    body = {"grantee": clinician.key_id, "granted": True, "not_after": 0, "nonce": info["nonce"],
            "signature": base64.b64encode(os.urandom(3309)).decode()}
    response = patient.client.http.post("/consents", json=body)
    assert response.status_code == 422 and response.json()["field"] == "signature"
    stale = patient.client.http.post("/consents", json=body | {"nonce": info["nonce"] + 5})
    assert stale.status_code == 422 and stale.json()["field"] == "nonce"
