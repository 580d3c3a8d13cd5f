"""A split that keeps every near-duplicate group on one side, stratified by label: about 70% train, 10% validation
(model selection), 20% test."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold


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
