"""DICOM to FHIR R4, following HL7's R4 ImagingStudy mapping to DICOM: a Patient from the patient module and one
ImagingStudy per study (identifiers, accession number, started, modalities in the DCM code system, description,
series with their body site in SNOMED CT per DICOM PS3.16 Annex L, laterality and instances with their SOP
class), each instance carrying the SHA3-256 of its DICOM object so the signatures and the anchor cover the image."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable

from bindaas.errors import InvalidInput

DCM = "http://dicom.nema.org/resources/ontology/DCM"
SNOMED = "http://snomed.info/sct"
OBJECT_HASH_URL = "urn:bindaas:fhir:dicom-object-sha3-256"
# DICOM PS3.16 Annex L (Body Part Examined -> SNOMED CT), the parts our test data and common studies use.
BODY_PARTS: dict[str, tuple[str, str]] = {
    "CHEST": ("51185008", "Thoracic structure"), "HEAD": ("69536005", "Head structure"),
    "BRAIN": ("12738006", "Brain structure"), "ABDOMEN": ("113345001", "Abdominal structure"),
    "PELVIS": ("12921003", "Pelvic structure"), "KNEE": ("72696002", "Knee region structure"),
    "SPINE": ("421060004", "Structure of vertebral column"), "NECK": ("45048000", "Neck structure"),
    "HEART": ("80891009", "Heart structure"), "BREAST": ("76752008", "Breast structure"),
    "LUNG": ("39607008", "Lung structure"), "SHOULDER": ("16982005", "Shoulder region structure"),
}
LATERALITY: dict[str, tuple[str, str]] = {"R": ("24028007", "Right"), "L": ("7771000", "Left")}
GENDER = {"M": "male", "F": "female", "O": "other"}


@dataclass(frozen=True)
class DicomObject:
    path: Path
    sha3: str
    dataset: Any


def read_objects(path: Path) -> list[DicomObject]:
    """Every DICOM object at ``path`` (a file, or a folder searched recursively); InvalidInput naming the file
    for one that is not DICOM, is truncated, or lacks the UIDs a study needs."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    if not files:
        raise InvalidInput(f"{path}: no files", field="path")
    objects = []
    for file in files:
        raw = file.read_bytes()
        try:
            dataset = pydicom.dcmread(file, force=False)
        except InvalidDicomError:
            raise InvalidInput(f"{file.name}: not a DICOM file (no 'DICM' preamble)", field="path") from None
        except Exception as exc:  # pydicom raises many kinds for a damaged file
            raise InvalidInput(f"{file.name}: unreadable DICOM ({type(exc).__name__}: {exc})", field="path") from None
        for tag in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID"):
            if not str(dataset.get(tag, "")).strip():
                raise InvalidInput(f"{file.name}: the DICOM object has no {tag}", field=tag)
        if "PixelData" in dataset and len(dataset.PixelData) < _expected_pixels(dataset):
            raise InvalidInput(f"{file.name}: truncated: the pixel data is shorter than its rows x columns say",
                               field="PixelData")
        objects.append(DicomObject(file, hashlib.sha3_256(raw).hexdigest(), dataset))
    return objects


