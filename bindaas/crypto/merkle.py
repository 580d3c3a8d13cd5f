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


def merkle_root_and_proofs(leaves: list[bytes]) -> tuple[bytes, list[list[ProofStep]]]:
    """Return the root of ``leaves`` and, for each leaf in order, its inclusion proof."""
    if not leaves:
        raise ValueError("a Merkle tree needs at least one leaf")
    proofs: list[list[ProofStep]] = [[] for _ in leaves]
    # positions[i] = the index, in the current level, of the node that leaf i is under
    positions = list(range(len(leaves)))
    level = list(leaves)
    while len(level) > 1:
        upper = [_node(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            upper.append(level[-1])
        for leaf_index, pos in enumerate(positions):
            sibling = pos ^ 1
            if sibling < len(level):
                proofs[leaf_index].append(ProofStep(level[sibling], left=sibling < pos))
            positions[leaf_index] = pos // 2
        level = upper
    return level[0], proofs


def root_from_proof(leaf: bytes, proof: list[ProofStep]) -> bytes:
    """Fold ``proof`` over ``leaf``; equals the tree's root when the leaf is included."""
    node = leaf
    for step in proof:
        node = _node(step.sibling, node) if step.left else _node(node, step.sibling)
    return node
