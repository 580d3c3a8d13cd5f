"""Evaluation a clinician can trust: one stratified split and 5-fold cross-validation for every model, with
AUROC, accuracy, balanced accuracy, F1 and Brier score, each with a 95% bootstrap interval, and the prevalence
so that a classifier that only predicts the majority class is visible."""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np
from sklearn.metrics import accuracy_score, balanced_accuracy_score, brier_score_loss, f1_score, roc_auc_score
from sklearn.model_selection import StratifiedKFold, train_test_split

from bindaas.fhir.datasets import dataset_bundles
from bindaas.fhir.features import DATASET_TASK, SPECS, extract, label
from bindaas.ml.estimators import MODEL_KINDS, make_model

METRICS: dict[str, Callable[[np.ndarray, np.ndarray, np.ndarray], float]] = {
    "auroc": lambda y, p, yhat: roc_auc_score(y, p),
    "accuracy": lambda y, p, yhat: accuracy_score(y, yhat),
    "balanced_accuracy": lambda y, p, yhat: balanced_accuracy_score(y, yhat),
    "f1": lambda y, p, yhat: f1_score(y, yhat, zero_division=0),
    "brier": lambda y, p, yhat: brier_score_loss(y, p),
}


def dataset_matrix(name: str, *, limit: int | None = None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Features and labels of a public dataset, read through its FHIR bundles and the task's feature spec."""
    spec = SPECS[DATASET_TASK[name]]
    rows, labels = [], []
    for bundle in dataset_bundles(name, limit=limit):
        outcome = label(bundle, spec)
        if outcome is None:
            continue
        rows.append(extract(bundle, spec))
        labels.append(int(outcome))
    return np.vstack(rows), np.array(labels), spec.names


def scores(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, float]:
    yhat = (p >= threshold).astype(int)
    return {name: float(fn(y, p, yhat)) for name, fn in METRICS.items()}


def with_intervals(y: np.ndarray, p: np.ndarray, threshold: float, *, resamples: int,
                   rng: np.random.Generator) -> dict[str, Any]:
    """Point estimates and percentile-bootstrap 95% intervals (resampling patients)."""
    point = scores(y, p, threshold)
    draws: dict[str, list[float]] = {k: [] for k in METRICS}
    n = len(y)
    for _ in range(resamples):
        idx = rng.integers(0, n, n)
        if y[idx].min() == y[idx].max():
            continue  # AUROC is undefined on a one-class resample
        for k, v in scores(y[idx], p[idx], threshold).items():
            draws[k].append(v)
    ci = {k: [round(float(np.percentile(v, 2.5)), 4), round(float(np.percentile(v, 97.5)), 4)]
          for k, v in draws.items() if v}
    return {**{k: round(v, 4) for k, v in point.items()}, "ci95": ci}


def evaluate_arrays(X: np.ndarray, y: np.ndarray, *, models: tuple[str, ...] = MODEL_KINDS, seed: int = 0,
                    folds: int = 5, resamples: int = 1000, device: str = "auto",
                    progress: Callable[[str], None] = lambda _m: None) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.2, stratify=y, random_state=seed)
    out: dict[str, Any] = {}
    for kind in models:
        progress(f"{kind}: held-out split")
        started = time.perf_counter()
        model = make_model(kind, device=device, seed=seed).fit(X_tr, y_tr)
        fit_s = time.perf_counter() - started
        threshold = float(y_tr.mean())  # label positive when risk exceeds the training prevalence
        result = with_intervals(y_te, model.predict_proba(X_te)[:, 1], threshold, resamples=resamples, rng=rng)
        progress(f"{kind}: {folds}-fold cross-validation")
        oof = np.zeros(len(y))
        fold_auroc = []
        for train_idx, test_idx in StratifiedKFold(folds, shuffle=True, random_state=seed).split(X, y):
            fold_model = make_model(kind, device=device, seed=seed).fit(X[train_idx], y[train_idx])
            oof[test_idx] = fold_model.predict_proba(X[test_idx])[:, 1]
            fold_auroc.append(roc_auc_score(y[test_idx], oof[test_idx]))
        result["cv"] = with_intervals(y, oof, float(y.mean()), resamples=resamples, rng=rng)
        result["cv"]["fold_auroc"] = [round(a, 4) for a in fold_auroc]
        result["fit_seconds"] = round(fit_s, 3)
        out[kind] = result
    return {"n": int(len(y)), "prevalence": round(float(y.mean()), 4), "test_n": int(len(y_te)),
            "threshold_rule": "positive when predicted risk >= training prevalence", "models": out}


def evaluate_dataset(name: str, **kwargs: Any) -> dict[str, Any]:
    """Every model on dataset ``name`` (framingham, uci-heart, heart-failure), as ``bindaas evaluate`` prints."""
    X, y, names = dataset_matrix(name, limit=kwargs.pop("limit", None))
    return {"dataset": name, "task": DATASET_TASK[name], "features": names, **evaluate_arrays(X, y, **kwargs)}
