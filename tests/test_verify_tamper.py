"""Tampering with any stored part of a record makes verification fail, naming the check that caught it."""

from __future__ import annotations

import base64

import pytest
from sqlalchemy import update

from bindaas.demo import signed_envelope
from bindaas.ledger.verify import open_and_verify_all, verify_stored
from bindaas.store import repository
from bindaas.store.models import BatchRow, RecordRow
from tests.helpers import rewrite_payload


def _flip(text: str, index: int = 10) -> str:
    raw = bytearray(base64.b64decode(text))
    raw[index] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


@pytest.fixture
def anchored_three(service, framingham_bundles):
    # One bulk request stores the three in one transaction, so they share a batch however slow the machine is
    # (three single POSTs can straddle the anchorer's 0.2 s batching delay and each get a batch of one).
    envelopes = [signed_envelope(b, service.chain, service.authorities) for b in framingham_bundles[:3]]
    ids = [r["id"] for r in service.client.submit_bulk(envelopes)]
    service.client.wait_anchored(ids, timeout_s=30)
    return ids


@pytest.fixture
def anchored(anchored_three):
    return anchored_three[0]


def _edit(service, record_id, **values):
    with service.services.sessions() as session:
        repository.update_record(session, record_id=record_id, values=values)
        session.commit()


def _row(service, record_id) -> RecordRow:
    with service.services.sessions() as session:
        return repository.get_record(session, record_id=record_id)


def test_untouched_record_is_valid(service, anchored):
    assert service.client.verify(anchored)["verdict"] == "valid"


def test_one_changed_byte_in_payload_is_caught(service, anchored):
    # An insider with the service's key re-encrypts an edited payload: the GCM tag is fine, the digest is not.
    rewrite_payload(service.services, anchored, lambda text: text.replace('"final"', '"Final"', 1))
    report = service.client.verify(anchored)
    assert report["verdict"] == "invalid"
    assert report["failed_check"] == "digest"
    assert {c["name"] for c in report["checks"] if not c["ok"]} >= {"digest", "owner_signature", "merkle_proof"}


def test_one_flipped_ciphertext_bit_is_caught(service, anchored):
    payload = bytearray(_row(service, anchored).payload)
    payload[40] ^= 0x01
    _edit(service, anchored, payload=bytes(payload))
    report = service.client.verify(anchored)
    assert (report["verdict"], report["failed_check"]) == ("invalid", "digest")
    assert "does not decrypt" in report["checks"][0]["detail"]


def test_changed_salt_is_caught(service, anchored):
    salt = bytearray(_row(service, anchored).salt)
    salt[0] ^= 0xFF
    _edit(service, anchored, salt=bytes(salt))
    report = service.client.verify(anchored)
    assert (report["verdict"], report["failed_check"]) == ("invalid", "digest")


def test_changed_owner_signature_is_caught(service, anchored):
    sig = bytearray(_row(service, anchored).owner_signature)
    sig[100] ^= 0x01
    _edit(service, anchored, owner_signature=bytes(sig))
    report = service.client.verify(anchored)
    assert (report["verdict"], report["failed_check"]) == ("invalid", "owner_signature")


def test_changed_endorsement_is_caught(service, anchored):
    endorsements = _row(service, anchored).endorsements
    endorsements[1] = {**endorsements[1], "signature": _flip(endorsements[1]["signature"])}
    _edit(service, anchored, endorsements=endorsements)
    report = service.client.verify(anchored)
    assert (report["verdict"], report["failed_check"]) == ("invalid", "endorsement[1]")
    policy = next(c for c in report["checks"] if c["name"] == "policy")
    assert policy["data"] == {"required": 3, "valid": 2}


def test_changed_proof_is_caught(service, anchored):
    proof = _row(service, anchored).proof
    assert proof, "three records in one batch give a non-empty proof"
    sibling = proof[0]["sibling"]
    proof[0] = {**proof[0], "sibling": sibling[:-1] + ("0" if sibling[-1] != "0" else "1")}
    _edit(service, anchored, proof=proof)
    report = service.client.verify(anchored)
    assert (report["verdict"], report["failed_check"]) == ("invalid", "merkle_proof")
    assert not next(c for c in report["checks"] if c["name"] == "anchor_on_chain")["ok"]


def test_changed_stored_root_does_not_fool_verification(service, anchored):
    """Verification recomputes the root and asks the chain; a forged root in the store gains nothing."""
    row = _row(service, anchored)
    with service.services.sessions() as session:
        session.execute(update(BatchRow).where(BatchRow.id == row.batch_id).values(root="0x" + "11" * 32))
        session.commit()
    report = service.client.verify(anchored)
    assert (report["verdict"], report["failed_check"]) == ("invalid", "merkle_proof")


def test_changed_accepted_block_is_caught(service, anchored):
    """The acceptance block is bound into the Merkle leaf: moving it (to dodge a revocation) breaks the proof."""
    _edit(service, anchored, accepted_block=_row(service, anchored).accepted_block + 1)
    report = service.client.verify(anchored)
    assert (report["verdict"], report["failed_check"]) == ("invalid", "merkle_proof")



def test_a_record_whose_key_no_longer_unwraps_is_a_409_problem_not_a_crash(service, framingham_bundles):
    patient = service.enroll("patient")
    envelope = signed_envelope(framingham_bundles[5], service.chain, service.authorities, owner=patient.key)
    record_id = service.client.submit(envelope)["id"]
    wrapped = bytearray(_row(service, record_id).service_key)
    wrapped[-1] ^= 0x01
    _edit(service, record_id, service_key=bytes(wrapped))
    response = patient.client.http.get(f"/records/{record_id}/export")
    assert response.status_code == 409
    assert response.json()["type"] == "urn:bindaas:problem:record-damaged"
    assert service.client.verify(record_id)["failed_check"] == "digest"


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_records_verified_in_bulk_on_threads_keep_their_own_verdicts(service, anchored_three, threads):
    # Bulk verification (what training reads the store through) shares the records among threads; a tampered
    # record in the middle must still come back invalid, in its place, and its neighbours valid.
    sig = bytearray(_row(service, anchored_three[1]).owner_signature)
    sig[7] ^= 0x01
    _edit(service, anchored_three[1], owner_signature=bytes(sig))
    rows = [_row(service, record_id) for record_id in anchored_three]
    services = service.services
    with services.sessions() as session:
        batches = repository.batches_by_id(session, ids={r.batch_id for r in rows})

    results = open_and_verify_all(rows, batches, services.chain, services.access, services.service_key,
                                  threads=threads)

    assert [report.record_id for report, _ in results] == anchored_three
    assert [(report.verdict, report.failed_check) for report, _ in results] == [
        ("valid", None), ("invalid", "owner_signature"), ("valid", None)]
    assert all(plaintext and b'"resourceType"' in plaintext for _, plaintext in results)
    one_at_a_time = [verify_stored(row, batches[row.batch_id], services.chain, services.access, services.service_key)
                     for row in rows]
    assert [report.to_json() for report, _ in results] == [report.to_json() for report in one_at_a_time]
