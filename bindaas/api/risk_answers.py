"""Risk predictions in the clinical ecosystem's forms: FHIR RiskAssessment + Provenance, and CDS Hooks cards.
Both come from the same ``predict_bundle`` as ``POST /predict``, so an EHR's card and the custom JSON agree."""

from __future__ import annotations

from typing import Any

from bindaas.access.signin import Caller
from bindaas.api.fhir_source import Found, readable_resources, subject_id
from bindaas.api.services import Services
from bindaas.errors import BindaasError, NotFound
from bindaas.fhir.risk import provenance, risk_assessment
from bindaas.imports import collector_held
from bindaas.store import repository
from bindaas.store.models import ModelRow

# A card's indicator by the predicted risk (CDS Hooks: info, warning, critical): the ACC/AHA pooled-cohort bands
# for 10-year risk (below 7.5% low, 7.5–20% intermediate, 20% and above high).
INDICATOR_BANDS = ((0.20, "critical"), (0.075, "warning"), (0.0, "info"))


def newest_model(services: Services, model_id: str | None = None) -> tuple[ModelRow, Any]:
    with collector_held():
        from bindaas.ml.serving import choose_model

    with services.sessions() as session:
        rows = repository.list_models(session)
    loaded = choose_model(rows, services.models, model_id=model_id)
    return loaded.row, loaded


def registration_of(row: ModelRow) -> dict[str, Any]:
    """What the Provenance says of a model: its id, training-set root and where the chain registered it."""
    return {"id": row.id, "training_root": row.training_root, "tx_hash": row.tx_hash, "block": row.block_number}


def as_fhir(prediction: dict[str, Any], row: ModelRow, *, subject: str, basis: list[str] | None = None,
            records: list[str] | None = None) -> dict[str, Any]:
    """A collection Bundle: the RiskAssessment of ``prediction`` and its Provenance."""
    assessment = risk_assessment(prediction, subject=subject, basis=basis)
    origin = provenance(assessment, model=registration_of(row), records=records)
    return {"resourceType": "Bundle", "type": "collection",
            "entry": [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in (assessment, origin)]}


def patient_bundle(caller: Caller, services: Services, patient: str) -> tuple[dict[str, Any], list[Found]]:
    """One Bundle of everything ``caller`` may read about ``patient`` (a FHIR Patient id or a key id)."""
    found = [f for f in readable_resources(caller, services, action="predict")
             if patient in (subject_id(f.resource), f.patient_key)]
    if not found:
        raise NotFound(f"no records of patient {patient} that you may read", field="patient")
    return {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": f.resource} for f in found]}, found


def risk_for_patient(caller: Caller, services: Services, patient: str | None) -> list[Found]:
    """The patient's current RiskAssessment (newest model) as a search result; none when it cannot be given."""
    with collector_held():
        from bindaas.ml.serving import predict_bundle

    if not patient:
        return []
    patient = patient.rsplit("/", 1)[-1]
    try:
        bundle, found = patient_bundle(caller, services, patient)
        row, loaded = newest_model(services)
        prediction = predict_bundle(loaded, bundle)
    except BindaasError:
        return []
    fhir_patient = next((subject_id(f.resource) for f in found if f.resource["resourceType"] == "Patient"), patient)
    assessment = as_fhir(prediction, row, subject=f"Patient/{fhir_patient}",
                         records=sorted({f.record_id for f in found}))["entry"][0]["resource"]
    return [Found(found[-1].record_id, found[-1].patient_key, assessment)]


def card(prediction: dict[str, Any], row: ModelRow, *, base_url: str) -> dict[str, Any]:
    """A CDS Hooks card: the risk as a sentence, an indicator by band, the top contributions, the model and a link
    to its on-chain provenance."""
    risk = prediction["probability"]
    indicator = next(name for bound, name in INDICATOR_BANDS if risk >= bound)
    top = "; ".join(f"{c['feature']} {c['value']:g} ({c['contribution']:+.3f})" for c in prediction["top_contributions"])
    detail = [f"Top contributions: {top}.", f"The model applies to {prediction.get('applies_to')}."]
    if prediction.get("imputed"):
        detail.append(f"Imputed (not in the record): {', '.join(prediction['imputed'])}.")
    if prediction.get("out_of_distribution"):
        detail.append(f"**{prediction['out_of_distribution']['warning']}**")
    return {
        "uuid": f"{row.id}-{risk}", "summary": f"10-year coronary heart disease risk {risk:.0%}"[:140]
        if prediction["task"] == "chd-10y" else f"{prediction['task']} risk {risk:.0%}"[:140],
        "indicator": "warning" if prediction.get("out_of_distribution") and indicator == "info" else indicator,
        "detail": " ".join(detail),
        "source": {"label": f"BinDaaS {prediction['kind']} model {row.id[:10]}…",
                   "url": f"{base_url}/models/{row.id}/verify",
                   "topic": {"system": "urn:bindaas:task", "code": prediction["task"]}},
        "links": [{"label": "Model provenance (checked against the chain)", "url": f"{base_url}/models/{row.id}/verify",
                   "type": "absolute"}],
    }


def info_card(summary: str, detail: str) -> dict[str, Any]:
    """The card for no risk: what is missing or why the model does not apply."""
    return {"summary": summary[:140], "indicator": "info", "detail": detail,
            "source": {"label": "BinDaaS risk prediction"}}
