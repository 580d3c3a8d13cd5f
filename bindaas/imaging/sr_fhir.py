"""DICOM Structured Reports (TID 1500 Measurement Report) to FHIR Observations, after the HL7 "DICOM SR to FHIR" IG:
one Observation per numeric measurement (its code, value in UCUM, body site, finding), and one per measurement
group whose ``hasMember`` lists them; each is ``derivedFrom`` the ImagingStudy the report belongs to."""

from __future__ import annotations

import uuid
from typing import Any

SCHEMES = {"SCT": "http://snomed.info/sct", "SRT": "http://snomed.info/sct", "DCM": "http://dicom.nema.org/resources/ontology/DCM",
           "LN": "http://loinc.org", "UCUM": "http://unitsofmeasure.org"}
MEASUREMENT_GROUP = "125007"
FINDING_SITE = "363698007"
FINDING = "121071"
TRACKING_IDENTIFIER = "112039"


def _concept(item: Any) -> dict[str, Any] | None:
    sequence = item.get("ConceptNameCodeSequence") or item.get("ConceptCodeSequence")
    return _coding(sequence[0]) if sequence else None


def _coding(code: Any) -> dict[str, Any]:
    scheme = str(code.get("CodingSchemeDesignator", ""))
    return {"system": SCHEMES.get(scheme, f"urn:dicom:scheme:{scheme}"), "code": str(code.CodeValue),
            "display": str(code.get("CodeMeaning", ""))}


def _groups(items: Any) -> list[Any]:
    found = []
    for item in items or []:
        concept = _concept(item)
        if concept and concept["code"] == MEASUREMENT_GROUP and item.get("ValueType") == "CONTAINER":
            found.append(item)
        else:
            found += _groups(item.get("ContentSequence"))
    return found


def sr_observations(dataset: Any, *, study_ref: str, subject_ref: str) -> list[dict[str, Any]]:
    """The Observations of one TID 1500 report: measurements and their groups."""
    out: list[dict[str, Any]] = []
    for group in _groups(dataset.get("ContentSequence")):
        site = finding = tracking = None
        measurements = []
        for item in group.get("ContentSequence") or []:
            concept = _concept(item) or {}
            kind = item.get("ValueType")
            if kind == "CODE" and concept.get("code") == FINDING_SITE:
                site = _coding(item.ConceptCodeSequence[0])
            elif kind == "CODE" and concept.get("code") == FINDING:
                finding = _coding(item.ConceptCodeSequence[0])
            elif kind == "TEXT" and concept.get("code") == TRACKING_IDENTIFIER:
                tracking = str(item.TextValue)
            elif kind == "NUM" and item.get("MeasuredValueSequence"):
                measured = item.MeasuredValueSequence[0]
                unit = measured.MeasurementUnitsCodeSequence[0]
                measurements.append((concept, float(measured.NumericValue), str(unit.CodeValue),
                                     str(unit.get("CodeMeaning", unit.CodeValue))))
        members = []
        for concept, value, ucum, unit_text in measurements:
            observation: dict[str, Any] = {
                "resourceType": "Observation", "id": str(uuid.uuid4()), "status": "final",
                "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                          "code": "imaging"}]}],
                "code": {"coding": [concept], "text": concept.get("display")}, "subject": {"reference": subject_ref},
                "valueQuantity": {"value": value, "unit": unit_text, "system": SCHEMES["UCUM"], "code": ucum},
                "derivedFrom": [{"reference": study_ref}],
            }
            if site:
                observation["bodySite"] = {"coding": [site]}
            members.append(observation)
        grouped: dict[str, Any] = {
            "resourceType": "Observation", "id": str(uuid.uuid4()), "status": "final",
            "code": {"coding": [{"system": SCHEMES["DCM"], "code": MEASUREMENT_GROUP, "display": "Measurement Group"}]},
            "subject": {"reference": subject_ref}, "derivedFrom": [{"reference": study_ref}],
            "hasMember": [{"reference": f"urn:uuid:{m['id']}"} for m in members],
        }
        if tracking:
            grouped["identifier"] = [{"system": "urn:dicom:tracking-identifier", "value": tracking}]
        if finding:
            grouped["valueCodeableConcept"] = {"coding": [finding]}
        if site:
            grouped["bodySite"] = {"coding": [site]}
        out += [*members, grouped]
    return out
