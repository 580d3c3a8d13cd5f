"""DICOM studies become FHIR R4 ImagingStudy resources as HL7's R4 mapping to DICOM says, valid against HL7's R4
schema and models, each instance carrying its object's SHA3-256; bad DICOM is refused naming the problem."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from pydicom.data import get_testdata_file

from bindaas.cli import main
from bindaas.errors import InvalidInput
from bindaas.fhir.validate import validate_bundle
from bindaas.imaging.dicom_fhir import dicom_to_bundle, read_objects


def _study(bundle: dict) -> dict:
    return next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "ImagingStudy")


def test_a_ct_and_an_mr_object_map_to_valid_imaging_studies(tmp_path):
    for name, modality, sex in (("CT_small.dcm", "CT", "other"), ("MR_small.dcm", "MR", "female")):
        path = Path(get_testdata_file(name))
        bundle = dicom_to_bundle(read_objects(path))
        validate_bundle(bundle, mode="both")
        study = _study(bundle)
        import pydicom

        ds = pydicom.dcmread(path)
        assert study["identifier"][0] == {"system": "urn:dicom:uid", "value": f"urn:oid:{ds.StudyInstanceUID}"}
        assert study["modality"] == [{"system": "http://dicom.nema.org/resources/ontology/DCM", "code": modality}]
        assert (study["numberOfSeries"], study["numberOfInstances"]) == (1, 1)
        [series] = study["series"]
        assert series["uid"] == ds.SeriesInstanceUID
        [instance] = series["instance"]
        assert instance["uid"] == ds.SOPInstanceUID and instance["sopClass"]["code"] == f"urn:oid:{ds.SOPClassUID}"
        assert instance["extension"][0]["valueString"] == hashlib.sha3_256(path.read_bytes()).hexdigest()
        patient = bundle["entry"][0]["resource"]
        assert patient["gender"] == sex and patient["identifier"][0]["value"] == ds.PatientID


def test_a_folder_of_two_studies_gives_one_patient_and_two_studies(tmp_path, capsys):
    for name in ("CT_small.dcm", "MR_small.dcm"):
        shutil.copy(get_testdata_file(name), tmp_path / name)
    assert main(["dicom-to-fhir", str(tmp_path)]) == 0
    bundle = json.loads(capsys.readouterr().out)
    assert [e["resource"]["resourceType"] for e in bundle["entry"]] == ["Patient", "ImagingStudy", "ImagingStudy"]


def test_bad_dicom_is_refused_naming_the_problem(tmp_path):
    not_dicom = tmp_path / "notes.txt"
    not_dicom.write_text("not an image")
    with pytest.raises(InvalidInput, match="not a DICOM file"):
        read_objects(not_dicom)
    source = Path(get_testdata_file("CT_small.dcm")).read_bytes()
    truncated = tmp_path / "truncated.dcm"
    truncated.write_bytes(source[: len(source) // 2])
    with pytest.raises(InvalidInput, match="truncated|unreadable"):
        read_objects(truncated)
    import pydicom

    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    del ds.StudyInstanceUID
    missing = tmp_path / "no-study-uid.dcm"
    ds.save_as(missing)
    with pytest.raises(InvalidInput, match="no StudyInstanceUID") as refused:
        read_objects(missing)
    assert refused.value.field == "StudyInstanceUID"


def _measurement_report(source: Path, out: Path) -> Path:
    """A TID 1500 measurement report about ``source``, written with highdicom (as a reading workstation would)."""
    import highdicom as hd
    import pydicom
    from pydicom.sr.codedict import codes
    from pydicom.uid import generate_uid

    image = pydicom.dcmread(source)
    group = hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=generate_uid(), identifier="nodule 1"),
        finding_type=codes.SCT.Nodule,
        finding_sites=[hd.sr.FindingSite(anatomic_location=codes.SCT.Lung)],
        measurements=[hd.sr.Measurement(name=codes.SCT.Diameter, value=12.5, unit=codes.UCUM.Millimeter),
                      hd.sr.Measurement(name=codes.SCT.Volume, value=880.0, unit=hd.sr.CodedConcept(
                          value="mm3", scheme_designator="UCUM", meaning="cubic millimeter"))])
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_person_context=hd.sr.ObserverContext(
            observer_type=codes.DCM.Person,
            observer_identifying_attributes=hd.sr.PersonObserverIdentifyingAttributes(name="Doe^Reader"))),
        procedure_reported=hd.sr.CodedConcept(value="77477000", scheme_designator="SCT", meaning="CT"),
        imaging_measurements=[group])
    sr = hd.sr.Comprehensive3DSR(evidence=[image], content=report[0], series_number=9,
                                 series_instance_uid=generate_uid(), sop_instance_uid=generate_uid(),
                                 instance_number=1, manufacturer="BinDaaS tests")
    sr.save_as(out)
    return out


def test_an_sr_measurement_report_becomes_observations_pointing_to_its_study(tmp_path):
    ct = tmp_path / "ct.dcm"
    shutil.copy(get_testdata_file("CT_small.dcm"), ct)
    _measurement_report(ct, tmp_path / "report.dcm")
    bundle = dicom_to_bundle(read_objects(tmp_path))
    validate_bundle(bundle, mode="both")
    study = _study(bundle)
    assert study["numberOfSeries"] == 2 and {m["code"] for m in study["modality"]} == {"CT", "SR"}
    observations = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"]
    measured = {o["code"]["coding"][0]["display"]: o for o in observations if "valueQuantity" in o}
    assert measured["Diameter"]["valueQuantity"] == {"value": 12.5, "unit": "mm",
                                                     "system": "http://unitsofmeasure.org", "code": "mm"}
    assert measured["Volume"]["valueQuantity"]["code"] == "mm3"
    assert all(o["derivedFrom"] == [{"reference": f"urn:uuid:{study['id']}"}] for o in observations)
    assert measured["Diameter"]["bodySite"]["coding"][0]["code"] == "39607008"  # lung, SNOMED CT
    [group] = [o for o in observations if "hasMember" in o]
    assert len(group["hasMember"]) == 2 and group["valueCodeableConcept"]["coding"][0]["display"] == "Nodule"
    assert group["identifier"][0]["value"] == "nodule 1"
