"""Models: train from the verified store, list, show, verify against the chain."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, ConfigDict, Field

from bindaas.api.auth import CallerDep, require_role
from bindaas.api.deps import ServicesDep
from bindaas.api.params import ModelId
from bindaas.errors import InvalidInput, NotFound
from bindaas.imports import collector_held
from bindaas.store import repository
from bindaas.store.models import ModelRow

router = APIRouter(prefix="/models", tags=["models"])


class TrainRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    task: Literal["chd-10y", "cad-angio", "death-followup", "brain-mri-tumour"] = "chd-10y"
    kind: Literal["dnn2f", "dnn1f", "kmeans", "logreg", "gbm", "lite0-frozen", "lite0-finetune", "small-cnn"] = \
        Field("dnn2f", description="tabular tasks: dnn2f, dnn1f, kmeans, logreg, gbm; brain-mri-tumour: "
                                   "lite0-frozen, lite0-finetune, small-cnn")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    seed: int = Field(0, ge=0, le=2**31 - 1)
    images: int | None = Field(None, ge=40, le=3000, description="brain-mri-tumour: train on a stratified slice "
                                                                   "of this many Br35H images (default: all)")
    epochs: int | None = Field(None, ge=1, le=50, description="brain-mri-tumour: epochs of fine-tuning")


def model_view(row: ModelRow) -> dict[str, Any]:
    return {"id": row.id, "task": row.task, "kind": row.kind, "created_at": row.created_at.isoformat(),
            "config": row.config, "metrics": row.metrics, "training_root": row.training_root,
            "training_records": len(row.training_records), "excluded": row.excluded, "tx_hash": row.tx_hash,
            "block": row.block_number, "links": {"verify": f"/models/{row.id}/verify"}}


def load_model_row(services: ServicesDep, model_id: str) -> ModelRow:
    with services.sessions() as session:
        row = repository.get_model(session, model_id=model_id.lower())
    if row is None:
        raise NotFound(f"no model with id {model_id}", field="model_id")
    return row


@router.post("/train", status_code=status.HTTP_201_CREATED,
             responses={200: {"description": "the same configuration on the same records: the existing model"}})
def train(request: TrainRequest, services: ServicesDep, caller: CallerDep, response: Response) -> dict[str, Any]:
    """Train a model on the records that verify (authorities only: the service decrypts them with its own key),
    and register its id and training-set root on chain (201); training it again returns that model (200)."""
    require_role(caller, "authority", doing="train models")
    imaging_kinds = ("lite0-frozen", "lite0-finetune", "small-cnn")
    if (request.task == "brain-mri-tumour") != (request.kind in imaging_kinds):
        raise InvalidInput(f"kind {request.kind} does not train task {request.task}: brain-mri-tumour takes "
                           f"{', '.join(imaging_kinds)}; the tabular tasks take the others", field="kind")
    if request.task == "brain-mri-tumour":
        with collector_held():
            from bindaas.ml.imaging.training import train_imaging_model

        row, created = train_imaging_model(services, kind=request.kind, device=request.device, seed=request.seed,
                                           limit=request.images, epochs=request.epochs)
    else:
        with collector_held():
            from bindaas.ml.training import train_from_store  # torch loads only when a model is trained

        row, created = train_from_store(services, task=request.task, kind=request.kind, device=request.device,
                                        seed=request.seed)
    if not created:
        response.status_code = status.HTTP_200_OK
    return model_view(row)


@router.get("")
def list_models(services: ServicesDep) -> dict[str, Any]:
    """Trained models, newest first."""
    with services.sessions() as session:
        return {"models": [model_view(row) for row in repository.list_models(session)]}


@router.get("/{model_id}")
def get_model(model_id: ModelId, services: ServicesDep) -> dict[str, Any]:
    """One model with its metrics and provenance."""
    return model_view(load_model_row(services, model_id))


@router.get("/{model_id}/verify")
def verify(model_id: ModelId, services: ServicesDep) -> dict[str, Any]:
    """Recompute the weights hash and training-set root and check them against the chain."""
    with collector_held():
        from bindaas.ml.serving import verify_model

    return verify_model(load_model_row(services, model_id), services.chain)
