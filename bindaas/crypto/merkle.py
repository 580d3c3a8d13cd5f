"""Binary SHA3-256 Merkle trees with domain-separated leaves and nodes, and their inclusion proofs.

Leaves are already hashed with a 0x00 prefix (``digest.record_leaf``); inner nodes hash 0x01 || left || right, so
a leaf can never pass for a node. A lone node at the end of a level moves up unchanged.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

_NODE_TAG = b"\x01"


@dataclass(frozen=True, slots=True)
class ProofStep:
    """One sibling on the path to the root; ``left`` is True when the sibling sits on the left."""

    sibling: bytes
    left: bool

    def to_json(self) -> dict:
        return {"sibling": "0x" + self.sibling.hex(), "position": "left" if self.left else "right"}

    @classmethod
    def from_json(cls, data: dict) -> "ProofStep":
        return cls(bytes.fromhex(data["sibling"].removeprefix("0x")), data["position"] == "left")


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha3_256(_NODE_TAG + left + right).digest()


def merkle_levels(leaves: list[bytes]) -> list[list[bytes]]:
    """Every level of the tree over ``leaves``, the leaves first and the root's level (one node) last."""
    if not leaves:
        raise ValueError("a Merkle tree needs at least one leaf")
    levels = [list(leaves)]
    while len(level := levels[-1]) > 1:
        upper = [_node(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            upper.append(level[-1])
        levels.append(upper)
    return levels


def proof_paths(levels: list[list[bytes]]) -> list[list[tuple[int, int]]]:
    """For each leaf, its proof as (level, index of the sibling in that level) pairs, leaf level first; a level
    where the leaf's node is the lone one at the end has no sibling and no step."""
    paths = []
    for leaf_index in range(len(levels[0])):
        path, position = [], leaf_index
        for depth, level in enumerate(levels[:-1]):
            if (sibling := position ^ 1) < len(level):
                path.append((depth, sibling))
            position >>= 1
        paths.append(path)
    return paths


def merkle_root_and_proofs(leaves: list[bytes]) -> tuple[bytes, list[list[ProofStep]]]:
    """Return the root of ``leaves`` and, for each leaf in order, its inclusion proof."""
    levels = merkle_levels(leaves)
    # A sibling at an even index sits to the left of the node it pairs with.
    return levels[-1][0], [[ProofStep(levels[depth][sibling], left=not sibling & 1) for depth, sibling in path]
                           for path in proof_paths(levels)]


def root_from_proof(leaf: bytes, proof: list[ProofStep]) -> bytes:
    """Fold ``proof`` over ``leaf``; equals the tree's root when the leaf is included."""
    node = leaf
    for step in proof:
        node = _node(step.sibling, node) if step.left else _node(node, step.sibling)
    return node
