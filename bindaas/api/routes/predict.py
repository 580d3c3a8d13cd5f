"""Predictions from a FHIR bundle (need not be signed) or a stored record."""

from __future__ import annotations

import json
import time
from typing import Any, Literal

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, model_validator

from bindaas.access.policy import authorize_record
from bindaas.access.signin import Caller
from bindaas.api.auth import CallerDep, require_role
from bindaas.api.deps import ServicesDep
from bindaas.api.services import Services
from bindaas.errors import BindaasError
from bindaas.fhir.validate import validate_bundle
from bindaas.imports import collector_held
from bindaas.ledger.payload import open_payload
from bindaas.observability import metrics
from bindaas.store import repository

router = APIRouter(prefix="/predict", tags=["predict"])
PREDICTORS = ("authority", "clinician", "patient")


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    bundle: dict[str, Any] | None = Field(None, description="a FHIR R4 Bundle")
    record_id: str | None = Field(None, description="a stored record's id, instead of a bundle")
    model_id: str | None = Field(None, description="default: the newest verified model")
    as_of: str | None = Field(None, pattern=r"^\d{4}-\d{2}-\d{2}$", description="prediction date (YYYY-MM-DD)")

    @model_validator(mode="after")
    def _one_source(self) -> "PredictRequest":
        if (self.bundle is None) == (self.record_id is None):
            raise ValueError("give exactly one of bundle or record_id")
        return self


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[PredictRequest] = Field(min_length=1, max_length=1000)
    model_id: str | None = None


def _bundle(request: PredictRequest, services: Services, caller: Caller,
            opened: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The bundle to score: given, or a stored record the caller may read. ``opened`` holds the records this
    request has opened already: each is checked, decrypted and audited once per request, however often named."""
    if request.record_id is not None:
        record_id = request.record_id.lower()
        if record_id not in opened:
            with services.sessions() as session:
                row = repository.get_record(session, record_id=record_id)
            row = authorize_record(caller, row=row, record_id=record_id, action="predict", content=True,
                                   access=services.access, audit=services.audit)
            opened[record_id] = json.loads(open_payload(row, services.service_key))
            services.audit.record(action="predict", agent=caller.key_id, role=caller.role, patient=row.patient_id,
                                  record=row.id, success=True, detail="risk prediction on the stored record")
        return opened[record_id]
    assert request.bundle is not None
    validate_bundle(request.bundle, mode="schema", max_entries=services.settings.max_bundle_entries)
    return request.bundle


def _predict(request: PredictRequest, services: Services, caller: Caller, *, model_id: str | None,
             field: str = "", opened: dict[str, dict[str, Any]] | None = None) -> dict:
    with collector_held():
        from bindaas.ml.serving import choose_model, predict_bundle

    started = time.perf_counter()
    with services.sessions() as session:
        rows = repository.list_models(session)
    model = choose_model(rows, services.models, model_id=request.model_id or model_id)
    try:
        answer = predict_bundle(model, _bundle(request, services, caller, {} if opened is None else opened),
                                as_of=request.as_of)
        metrics.prediction_seconds.observe(time.perf_counter() - started)
        return answer
    except BindaasError as exc:
        if field and exc.field:  # name the batch item at fault
            exc.field = f"{field}{exc.field}"
        raise


@router.post("")
def predict(request: PredictRequest, services: ServicesDep, caller: CallerDep,
            format: Literal["json", "fhir"] = Query("json", description="fhir: a Bundle of a RiskAssessment and its "
                                                    "Provenance")) -> dict[str, Any]:
    """Risk probability, label at the model's threshold, features used, missing and imputed, top contributions,
    the population the model applies to. A stored record needs the patient's consent, and the prediction is on
    the patient's access log. ``format=fhir``: the same as a FHIR RiskAssessment and its Provenance."""
    require_role(caller, *PREDICTORS, doing="request predictions")
    opened: dict[str, dict[str, Any]] = {}
    answer = _predict(request, services, caller, model_id=None, opened=opened)
    if format == "json":
        return answer
    from bindaas.api.fhir_source import subject_id
    from bindaas.api.risk_answers import as_fhir

    with services.sessions() as session:
        row = repository.get_model(session, model_id=answer["model_id"])
    bundle = request.bundle if request.bundle is not None else opened[request.record_id.lower()]
    patient = next((subject_id(e["resource"]) for e in bundle.get("entry", [])
                    if isinstance(e, dict) and e.get("resource", {}).get("resourceType") == "Patient"), None)
    return as_fhir(answer, row, subject=f"Patient/{patient}" if patient else "Patient/unknown",
                   records=[request.record_id.lower()] if request.record_id else None)


@router.post("/chart", response_class=Response,
             responses={200: {"content": {"image/png": {}}, "description": "the top contributions as a bar chart"}})
def predict_chart(request: PredictRequest, services: ServicesDep, caller: CallerDep) -> Response:
    """The same prediction as `POST /predict`, drawn: its top contributions as a PNG bar chart."""
    with collector_held():
        from bindaas.ml.plots import contributions_png

    require_role(caller, *PREDICTORS, doing="request predictions")
    return Response(contributions_png(_predict(request, services, caller, model_id=None)), media_type="image/png")


@router.post("/batch")
def predict_batch(request: BatchRequest, services: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    """Up to 1,000 predictions in one request, in order; one bad item fails the request naming its index. A stored
    record named several times is read, checked and audited once."""
    require_role(caller, *PREDICTORS, doing="request predictions")
    opened: dict[str, dict[str, Any]] = {}
    return {"predictions": [_predict(item, services, caller, model_id=request.model_id, field=f"items[{i}].",
                                     opened=opened) for i, item in enumerate(request.items)]}


IMAGE_BODY = {"requestBody": {"required": True, "content": {t: {"schema": {"type": "string", "format": "binary"}}
                                                           for t in ("image/jpeg", "image/png", "application/dicom")}}}


def predict_pixels(services: Services, rgb: Any, *, model_id: str | None) -> dict[str, Any]:
    """The imaging model's answer for one image (the newest imaging model unless one is named)."""
    with collector_held():
        from bindaas.ml.imaging.serving import predict_image
        from bindaas.ml.serving import IMAGING_TASK, choose_model

    started = time.perf_counter()
    with services.sessions() as session:
        rows = repository.list_models(session)
    answer = predict_image(choose_model(rows, services.models, model_id=model_id, tasks=(IMAGING_TASK,)), rgb)
    metrics.prediction_seconds.observe(time.perf_counter() - started)
    return answer


@router.post("/image", openapi_extra=IMAGE_BODY)
async def predict_uploaded_image(request: Request, services: ServicesDep, caller: CallerDep,
                                 model_id: str | None = Query(None, pattern=r"^0x[0-9a-fA-F]{64}$")) -> dict[str, Any]:
    """The brain MRI tumour model on an uploaded image (JPEG, PNG or a DICOM object): probability, label and a
    Grad-CAM heatmap (PNG, base64). Nothing is stored. For a stored imaging record use
    `POST /records/{id}/objects/{sha3}/predict`."""
    with collector_held():
        from bindaas.imaging.pixels import rgb_from_bytes

    require_role(caller, *PREDICTORS, doing="request predictions")
    rgb = rgb_from_bytes(await request.body(), request.headers.get("content-type", ""))
    return await run_in_threadpool(predict_pixels, services, rgb, model_id=model_id)