def _expected_pixels(ds: Any) -> int:
    if getattr(ds.file_meta, "TransferSyntaxUID", None) and ds.file_meta.TransferSyntaxUID.is_compressed:
        return 0
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    return int(ds.Rows) * int(ds.Columns) * int(ds.get("SamplesPerPixel", 1)) * (int(ds.BitsAllocated) // 8) * frames


def _when(date: str | None, time: str | None, offset: str | None = None) -> str | None:
    """A FHIR date or dateTime. A FHIR time needs a zone, so the time is kept only when the object states its
    offset from UTC (TimezoneOffsetFromUTC); otherwise only the day is given, never a guessed zone."""
    if not date:
        return None
    try:
        day = datetime.strptime(str(date)[:8], "%Y%m%d")
        if time and offset and len(str(offset)) == 5:
            clock = str(time).split(".")[0].ljust(6, "0")
            day = day.replace(hour=int(clock[:2]), minute=int(clock[2:4]), second=int(clock[4:6]))
            return day.isoformat() + f"{str(offset)[:3]}:{str(offset)[3:]}"
        return day.date().isoformat()
    except ValueError:
        return None


def _patient(ds: Any) -> dict[str, Any]:
    resource: dict[str, Any] = {"resourceType": "Patient",
                                "id": str(uuid.uuid5(uuid.NAMESPACE_OID, f"patient/{ds.get('PatientID', '')}"))}
    if ds.get("PatientID"):
        resource["identifier"] = [{"system": "urn:bindaas:dicom:patient-id", "value": str(ds.PatientID)}]
    name = ds.get("PatientName")
    if name and str(name).strip():
        resource["name"] = [{k: v for k, v in {"family": name.family_name or None,
                                               "given": [g for g in [name.given_name, name.middle_name] if g] or None}
                             .items() if v}]
    birth = _when(ds.get("PatientBirthDate"), None)
    if birth:
        resource["birthDate"] = birth
    if ds.get("PatientSex") in GENDER:
        resource["gender"] = GENDER[ds.PatientSex]
    return resource


def _coding(system: str, pair: tuple[str, str]) -> dict[str, Any]:
    return {"system": system, "code": pair[0], "display": pair[1]}


def _series(objects: list[DicomObject]) -> dict[str, Any]:
    first = objects[0].dataset
    entry: dict[str, Any] = {"uid": str(first.SeriesInstanceUID),
                             "modality": {"system": DCM, "code": str(first.get("Modality", "OT"))},
                             "numberOfInstances": len(objects)}
    if first.get("SeriesNumber") is not None:
        entry["number"] = int(first.SeriesNumber)
    if first.get("SeriesDescription"):
        entry["description"] = str(first.SeriesDescription)
    part = str(first.get("BodyPartExamined", "")).upper()
    if part in BODY_PARTS:
        entry["bodySite"] = _coding(SNOMED, BODY_PARTS[part])
    side = str(first.get("Laterality", "") or first.get("ImageLaterality", "")).upper()
    if side in LATERALITY:
        entry["laterality"] = _coding(SNOMED, LATERALITY[side])
    started = _when(first.get("SeriesDate"), first.get("SeriesTime"), first.get("TimezoneOffsetFromUTC"))
    if started:
        entry["started"] = started
    entry["instance"] = [{
        "uid": str(o.dataset.SOPInstanceUID),
        "sopClass": {"system": "urn:ietf:rfc:3986", "code": f"urn:oid:{o.dataset.SOPClassUID}"},
        **({"number": int(o.dataset.InstanceNumber)} if o.dataset.get("InstanceNumber") is not None else {}),
        "extension": [{"url": OBJECT_HASH_URL, "valueString": o.sha3}],
    } for o in sorted(objects, key=lambda o: int(o.dataset.get("InstanceNumber", 0) or 0))]
    return entry


def imaging_study(objects: list[DicomObject], *, patient_ref: str) -> dict[str, Any]:
    """The ImagingStudy of one study's objects."""
    first = objects[0].dataset
    by_series: dict[str, list[DicomObject]] = {}
    for o in objects:
        by_series.setdefault(str(o.dataset.SeriesInstanceUID), []).append(o)
    series = [_series(group) for group in by_series.values()]
    study: dict[str, Any] = {
        "resourceType": "ImagingStudy", "id": str(uuid.uuid5(uuid.NAMESPACE_OID, str(first.StudyInstanceUID))),
        "identifier": [{"system": "urn:dicom:uid", "value": f"urn:oid:{first.StudyInstanceUID}"}],
        "status": "available", "subject": {"reference": patient_ref},
        "modality": [{"system": DCM, "code": m} for m in sorted({s["modality"]["code"] for s in series})],
        "numberOfSeries": len(series), "numberOfInstances": len(objects), "series": series,
    }
    if first.get("AccessionNumber"):
        study["identifier"].append({"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                                                         "code": "ACSN"}]}, "value": str(first.AccessionNumber)})
    started = _when(first.get("StudyDate"), first.get("StudyTime"), first.get("TimezoneOffsetFromUTC"))
    if started:
        study["started"] = started
    if first.get("StudyDescription"):
        study["description"] = str(first.StudyDescription)
    return study


def dicom_to_bundle(objects: Iterable[DicomObject]) -> dict[str, Any]:
    """A collection Bundle: the Patient (from the first object), one ImagingStudy per study, and the Observations of
    its TID 1500 structured reports."""
    objects = list(objects)
    patient = _patient(objects[0].dataset)
    studies: dict[str, list[DicomObject]] = {}
    for o in objects:
        studies.setdefault(str(o.dataset.StudyInstanceUID), []).append(o)
    from bindaas.imaging.sr_fhir import sr_observations

    subject = f"urn:uuid:{patient['id']}"
    resources: list[dict[str, Any]] = [patient]
    for group in studies.values():
        study = imaging_study(group, patient_ref=subject)
        resources.append(study)
        for o in group:  # measurements of the study's structured reports, each pointing to the study
            if str(o.dataset.get("Modality", "")) == "SR":
                resources += sr_observations(o.dataset, study_ref=f"urn:uuid:{study['id']}", subject_ref=subject)
    return {"resourceType": "Bundle", "type": "collection",
            "entry": [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in resources]}
