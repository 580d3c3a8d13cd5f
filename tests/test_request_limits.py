"""Hostile bodies are refused before they reach a parser, and the server keeps serving."""

from __future__ import annotations

import json

from bindaas.demo import signed_envelope


def _post(service, content: bytes, path: str = "/records"):
    return service.client.http.post(path, content=content, headers={"content-type": "application/json"})


def test_deeply_nested_json_is_refused_and_the_server_survives(service):
    for depth in (100, 5_000, 200_000):
        response = _post(service, b'{"bundle":' + b"[" * depth + b"]" * depth + b"}")
        assert response.status_code == 422, response.text
        assert response.json()["type"] == "urn:bindaas:problem:too-deep"
    assert service.client.health()["status"] == "ok"


def test_oversized_body_without_content_length_is_413(service, settings):
    def chunks():
        for _ in range(settings.max_body_bytes // 65536 + 2):
            yield b" " * 65536

    response = service.client.http.post("/records", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.json()["field"] == "body"


def test_too_many_bundle_entries_is_413(service, settings, framingham_bundles):
    bundle = dict(framingham_bundles[0])
    bundle["entry"] = bundle["entry"][:1] * (settings.max_bundle_entries + 1)
    body = json.loads(signed_envelope(bundle, service.chain, service.authorities).model_dump_json())
    response = _post(service, json.dumps(body).encode())
    assert response.status_code == 413 and response.json()["field"] == "bundle.entry"


def test_too_many_endorsements_is_413(service, settings, framingham_bundles):
    envelope = signed_envelope(framingham_bundles[0], service.chain, service.authorities)
    body = json.loads(envelope.model_dump_json())
    body["endorsements"] = body["endorsements"] * (settings.max_endorsements // 3 + 1)
    response = _post(service, json.dumps(body).encode())
    assert response.status_code == 413 and response.json()["field"] == "endorsements"


def test_numbers_without_a_canonical_form_are_422(service, framingham_bundles):
    envelope = json.loads(signed_envelope(framingham_bundles[0], service.chain, service.authorities)
                          .model_dump_json())
    envelope["bundle"]["entry"][1]["resource"]["valueQuantity"] = {"value": 2**60}
    response = _post(service, json.dumps(envelope).encode())
    assert 400 <= response.status_code < 500
    assert response.headers["content-type"].startswith("application/problem+json")
