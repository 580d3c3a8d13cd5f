"""BinDaaS as a citizen of the clinical ecosystem, played by an EHR: a CDS Hooks patient-view call gets a card
whose risk equals /predict on the same bundle; a FHIR client nobody here wrote (fhirpy) searches a consented
patient's Observations and sees nothing of another's; a Bulk Data export round-trips the same resources; and
every prediction can be a RiskAssessment with its Provenance, valid against HL7's R4 schema."""

from __future__ import annotations

import copy
import json
import time

import httpx
import pytest
from fhirpy import SyncFHIRClient

from bindaas.demo import signed_envelope
from bindaas.fhir.datasets import dataset_bundles
from bindaas.fhir.validate import resource_problem
from tests.helpers import synthea_bundles


@pytest.fixture(scope="module")
def service(module_service):
    """Every test of this module shares one service per chain: they only read what the setup stores and trains."""
    return module_service


@pytest.fixture(scope="module")
def ehr(service):
    """A trained model; a Synthea patient's record in the store, her consent to one clinician and not another."""
    owner = service.enroll("patient")
    training = [signed_envelope(b, service.chain, service.authorities, owner=owner.key)
                for b in dataset_bundles("framingham", limit=140)]
    service.client.submit_bulk(training)
    service.services.anchorer.drain()
    assert service.client.http.post("/models/train", json={"kind": "logreg"}, timeout=300).status_code == 201
    bundle = copy.deepcopy(synthea_bundles()[1])  # a real Synthea man of 34, aged 12 years to sit inside the
    patient_resource = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    year = int(patient_resource["birthDate"][:4])  # model's population (its youngest are in their mid-thirties)
    patient_resource["birthDate"] = f"{year - 12}{patient_resource['birthDate'][4:]}"
    patient = service.enroll("patient")
    record = service.client.submit(signed_envelope(bundle, service.chain, service.authorities, owner=patient.key))
    clinician, stranger = service.enroll("clinician"), service.enroll("clinician")
    patient.client.set_consent(clinician.key_id)
    service.client.wait_anchored([record["id"]], timeout_s=30)
    return {"bundle": bundle, "fhir_id": patient_resource["id"], "record": record["id"], "patient": patient,
            "clinician": clinician, "stranger": stranger}


def _hook(patient_id: str, prefetch: dict | None = None) -> dict:
    body = {"hook": "patient-view", "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
            "context": {"userId": "Practitioner/example", "patientId": patient_id}}
    return body | ({"prefetch": prefetch} if prefetch else {})


def test_an_ehr_gets_a_cds_card_whose_risk_equals_predict(service, ehr):
    discovery = httpx.get(f"{service.url}/cds-services").json()
    [offered] = discovery["services"]
    assert offered["hook"] == "patient-view" and set(offered["prefetch"]) == {"patient", "observations", "conditions"}
    clinician = ehr["clinician"].client
    direct = clinician.request("POST", "/predict", json={"bundle": ehr["bundle"]})
    from_store = clinician.request("POST", f"/cds-services/{offered['id']}", json=_hook(ehr["fhir_id"]))
    [card] = from_store["cards"]
    assert card["summary"] == f"10-year coronary heart disease risk {direct['probability']:.0%}"
    assert card["indicator"] in ("info", "warning", "critical")
    assert direct["top_contributions"][0]["feature"] in card["detail"]
    assert card["links"][0]["url"].endswith(f"/models/{direct['model_id']}/verify")
    entries = ehr["bundle"]["entry"]
    prefetch = {"patient": next(e["resource"] for e in entries if e["resource"]["resourceType"] == "Patient"),
                "observations": {"resourceType": "Bundle", "type": "searchset", "entry": [
                    {"resource": e["resource"]} for e in entries if e["resource"]["resourceType"] == "Observation"]},
                "conditions": {"resourceType": "Bundle", "type": "searchset", "entry": [
                    {"resource": e["resource"]} for e in entries if e["resource"]["resourceType"] == "Condition"]}}
    prefetched = clinician.request("POST", f"/cds-services/{offered['id']}", json=_hook(ehr["fhir_id"], prefetch))
    assert prefetched["cards"][0]["summary"] == card["summary"]


def test_a_cds_call_says_what_is_missing_and_refuses_strangers_and_bad_hooks(service, ehr):
    clinician = ehr["clinician"].client
    bare = {"patient": {"resourceType": "Patient", "id": "p1", "gender": "male", "birthDate": "1970-01-01"}}
    [card] = clinician.request("POST", "/cds-services/bindaas-chd-risk", json=_hook("p1", bare))["cards"]
    assert card["summary"] == "Not enough data for a CHD risk estimate" and "systolic_bp" in card["detail"]
    refused = ehr["stranger"].client.http.post("/cds-services/bindaas-chd-risk", json=_hook(ehr["fhir_id"]))
    assert refused.status_code == 404
    bad = clinician.http.post("/cds-services/bindaas-chd-risk", json={**_hook("p1"), "hook": "order-sign"})
    assert bad.status_code == 422 and bad.json()["field"] == "hook"
    assert httpx.post(f"{service.url}/cds-services/bindaas-chd-risk", json=_hook("p1")).status_code == 401


