"""Evaluation a clinician can trust: one stratified split and 5-fold cross-validation for every model, with
AUROC, accuracy, balanced accuracy, F1 and Brier score, each with a 95% bootstrap interval, calibration beside
discrimination, and the prevalence so that a classifier that only predicts the majority class is visible; and
external validation: trained at one site, tested untouched at others, recalibration reported apart."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
from sklearn.metrics import accuracy_score, balanced_accuracy_score, brier_score_loss, f1_score, roc_auc_score
from sklearn.model_selection import StratifiedKFold, train_test_split

from bindaas.fhir.datasets import dataset_bundles
from bindaas.fhir.features import DATASET_TASK, SPECS, extract, label
from bindaas.ml.calibration import Recalibration, calibration
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
                   rng: np.random.Generator, groups: np.ndarray | None = None) -> dict[str, Any]:
    """Point estimates and percentile-bootstrap 95% intervals, resampling patients, or whole ``groups`` (images
    that are near-duplicates of one another are not independent draws)."""
    point = scores(y, p, threshold)
    draws: dict[str, list[float]] = {k: [] for k in METRICS}
    n = len(y)
    members = [np.flatnonzero(groups == g) for g in np.unique(groups)] if groups is not None else None
    for _ in range(resamples):
        idx = rng.integers(0, n, n) if members is None else \
            np.concatenate([members[i] for i in rng.integers(0, len(members), len(members))])
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
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for kind in models:
        progress(f"{kind}: held-out split")
        started = time.perf_counter()
        model = make_model(kind, device=device, seed=seed).fit(X_tr, y_tr)
        fit_s = time.perf_counter() - started
        threshold = float(y_tr.mean())  # label positive when risk exceeds the training prevalence
        p_te = model.predict_proba(X_te)[:, 1]
        result = with_intervals(y_te, p_te, threshold, resamples=resamples, rng=rng)
        result["calibration"] = calibration(y_te, p_te)
        curves[kind] = (y_te, p_te)
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
            "threshold_rule": "positive when predicted risk >= training prevalence", "models": out,
            "curves": curves}


def evaluate_dataset(name: str, *, plots: Path | None = None, **kwargs: Any) -> dict[str, Any]:
    """Every model on dataset ``name`` (framingham, uci-heart, heart-failure), as ``bindaas evaluate`` prints;
    with ``plots``, its ROC curves and reliability diagram are written there as PNG."""
    X, y, names = dataset_matrix(name, limit=kwargs.pop("limit", None))
    result = evaluate_arrays(X, y, **kwargs)
    curves = result.pop("curves")
    if plots is not None:
        result["plots"] = write_plots(curves, plots, stem=name, title=f"{name}, held-out 20%")
    return {"dataset": name, "task": DATASET_TASK[name], "features": names, **result}


def external_validation(train: str, tests: list[str], *, models: tuple[str, ...] = MODEL_KINDS, seed: int = 0,
                        resamples: int = 1000, device: str = "auto", recalibration_fraction: float = 0.3,
                        plots: Path | None = None, progress: Callable[[str], None] = lambda _m: None
                        ) -> dict[str, Any]:
    """Train every model on all of ``train`` and test it untouched on each site of ``tests``: discrimination and
    calibration. Then, reported apart and never mixed in: each site's own logistic recalibration, fitted on a
    stratified ``recalibration_fraction`` of its patients and judged on the rest (where the untouched model is
    judged again, for a like-for-like comparison)."""
    X, y, names = dataset_matrix(train)
    if any(DATASET_TASK[t] != DATASET_TASK[train] for t in tests):
        raise ValueError(f"every test set must share the task of {train} ({DATASET_TASK[train]})")
    rng = np.random.default_rng(seed)
    fitted = {}
    for kind in models:
        progress(f"{kind}: training on all of {train} (n = {len(y)})")
        fitted[kind] = make_model(kind, device=device, seed=seed).fit(X, y)
    threshold = float(y.mean())
    sites: dict[str, Any] = {}
    for test in tests:
        X_t, y_t, _ = dataset_matrix(test)
        slice_idx, rest_idx = train_test_split(np.arange(len(y_t)), train_size=recalibration_fraction, stratify=y_t,
                                               random_state=seed)
        site: dict[str, Any] = {"n": int(len(y_t)), "prevalence": round(float(y_t.mean()), 4),
                                "recalibration_slice_n": int(len(slice_idx)), "models": {}}
        curves = {}
        for kind, model in fitted.items():
            progress(f"{kind}: testing on {test}")
            p = model.predict_proba(X_t)[:, 1]
            curves[kind] = (y_t, p)
            recal = Recalibration.fit(y_t[slice_idx], p[slice_idx])
            p_rest = p[rest_idx]
            site["models"][kind] = {
                "untouched": {**with_intervals(y_t, p, threshold, resamples=resamples, rng=rng),
                              "calibration": calibration(y_t, p)},
                "on_the_rest": {
                    "untouched": {"auroc": round(float(roc_auc_score(y_t[rest_idx], p_rest)), 4),
                                  "calibration": calibration(y_t[rest_idx], p_rest)},
                    "recalibrated": {"auroc": round(float(roc_auc_score(y_t[rest_idx], recal.apply(p_rest))), 4),
                                     "calibration": calibration(y_t[rest_idx], recal.apply(p_rest)),
                                     "fitted": {"intercept": round(recal.intercept, 4),
                                                "slope": round(recal.slope, 4)}}}}
        if plots is not None:
            site["plots"] = write_plots(curves, plots, stem=f"external-{train}-to-{test}",
                                        title=f"trained on {train}, tested untouched on {test}")
        sites[test] = site
    return {"train": train, "train_n": int(len(y)), "train_prevalence": round(threshold, 4),
            "task": DATASET_TASK[train], "features": names, "tests": sites,
            "recalibration": f"logistic (intercept + slope on the logit), fitted on {recalibration_fraction:.0%} of "
                             "each site, judged on the rest"}


def write_plots(curves: dict[str, tuple[np.ndarray, np.ndarray]], folder: Path, *, stem: str,
                title: str) -> list[str]:
    """ROC curves and a reliability diagram of each model's (labels, predictions), as PNG files in ``folder``."""
    from bindaas.ml.plots import reliability_png, roc_png

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for kind, draw in (("roc", roc_png), ("reliability", reliability_png)):
        path = folder / f"{kind}-{stem}.png"
        path.write_bytes(draw(curves, title=title))
        written.append(str(path))
    return written
