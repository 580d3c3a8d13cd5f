"""Grad-CAM (Selvaraju et al., 2017): where the network looked. The last convolutional feature map, weighted by the
mean gradient of the logit with respect to each channel, rectified, scaled to [0, 1] and laid over the image."""

from __future__ import annotations

import io

import numpy as np
import torch
from matplotlib import colormaps
from PIL import Image
from torch import nn

from bindaas.ml.imaging.networks import IMAGE_SIZE, to_tensor


def grad_cam(model: nn.Module, rgb: np.ndarray) -> tuple[float, np.ndarray]:
    """The model's probability for one H×W×3 uint8 image and its Grad-CAM map at IMAGE_SIZE², in [0, 1]."""
    model.eval()
    pixels = np.asarray(Image.fromarray(rgb).resize((IMAGE_SIZE, IMAGE_SIZE), Image.BILINEAR))[None]
    with torch.enable_grad():
        fmap = model.feature_map(to_tensor(pixels)).detach().requires_grad_(True)
        logit = model.classify(fmap)
        (gradient,) = torch.autograd.grad(logit.sum(), fmap)
    weights = gradient.mean(dim=(2, 3), keepdim=True)
    cam = torch.relu((weights * fmap).sum(dim=1))[0].detach().numpy()
    cam = cam / cam.max() if cam.max() > 0 else cam
    upsampled = np.asarray(Image.fromarray((cam * 255).astype(np.uint8)).resize((IMAGE_SIZE, IMAGE_SIZE),
                                                                                  Image.BICUBIC)) / 255.0
    return float(torch.sigmoid(logit).item()), upsampled


def heatmap_png(rgb: np.ndarray, cam: np.ndarray, *, side: int = 384) -> bytes:
    """The image (longest side ``side``) with the map laid over it in the 'inferno' colours, 45% opaque, as PNG."""
    image = Image.fromarray(rgb).convert("RGB")
    image.thumbnail((side, side))
    heat = Image.fromarray((cam * 255).astype(np.uint8)).resize(image.size, Image.BICUBIC)
    colours = (colormaps["inferno"](np.asarray(heat) / 255.0)[..., :3] * 255).astype(np.uint8)
    blended = Image.blend(image, Image.fromarray(colours), alpha=0.45)
    out = io.BytesIO()
    blended.save(out, format="PNG", optimize=True)
    return out.getvalue()
