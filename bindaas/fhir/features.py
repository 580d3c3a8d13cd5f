"""Declared feature specifications: FHIR codes -> model features, the same for every source.

A bundle converted from a study and a Synthea bundle with the same codes give the same features: quantities
are matched by LOINC code whether they stand alone or as components of a panel (blood pressure 55284-4), the
latest value on or before the prediction date counts, units are normalized to the spec's UCUM unit, conditions
by any of their SNOMED CT codes. Missing values stay NaN here; the models impute them and add indicators.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Iterable

import numpy as np

from bindaas.fhir import codes

# Conversions to the spec's unit: (from unit, to unit) -> factor
UNIT_FACTORS: dict[tuple[str, str], float] = {
    ("mmol/L", "mg/dL@2093-3"): 38.67, ("mmol/L", "mg/dL@2339-0"): 18.016, ("kPa", "mm[Hg]"): 7.50062,
    ("umol/L", "mg/dL@2160-0"): 1 / 88.42,
}


@dataclass(frozen=True)
class Feature:
    name: str
    kind: str  # quantity | age | male | condition | smoker | finding | finding-flag | finding-category
    code: str = ""
    unit: str = ""
    category: str = ""  # for finding-category: the value that makes it 1


@dataclass(frozen=True)
class FeatureSpec:
    """What a task's model reads from a bundle, where its label lives, and which features it cannot do without
    (the rest may be imputed, and a prediction says which were)."""

    task: str
    features: tuple[Feature, ...]
    label_code: str
    dataset: str
    required: tuple[str, ...] = ()

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.features]


def _q(name: str, loinc: str) -> Feature:
    return Feature(name, "quantity", loinc, codes.OBSERVATIONS[loinc][1])


SPECS: dict[str, FeatureSpec] = {
    "chd-10y": FeatureSpec("chd-10y", (
        Feature("age", "age"), Feature("male", "male"),
        _q("systolic_bp", "8480-6"), _q("diastolic_bp", "8462-4"), _q("total_cholesterol", "2093-3"),
        _q("bmi", "39156-5"), _q("heart_rate", "8867-4"), _q("glucose", "2339-0"),
        Feature("smoker", "smoker"), _q("cigarettes_per_day", "64218-1"),
        Feature("diabetes", "condition", "diabetes"), Feature("hypertension", "condition", "hypertension"),
        Feature("stroke", "condition", "stroke"),
    ), "chd-10y", "framingham", required=("age", "male", "systolic_bp", "total_cholesterol")),
    "cad-angio": FeatureSpec("cad-angio", (
        Feature("age", "age"), Feature("male", "male"),
        _q("resting_systolic_bp", "8480-6"), _q("total_cholesterol", "2093-3"),
        Feature("cp_typical", "finding-category", "chest-pain-type", category="typical angina"),
        Feature("cp_atypical", "finding-category", "chest-pain-type", category="atypical angina"),
        Feature("cp_non_anginal", "finding-category", "chest-pain-type", category="non-anginal"),
        Feature("cp_asymptomatic", "finding-category", "chest-pain-type", category="asymptomatic"),
        Feature("fasting_glucose_gt_120", "finding-flag", "fasting-glucose-gt-120"),
        Feature("ecg_lvh", "finding-category", "resting-ecg", category="lv hypertrophy"),
        Feature("ecg_st_t", "finding-category", "resting-ecg", category="st-t abnormality"),
        Feature("max_heart_rate", "finding", "max-heart-rate-exercise"),
        Feature("exercise_angina", "finding-flag", "exercise-angina"),
        Feature("st_depression", "finding", "st-depression"),
        Feature("st_slope_flat", "finding-category", "st-slope", category="flat"),
        Feature("st_slope_down", "finding-category", "st-slope", category="downsloping"),
        Feature("vessels", "finding", "vessels-fluoroscopy"),
        Feature("thal_reversible", "finding-category", "thallium", category="reversable defect"),
        Feature("thal_fixed", "finding-category", "thallium", category="fixed defect"),
    ), "cad-angio", "uci-heart", required=("age", "male")),
    "death-followup": FeatureSpec("death-followup", (
        Feature("age", "age"), Feature("male", "male"),
        _q("ejection_fraction", "10230-1"), _q("serum_creatinine", "2160-0"), _q("serum_sodium", "2951-2"),
        _q("platelets", "777-3"), _q("creatine_kinase", "2157-6"),
        Feature("anaemia", "condition", "anaemia"), Feature("diabetes", "condition", "diabetes"),
        Feature("hypertension", "condition", "hypertension"), Feature("smoker", "smoker"),
    ), "death-followup", "heart-failure", required=("age", "ejection_fraction", "serum_creatinine")),
}
DATASET_TASK = {"framingham": "chd-10y", "uci-heart": "cad-angio", "uci-cleveland": "cad-angio",
                "uci-hungary": "cad-angio", "uci-switzerland": "cad-angio", "uci-va": "cad-angio",
                "heart-failure": "death-followup"}

# Physiologically plausible values (in the spec's unit): outside them a value is an error, most often a wrong
# unit (cholesterol 5.2 sent as mg/dL is mmol/L), and no model may score it.
PLAUSIBLE: dict[str, tuple[float, float, str]] = {
    "age": (0, 120, "years"), "systolic_bp": (50, 300, "mm[Hg]"), "diastolic_bp": (20, 200, "mm[Hg]"),
    "resting_systolic_bp": (50, 300, "mm[Hg]"), "total_cholesterol": (50, 1000, "mg/dL"), "bmi": (8, 100, "kg/m2"),
    "heart_rate": (20, 300, "/min"), "glucose": (10, 2000, "mg/dL"), "cigarettes_per_day": (0, 200, "/d"),
    "ejection_fraction": (3, 95, "%"), "serum_creatinine": (0.05, 30, "mg/dL"), "serum_sodium": (80, 200, "mmol/L"),
    "platelets": (1, 3000, "10*3/uL"), "creatine_kinase": (1, 200_000, "U/L"), "max_heart_rate": (30, 260, "/min"),
}


def _when(resource: dict[str, Any]) -> str:
    for key in ("effectiveDateTime", "issued", "recordedDate", "onsetDateTime", "authoredOn"):
        if isinstance(resource.get(key), str):
            return resource[key]
    period = resource.get("effectivePeriod")
    if isinstance(period, dict) and isinstance(period.get("start"), str):
        return period["start"]
    return ""


def _codes(concept: Any) -> set[tuple[str, str]]:
    if not isinstance(concept, dict):
        return set()
    return {(c.get("system", ""), c.get("code", "")) for c in concept.get("coding", []) if isinstance(c, dict)}


def _to_date(text: str) -> date | None:
    if not text:
        return None
    try:
        if len(text) == 4:
            return date(int(text), 1, 1)
        if len(text) == 7:
            return date(int(text[:4]), int(text[5:7]), 1)
        return datetime.fromisoformat(text.replace("Z", "+00:00")).date() if "T" in text else date.fromisoformat(text)
    except ValueError:
        return None


@dataclass
class BundleFacts:
    """Everything a spec can read from one bundle, already indexed by code."""

    birth_date: date | None = None
    gender: str | None = None
    quantities: dict[str, list[tuple[str, float, str]]] = field(default_factory=dict)  # loinc -> (when, value, unit)
    findings: dict[str, list[tuple[str, Any]]] = field(default_factory=dict)  # local code -> (when, value)
    snomed_conditions: list[tuple[str, str]] = field(default_factory=list)  # (when, code)
    smoking: list[tuple[str, str]] = field(default_factory=list)  # (when, snomed code)
    outcomes: dict[str, bool] = field(default_factory=dict)
    latest: str = ""


def _quantity(value: Any) -> tuple[float, str] | None:
    if isinstance(value, dict) and isinstance(value.get("value"), (int, float)):
        return float(value["value"]), str(value.get("code") or value.get("unit") or "")
    return None


def read_bundle(bundle: dict[str, Any]) -> BundleFacts:
    """Index a bundle's Patient, Observations and Conditions by code."""
    facts = BundleFacts()
    for entry in bundle.get("entry", []) or []:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict):
            continue
        kind, when = resource.get("resourceType"), _when(resource)
        if kind == "Patient":
            facts.birth_date = _to_date(resource.get("birthDate", ""))
            facts.gender = resource.get("gender")
        elif kind == "Observation":
            facts.latest = max(facts.latest, when)
            coded = _codes(resource.get("code"))
            parts = [(coded, resource)] + [(_codes(c.get("code")), c) for c in resource.get("component", []) or []
                                           if isinstance(c, dict)]
            for part_codes, part in parts:
                for system, code in part_codes:
                    if system == codes.LOINC:
                        q = _quantity(part.get("valueQuantity"))
                        if q:
                            facts.quantities.setdefault(code, []).append((when, *q))
                        if code == codes.SMOKING_STATUS:
                            for s, c in _codes(part.get("valueCodeableConcept")):
                                facts.smoking.append((when, c))
                    elif system == codes.BINDAAS_FINDING:
                        value = part.get("valueBoolean", part.get("valueString"))
                        q = _quantity(part.get("valueQuantity"))
                        facts.findings.setdefault(code, []).append((when, q[0] if q else value))
                    elif system == codes.BINDAAS_OUTCOME and isinstance(part.get("valueBoolean"), bool):
                        facts.outcomes[code] = part["valueBoolean"]
        elif kind == "Condition":
            status = {c for _, c in _codes(resource.get("clinicalStatus"))}
            if status and not status & {"active", "recurrence", "relapse", "resolved", "remission", "inactive"}:
                continue
            for system, code in _codes(resource.get("code")):
                if system == codes.SNOMED:
                    facts.snomed_conditions.append((when, code))
    return facts


