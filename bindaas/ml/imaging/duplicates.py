"""Near-duplicate groups by perceptual hash: the same scan saved at another size or quality must not sit on both
sides of a split, or the test set measures memory, not detection."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

HASH_SIDE = 16  # 256-bit hashes: at 64 bits, brain slices (dark field, bright oval) collide across patients
MAX_DISTANCE = 10  # of 256 bits; on Br35H no group at this distance mixes a tumour with a normal scan


def difference_hash(path: Path) -> np.ndarray:
    """256-bit dHash as four uint64 words: whether each pixel of a 17×16 greyscale thumbnail is brighter than its
    right-hand neighbour. Resizing and recompression barely move it."""
    with Image.open(path) as image:
        small = np.asarray(image.convert("L").resize((HASH_SIDE + 1, HASH_SIDE), Image.LANCZOS), dtype=np.int16)
    return np.packbits((small[:, 1:] > small[:, :-1]).flatten()).view(np.uint64)


def duplicate_groups(hashes: list[np.ndarray], *, max_distance: int = MAX_DISTANCE) -> np.ndarray:
    """A group id per image: images whose hashes differ in at most ``max_distance`` bits are joined, and so,
    transitively, are their neighbours."""
    h = np.vstack(hashes)
    distance = np.zeros((len(h), len(h)), dtype=np.int32)
    for word in range(h.shape[1]):
        distance += np.bitwise_count(h[:, word][:, None] ^ h[:, word][None, :]).astype(np.int32)
    _, groups = connected_components(csr_matrix(distance <= max_distance), directed=False)
    return groups


def duplicate_share(groups: np.ndarray) -> float:
    """The share of images that have at least one near-duplicate."""
    counts = np.bincount(groups)
    return float((counts[groups] > 1).mean())
