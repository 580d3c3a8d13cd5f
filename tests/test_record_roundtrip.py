"""A record travels client -> HTTP API -> store -> chain, and verifies."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from bindaas.demo import signed_envelope
from tests.helpers import synthea_bundles


def test_record_is_accepted_anchored_and_verifies(service, framingham_bundles):
    patient = service.enroll("patient")
    envelope = signed_envelope(framingham_bundles[0], service.chain, service.authorities, owner=patient.key)

    receipt = service.client.submit(envelope)
    assert receipt["status"] == "accepted"
    assert receipt["id"] == "0x" + envelope.digest().hex()
    assert receipt["patient"] == patient.key_id

    service.client.wait_anchored([receipt["id"]], timeout_s=30)
    record = patient.client.record(receipt["id"])
    assert record["status"] == "anchored"
    assert record["bundle"] == framingham_bundles[0]
    assert record["anchor"]["tx_hash"].startswith("0x")
    assert record["anchor"]["block"] >= record["accepted_block"]

    report = service.client.verify(receipt["id"])
    assert report["verdict"] == "valid", report
    names = [c["name"] for c in report["checks"]]
    assert names[:2] == ["digest", "owner_signature"]
    assert {"endorsement[0]", "endorsement[1]", "endorsement[2]", "policy", "merkle_proof",
            "anchor_on_chain"} <= set(names)
    anchor = next(c for c in report["checks"] if c["name"] == "anchor_on_chain")
    assert anchor["data"]["block"] == record["anchor"]["block"]


def test_same_envelope_twice_is_one_record(service, framingham_bundles):
    envelope = signed_envelope(framingham_bundles[1], service.chain, service.authorities)
    first = service.client.submit(envelope)
    second = service.client.submit(envelope)
    assert first["id"] == second["id"]
    assert (first["created"], second["created"]) == (True, False)
    assert len(service.client.http.get("/records").json()["records"]) == 1


def test_many_records_share_a_batch_and_each_verifies(service, framingham_bundles):
    # Signed first and sent at once, as a busy ward would: one after another on a loaded machine, each record could
    # outwait the test's 0.2 s batch window and be anchored alone.
    envelopes = [signed_envelope(b, service.chain, service.authorities) for b in framingham_bundles[2:10]]
    with ThreadPoolExecutor(max_workers=len(envelopes)) as pool:
        ids = [receipt["id"] for receipt in pool.map(service.client.submit, envelopes)]
    service.client.wait_anchored(ids, timeout_s=30)
    roots = {service.client.status(rid)["anchor"]["root"] for rid in ids}
    assert len(roots) < len(ids)  # batched, not one transaction per record
    assert all(service.client.verify(rid)["verdict"] == "valid" for rid in ids)


@pytest.mark.parametrize("index", range(5))
def test_synthea_bundle_from_another_system_goes_through(service, index):
    bundle = synthea_bundles()[index]
    patient = service.enroll("patient")
    envelope = signed_envelope(bundle, service.chain, service.authorities, owner=patient.key)
    record_id = service.client.submit(envelope)["id"]
    service.client.wait_anchored([record_id], timeout_s=30)
    assert patient.client.record(record_id)["bundle"] == bundle
    assert service.client.verify(record_id)["verdict"] == "valid"


def test_authorities_and_health_describe_the_deployment(service):
    listing = service.client.authorities()
    assert listing["policy"] == {"threshold": 3, "active": 3, "quorum": 2}
    assert [a["address"] for a in listing["authorities"]] == [a.address for a in service.authorities]
    assert [a["key_id"] for a in listing["authorities"]] == [a.key.public_key().key_id for a in service.authorities]
    health = service.client.health()
    assert health["status"] == "ok"
    assert health["chain"]["registry"] == service.chain.deployment.registry


def test_bulk_submission_accepts_the_good_and_names_the_bad(service, framingham_bundles):
    good = [signed_envelope(b, service.chain, service.authorities) for b in framingham_bundles[:4]]
    bad = signed_envelope(framingham_bundles[4], service.chain, service.authorities[:2])  # policy not met
    body = {"envelopes": [json.loads(e.model_dump_json()) for e in (*good[:2], bad, *good[2:], good[0])]}
    response = service.client.http.post("/records/bulk", json=body)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r.get("created") for r in results] == [True, True, None, True, True, False]
    assert results[2]["problem"]["field"] == "envelopes[2].endorsements"
    ids = [r["id"] for r in results if "id" in r]
    service.client.wait_anchored(ids, timeout_s=30)
    assert all(service.client.verify(rid)["verdict"] == "valid" for rid in set(ids))


def test_concurrent_submissions_are_each_stored_once(service, framingham_bundles):
    """Many request threads at once go through the group commit: every record is stored exactly once and each
    caller hears whether it created it."""
    envelopes = [signed_envelope(b, service.chain, service.authorities) for b in framingham_bundles[:8]]
    with ThreadPoolExecutor(max_workers=16) as pool:
        receipts = list(pool.map(service.client.submit, envelopes + envelopes))
    assert {r["id"] for r in receipts} == {"0x" + e.digest().hex() for e in envelopes}
    created = {}
    for receipt in receipts:
        created.setdefault(receipt["id"], []).append(receipt["created"])
    assert all(sorted(flags) == [False, True] for flags in created.values())
    assert len(service.client.http.get("/records").json()["records"]) == 8