def _latest(values: Iterable[tuple], as_of: str) -> tuple | None:
    eligible = [v for v in values if not as_of or not v[0] or v[0][:10] <= as_of]
    return max(eligible, key=lambda v: v[0]) if eligible else None


def _convert(value: float, unit: str, feature: Feature) -> float:
    if not unit or unit == feature.unit:
        return value
    factor = UNIT_FACTORS.get((unit, f"{feature.unit}@{feature.code}")) or UNIT_FACTORS.get((unit, feature.unit))
    return value * factor if factor else math.nan  # an unknown unit is missing, never silently wrong


def extract(bundle: dict[str, Any], spec: FeatureSpec, *, as_of: str | None = None) -> np.ndarray:
    """The feature vector of ``bundle`` under ``spec`` (NaN where missing), as of ``as_of`` (ISO date; default:
    the bundle's latest observation)."""
    facts = read_bundle(bundle)
    return features_from_facts(facts, spec, as_of=as_of)


def unknown_units(bundle: dict[str, Any], spec: FeatureSpec, *, as_of: str | None = None) -> dict[str, str]:
    """Features whose latest value came in a unit we cannot convert (so they count as missing), with that unit."""
    facts = read_bundle(bundle)
    as_of = (as_of or facts.latest)[:10]
    out = {}
    for f in spec.features:
        if f.kind == "quantity":
            found = _latest(facts.quantities.get(f.code, []), as_of)
            if found and math.isnan(_convert(found[1], found[2], f)):
                out[f.name] = found[2]
    return out


