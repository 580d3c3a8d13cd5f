"""Training from the store: only records that verify (signatures, signers, policy and on-chain anchor) are used,
and the model's id, training-set root and metrics hash are registered on chain."""

from __future__ import annotations

import json
import logging
import pickle
from collections import Counter
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from sklearn.model_selection import train_test_split
from sqlalchemy.orm import Session, sessionmaker

from bindaas.chain.access import AccessChain
from bindaas.chain.client import ChainClient
from bindaas.config import Settings
from bindaas.crypto.sealing import KemPrivateKey
from bindaas.errors import ChainError, InvalidInput
from bindaas.fhir.datasets import source_of
from bindaas.fhir.features import SPECS, FeatureSpec, extract, label
from bindaas.ledger.verify import open_and_verify_all
from bindaas.ml.applicability import describe_population
from bindaas.ml.estimators import MODEL_KINDS, make_model
from bindaas.ml.nets import cuda_available
from bindaas.ml.evaluate import scores
from bindaas.ml.provenance import metrics_hash, model_id, training_set_root
from bindaas.store import repository
from bindaas.store.models import ModelRow

log = logging.getLogger(__name__)


class TrainingStore(Protocol):
    """What training needs, and no more: the store's sessions, the chain and identity readers that verification
    uses, the service's ML-KEM key that opens the records, and the settings (data dir, confirmations). The API's
    ``Services`` has these; training does not depend on the API."""

    sessions: sessionmaker[Session]
    chain: ChainClient
    access: AccessChain
    service_key: KemPrivateKey
    settings: Settings


@dataclass
class TrainingSet:
    X: np.ndarray
    y: np.ndarray
    record_ids: list[str]
    excluded: dict[str, int]
    sources: dict[str, int]  # where the patients came from (a dataset's identifier system), by count

    def population_name(self) -> str:
        return " + ".join(sorted(self.sources)) or "stored records"


def verified_training_set(services: TrainingStore, spec: FeatureSpec) -> TrainingSet:
    """Features and labels of every stored record that verifies and carries the task's label."""
    rows, labels, ids = [], [], []
    excluded: Counter[str] = Counter()
    sources: Counter[str] = Counter()
    after = 0
    while True:
        with services.sessions() as session:
            page = repository.records_page(session, after_seq=after, limit=500)
            batches = repository.batches_by_id(session, ids={r.batch_id for r in page if r.batch_id})
        if not page:
            break
        after = page[-1].seq
        verified = open_and_verify_all(page, batches, services.chain, services.access, services.service_key,
                                       confirmations=services.settings.confirmations,
                                       threads=services.settings.resolved_verify_threads())
        for row, (report, plaintext) in zip(page, verified):
            if report.verdict != "valid" or plaintext is None:
                excluded[f"verification {report.verdict}"] += 1
                continue
            bundle = json.loads(plaintext)
            outcome = label(bundle, spec)
            if outcome is None:
                excluded["no label for this task"] += 1
                continue
            rows.append(extract(bundle, spec))
            sources[source_of(bundle)] += 1
            labels.append(int(outcome))
            ids.append(row.id)
    X = np.vstack(rows) if rows else np.empty((0, len(spec.features)))
    return TrainingSet(X, np.array(labels, dtype=int), ids, dict(excluded), dict(sources))


def train_from_store(services: TrainingStore, *, task: str, kind: str, device: str = "auto",
                     seed: int = 0) -> tuple[ModelRow, bool]:
    """Train ``kind`` for ``task`` on the verified records, save the artifact, register it on chain; returns the
    model and whether it is new (training the same configuration on the same records again yields the same one)."""
    if task not in SPECS:
        raise InvalidInput(f"unknown task {task!r}; known: {', '.join(SPECS)}", field="task")
    if kind not in MODEL_KINDS:
        raise InvalidInput(f"unknown model kind {kind!r}; known: {', '.join(MODEL_KINDS)}", field="kind")
    if device == "cuda" and not cuda_available():
        raise InvalidInput("device 'cuda' was asked for, but this server has no GPU (no CUDA device); use 'auto' or "
                           "'cpu'", field="device")
    spec = SPECS[task]
    data = verified_training_set(services, spec)
    positives = int(data.y.sum())
    if len(data.y) < 20 or positives < 5 or len(data.y) - positives < 5:
        raise InvalidInput(f"{len(data.y)} verified, labelled records ({positives} positive) for task {task}; "
                           "training needs at least 20 with 5 of each outcome", field="task")
    X_tr, X_te, y_tr, y_te = train_test_split(data.X, data.y, test_size=0.2, stratify=data.y, random_state=seed)
    estimator = make_model(kind, device=device, seed=seed).fit(X_tr, y_tr)
    threshold = float(y_tr.mean())
    metrics = {k: round(v, 4) for k, v in scores(y_te, estimator.predict_proba(X_te)[:, 1], threshold).items()}
    metrics.update(test_n=int(len(y_te)), train_n=int(len(y_tr)), prevalence=round(float(data.y.mean()), 4))
    artifact = pickle.dumps({"estimator": estimator, "medians": np.nanmedian(X_tr, axis=0).tolist()})
    # The population it applies to is part of the configuration, so of the model id registered on chain.
    config = {"task": task, "kind": kind, "seed": seed, "features": spec.names, "threshold": round(threshold, 6),
              "population": describe_population(X_tr, spec, dataset=data.population_name())}
    row, created = publish_model(services, task=task, kind=kind, config=config, artifact=artifact, metrics=metrics,
                                 training_digests=data.record_ids, excluded=data.excluded, suffix=".pkl")
    if not created:  # the same configuration on the same records trains the same weights: same model
        return row, False
    log.info("trained %s for %s on %d verified records: %s", kind, task, len(data.record_ids), metrics)
    return row, True


def publish_model(services: TrainingStore, *, task: str, kind: str, config: dict, artifact: bytes,
                  metrics: dict, training_digests: list[str], excluded: dict[str, int],
                  suffix: str) -> tuple[ModelRow, bool]:
    """Register a trained model on chain (id, training-set root, metrics hash), save its artifact and row; the
    same configuration with the same weights is the same model, returned as it is (False)."""
    mid = model_id(config, artifact)
    with services.sessions() as session:
        existing = repository.get_model(session, model_id=mid)
    if existing is not None:
        return existing, False
    root = training_set_root(training_digests)
    try:
        receipt = services.chain.register_model(bytes.fromhex(mid[2:]), bytes.fromhex(root[2:]),
                                                bytes.fromhex(metrics_hash(metrics)[2:]), len(training_digests))
        tx_hash, block = receipt.tx_hash, receipt.block_number
    except ChainError as exc:
        registered = services.chain.model_of(bytes.fromhex(mid[2:]))
        if exc.error_name != "ModelRegistryDuplicate" or registered is None:
            raise
        tx_hash, block = None, registered.block_number  # another worker registered it a moment ago
    path = services.settings.data_dir / "models" / f"{mid[2:]}{suffix}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(artifact)
    row = ModelRow(id=mid, task=task, kind=kind, created_at=repository.now(), artifact_path=str(path),
                   config=config, metrics=metrics, training_root=root, training_records=sorted(training_digests),
                   excluded=excluded, tx_hash=tx_hash, block_number=block)
    with services.sessions() as session:
        repository.insert_model(session, row=row)
    return row, True
