"""Models train on the verified store, are registered on chain, serve predictions, and catch tampering."""

from __future__ import annotations

import copy

import pytest
from bindaas.demo import signed_envelope
from bindaas.fhir.datasets import dataset_bundles
from tests.helpers import rewrite_payload, synthea_bundles


@pytest.fixture(scope="module")
def service(module_service):
    """Every test of this module shares one service per chain: the store and model the setup makes take seconds."""
    return module_service


@pytest.fixture(scope="module")
def trained(service):
    bundles = list(dataset_bundles("framingham", limit=140))
    patient = service.enroll("patient")  # one patient's key owns them all, so the record reads can be tested
    # In one bulk submission: 140 requests one after another would only retest single-record ingest, at a second a test.
    envelopes = [signed_envelope(b, service.chain, service.authorities, owner=patient.key) for b in bundles]
    ids = [result["id"] for result in service.client.submit_bulk(envelopes)]
    service.client.wait_anchored(ids, timeout_s=60)
    # One stored record is damaged after anchoring: it must not reach training.
    rewrite_payload(service.services, ids[0], lambda text: text.replace('"final"', '"FINAL"', 1))
    response = service.client.http.post("/models/train", json={"task": "chd-10y", "kind": "dnn2f",
                                                               "device": "cpu"}, timeout=300)
    assert response.status_code == 201, response.text
    return {"model": response.json(), "ids": ids, "bundles": bundles, "patient": patient}


def test_training_uses_only_records_that_verify(service, trained):
    model = trained["model"]
    assert model["training_records"] == len(trained["ids"]) - 1
    assert model["excluded"] == {"verification invalid": 1}
    assert 0.0 <= model["metrics"]["auroc"] <= 1.0
    assert model["id"] in [listed["id"] for listed in service.client.http.get("/models").json()["models"]]


def test_training_the_same_configuration_again_returns_the_same_model(service, trained):
    # Logistic regression trains to the same weights on the same records, so to the same model id (the DNN's
    # weights differ from run to run, so its second training is a model of its own).
    before = len(service.client.http.get("/models").json()["models"])
    first, again = (service.client.http.post("/models/train", json={"task": "chd-10y", "kind": "logreg"},
                                             timeout=300) for _ in range(2))
    assert (first.status_code, again.status_code) == (201, 200), again.text
    assert again.json()["id"] == first.json()["id"]
    assert len(service.client.http.get("/models").json()["models"]) == before + 1


def test_model_provenance_verifies_against_the_chain(service, trained):
    report = service.client.http.get(f"/models/{trained['model']['id']}/verify").json()
    assert report["verdict"] == "valid", report
    on_chain = service.chain.model_of(bytes.fromhex(trained["model"]["id"][2:]))
    assert on_chain.training_root == trained["model"]["training_root"]
    assert on_chain.training_records == trained["model"]["training_records"]


