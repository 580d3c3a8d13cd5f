"""Serving: load a verified model, predict from a FHIR bundle, explain by occlusion, verify provenance."""

from __future__ import annotations

import pickle
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bindaas.chain.client import ChainClient
from bindaas.errors import InvalidInput, NotFound
from bindaas.fhir.features import SPECS, extract, unknown_units
from bindaas.ml.applicability import check_applicability
from bindaas.ml.provenance import ArtifactTampered, metrics_hash, read_artifact, training_set_root
from bindaas.store.models import ModelRow

IMAGING_TASK = "brain-mri-tumour"  # served by bindaas.ml.imaging (torch weights, not a pickled estimator)


@dataclass
class LoadedModel:
    row: ModelRow
    estimator: Any
    medians: list[float]

    @property
    def threshold(self) -> float:
        return float(self.row.config["threshold"])


@dataclass
class ModelCache:
    """Models already loaded (and hash-checked) by this process: part of the app's lifespan state."""

    loaded: dict[str, LoadedModel] = field(default_factory=dict)

    def get(self, row: ModelRow) -> LoadedModel:
        if row.id not in self.loaded:
            data = read_artifact(row.artifact_path, expected_id=row.id, config=row.config)
            if row.task == IMAGING_TASK:
                from bindaas.ml.imaging.training import load_module

                self.loaded[row.id] = LoadedModel(row, load_module(row, data), [])
            else:
                # Unpickled only after its bytes matched the id registered on chain.
                artifact = pickle.loads(data)  # noqa: S301
                self.loaded[row.id] = LoadedModel(row, artifact["estimator"], artifact["medians"])
        return self.loaded[row.id]


def predict_bundle(model: LoadedModel, bundle: dict[str, Any], *, as_of: str | None = None,
                   top: int = 5) -> dict[str, Any]:
    """Risk for one bundle, the label at the model's threshold, features used, missing and imputed, the features
    that moved this prediction most (occlusion: each present feature replaced by 'missing'), the population the
    model applies to and any out-of-distribution warning; refused (422, in words) outside that population."""
    spec = SPECS[model.row.task]
    x = extract(bundle, spec, as_of=as_of)
    population = model.row.config.get("population")
    standing = check_applicability(x, spec, population, unknown_units(bundle, spec, as_of=as_of))
    present = [i for i, v in enumerate(x) if not np.isnan(v)]
    # Demographics alone, or conditions that are merely absent, are no evidence to score.
    clinical = [i for i in present if spec.features[i].kind not in ("age", "male", "condition")
                or (spec.features[i].kind == "condition" and x[i] == 1)]
    if not clinical:
        raise InvalidInput(f"the bundle has none of the observations or conditions the {spec.task} model reads "
                           f"({', '.join(f.name for f in spec.features if f.kind not in ('age', 'male'))})",
                           field="bundle")
    occluded = np.repeat(x[None, :], len(present) + 1, axis=0)
    for row, i in enumerate(present, start=1):
        occluded[row, i] = np.nan
    probs = model.estimator.predict_proba(occluded)[:, 1]
    risk = float(probs[0])
    contributions = sorted(({"feature": spec.names[i], "value": round(float(x[i]), 4),
                             "contribution": round(risk - float(probs[row]), 4)}
                            for row, i in enumerate(present, start=1)),
                           key=lambda c: -abs(c["contribution"]))
    return {
        "model_id": model.row.id, "task": spec.task, "kind": model.row.kind,
        "probability": round(risk, 4), "threshold": round(model.threshold, 4), "label": risk >= model.threshold,
        "features_used": {spec.names[i]: round(float(x[i]), 4) for i in present},
        "features_missing": [spec.names[i] for i in range(len(x)) if np.isnan(x[i])],
        "top_contributions": contributions[:top],
        **standing.to_json(population),
    }


def verify_model(row: ModelRow, chain: ChainClient) -> dict[str, Any]:
    """Recompute the weights hash from the stored artifact and check it, the training-set root and the metrics
    hash against the chain."""
    checks = []
    try:
        read_artifact(row.artifact_path, expected_id=row.id, config=row.config)
        checks.append({"name": "weights_hash", "ok": True, "detail": "artifact and configuration hash to the id"})
    except (ArtifactTampered, OSError) as exc:
        checks.append({"name": "weights_hash", "ok": False, "detail": str(exc)})
    on_chain = chain.model_of(bytes.fromhex(row.id[2:]))
    checks.append({"name": "registered_on_chain", "ok": on_chain is not None,
                   "detail": f"registered in block {on_chain.block_number} by {on_chain.registered_by}"
                   if on_chain else "model id not found in the ModelRegistry"})
    root = training_set_root(row.training_records)
    checks.append({"name": "training_set_root", "ok": bool(on_chain and on_chain.training_root == root),
                   "detail": f"root of {len(row.training_records)} training digests: {root}"})
    mh = metrics_hash(row.metrics)
    checks.append({"name": "metrics_hash", "ok": bool(on_chain and on_chain.metrics_hash == mh),
                   "detail": f"metrics hash {mh}"})
    failed = next((c["name"] for c in checks if not c["ok"]), None)
    return {"model_id": row.id, "verdict": "invalid" if failed else "valid", "failed_check": failed,
            "checks": checks}


def choose_model(rows: list[ModelRow], cache: ModelCache, *, model_id: str | None,
                 tasks: Collection[str] = tuple(SPECS)) -> LoadedModel:
    """The named model, or the newest one for one of ``tasks`` (default: the tabular risk tasks) whose artifact
    still matches its id."""
    if model_id:
        for row in rows:
            if row.id == model_id.lower():
                if row.task not in tasks:
                    raise InvalidInput(f"model {row.id} is a {row.task} model; this route serves "
                                       f"{', '.join(tasks)}", field="model_id")
                return cache.get(row)
        raise NotFound(f"no model with id {model_id}", field="model_id")
    for row in rows:  # newest first
        if row.task not in tasks:
            continue
        try:
            return cache.get(row)
        except (ArtifactTampered, OSError):
            continue
    raise NotFound(f"no trained {' or '.join(tasks)} model is available; train one with POST /models/train",
                   field="model_id")
