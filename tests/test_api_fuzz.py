"""The API fuzzed from its own OpenAPI schema (schemathesis, bounded examples): no 5xx, ever, and every error
is an RFC 9457 problem+json body."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from bindaas.api.app import create_app
from bindaas.api.server import running_server
from bindaas.api.services import build_services
from bindaas.config import Settings
from bindaas.demo import deploy_authorities


@pytest.fixture(scope="module")
def live_api(tmp_path_factory):
    config = Settings(data_dir=tmp_path_factory.mktemp("fuzz"), batch_max_delay_s=0.2)
    chain, _ = deploy_authorities(None)
    services = build_services(config, chain)
    with running_server(create_app(config, services=services)) as url:
        yield url
    services.engine.dispose()


OPERATIONS = [("POST", "/records"), ("POST", "/records/bulk"), ("GET", "/records"), ("GET", "/records/{record_id}"),
              ("GET", "/records/{record_id}/verify"), ("GET", "/authorities"), ("GET", "/health"),
              ("GET", "/models"), ("GET", "/models/{model_id}"), ("GET", "/models/{model_id}/verify"),
              ("POST", "/predict"), ("POST", "/predict/batch")]


def test_every_operation_is_fuzzed():
    """POST /models/train is left out: a real training per example would take minutes (test_predict_api)."""

    from bindaas.api.app import create_app

    paths = create_app(Settings()).openapi()["paths"]
    listed = {(m.upper(), p) for p, ops in paths.items() for m in ops}
    assert listed - set(OPERATIONS) == {("POST", "/models/train")}


@pytest.mark.parametrize("method,path", OPERATIONS)
def test_no_server_errors_and_every_error_is_a_problem(live_api, method, path):
    schema = schemathesis.openapi.from_url(f"{live_api}/openapi.json")
    operation = schema[path][method]

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(case=operation.as_strategy())
    def fuzz(case):
        response = case.call(base_url=live_api, timeout=60)
        assert response.status_code < 500, f"{method} {path} -> {response.status_code}: {response.text[:300]}"
        if response.status_code >= 400:
            content_type = response.headers.get("content-type", [""])
            content_type = content_type[0] if isinstance(content_type, list) else content_type
            assert content_type.startswith("application/problem+json"), response.text[:300]
            body = response.json()
            assert {"type", "title", "status", "detail"} <= set(body)
            assert body["status"] == response.status_code

    fuzz()
