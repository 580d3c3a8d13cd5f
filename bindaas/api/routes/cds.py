"""A CDS Hooks 2.0 service for the ``patient-view`` hook: when a clinician opens a chart, the EHR calls it and
gets a card with the patient's 10-year coronary heart disease risk. Authentication: our bearer token (``POST
/auth/token``) in ``Authorization``, in place of the CDS Hooks client JWT; consent and audit as for any read."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from bindaas.api.auth import CallerDep, require_role
from bindaas.api.deps import ServicesDep
from bindaas.api.risk_answers import card, info_card, newest_model, patient_bundle
from bindaas.errors import BindaasError, InvalidInput, NotFound
from bindaas.imports import collector_held

discovery_router = APIRouter(tags=["cds-hooks"])
call_router = APIRouter(tags=["cds-hooks"])
SERVICE_ID = "bindaas-chd-risk"
PREFETCH = {"patient": "Patient/{{context.patientId}}",
            "observations": "Observation?patient={{context.patientId}}",
            "conditions": "Condition?patient={{context.patientId}}"}


class HookRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    hook: str = Field(description="must be 'patient-view'")
    hookInstance: str = Field(min_length=1, max_length=200)
    context: dict[str, Any] = Field(description="patient-view: userId and patientId")
    prefetch: dict[str, Any] | None = None
    fhirServer: str | None = None


@discovery_router.get("/cds-services")
def discovery() -> dict[str, Any]:
    """CDS Hooks discovery: the services offered and the prefetch templates they want."""
    return {"services": [{"hook": "patient-view", "id": SERVICE_ID, "title": "BinDaaS 10-year CHD risk",
                          "description": "10-year coronary heart disease risk from a model trained on verified, "
                                         "chain-anchored records, with its on-chain provenance",
                          "prefetch": PREFETCH, "usageRequirements": "Authorization: Bearer <BinDaaS token>"}]}


def _prefetched(prefetch: dict[str, Any]) -> dict[str, Any] | None:
    """A Bundle of the prefetched Patient, Observations and Conditions, or None when prefetch holds none."""
    entries = []
    for key in PREFETCH:
        item = prefetch.get(key)
        if not isinstance(item, dict):
            continue
        if item.get("resourceType") == "Bundle":
            entries += [e for e in item.get("entry", []) or [] if isinstance(e, dict) and "resource" in e]
        elif item.get("resourceType"):
            entries.append({"resource": item})
    return {"resourceType": "Bundle", "type": "collection", "entry": entries} if entries else None


@call_router.post("/cds-services/{service_id}")
def call_service(service_id: str, hook: HookRequest, request: Request, services: ServicesDep,
                 caller: CallerDep) -> dict[str, Any]:
    """Answer a ``patient-view`` call: one card with the risk, or one saying what is missing or why the model
    does not apply to this patient."""
    with collector_held():
        from bindaas.ml.serving import predict_bundle

    if service_id != SERVICE_ID:
        raise NotFound(f"no CDS service {service_id!r}; see GET /cds-services", field="service_id")
    if hook.hook != "patient-view":
        raise InvalidInput(f"service {SERVICE_ID} answers the patient-view hook, not {hook.hook!r}", field="hook")
    patient = hook.context.get("patientId")
    if not isinstance(patient, str) or not patient:
        raise InvalidInput("context.patientId is required for patient-view", field="context.patientId")
    require_role(caller, "clinician", "authority", "patient", doing="call the CDS service")
    bundle = _prefetched(hook.prefetch or {}) or patient_bundle(caller, services, patient)[0]
    row, loaded = newest_model(services)
    try:
        prediction = predict_bundle(loaded, bundle)
    except InvalidInput as exc:
        missing = exc.extensions.get("missing_required")
        summary = ("Not enough data for a CHD risk estimate" if missing
                   else "The CHD risk model does not apply to this patient")
        return {"cards": [info_card(summary, exc.detail)]}
    except BindaasError:
        raise
    base = str(request.base_url).rstrip("/")
    return {"cards": [card(prediction, row, base_url=base)]}
