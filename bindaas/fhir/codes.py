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
    "10230-1": ("Left ventricular Ejection fraction", "%"),
    "2160-0": ("Creatinine [Mass/volume] in Serum or Plasma", "mg/dL"),
    "2951-2": ("Sodium [Moles/volume] in Serum or Plasma", "mmol/L"),
    "777-3": ("Platelets [#/volume] in Blood by Automated count", "10*3/uL"),
    "2157-6": ("Creatine kinase [Enzymatic activity/volume] in Serum or Plasma", "U/L"),
}
BP_PANEL = "55284-4"
SMOKING_STATUS = "72166-2"

# SNOMED CT findings. Synthea and other systems use finer codes; feature extraction accepts each of these.
SMOKER = ("77176002", "Smoker (finding)")
SMOKER_CODES = {"77176002", "449868002", "428041000124106", "65568007", "230059006"}
NON_SMOKER = ("8392000", "Non-smoker (finding)")
CONDITIONS: dict[str, tuple[str, str]] = {
    "diabetes": ("44054006", "Diabetes mellitus type 2 (disorder)"),
    "hypertension": ("38341003", "Hypertensive disorder, systemic arterial (disorder)"),
    "stroke": ("230690007", "Cerebrovascular accident (disorder)"),
    "anaemia": ("271737000", "Anemia (disorder)"),
}
# Every code that counts as the condition (Synthea records hypertension as 59621000, essential hypertension).
CONDITION_CODES: dict[str, set[str]] = {
    "diabetes": {"44054006", "73211009", "46635009"},
    "hypertension": {"38341003", "59621000"},
    "stroke": {"230690007", "422504002"},
    "anaemia": {"271737000"},
}
ANTIHYPERTENSIVE = ("372586001", "Hypotensive agent (substance)")

OUTCOMES = {
    "chd-10y": "Coronary heart disease within 10 years of the index visit",
    "cad-angio": "Angiographic coronary artery disease (>50% diameter narrowing in any major vessel)",
    "death-followup": "Death during the follow-up period",
}

# UCI heart disease exercise-test items: no standard code carries these dataset categories.
BINDAAS_FINDING = "https://bindaas.dev/fhir/CodeSystem/finding"
LOCAL_FINDINGS: dict[str, str] = {
    "chest-pain-type": "Chest pain type (typical angina, atypical angina, non-anginal, asymptomatic)",
    "fasting-glucose-gt-120": "Fasting blood glucose above 120 mg/dL",
    "resting-ecg": "Resting electrocardiogram result",
    "max-heart-rate-exercise": "Maximum heart rate achieved during exercise test",
    "exercise-angina": "Exercise-induced angina",
    "st-depression": "ST depression induced by exercise relative to rest",
    "st-slope": "Slope of the peak exercise ST segment",
    "vessels-fluoroscopy": "Number of major vessels coloured by fluoroscopy",
    "thallium": "Thallium stress test result",
}
