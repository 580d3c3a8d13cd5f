"""Bad input gets a 4xx RFC 9457 problem naming what is wrong; records already accepted are untouched."""

from __future__ import annotations

import copy
import json

import pytest

from bindaas.demo import signed_envelope


@pytest.fixture
def accepted(service, framingham_bundles):
    record_id = service.client.submit(signed_envelope(framingham_bundles[0], service.chain,
                                                      service.authorities))["id"]
    service.client.wait_anchored([record_id], timeout_s=30)
    return record_id


@pytest.fixture
def good(service, framingham_bundles) -> dict:
    return json.loads(signed_envelope(framingham_bundles[1], service.chain, service.authorities).model_dump_json())


def _post(service, body: bytes | dict):
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return service.client.http.post("/records", content=content, headers={"content-type": "application/json"})


def _problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"] and body["type"].startswith("urn:")
    return body


def _bad(good: dict, path: str, value) -> dict:
    envelope = copy.deepcopy(good)
    *parents, last = path.split(".")
    node = envelope
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    if value is KeyError:
        del node[last]
    else:
        node[int(last) if last.isdigit() else last] = value
    return envelope


def test_malformed_json(service, accepted):
    body = _problem(_post(service, b'{"bundle": {"resourceType": "Bundle",'), 400)
    assert body["field"] == "body"


def test_missing_owner(service, good):
    assert _problem(_post(service, _bad(good, "owner", KeyError)), 422)["field"] == "owner"


def test_not_a_bundle(service, good):
    body = _problem(_post(service, _bad(good, "bundle.resourceType", "Patient")), 422)
    assert body["field"] == "bundle.resourceType"


def test_wrong_fhir_type_names_the_field(service, good):
    envelope = _bad(good, "bundle.entry.0.resource.birthDate", 1970)
    body = _problem(_post(service, envelope), 422)
    assert body["type"] == "urn:bindaas:problem:invalid-fhir"
    assert body["field"] == "bundle.entry[0].resource.birthDate"


def test_unknown_fhir_element_names_the_field(service, good):
    envelope = _bad(good, "bundle.entry.1.resource.colour", "blue")
    body = _problem(_post(service, envelope), 422)
    assert body["field"].startswith("bundle.entry[1].resource")


def test_short_public_key(service, good):
    body = _problem(_post(service, _bad(good, "owner.public_key", "AAAA")), 422)
    assert body["type"] == "urn:bindaas:problem:invalid-key"
    assert body["field"] == "owner.public_key"
    assert "1952" in body["detail"]


def test_short_signature(service, good):
    body = _problem(_post(service, _bad(good, "endorsements.0.signature", "AAAA")), 422)
    assert body["field"] in {"owner.signature", "endorsements[0].signature"}


def test_signature_not_base64(service, good):
    body = _problem(_post(service, _bad(good, "owner.signature", "not base64 at all!")), 422)
    assert body["field"] == "owner.signature"


def test_unknown_signer(service, good):
    body = _problem(_post(service, _bad(good, "endorsements.1.key_id", "0x" + "12" * 32)), 422)
    assert body["type"] == "urn:bindaas:problem:unknown-signer"
    assert body["field"] == "endorsements[1].key_id"


def test_policy_not_met(service, good):
    envelope = copy.deepcopy(good)
    envelope["endorsements"] = envelope["endorsements"][:1]
    assert _problem(_post(service, envelope), 422)["type"] == "urn:bindaas:problem:policy-not-met"


def test_bad_salt(service, good):
    assert _problem(_post(service, _bad(good, "salt", "abc")), 422)["field"] == "salt"


def test_unknown_record_is_404_problem(service):
    body = _problem(service.client.http.get("/records/0x" + "00" * 32), 404)
    assert body["field"] == "record_id"


def test_oversized_body_is_413(service, settings):
    body = _problem(_post(service, b"{" + b" " * (settings.max_body_bytes + 1) + b"}"), 413)
    assert body["field"] == "body"


def test_accepted_records_are_untouched_by_bad_input(service, accepted, good):
    before = service.client.status(accepted)
    for envelope in (_bad(good, "owner", KeyError), _bad(good, "salt", "zz"), _bad(good, "chain_id", 1)):
        assert 400 <= _post(service, envelope).status_code < 500
    assert service.client.status(accepted) == before
    assert service.client.verify(accepted)["verdict"] == "valid"
    assert len(service.client.http.get("/records").json()["records"]) == 1
