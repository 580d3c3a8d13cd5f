"""The models learn from real clinical data, reproducibly, and cope with missing observations."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from bindaas.ml.estimators import KMeansFeatureClassifier, PcaDnnClassifier, make_model
from bindaas.ml.evaluate import dataset_matrix, evaluate_arrays


@pytest.fixture(scope="module")
def framingham_split():
    X, y, _ = dataset_matrix("framingham", limit=1600)
    return train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)


def test_dnn_beats_chance_on_a_framingham_subset(framingham_split):
    X_tr, X_te, y_tr, y_te = framingham_split
    model = PcaDnnClassifier(device="cpu").fit(X_tr, y_tr)
    assert roc_auc_score(y_te, model.predict_proba(X_te)[:, 1]) > 0.6
    assert 1 <= model.n_components_ <= X_tr.shape[1] * 2


def test_kmeans_features_beat_chance(framingham_split):
    X_tr, X_te, y_tr, y_te = framingham_split
    model = KMeansFeatureClassifier(n_centroids=32, device="cpu").fit(X_tr, y_tr)
    assert model.centroids_.shape[0] == 32
    assert roc_auc_score(y_te, model.predict_proba(X_te)[:, 1]) > 0.6


@pytest.mark.parametrize("kind", ["dnn2f", "dnn1f", "kmeans"])
def test_cpu_training_is_reproducible_with_a_seed(framingham_split, kind):
    X_tr, X_te, y_tr, _ = framingham_split
    a = make_model(kind, device="cpu", seed=7).fit(X_tr, y_tr).predict_proba(X_te)
    b = make_model(kind, device="cpu", seed=7).fit(X_tr, y_tr).predict_proba(X_te)
    np.testing.assert_array_equal(a, b)


def test_probabilities_are_calibrated_to_the_prevalence(framingham_split):
    X_tr, X_te, y_tr, y_te = framingham_split
    p = PcaDnnClassifier(device="cpu").fit(X_tr, y_tr).predict_proba(X_te)[:, 1]
    assert abs(p.mean() - y_te.mean()) < 0.05  # weighted training alone would put this near 0.5


def test_missing_values_are_imputed_not_fatal(framingham_split):
    X_tr, X_te, y_tr, _ = framingham_split
    model = make_model("dnn2f", device="cpu").fit(X_tr, y_tr)
    holes = X_te[:5].copy()
    holes[:, 2:8] = np.nan
    p = model.predict_proba(holes)[:, 1]
    assert np.all((p > 0) & (p < 1))


def test_evaluation_reports_every_model_with_intervals_and_prevalence():
    X, y, _ = dataset_matrix("heart-failure")
    report = evaluate_arrays(X, y, models=("dnn1f", "logreg"), folds=3, resamples=50, device="cpu")
    assert report["n"] == 299 and 0.25 < report["prevalence"] < 0.4
    for name in ("dnn1f", "logreg"):
        m = report["models"][name]
        for metric in ("auroc", "accuracy", "balanced_accuracy", "f1", "brier"):
            lo, hi = m["ci95"][metric]
            assert lo <= m[metric] <= hi
        assert len(m["cv"]["fold_auroc"]) == 3
        assert m["auroc"] > 0.6


def test_cuda_request_without_a_gpu_is_a_clear_error():
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    with pytest.raises(ValueError, match="no CUDA device"):
        PcaDnnClassifier(device="cuda").fit(np.zeros((20, 2)), np.array([0, 1] * 10))