def test_tampered_model_artifact_fails_verification(service, trained):
    model_id = trained["model"]["id"]
    artifact = service.services.settings.data_dir / "models" / f"{model_id[2:]}.pkl"
    original = artifact.read_bytes()
    tampered = bytearray(original)
    tampered[len(tampered) // 2] ^= 0x01
    artifact.write_bytes(bytes(tampered))
    try:
        report = service.client.http.get(f"/models/{model_id}/verify").json()
        assert (report["verdict"], report["failed_check"]) == ("invalid", "weights_hash")
        service.services.models.loaded.clear()
        response = service.client.http.post("/predict", json={"bundle": trained["bundles"][5], "model_id": model_id})
        assert response.status_code == 409
        assert response.json()["type"] == "urn:bindaas:problem:model-tampered"
    finally:  # the module's other tests predict with this model
        artifact.write_bytes(original)
        service.services.models.loaded.clear()


def test_predict_from_a_bundle(service, trained):
    response = service.client.http.post("/predict", json={"bundle": trained["bundles"][3]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_id"] == service.client.http.get("/models").json()["models"][0]["id"]  # the newest
    assert 0 < body["probability"] < 1
    assert body["label"] == (body["probability"] >= body["threshold"])
    assert {"age", "systolic_bp", "total_cholesterol"} <= set(body["features_used"])
    assert body["top_contributions"] and {"feature", "value", "contribution"} == set(body["top_contributions"][0])


def test_predict_from_a_stored_record_needs_consent_and_is_logged(service, trained):
    refused = service.client.http.post("/predict", json={"record_id": trained["ids"][4]})
    assert refused.status_code == 404  # an authority without the patient's consent: as if there were no record
    patient = trained["patient"]
    body = patient.client.http.post("/predict", json={"record_id": trained["ids"][4]}).json()
    assert body["features_used"]["age"] > 0
    log = patient.client.access_log(patient.key_id)["events"]
    assert [(e["action"], e["success"]) for e in log if e["action"] == "predict"] == [("predict", False),
                                                                                       ("predict", True)]


def test_synthea_bundle_is_scored_with_missing_features_reported(service, trained):
    young = synthea_bundles()[0]  # 31.8 years old at the last visit: younger than anyone the model learnt from
    assert "is outside the" in _refusal(service, young)["detail"]
    older = copy.deepcopy(young)
    patient = _patient(older)
    patient["birthDate"] = str(int(patient["birthDate"][:4]) - 12) + patient["birthDate"][4:]
    body = service.client.http.post("/predict", json={"bundle": older}).json()
    assert 0 < body["probability"] < 1
    assert "glucose" in body["features_missing"] and "glucose" in body["imputed"]
    assert body["features_used"]["systolic_bp"] > 0  # read from the 55284-4 panel's component


def test_bundle_without_usable_features_is_422(service, trained):
    bundle = copy.deepcopy(trained["bundles"][0])
    bundle["entry"] = bundle["entry"][:1]  # the Patient alone
    response = service.client.http.post("/predict", json={"bundle": bundle})
    assert response.status_code == 422 and response.json()["field"] == "bundle"


def test_unknown_model_is_404(service, trained):
    response = service.client.http.post("/predict", json={"bundle": trained["bundles"][0], "model_id": "0x" + "0" * 64})
    assert response.status_code == 404 and response.json()["field"] == "model_id"


def test_wrong_types_are_422(service, trained):
    response = service.client.http.post("/predict", json={"bundle": "not a bundle"})
    assert response.status_code == 422 and response.json()["field"] == "bundle"
    response = service.client.http.post("/predict", json={"bundle": trained["bundles"][0], "record_id": "0x1"})
    assert response.status_code == 422


def test_batch_predicts_in_order_and_names_a_bad_item(service, trained):
    items = [{"bundle": b} for b in trained["bundles"][10:14]]
    body = service.client.http.post("/predict/batch", json={"items": items}).json()
    assert len(body["predictions"]) == 4
    single = service.client.http.post("/predict", json=items[2]).json()
    assert body["predictions"][2]["probability"] == single["probability"]
    bad = [*items, {"record_id": "0x" + "9" * 64}]
    response = service.client.http.post("/predict/batch", json={"items": bad})
    assert response.status_code == 404 and response.json()["field"] == "items[4].record_id"


def _patient(bundle: dict) -> dict:
    return next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")


def _observations(bundle: dict, loinc: str) -> list[dict]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"
            and any(c.get("code") == loinc for c in e["resource"]["code"]["coding"])]


def _refusal(service, bundle: dict) -> dict:
    response = service.client.http.post("/predict", json={"bundle": bundle})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    return response.json()


def test_a_child_and_a_95_year_old_are_refused_in_words(service, trained):
    population = trained["model"]["config"]["population"]
    low, high = population["age"]
    for birth_year, age in (("2017", 3), ("1925", 95)):
        bundle = copy.deepcopy(trained["bundles"][2])
        _patient(bundle)["birthDate"] = birth_year  # the index visit is in 2020
        problem = _refusal(service, bundle)
        assert problem["detail"].startswith(f"age {age} is outside the {low}–{high} years this model was trained on")
        assert problem["outside_population"] == ["age"]


def test_a_bundle_without_blood_pressure_is_refused_naming_what_is_missing(service, trained):
    bundle = copy.deepcopy(trained["bundles"][2])
    bundle["entry"] = [e for e in bundle["entry"] if not _observations({"entry": [e]}, "55284-4")]
    problem = _refusal(service, bundle)
    assert problem["missing_required"] == ["systolic_bp"]
    assert "needs systolic_bp" in problem["detail"]


def test_an_absurd_cholesterol_is_refused_with_or_without_a_wrong_unit(service, trained):
    for value, unit in ((2500, "mg/dL"), (5.2, "mg/dL")):  # absurd; then mmol/L sent as mg/dL
        bundle = copy.deepcopy(trained["bundles"][2])
        quantity = _observations(bundle, "2093-3")[0]["valueQuantity"]
        quantity.update(value=value, unit=unit, code=unit)
        problem = _refusal(service, bundle)
        assert problem["implausible"] == ["total_cholesterol"] and "check the value and its unit" in problem["detail"]
    bundle = copy.deepcopy(trained["bundles"][2])
    _observations(bundle, "2093-3")[0]["valueQuantity"].update(value=2.1, unit="g/L", code="g/L")
    problem = _refusal(service, bundle)
    assert "total_cholesterol (unit 'g/L' not understood)" in problem["detail"]
    _observations(bundle, "2093-3")[0]["valueQuantity"].update(value=5.2, unit="mmol/L", code="mmol/L")
    body = service.client.http.post("/predict", json={"bundle": bundle}).json()
    assert body["features_used"]["total_cholesterol"] == pytest.approx(201.1, abs=0.1)  # converted, then scored


def test_an_answer_names_what_was_imputed_and_warns_out_of_distribution(service, trained):
    bundle = copy.deepcopy(trained["bundles"][2])
    bundle["entry"] = [e for e in bundle["entry"] if not _observations({"entry": [e]}, "2339-0")]  # no glucose
    _observations(bundle, "2093-3")[0]["valueQuantity"].update(value=900, unit="mg/dL", code="mg/dL")
    body = service.client.http.post("/predict", json={"bundle": bundle}).json()
    assert "glucose" in body["imputed"]
    assert "total_cholesterol" in body["out_of_distribution"]["features"]
    assert "Treat this risk with caution" in body["out_of_distribution"]["warning"]
    assert body["applies_to"].startswith("framingham patients, aged")


def test_the_contribution_chart_of_one_prediction_is_a_png(service, trained):
    response = service.client.http.post("/predict/chart", json={"bundle": trained["bundles"][3]})
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    assert response.content[:8] == b"\x89PNG\r\n\x1a\n" and len(response.content) > 5000
