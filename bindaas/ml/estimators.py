"""scikit-learn-style estimators (``fit`` / ``predict_proba``) for BinDaaS phase 2, and the baselines.

- ``PcaDnnClassifier``: impute (+ missingness indicators) -> standardize -> PCA (components by explained
  variance) -> torch DNN (DNN-2F: two hidden layers, DNN-1F: one), class imbalance by a positive-class weight,
  early stopping on a stratified validation split, Platt-calibrated probabilities.
- ``KMeansFeatureClassifier``: a single layer of K-means centroids learned without labels (torch), the
  Coates & Ng 'triangle' encoding, then a logistic regression on the learned features.
- Baselines: logistic regression and gradient boosting, behind the same imputation.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.decomposition import PCA
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from bindaas.ml.nets import RiskNet, kmeans, pick_device, triangle_encode

log = logging.getLogger(__name__)


def imputer() -> SimpleImputer:
    """Median imputation plus an indicator column for every feature that was missing in training."""
    return SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)


def _seed(seed: int) -> torch.Generator:
    torch.manual_seed(seed)
    np.random.seed(seed % (2**32))
    return torch.Generator().manual_seed(seed)


class PcaDnnClassifier(ClassifierMixin, BaseEstimator):
    """Standardize -> PCA -> DNN, as in BinDaaS. ``hidden=(64, 32)`` is DNN-2F, ``hidden=(64,)`` DNN-1F."""

    def __init__(self, hidden: tuple[int, ...] = (64, 32), variance: float = 0.95, dropout: float = 0.2,
                 lr: float = 1e-3, weight_decay: float = 1e-4, epochs: int = 300, batch_size: int = 128,
                 patience: int = 25, validation_fraction: float = 0.2, device: str = "auto",
                 random_state: int = 0, verbose: bool = False) -> None:
        self.hidden = hidden
        self.variance = variance
        self.dropout = dropout
        self.lr = lr
        self.weight_decay = weight_decay
        self.epochs = epochs
        self.batch_size = batch_size
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def fit(self, X: np.ndarray, y: np.ndarray) -> "PcaDnnClassifier":
        X, y = np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.int64)
        if len(np.unique(y)) != 2:
            raise ValueError("training needs both outcomes present; got only one class in y")
        generator = _seed(self.random_state)
        device = pick_device(self.device)
        X_tr, X_val, y_tr, y_val = train_test_split(X, y, test_size=self.validation_fraction, stratify=y,
                                                    random_state=self.random_state)
        self.preprocess_ = Pipeline([("impute", imputer()), ("scale", StandardScaler()),
                                     ("pca", PCA(n_components=self.variance, svd_solver="full",
                                                 random_state=self.random_state))]).fit(X_tr)
        self.n_components_ = int(self.preprocess_.named_steps["pca"].n_components_)
        z_tr = torch.tensor(self.preprocess_.transform(X_tr), dtype=torch.float32, device=device)
        z_val = torch.tensor(self.preprocess_.transform(X_val), dtype=torch.float32, device=device)
        t_tr = torch.tensor(y_tr, dtype=torch.float32, device=device)
        t_val = torch.tensor(y_val, dtype=torch.float32, device=device)

        net = RiskNet(self.n_components_, tuple(self.hidden), self.dropout).to(device)
        pos_weight = torch.tensor((y_tr == 0).sum() / max(1, (y_tr == 1).sum()), dtype=torch.float32, device=device)
        loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight)
        optimizer = torch.optim.Adam(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        best, best_state, stale = float("inf"), copy.deepcopy(net.state_dict()), 0
        self.epochs_run_ = 0
        for epoch in range(self.epochs):
            net.train()
            order = torch.randperm(len(t_tr), generator=generator).to(device)
            for start in range(0, len(order), self.batch_size):
                idx = order[start:start + self.batch_size]
                optimizer.zero_grad()
                loss_fn(net(z_tr[idx]), t_tr[idx]).backward()
                optimizer.step()
            net.eval()
            with torch.no_grad():
                val_loss = loss_fn(net(z_val), t_val).item()
            self.epochs_run_ = epoch + 1
            if val_loss < best - 1e-5:
                best, best_state, stale = val_loss, copy.deepcopy(net.state_dict()), 0
            else:
                stale += 1
                if stale >= self.patience:
                    break
            if self.verbose and epoch % 20 == 0:
                log.info("epoch %d validation loss %.4f", epoch, val_loss)
        net.load_state_dict(best_state)
        self.net_ = net.to("cpu").eval()
        # Weighted training skews the scores; Platt scaling on held-out data makes them probabilities again.
        self.calibrator_ = LogisticRegression().fit(self._logits(X_val).reshape(-1, 1), y_val)
        self.classes_ = np.array([0, 1])
        self.prevalence_ = float(y.mean())
        return self

    def _logits(self, X: np.ndarray) -> np.ndarray:
        z = torch.tensor(self.preprocess_.transform(np.asarray(X, dtype=np.float64)), dtype=torch.float32)
        with torch.no_grad():
            return self.net_(z).numpy().astype(np.float64)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return self.calibrator_.predict_proba(self._logits(X).reshape(-1, 1))

    def predict(self, X: np.ndarray) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= self.prevalence_).astype(int)


class KMeansFeatureClassifier(ClassifierMixin, BaseEstimator):
    """Unsupervised K-means feature learning (Coates & Ng 2011) and a linear classifier on the features."""

    def __init__(self, n_centroids: int = 64, iterations: int = 100, C: float = 1.0, device: str = "auto",
                 random_state: int = 0) -> None:
        self.n_centroids = n_centroids
        self.iterations = iterations
        self.C = C
        self.device = device
        self.random_state = random_state

    def fit(self, X: np.ndarray, y: np.ndarray) -> "KMeansFeatureClassifier":
        X, y = np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.int64)
        generator = _seed(self.random_state)
        device = pick_device(self.device)
        self.preprocess_ = make_pipeline(imputer(), StandardScaler()).fit(X)
        x = torch.tensor(self.preprocess_.transform(X), dtype=torch.float32, device=device)
        k = min(self.n_centroids, len(x))
        self.centroids_ = kmeans(x, k, iterations=self.iterations, generator=generator).cpu()
        features = self._encode(X)
        self.scaler_ = StandardScaler().fit(features)
        self.classifier_ = LogisticRegression(C=self.C, max_iter=5000).fit(self.scaler_.transform(features), y)
        self.classes_ = np.array([0, 1])
        self.prevalence_ = float(y.mean())
        return self

    def _encode(self, X: np.ndarray) -> np.ndarray:
        x = torch.tensor(self.preprocess_.transform(np.asarray(X, dtype=np.float64)), dtype=torch.float32)
        return triangle_encode(x, self.centroids_).numpy().astype(np.float64)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return self.classifier_.predict_proba(self.scaler_.transform(self._encode(X)))

    def predict(self, X: np.ndarray) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= self.prevalence_).astype(int)


MODEL_KINDS = ("dnn2f", "dnn1f", "kmeans", "logreg", "gbm")


def make_model(kind: str, *, device: str = "auto", seed: int = 0) -> Any:
    """A fresh, unfitted estimator of ``kind`` (one of ``MODEL_KINDS``)."""
    if kind == "dnn2f":
        return PcaDnnClassifier(hidden=(64, 32), device=device, random_state=seed)
    if kind == "dnn1f":
        return PcaDnnClassifier(hidden=(64,), device=device, random_state=seed)
    if kind == "kmeans":
        return KMeansFeatureClassifier(device=device, random_state=seed)
    if kind == "logreg":
        return make_pipeline(imputer(), StandardScaler(), LogisticRegression(max_iter=5000))
    if kind == "gbm":
        return make_pipeline(imputer(), HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05,
                                                                       random_state=seed))
    raise ValueError(f"unknown model kind {kind!r}; choose one of {', '.join(MODEL_KINDS)}")
