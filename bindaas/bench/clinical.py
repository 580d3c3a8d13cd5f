"""CDS Hooks and FHIR search latency over HTTP."""

from __future__ import annotations

import json
import time
from typing import Any

from bindaas.bench._util import pct, scratch_dir
from bindaas.chain.hardhat import ROOT
from bindaas.config import Settings
from bindaas.crypto.mldsa import PrivateKey
from bindaas.demo import deploy_authorities, signed_envelope, signed_envelopes
from bindaas.fhir.datasets import dataset_bundles


def clinical_interop(*, calls: int = 200, searches: int = 50) -> dict[str, Any]:
    """CDS Hooks patient-view calls and FHIR Observation searches over HTTP, one at a time: p50/p99 (embedded
    chain; a logistic regression trained on 140 verified Framingham records; one consented Synthea patient)."""
    import copy

    from bindaas.api.app import create_app
    from bindaas.api.server import running_server
    from bindaas.api.services import build_services
    from bindaas.client import BindaasClient
    from bindaas.crypto.sealing import KemPrivateKey

    settings = Settings(data_dir=scratch_dir("bindaas-cds-"), fhir_validation="schema")
    chain, authorities = deploy_authorities(None)
    services = build_services(settings, chain)
    samples = sorted((ROOT.parent / "shared" / "fhir-samples").glob("*.json"))
    bundle = copy.deepcopy(json.loads(samples[1].read_text()))
    patient_resource = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    patient_resource["birthDate"] = f"{int(patient_resource['birthDate'][:4]) - 12}{patient_resource['birthDate'][4:]}"
    with running_server(create_app(settings, services=services)) as url, \
            BindaasClient(url, key=authorities[0].key) as authority:
        training = signed_envelopes(list(dataset_bundles("framingham", limit=140)), chain, authorities)
        authority.submit_bulk(training)
        services.anchorer.drain()
        authority.request("POST", "/models/train", json={"kind": "logreg"}, timeout=300)
        people = {role: (PrivateKey.generate(), KemPrivateKey.generate()) for role in ("patient", "clinician")}
        for role, (key, kem) in people.items():
            authority.enroll(role=role, public_key=key.public_key().raw, kem_public_key=kem.public_key)
        patient = BindaasClient(url, key=people["patient"][0])
        clinician = BindaasClient(url, key=people["clinician"][0])
        authority.submit(signed_envelope(bundle, chain, authorities, owner=people["patient"][0]))
        patient.set_consent(clinician.key_id)
        hook = {"hook": "patient-view", "hookInstance": "bench", "context": {"patientId": patient_resource["id"]}}
        cds_ms, search_ms = [], []
        for _ in range(calls):
            started = time.perf_counter()
            clinician.request("POST", "/cds-services/bindaas-chd-risk", json=hook)
            cds_ms.append((time.perf_counter() - started) * 1000)
        for _ in range(searches):
            started = time.perf_counter()
            clinician.request("GET", "/fhir/Observation", params={"patient": patient_resource["id"], "_count": 50})
            search_ms.append((time.perf_counter() - started) * 1000)
        patient.close()
        clinician.close()
    services.engine.dispose()
    return {"cds_patient_view_p50_ms": pct(cds_ms, 50), "cds_patient_view_p99_ms": pct(cds_ms, 99),
            "fhir_search_p50_ms": pct(search_ms, 50), "fhir_search_p99_ms": pct(search_ms, 99),
            "cds_calls": calls, "fhir_searches": searches}