def test_fhirpy_searches_a_consented_patients_observations_and_nothing_of_anothers(service, ehr):
    def fhir(person) -> SyncFHIRClient:
        return SyncFHIRClient(f"{service.url}/fhir", authorization=f"Bearer {person.client.sign_in()['access_token']}")

    metadata = httpx.get(f"{service.url}/fhir/metadata").json()
    assert (metadata["resourceType"], metadata["fhirVersion"]) == ("CapabilityStatement", "4.0.1")
    observations = fhir(ehr["clinician"]).resources("Observation").search(patient=ehr["fhir_id"]).limit(20).fetch_all()
    expected = [e for e in ehr["bundle"]["entry"] if e["resource"]["resourceType"] == "Observation"]
    assert len(observations) == len(expected) > 40  # fetched across pages of 20, following the next links
    assert all(o["meta"]["source"] == f"urn:bindaas:record:{ehr['record']}" for o in observations)
    blood_pressure = fhir(ehr["clinician"]).resources("Observation").search(
        patient=ehr["fhir_id"], code="http://loinc.org|55284-4").fetch_all()
    assert blood_pressure and all(any(c["code"] == "55284-4" for c in o["code"]["coding"]) for o in blood_pressure)
    assert fhir(ehr["stranger"]).resources("Observation").search(patient=ehr["fhir_id"]).fetch_all() == []
    one = observations[0]
    assert ehr["stranger"].client.http.get(f"/fhir/Observation/{one['id']}").status_code == 404
    bad = ehr["clinician"].client.http.get("/fhir/Observation", params={"color": "blue"})
    assert bad.status_code == 422 and bad.json()["resourceType"] == "OperationOutcome"
    log = ehr["patient"].client.access_log(ehr["patient"].key_id)["events"]
    assert any(e["action"] == "read" and e["agent"] == ehr["clinician"].key_id and e["success"] for e in log)


def test_a_bulk_export_round_trips_the_same_resources(service, ehr):
    client = ehr["clinician"].client
    kick = client.http.get(f"/fhir/Patient/{ehr['fhir_id']}/$export", headers={"prefer": "respond-async"})
    assert kick.status_code == 202
    status_url = kick.headers["content-location"]
    deadline = time.monotonic() + 60
    while (poll := client.http.get(status_url)).status_code == 202:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    manifest = poll.json()
    assert manifest["requiresAccessToken"] is True and manifest["error"] == []
    exported = {}
    for output in manifest["output"]:
        lines = client.http.get(output["url"]).text.splitlines()
        exported[output["type"]] = {json.loads(line)["id"]: json.loads(line) for line in lines}
    original = {}
    for entry in ehr["bundle"]["entry"]:
        original.setdefault(entry["resource"]["resourceType"], {})[entry["resource"]["id"]] = entry["resource"]
    assert set(exported) == set(original)
    for rtype, resources in original.items():
        assert set(exported[rtype]) == set(resources)
        for rid, resource in resources.items():
            assert {k: v for k, v in exported[rtype][rid].items() if k != "meta"} == \
                {k: v for k, v in resource.items() if k != "meta"}
    assert ehr["stranger"].client.http.get(status_url).status_code == 404


def test_a_prediction_as_fhir_is_a_valid_risk_assessment_with_its_provenance(service, ehr):
    bundle = ehr["clinician"].client.request("POST", "/predict", params={"format": "fhir"},
                                             json={"record_id": ehr["record"]})
    assessment, origin = (e["resource"] for e in bundle["entry"])
    assert resource_problem(assessment) is None and resource_problem(origin) is None
    assert assessment["subject"]["reference"] == f"Patient/{ehr['fhir_id']}"
    assert assessment["prediction"][0]["outcome"]["coding"][0] == {
        "system": "http://snomed.info/sct", "code": "53741008", "display": "Coronary arteriosclerosis (disorder)"}
    assert 0 < assessment["prediction"][0]["probabilityDecimal"] < 1
    assert origin["target"] == [{"reference": f"RiskAssessment/{assessment['id']}"}]
    model = origin["entity"][0]["what"]
    assert model["identifier"]["value"] == assessment["method"]["coding"][0]["code"]
    assert "training-set Merkle root" in model["display"]
    assert origin["entity"][1]["what"]["identifier"]["value"] == ehr["record"]
    found = ehr["clinician"].client.http.get("/fhir/RiskAssessment", params={"patient": ehr["fhir_id"]}).json()
    assert found["total"] == 1 and resource_problem(found["entry"][0]["resource"]) is None
