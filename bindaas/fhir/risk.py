"""Predictions as FHIR R4: a RiskAssessment (subject, when, the outcome coded in SNOMED CT with its probability,
the model as method, the inputs as basis, the top contributions and any warning as notes) and the Provenance that
ties it to the model's on-chain registration (model id, training-set Merkle root, transaction)."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

from bindaas.fhir import codes

MODEL_SYSTEM = "urn:bindaas:model"
RECORD_SYSTEM = "urn:bindaas:record"

# What each task predicts, in SNOMED CT, and over what horizon (UCUM years).
OUTCOMES: dict[str, tuple[str, str, int | None]] = {
    "chd-10y": ("53741008", "Coronary arteriosclerosis (disorder)", 10),
    "cad-angio": ("53741008", "Coronary arteriosclerosis (disorder)", None),
    "death-followup": ("419099009", "Dead (finding)", None),
}
KIND_NAMES = {"dnn2f": "DNN-2F (PCA + two hidden layers)", "dnn1f": "DNN-1F (PCA + one hidden layer)",
              "kmeans": "K-means features + logistic regression", "logreg": "logistic regression",
              "gbm": "gradient boosting"}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def risk_assessment(prediction: dict[str, Any], *, subject: str, basis: list[str] | None = None,
                    when: str | None = None) -> dict[str, Any]:
    """The RiskAssessment of ``prediction`` (as ``predict_bundle`` returns it) about ``subject`` ('Patient/<id>');
    ``basis`` references the resources the inputs came from."""
    code, display, years = OUTCOMES[prediction["task"]]
    entry: dict[str, Any] = {"outcome": {"coding": [{"system": codes.SNOMED, "code": code, "display": display}],
                                         "text": prediction["task"]},
                             "probabilityDecimal": prediction["probability"]}
    if years:
        entry["whenRange"] = {"high": {"value": years, "unit": "years", "system": codes.UCUM, "code": "a"}}
    notes = ["Top contributions (occlusion: change in risk without the value): " + "; ".join(
        f"{c['feature']} = {c['value']:g}: {c['contribution']:+.3f}" for c in prediction["top_contributions"])]
    if prediction.get("imputed"):
        notes.append("Imputed (not in the record): " + ", ".join(prediction["imputed"]))
    if prediction.get("out_of_distribution"):
        notes.append(prediction["out_of_distribution"]["warning"])
    if prediction.get("applies_to"):
        notes.append(f"The model applies to {prediction['applies_to']}.")
    resource: dict[str, Any] = {
        "resourceType": "RiskAssessment", "id": str(uuid.uuid4()), "status": "final",
        "subject": {"reference": subject}, "occurrenceDateTime": when or _now(),
        "method": {"coding": [{"system": MODEL_SYSTEM, "code": prediction["model_id"],
                               "display": KIND_NAMES.get(prediction["kind"], prediction["kind"])}],
                   "text": f"{KIND_NAMES.get(prediction['kind'], prediction['kind'])}, model {prediction['model_id']}"},
        "prediction": [entry], "note": [{"text": text} for text in notes],
    }
    if basis:
        resource["basis"] = [{"reference": reference} for reference in basis]
    return resource


def provenance(assessment: dict[str, Any], *, model: dict[str, Any], records: list[str] | None = None) -> dict[str, Any]:
    """The Provenance of ``assessment``: made by BinDaaS with the model whose on-chain registration ``model``
    describes (id, training_root, tx_hash, block), from the stored records ``records``."""
    on_chain = (f"model {model['id']} registered on chain in block {model.get('block')} (transaction "
                f"{model.get('tx_hash')}); training-set Merkle root {model['training_root']}")
    entities = [{"role": "source", "what": {"identifier": {"system": MODEL_SYSTEM, "value": model["id"]},
                                            "display": on_chain}}]
    entities += [{"role": "source", "what": {"identifier": {"system": RECORD_SYSTEM, "value": record_id}}}
                 for record_id in records or []]
    return {
        "resourceType": "Provenance", "id": str(uuid.uuid4()),
        "target": [{"reference": f"RiskAssessment/{assessment['id']}"}], "recorded": _now(),
        "activity": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-DataOperation",
                                 "code": "CREATE", "display": "create"}]},
        "agent": [{"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
                                        "code": "assembler", "display": "Assembler"}]},
                   "who": {"display": "BinDaaS risk prediction service"}}],
        "entity": entities,
    }
