"""Hostile bodies are refused before they reach a parser, and the server keeps serving."""

from __future__ import annotations

import json
import socket
from urllib.parse import urlsplit

import httpx

from bindaas.api.app import create_app
from bindaas.api.limits import json_depth
from bindaas.api.server import running_server
from bindaas.api.services import build_services
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


def test_a_body_that_stops_arriving_is_408_and_the_server_goes_on(deployed, settings):
    impatient = settings.model_copy(update={"request_read_timeout_s": 0.5})
    services = build_services(impatient, deployed.chain)
    with running_server(create_app(impatient, services=services)) as url:
        where = urlsplit(url)
        with socket.create_connection((where.hostname, where.port), timeout=10) as sock:
            sock.sendall(b"POST /records HTTP/1.1\r\nHost: bindaas\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 1000\r\n\r\n{\"bundle\":")  # then nothing more
            answer = b""
            while b"request-timeout" not in answer and (chunk := sock.recv(65536)):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 408 ")
        assert b"urn:bindaas:problem:request-timeout" in answer
        assert httpx.get(f"{url}/health", timeout=10).status_code == 200
    services.engine.dispose()


def test_nesting_depth_is_read_from_the_bytes_as_a_parser_reads_it():
    """The depth check runs on raw bytes: brackets inside strings, escaped quotes and escaped backslashes must not
    fool it, or a deep body could slip past (or a flat one be refused)."""
    def parsed_depth(value):
        if isinstance(value, dict):
            return 1 + max(map(parsed_depth, value.values()), default=0)
        if isinstance(value, list):
            return 1 + max(map(parsed_depth, value), default=0)
        return 0

    tricky = ['[', ']]]', '{"', '\\', '\\"', '\\\\[', '"]', 'ü{', '\\u005b']
    documents = [1, "x", [], {}, [[[]]], {"a": [tricky, {"b": [[tricky[3]]]}]}, {t: [t, {t: t}] for t in tricky},
                 [[[[{"x": "]]]]]]"}]]]], {"k\\": [[["\\\\"]]]}]
    deep: object = tricky
    for level in range(40):  # past the peels of innermost pairs, so the count bracket by bracket runs too
        deep = [deep, "]"] if level % 2 else {"[": deep, "{": [[], {}]}
        documents.append(deep)
    for document in documents:
        for ascii_only in (True, False):
            text = json.dumps(document, ensure_ascii=ascii_only).encode()
            assert json_depth(text) == parsed_depth(document), text
