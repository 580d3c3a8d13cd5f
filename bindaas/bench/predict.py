"""Prediction latency (in-process and over HTTP at a fixed rate) and training time per model on Framingham."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from bindaas.api.app import create_app
from bindaas.api.server import running_server
from bindaas.api.services import build_services
from bindaas.bench._util import scratch_dir
from bindaas.client import BindaasClient
from bindaas.config import Settings
from bindaas.demo import deploy_authorities, signed_envelopes
from bindaas.errors import InvalidInput
from bindaas.fhir.datasets import dataset_bundles
from bindaas.ledger.accept import accept_envelope
from bindaas.ml.estimators import MODEL_KINDS, make_model
from bindaas.ml.evaluate import dataset_matrix
from bindaas.ml.serving import predict_bundle
from bindaas.ml.training import train_from_store
from bindaas.store import repository


def _scorable(model: Any, bundle: dict) -> bool:
    try:
        predict_bundle(model, bundle)
        return True
    except InvalidInput:
        return False


def pct(samples: list[float]) -> dict[str, float]:
    return {"p50_ms": round(float(np.percentile(samples, 50)), 3), "p99_ms": round(float(np.percentile(samples, 99)), 3)}


def predict_bench(*, records: int = 600, rate: float = 200.0, requests: int = 1000) -> dict[str, Any]:
    """Train every model on all of Framingham (timed), then a DNN-2F on verified stored records, and time
    predictions in-process and over HTTP at ``rate`` requests/s."""
    X, y, _ = dataset_matrix("framingham")
    training = {}
    for kind in MODEL_KINDS:
        started = time.perf_counter()
        make_model(kind, device="cpu").fit(X, y)
        training[kind] = round(time.perf_counter() - started, 3)

    settings = Settings(data_dir=scratch_dir(), fhir_validation="schema")
    chain, authorities = deploy_authorities(None)
    services = build_services(settings, chain)
    bundles = list(dataset_bundles("framingham", limit=records))
    for envelope in signed_envelopes(bundles, chain, authorities):
        accept_envelope(envelope, chain=chain, access=services.access, sessions=services.sessions,
                        settings=settings, service_public_key=services.service_key.public_key)
    services.anchorer.drain()
    row, _ = train_from_store(services, task="chd-10y", kind="dnn2f", device="cpu")
    with services.sessions() as session:
        model = services.models.get(repository.get_model(session, model_id=row.id))
    bundles = [b for b in bundles if _scorable(model, b)]  # the patients the model applies to (the rest get a 422)

    in_process = []
    for i in range(requests):
        started = time.perf_counter()
        predict_bundle(model, bundles[i % len(bundles)])
        in_process.append((time.perf_counter() - started) * 1000)

    http_ms = []
    with running_server(create_app(settings, services=services, run_anchorer=False)) as url, \
            BindaasClient(url, key=authorities[0].key) as signed_in:
        signed_in.sign_in()  # once, outside the timed loop; every request still carries and checks the token
        client = signed_in.http
        client.post("/predict", json={"bundle": bundles[0]})  # warm-up
        interval = 1.0 / rate
        next_at = time.perf_counter()
        for i in range(requests):
            time.sleep(max(0.0, next_at - time.perf_counter()))
            started = time.perf_counter()
            response = client.post("/predict", json={"bundle": bundles[i % len(bundles)]})
            http_ms.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise RuntimeError(response.text)
            next_at += interval
    services.engine.dispose()
    return {"training_seconds_framingham_4240": training, "predict_in_process": pct(in_process),
            "predict_http": pct(http_ms), "http_rate_per_s": rate, "requests": requests, "model": row.id}
