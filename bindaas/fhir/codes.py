"""Standard codes used by BinDaaS bundles: LOINC for observations, SNOMED CT for conditions and findings, UCUM
units. A local code system only where no standard code exists (study outcomes, dataset provenance)."""

from __future__ import annotations

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
BINDAAS_OUTCOME = "https://bindaas.dev/fhir/CodeSystem/outcome"
BINDAAS_DATASET = "https://bindaas.dev/fhir/dataset"

# LOINC code -> (display, UCUM unit)
OBSERVATIONS: dict[str, tuple[str, str]] = {
    "8480-6": ("Systolic blood pressure", "mm[Hg]"),
    "8462-4": ("Diastolic blood pressure", "mm[Hg]"),
    "2093-3": ("Cholesterol [Mass/volume] in Serum or Plasma", "mg/dL"),
    "39156-5": ("Body mass index (BMI) [Ratio]", "kg/m2"),
    "8867-4": ("Heart rate", "/min"),
    "2339-0": ("Glucose [Mass/volume] in Blood", "mg/dL"),
    "64218-1": ("How many cigarettes do you smoke per day now", "{cigarettes}/d"),
}
BP_PANEL = "55284-4"
SMOKING_STATUS = "72166-2"

# SNOMED CT findings
SMOKER = ("77176002", "Smoker (finding)")
NON_SMOKER = ("8392000", "Non-smoker (finding)")
CONDITIONS: dict[str, tuple[str, str]] = {
    "diabetes": ("44054006", "Diabetes mellitus type 2 (disorder)"),
    "hypertension": ("38341003", "Hypertensive disorder, systemic arterial (disorder)"),
    "stroke": ("230690007", "Cerebrovascular accident (disorder)"),
}
ANTIHYPERTENSIVE = ("372586001", "Hypotensive agent (substance)")

OUTCOMES = {"chd-10y": "Coronary heart disease within 10 years of the index visit"}
