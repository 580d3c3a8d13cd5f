"""A CT series and a chest radiograph go from DICOM through a signed, anchored, verified record to a FHIR
ImagingStudy a consented clinician reads back, with the images themselves; one changed byte of a stored DICOM
object makes verification fail with the check named."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom.data import get_testdata_file
from sqlalchemy import update

from bindaas.demo import signed_envelope
from bindaas.imaging.dicom_fhir import dicom_to_bundle, read_objects
from bindaas.store.models import DicomObjectRow

CT_SERIES = Path(get_testdata_file("CT_small.dcm")).parent / "dicomdirtests" / "77654033" / "CT2"


def _radiograph() -> Path:
    found = get_testdata_file("RG1_UNCI.dcm")  # a real chest CR, from the pydicom-data package
    if found is None:
        pytest.skip("pydicom-data is not installed")
    return Path(found)


@pytest.mark.parametrize("source", ["ct-series", "chest-radiograph"])
def test_dicom_becomes_a_signed_anchored_record_a_consented_clinician_reads_back(service, source):
    path = CT_SERIES if source == "ct-series" else _radiograph()
    objects = read_objects(path)
    patient, clinician = service.enroll("patient"), service.enroll("clinician")
    envelope = signed_envelope(dicom_to_bundle(objects), service.chain, service.authorities, owner=patient.key)
    record = service.client.submit(envelope)["id"]
    uploaded = [service.client.upload_object(record, o.path.read_bytes()) for o in objects]
    assert all(u["created"] for u in uploaded) and len(uploaded) == len(objects)
    assert service.client.upload_object(record, objects[0].path.read_bytes())["created"] is False  # idempotent
    service.client.wait_anchored([record], timeout_s=30)
    report = service.client.verify(record)
    assert report["verdict"] == "valid"
    assert next(c for c in report["checks"] if c["name"] == "imaging_objects")["ok"]

    patient.client.set_consent(clinician.key_id)
    study = clinician.client.request("GET", "/fhir/ImagingStudy", params={"patient": "x"})  # other patients: none
    assert study["total"] == 0
    fhir_patient = next(e["resource"]["id"] for e in envelope.bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    found = clinician.client.request("GET", "/fhir/ImagingStudy", params={"patient": fhir_patient})
    [resource] = [e["resource"] for e in found["entry"]]
    assert resource["numberOfInstances"] == len(objects) and resource["meta"]["source"].endswith(record)
    sha3 = objects[0].sha3
    image = clinician.client.http.get(f"/records/{record}/objects/{sha3}")
    assert image.status_code == 200 and image.content == objects[0].path.read_bytes()
    assert service.enroll("clinician").client.http.get(f"/records/{record}/objects/{sha3}").status_code == 404


def test_one_changed_byte_of_a_stored_dicom_object_fails_verification(service):
    objects = read_objects(CT_SERIES)
    patient = service.enroll("patient")
    record = service.client.submit(signed_envelope(dicom_to_bundle(objects), service.chain, service.authorities,
                                                   owner=patient.key))["id"]
    for o in objects:
        service.client.upload_object(record, o.path.read_bytes())
    service.client.wait_anchored([record], timeout_s=30)
    with service.services.sessions() as session:
        row = session.query(DicomObjectRow).filter_by(record_id=record).first()
        changed = bytearray(row.payload)
        changed[len(changed) // 2] ^= 0x01
        session.execute(update(DicomObjectRow).where(DicomObjectRow.id == row.id).values(payload=bytes(changed)))
        session.commit()
    report = service.client.verify(record)
    assert (report["verdict"], report["failed_check"]) == ("invalid", "imaging_objects")


def test_an_object_the_record_does_not_list_is_refused(service):
    objects = read_objects(CT_SERIES)
    patient = service.enroll("patient")
    record = service.client.submit(signed_envelope(dicom_to_bundle(objects[:2]), service.chain, service.authorities,
                                                   owner=patient.key))["id"]
    stray = service.client.http.put(f"/records/{record}/objects/{objects[3].sha3}",
                                    content=objects[3].path.read_bytes(), headers={"content-type": "application/dicom"})
    assert stray.status_code == 404 and stray.json()["field"] == "sha3"
    wrong = service.client.http.put(f"/records/{record}/objects/{objects[0].sha3}",
                                    content=objects[1].path.read_bytes(), headers={"content-type": "application/dicom"})
    assert wrong.status_code == 422 and wrong.json()["field"] == "sha3"
