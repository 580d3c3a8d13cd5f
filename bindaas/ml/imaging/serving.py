"""A prediction on one image: the tumour probability, the label at the model's threshold, the Grad-CAM heatmap
laid over the image (PNG), and what the model is for."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np

from bindaas.ml.imaging.gradcam import grad_cam, heatmap_png
from bindaas.ml.serving import LoadedModel


def predict_image(model: LoadedModel, rgb: np.ndarray) -> dict[str, Any]:
    probability, cam = grad_cam(model.estimator, rgb)
    return {
        "model_id": model.row.id, "task": model.row.task, "kind": model.row.kind,
        "probability": round(probability, 4), "threshold": model.threshold, "label": probability >= model.threshold,
        "finding": "tumour" if probability >= model.threshold else "no tumour",
        "intended_use": model.row.config.get("intended_use"),
        "image": {"width": int(rgb.shape[1]), "height": int(rgb.shape[0])},
        "heatmap": {"method": "Grad-CAM on the last convolutional layer", "media_type": "image/png",
                    "png_base64": base64.b64encode(heatmap_png(rgb, cam)).decode()},
    }
