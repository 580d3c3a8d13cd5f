"""`bindaas evaluate --dataset br35h`: the three detectors on one grouped split, with 95% intervals from a bootstrap
over duplicate groups, the cost of each, what an ungrouped split would have claimed, and a Grad-CAM picture."""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
from PIL import Image, PngImagePlugin
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from bindaas.ml.evaluate import with_intervals
from bindaas.ml.imaging import br35h
from bindaas.ml.imaging.duplicates import MAX_DISTANCE, duplicate_share
from bindaas.ml.imaging.fitting import KINDS, fit
from bindaas.ml.imaging.gradcam import grad_cam, heatmap_png
from bindaas.ml.imaging.networks import IMAGE_SIZE, Lite0Classifier, pooled_features, predict_probabilities
from bindaas.ml.imaging.split import prepare_br35h
from bindaas.ml.nets import pick_device


def evaluate_br35h(*, limit: int | None = None, kinds: tuple[str, ...] = KINDS, device: str = "auto",
                   seed: int = 0, epochs: int | None = None, resamples: int = 1000, heatmap: Path | None = None,
                   progress: Callable[[str], None] = lambda _m: None) -> dict[str, Any]:
    """Train and test every kind on the same grouped split of Br35H (or a stratified ``limit`` of it)."""
    torch_device = pick_device(device)
    started = time.perf_counter()
    prepared = prepare_br35h(limit=limit, seed=seed, size=IMAGE_SIZE)
    prepared_s = time.perf_counter() - started
    images, groups, split, pixels = prepared.images, prepared.groups, prepared.split, prepared.pixels
    progress(f"{len(images)} images, {len(np.unique(groups))} duplicate groups "
             f"({duplicate_share(groups):.0%} of images have a near-duplicate); split {len(split.train)} / "
             f"{len(split.val)} / {len(split.test)}")
    y = images.labels
    rng = np.random.default_rng(seed)
    models: dict[str, Any] = {}
    fitted_models = {}
    for kind in kinds:
        progress(f"training {kind} on {torch_device.type}")
        fitted = fit(kind, (pixels[split.train], y[split.train]), (pixels[split.val], y[split.val]),
                     device=torch_device, seed=seed, epochs=epochs, progress=progress)
        t0 = time.perf_counter()
        p = predict_probabilities(fitted.model, pixels[split.test])
        per_image_ms = 1000 * (time.perf_counter() - t0) / len(split.test)
        models[kind] = {**with_intervals(y[split.test], p, 0.5, resamples=resamples, rng=rng,
                                         groups=groups[split.test]),
                        "epochs": fitted.epochs, "train_seconds": round(fitted.train_seconds, 1),
                        "val_auroc": round(fitted.val_auroc, 4), "cpu_batch_inference_ms_per_image":
                            round(per_image_ms, 2)}
        fitted_models[kind] = fitted.model
        progress(f"{kind}: test AUROC {models[kind]['auroc']:.3f} {models[kind]['ci95'].get('auroc')}, "
                 f"trained in {fitted.train_seconds:.0f} s")
    result = {
        "dataset": br35h.NAME, "licence": br35h.LICENCE, "n": len(images), "positives": int(y.sum()),
        "image_size": IMAGE_SIZE, "device": torch_device.type, "seed": seed,
        "duplicates": {"hash": "256-bit difference hash", "max_distance_bits": MAX_DISTANCE,
                       "groups": int(len(np.unique(groups))), "share_with_duplicate": round(duplicate_share(groups), 4),
                       "groups_across_sides": split.leaks(groups)},
        "split": {"train": len(split.train), "val": len(split.val), "test": len(split.test)},
        "bootstrap": {"resamples": resamples, "unit": "duplicate group"}, "threshold": 0.5,
        "prepare_seconds": round(prepared_s, 1), "models": models,
        "ungrouped_split_would_claim": _leaky_auroc(pixels, y, groups, split, device=torch_device, seed=seed),
    }
    if heatmap is not None and fitted_models:
        best = max(fitted_models, key=lambda k: models[k]["val_auroc"])
        tumour = next(int(i) for i in split.test if y[i] == 1)
        heatmap.write_bytes(_picture(fitted_models[best], images.paths[tumour]))
        result["heatmap"] = {"path": str(heatmap), "model": best, "image": images.paths[tumour].name}
    return result


def _leaky_auroc(pixels: np.ndarray, y: np.ndarray, groups: np.ndarray, split: Any, *, device: Any,
                 seed: int) -> dict[str, float]:
    """Frozen features + logistic regression tested on a random 20% (duplicates on both sides) and on the grouped
    test set: the first number is the one a careless split would publish."""
    features = pooled_features(Lite0Classifier().to(device), pixels, device=device)

    def auroc(train: np.ndarray, test: np.ndarray) -> float:
        scaler = StandardScaler().fit(features[train])
        lr = LogisticRegression(C=0.01, max_iter=3000).fit(scaler.transform(features[train]), y[train])
        return round(float(roc_auc_score(y[test], lr.decision_function(scaler.transform(features[test])))), 4)

    train, test = train_test_split(np.arange(len(y)), test_size=0.2, stratify=y, random_state=seed)
    grouped_train = np.concatenate([split.train, split.val])
    return {"random_split_auroc": auroc(train, test), "grouped_split_auroc": auroc(grouped_train, split.test),
            "random_split_test_images_with_duplicate_in_train":
                round(float(np.isin(groups[test], groups[train]).mean()), 4)}


def _picture(model: Any, path: Path) -> bytes:
    """The image and its Grad-CAM overlay side by side, with the probability in the file's metadata."""
    rgb = np.asarray(Image.open(path).convert("RGB"))
    probability, cam = grad_cam(model, rgb)
    overlay = Image.open(io.BytesIO(heatmap_png(rgb, cam)))
    original = Image.fromarray(rgb)
    original.thumbnail(overlay.size)
    canvas = Image.new("RGB", (original.width + overlay.width + 8, overlay.height), "white")
    canvas.paste(original, (0, 0))
    canvas.paste(overlay, (original.width + 8, 0))
    out = io.BytesIO()
    info = PngImagePlugin.PngInfo()
    info.add_text("Description", f"Br35H test image {path.name}: tumour probability {probability:.3f}")
    canvas.save(out, format="PNG", pnginfo=info, optimize=True)
    return out.getvalue()
