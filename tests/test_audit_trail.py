"""Every access to a patient's records is a FHIR AuditEvent the patient can see, anchored on chain so that an
edited or deleted event is detected."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import delete, select, update

from bindaas.client import ApiError
from bindaas.demo import signed_envelope
from bindaas.fhir.validate import _validator
from bindaas.store.models import AuditRow


@pytest.fixture
def history(service, framingham_bundles):
    """A patient's record read by a consented clinician, refused to another, exported, then consent revoked."""
    patient, reader, stranger = service.enroll("patient"), service.enroll("clinician"), service.enroll("clinician")
    record = service.client.submit(signed_envelope(framingham_bundles[0], service.chain, service.authorities,
                                                   owner=patient.key))["id"]
    patient.client.set_consent(reader.key_id)
    reader.client.record(record)
    with pytest.raises(ApiError):
        stranger.client.record(record)
    reader.client.export(record)
    patient.client.record(record)
    patient.client.set_consent(reader.key_id, granted=False)
    service.services.anchorer.drain()
    return {"patient": patient, "reader": reader, "stranger": stranger, "record": record}


def test_patient_sees_every_access_in_order(service, history):
    patient, reader, stranger = history["patient"], history["reader"], history["stranger"]
    log = patient.client.access_log(patient.key_id, verify=True)["events"]
    seen = [(e["action"], e["agent"], e["success"]) for e in log]
    assert seen == [("consent", patient.key_id, True), ("read", reader.key_id, True),
                    ("read", stranger.key_id, False), ("export", reader.key_id, True),
                    ("read", patient.key_id, True), ("consent", patient.key_id, True)]
    assert all(e["status"] == "anchored" and e["verified"]["ok"] for e in log)
    assert all(e["anchor"]["tx_hash"].startswith("0x") for e in log)


def test_audit_events_are_valid_fhir_r4_and_carry_no_clinical_content(service, history):
    log = history["patient"].client.access_log(history["patient"].key_id)["events"]
    validator = _validator("AuditEvent")
    for entry in log:
        assert validator.is_valid(entry["event"]), entry["event"]
    text = json.dumps([e["event"] for e in log])
    assert "Observation" not in text and "valueQuantity" not in text


def test_only_the_patient_and_auditors_see_the_log(service, history):
    patient = history["patient"]
    with pytest.raises(ApiError) as caught:
        history["reader"].client.access_log(patient.key_id)
    assert caught.value.status == 403
    auditor = service.enroll("auditor")
    events = auditor.client.access_log(patient.key_id)["events"]
    assert len(events) == 7  # the six accesses, and the refused look at the log just now
    assert (events[-1]["action"], events[-1]["success"]) == ("access-log", False)
    assert auditor.client.verify_audit_log()["verdict"] == "valid"


def test_an_edited_audit_event_is_detected(service, history):
    patient = history["patient"]
    with service.services.sessions() as session:
        failed = session.scalar(select(AuditRow).where(AuditRow.success.is_(False), AuditRow.action == "read"))
        session.execute(update(AuditRow).where(AuditRow.id == failed.id).values(
            event_json=failed.event_json.replace('"outcome":"4"', '"outcome":"0"')))
        session.commit()
    log = patient.client.access_log(patient.key_id, verify=True)["events"]
    edited = [e for e in log if not e["verified"]["ok"]]
    assert len(edited) == 1 and "edited" in edited[0]["verified"]["detail"]
    report = service.enroll("auditor").client.verify_audit_log()
    assert report["verdict"] == "invalid" and "edited" in report["problems"][0]


def test_a_deleted_audit_event_is_detected(service, history):
    with service.services.sessions() as session:
        victim = session.scalar(select(AuditRow).where(AuditRow.action == "export"))
        session.execute(delete(AuditRow).where(AuditRow.id == victim.id))
        session.commit()
    report = service.enroll("auditor").client.verify_audit_log()
    assert report["verdict"] == "invalid"
    assert any("deleted" in problem for problem in report["problems"]), report
