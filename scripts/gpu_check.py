"""One short GPU check of phase-2 training: the same models, seeds and held-out split on CPU and on CUDA.

Reads a feature matrix exported by ``--export`` (Framingham, through its FHIR bundles and the chd-10y feature
spec), so the GPU machine needs only torch and scikit-learn. Prints one JSON object: fit seconds and held-out AUROC
per model and device, and the same on a bootstrap-resampled 50x copy of the training split (throughput only: a
resample has no new patients, so no accuracy is claimed for it).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def export(path: Path) -> None:
    from bindaas.ml.evaluate import dataset_matrix

    X, y, names = dataset_matrix("framingham")
    np.savez_compressed(path, X=X, y=y, names=np.array(names))
    print(f"wrote {path}: {X.shape[0]} patients, {X.shape[1]} features")


def timed_fit(kind: str, device: str, X_tr: np.ndarray, y_tr: np.ndarray, X_te: np.ndarray,
              y_te: np.ndarray) -> dict[str, float]:
    import torch
    from sklearn.metrics import roc_auc_score

    from bindaas.ml.estimators import make_model

    started = time.perf_counter()
    model = make_model(kind, device=device, seed=0).fit(X_tr, y_tr)
    if device == "cuda":
        torch.cuda.synchronize()
    fit_s = time.perf_counter() - started
    auroc = roc_auc_score(y_te, model.predict_proba(X_te)[:, 1])
    return {"fit_s": round(fit_s, 3), "auroc": round(float(auroc), 4)}


def check(path: Path, scale: int) -> dict:
    import torch
    from sklearn.model_selection import train_test_split

    data = np.load(path)
    X, y = data["X"], data["y"]
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.2, stratify=y, random_state=0)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    out: dict = {"torch": torch.__version__, "python": platform.python_version(), "n": int(len(y)),
                 "cuda_device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
                 "framingham": {}, f"resampled_x{scale}": {}}
    if "cuda" in devices:  # first CUDA call pays context creation; keep it out of the timings
        torch.zeros(1, device="cuda")
    for kind in ("dnn2f", "dnn1f", "kmeans"):
        out["framingham"][kind] = {d: timed_fit(kind, d, X_tr, y_tr, X_te, y_te) for d in devices}
    rng = np.random.default_rng(0)
    idx = rng.integers(0, len(y_tr), len(y_tr) * scale)
    for kind in ("dnn2f", "kmeans"):
        out[f"resampled_x{scale}"][kind] = {d: timed_fit(kind, d, X_tr[idx], y_tr[idx], X_te, y_te)
                                            for d in devices}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("matrix", type=Path)
    parser.add_argument("--export", action="store_true", help="write the matrix (needs the full install)")
    parser.add_argument("--scale", type=int, default=50)
    args = parser.parse_args()
    if args.export:
        export(args.matrix)
    else:
        print(json.dumps(check(args.matrix, args.scale), indent=1))


if __name__ == "__main__":
    main()
