"""The torch modules: the BinDaaS DNN and K-means in torch (so both train on a GPU when there is one)."""

from __future__ import annotations

import torch
from torch import nn


def cuda_available() -> bool:
    return torch.cuda.is_available()


def pick_device(requested: str = "auto") -> torch.device:
    """``auto`` means CUDA when present, else CPU; asking for ``cuda`` without one is an error."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but no CUDA device is available; use --device auto or cpu")
    return torch.device(requested)


class RiskNet(nn.Module):
    """A feed-forward network on PCA components: DNN-2F has two hidden layers, DNN-1F one."""

    def __init__(self, n_inputs: int, hidden: tuple[int, ...], dropout: float = 0.2) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = n_inputs
        for units in hidden:
            layers += [nn.Linear(width, units), nn.ReLU(), nn.Dropout(dropout)]
            width = units
        layers.append(nn.Linear(width, 1))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x).squeeze(-1)


def kmeans(x: torch.Tensor, k: int, *, iterations: int, generator: torch.Generator) -> torch.Tensor:
    """Lloyd's K-means with k-means++ seeding, all in torch; returns the (k, d) centroids."""
    n = x.shape[0]
    first = torch.randint(n, (1,), generator=generator, device="cpu").item()
    centroids = [x[first]]
    d2 = torch.cdist(x, x[first:first + 1]).squeeze(1) ** 2
    for _ in range(1, k):
        probs = (d2 / d2.sum()).cpu()
        nxt = torch.multinomial(probs, 1, generator=generator).item()
        centroids.append(x[nxt])
        d2 = torch.minimum(d2, torch.cdist(x, x[nxt:nxt + 1]).squeeze(1) ** 2)
    c = torch.stack(centroids)
    for _ in range(iterations):
        assign = torch.cdist(x, c).argmin(dim=1)
        sums = torch.zeros_like(c).index_add_(0, assign, x)
        counts = torch.bincount(assign, minlength=k).unsqueeze(1).to(x.dtype)
        moved = torch.where(counts > 0, sums / counts.clamp(min=1), c)
        if torch.allclose(moved, c, atol=1e-6):
            c = moved
            break
        c = moved
    return c


def triangle_encode(x: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    """Coates & Ng (2011) 'triangle' activation: f_k = max(0, mean_j(z_j) - z_k), z = distances to centroids."""
    z = torch.cdist(x, centroids)
    return torch.clamp(z.mean(dim=1, keepdim=True) - z, min=0)