def features_from_facts(facts: BundleFacts, spec: FeatureSpec, *, as_of: str | None = None) -> np.ndarray:
    as_of = (as_of or facts.latest)[:10]
    out = np.full(len(spec.features), np.nan)
    for i, f in enumerate(spec.features):
        if f.kind == "age":
            ref = _to_date(as_of) or date.today()
            if facts.birth_date:
                out[i] = (ref - facts.birth_date).days / 365.25
        elif f.kind == "male":
            if facts.gender in ("male", "female"):
                out[i] = float(facts.gender == "male")
        elif f.kind == "quantity":
            found = _latest(facts.quantities.get(f.code, []), as_of)
            if found:
                out[i] = _convert(found[1], found[2], f)
        elif f.kind == "condition":
            wanted = codes.CONDITION_CODES[f.code]
            out[i] = float(any(c in wanted and (not w or w[:10] <= as_of) for w, c in facts.snomed_conditions))
        elif f.kind == "smoker":
            found = _latest(facts.smoking, as_of)
            if found:
                out[i] = float(found[1] in codes.SMOKER_CODES)
        else:
            found = _latest(facts.findings.get(f.code, []), as_of)
            if found is None or found[1] is None:
                continue
            value = found[1]
            if f.kind == "finding-category":
                out[i] = float(value == f.category)
            elif f.kind == "finding-flag":
                out[i] = float(bool(value))
            elif isinstance(value, (int, float)):
                out[i] = float(value)
    return out


def label(bundle: dict[str, Any], spec: FeatureSpec) -> bool | None:
    """The task's outcome recorded in ``bundle``, or None when it has none."""
    return read_bundle(bundle).outcomes.get(spec.label_code)
