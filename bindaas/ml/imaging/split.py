"""A split that keeps every near-duplicate group on one side, stratified by label: about 70% train, 10% validation
(model selection), 20% test."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold

if TYPE_CHECKING:
    from bindaas.ml.imaging.br35h import ImageSet


@dataclass(frozen=True)
class GroupedSplit:
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray

    def leaks(self, groups: np.ndarray) -> int:
        """How many groups sit on more than one side (0, by construction; checked in the tests)."""
        sides = [set(groups[self.train]), set(groups[self.val]), set(groups[self.test])]
        return len((sides[0] & sides[1]) | (sides[0] & sides[2]) | (sides[1] & sides[2]))


def grouped_split(labels: np.ndarray, groups: np.ndarray, *, seed: int = 0) -> GroupedSplit:
    outer = StratifiedGroupKFold(n_splits=5, shuffle=True, random_state=seed)
    rest, test = next(outer.split(np.zeros(len(labels)), labels, groups))
    inner = StratifiedGroupKFold(n_splits=8, shuffle=True, random_state=seed)
    train, val = next(inner.split(np.zeros(len(rest)), labels[rest], groups[rest]))
    return GroupedSplit(rest[train], rest[val], test)


@dataclass(frozen=True)
class PreparedSet:
    """Br35H (or a stratified slice), its duplicate groups, the grouped split and the pixels at the model's size."""

    images: "ImageSet"
    groups: np.ndarray
    split: GroupedSplit
    pixels: np.ndarray


def prepare_br35h(*, limit: int | None, seed: int, size: int) -> PreparedSet:
    """What evaluation and training both start from."""
    from bindaas.ml.imaging.br35h import br35h_images, load_pixels
    from bindaas.ml.imaging.duplicates import difference_hash, duplicate_groups

    images = br35h_images(limit=limit, seed=seed)
    groups = duplicate_groups([difference_hash(p) for p in images.paths])
    return PreparedSet(images, groups, grouped_split(images.labels, groups, seed=seed), load_pixels(images, size))
