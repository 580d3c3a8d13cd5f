"""The three ways to train the detector, each returning the same kind of torch module (image in, logit out):
frozen ImageNet features + logistic regression, full fine-tuning, and a small CNN from scratch."""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler
from torch import nn

from bindaas.ml.imaging.networks import Lite0Classifier, build, pooled_features, predict_logits, to_tensor

KINDS = ("lite0-frozen", "lite0-finetune", "small-cnn")
ARCHITECTURE = {"lite0-frozen": "lite0", "lite0-finetune": "lite0", "small-cnn": "small-cnn"}
DEFAULT_EPOCHS = {"lite0-frozen": 0, "lite0-finetune": 3, "small-cnn": 12}


@dataclass
class Fitted:
    model: nn.Module  # on the CPU, in eval mode
    kind: str
    epochs: int
    train_seconds: float
    val_auroc: float


def fit(kind: str, train: tuple[np.ndarray, np.ndarray], val: tuple[np.ndarray, np.ndarray], *,
        device: torch.device, seed: int = 0, epochs: int | None = None,
        progress: Callable[[str], None] = lambda _m: None) -> Fitted:
    """Train ``kind`` on ``train`` (pixels, labels); ``val`` picks the regularisation or the best epoch."""
    torch.manual_seed(seed)
    started = time.perf_counter()
    if kind == "lite0-frozen":
        model, val_auroc = _frozen(train, val, device=device, seed=seed)
        n_epochs = 0
    else:
        n_epochs = DEFAULT_EPOCHS[kind] if epochs is None else epochs
        model, val_auroc = _gradient_descent(kind, train, val, device=device, seed=seed, epochs=n_epochs,
                                             progress=progress)
    return Fitted(model.cpu().eval(), kind, n_epochs, time.perf_counter() - started, val_auroc)


def _frozen(train: tuple[np.ndarray, np.ndarray], val: tuple[np.ndarray, np.ndarray], *, device: torch.device,
            seed: int) -> tuple[nn.Module, float]:
    model = Lite0Classifier().to(device)
    f_tr, f_val = pooled_features(model, train[0], device=device), pooled_features(model, val[0], device=device)
    scaler = StandardScaler().fit(f_tr)
    best: tuple[float, LogisticRegression] | None = None
    for c in (0.001, 0.01, 0.1, 1.0):
        lr = LogisticRegression(C=c, max_iter=3000, random_state=seed).fit(scaler.transform(f_tr), train[1])
        auroc = roc_auc_score(val[1], lr.decision_function(scaler.transform(f_val)))
        if best is None or auroc > best[0]:
            best = (auroc, lr)
    assert best is not None
    auroc, lr = best
    # Standardisation folded into the linear head, so the served module is the same shape as a fine-tuned one.
    weight = lr.coef_[0] / scaler.scale_
    with torch.no_grad():
        model.head.weight.copy_(torch.tensor(weight[None, :], dtype=torch.float32))
        model.head.bias.copy_(torch.tensor([lr.intercept_[0] - float(weight @ scaler.mean_)], dtype=torch.float32))
    return model, float(auroc)


def _gradient_descent(kind: str, train: tuple[np.ndarray, np.ndarray], val: tuple[np.ndarray, np.ndarray], *,
                      device: torch.device, seed: int, epochs: int,
                      progress: Callable[[str], None]) -> tuple[nn.Module, float]:
    model = build(ARCHITECTURE[kind]).to(device)
    if kind == "lite0-finetune":
        params = [{"params": model.backbone.parameters(), "lr": 1e-4}, {"params": model.head.parameters(), "lr": 1e-3}]
    else:
        params = [{"params": model.parameters(), "lr": 1e-3}]
    optimiser = torch.optim.AdamW(params, weight_decay=1e-4)
    loss_fn = nn.BCEWithLogitsLoss()
    rng = np.random.default_rng(seed)
    pixels, labels = train
    best: tuple[float, dict] = (-1.0, copy.deepcopy(model.state_dict()))
    for epoch in range(epochs):
        model.train()
        order = rng.permutation(len(pixels))
        for start in range(0, len(order), 32):
            batch = order[start:start + 32]
            x = to_tensor(pixels[batch], device)
            flip = torch.from_numpy(rng.random(len(batch)) < 0.5).to(device)
            x = torch.where(flip[:, None, None, None], x.flip(3), x)  # left-right mirror: tumours have no side
            loss = loss_fn(model(x), torch.tensor(labels[batch], dtype=torch.float32, device=device))
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        auroc = float(roc_auc_score(val[1], predict_logits(model, val[0], device=device)))
        progress(f"{kind}: epoch {epoch + 1}/{epochs}, validation AUROC {auroc:.3f}")
        if auroc > best[0]:
            best = (auroc, copy.deepcopy(model.state_dict()))
    model.load_state_dict(best[1])
    return model, best[0]
