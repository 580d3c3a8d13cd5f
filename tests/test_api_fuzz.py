"""The API fuzzed from its own OpenAPI schema (schemathesis, bounded examples), signed in as an authority and
anonymously: no 5xx, ever, and every error is an RFC 9457 problem+json body."""

from __future__ import annotations

import httpx
import pytest
import schemathesis
from schemathesis.specs.openapi.checks import positive_data_acceptance
from hypothesis import HealthCheck, given, settings

from bindaas.config import Settings
from bindaas.demo import deploy_authorities
from tests.conftest import Deployed, serving


@pytest.fixture(scope="module")
def live_api(tmp_path_factory):
    # Audit events anchor every 2 s, not every 0.2: no case here waits for anchoring, and each batch is a block on
    # the embedded chain, whose eth_getLogs (eth-tester) reads every block's receipts. At 0.2 s the module took
    # 120 s, GET /consents, GET /audit/verify and $export 18-25 s each; at 2 s, 45 s.
    config = Settings(data_dir=tmp_path_factory.mktemp("fuzz"), batch_max_delay_s=2.0)
    with serving(config, Deployed(*deploy_authorities(None))) as service:
        yield service.url, {"Authorization": f"Bearer {service.client.token}"}

OPERATIONS = [("POST", "/records"), ("POST", "/records/bulk"), ("GET", "/records"), ("GET", "/records/{record_id}"),
              ("GET", "/records/{record_id}/verify"), ("GET", "/authorities"), ("GET", "/health"),
              ("GET", "/models"), ("GET", "/models/{model_id}"), ("GET", "/models/{model_id}/verify"),
              ("POST", "/predict"), ("POST", "/predict/batch"), ("GET", "/records/{record_id}/status"),
              ("GET", "/records/{record_id}/export"), ("POST", "/auth/challenge"), ("POST", "/auth/token"),
              ("POST", "/identities"), ("GET", "/identities/{key_id}"), ("POST", "/identities/{key_id}/revoke"),
              ("GET", "/consents"), ("POST", "/consents"), ("GET", "/consents/nonce"),
              ("GET", "/patients/{patient_id}/access-log"), ("GET", "/audit/verify"), ("POST", "/identities/bulk"),
              ("GET", "/records/{record_id}/receipt"), ("POST", "/predict/chart"), ("GET", "/metrics"),
              ("GET", "/cds-services"), ("POST", "/cds-services/{service_id}"), ("GET", "/fhir/metadata"),
              ("GET", "/fhir/{resource_type}"), ("GET", "/fhir/{resource_type}/{resource_id}"),
              ("GET", "/fhir/Patient/{patient}/$export"), ("GET", "/fhir/bulk-status/{job}"),
              ("DELETE", "/fhir/bulk-status/{job}"), ("GET", "/fhir/bulk-files/{job}/{name}"),
              ("POST", "/records/import"), ("PUT", "/records/{record_id}/objects/{sha3}"),
              ("GET", "/records/{record_id}/objects/{sha3}"), ("POST", "/predict/image"),
              ("POST", "/records/{record_id}/objects/{sha3}/predict")]


def test_every_operation_is_fuzzed():
    """POST /models/train is left out: a real training per example would take minutes (test_predict_api)."""

    from bindaas.api.app import create_app

    paths = create_app(Settings()).openapi()["paths"]
    listed = {(m.upper(), p) for p, ops in paths.items() for m in ops}
    assert listed - set(OPERATIONS) == {("POST", "/models/train")}


@schemathesis.serializer("application/x-ndjson")
def _ndjson(ctx, value) -> bytes:  # the import route's body: lines of text, sent as they are
    return value.encode() if isinstance(value, str) else str(value).encode()


schemathesis.serializer.alias("application/dicom", "application/octet-stream")
schemathesis.serializer.alias(["image/jpeg", "image/png"], "application/octet-stream")


# Bodies whose validity no schema can state (signatures that must verify, keys the chain must know, a nonce that
# must be the next one, a bundle that must be valid FHIR R4): a schema-valid example is refused with a 422 naming
# the field, which is the right answer, so schemathesis's "schema-valid data is accepted" check does not apply.
SEMANTIC = {("POST", "/records"), ("POST", "/records/bulk"), ("POST", "/auth/token"), ("POST", "/identities"),
            ("POST", "/identities/bulk"), ("POST", "/consents"), ("POST", "/predict"), ("POST", "/predict/batch"), ("POST", "/predict/chart"),
            ("POST", "/cds-services/{service_id}"), ("POST", "/records/import"),
            ("PUT", "/records/{record_id}/objects/{sha3}"), ("POST", "/predict/image")}


@pytest.mark.parametrize("method,path", OPERATIONS)
def test_no_server_errors_and_every_error_is_a_problem(live_api, method, path):
    url, token = live_api
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    operation = schema[path][method]

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(case=operation.as_strategy())
    def fuzz(case):
        # Every check schemathesis has: no 5xx, documented status codes, content types, headers and response
        # schemas, schema-valid requests accepted, invalid ones refused, a 405 with Allow.
        excluded = [positive_data_acceptance] if (method, path) in SEMANTIC else []
        response = case.call_and_validate(base_url=url, timeout=60, headers=token, excluded_checks=excluded)
        assert response.status_code < 500, f"{method} {path} -> {response.status_code}: {response.text[:300]}"
        if response.status_code >= 400:
            content_type = response.headers.get("content-type", [""])
            content_type = content_type[0] if isinstance(content_type, list) else content_type
            body = response.json()
            if path.startswith("/fhir/"):
                assert content_type.startswith("application/fhir+json"), response.text[:300]
                assert body["resourceType"] == "OperationOutcome" and body["issue"][0]["diagnostics"]
            else:
                assert content_type.startswith("application/problem+json"), response.text[:300]
                assert {"type", "title", "status", "detail"} <= set(body)
                assert body["status"] == response.status_code

    fuzz()


PUBLIC = {("GET", "/health"), ("POST", "/auth/challenge"), ("POST", "/auth/token"), ("GET", "/cds-services"),
          ("GET", "/fhir/metadata")}


@pytest.mark.parametrize("method,path", [op for op in OPERATIONS if op not in PUBLIC])
def test_every_other_operation_refuses_callers_without_a_token(live_api, method, path):
    url, _ = live_api
    concrete = path.replace("{record_id}", "0x" + "ab" * 32).replace("{model_id}", "0x" + "ab" * 32) \
        .replace("{key_id}", "0x" + "ab" * 32).replace("{patient_id}", "0x" + "ab" * 32) \
        .replace("{service_id}", "bindaas-chd-risk").replace("{resource_type}", "Observation") \
        .replace("{resource_id}", "x").replace("{sha3}", "ab" * 32).replace("{patient}", "x").replace("{job}", "0" * 32).replace("{name}", "a.ndjson")
    for headers in ({}, {"authorization": "Bearer v1.forged.token"}):
        response = httpx.request(method, url + concrete, json={}, headers=headers, timeout=30)
        assert response.status_code == 401, (method, path, response.text)
        assert response.headers["content-type"].startswith(
            "application/fhir+json" if path.startswith("/fhir/") else "application/problem+json")
        assert response.headers["www-authenticate"].startswith("Bearer")
