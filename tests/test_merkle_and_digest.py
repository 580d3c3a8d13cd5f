"""Merkle proofs, salted digests and canonical JSON."""

from __future__ import annotations

import hashlib
from types import SimpleNamespace

import pytest

from bindaas.crypto.canonical import canonical_json
from bindaas.crypto.digest import new_salt, record_digest, record_leaf, signed_message
from bindaas.crypto.merkle import ProofStep, merkle_root_and_proofs, root_from_proof
from bindaas.ledger.anchorer import leaf_of, sealed


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 100])
def test_every_leaf_proves_into_the_root(size):
    leaves = [hashlib.sha3_256(bytes([i % 256, i // 256])).digest() for i in range(size)]
    root, proofs = merkle_root_and_proofs(leaves)
    assert all(root_from_proof(leaf, proof) == root for leaf, proof in zip(leaves, proofs))
    assert max(len(p) for p in proofs) <= max(1, (size - 1).bit_length())


@pytest.mark.parametrize("size", [1, 2, 3, 5, 17, 100, 750])
def test_the_proofs_a_batch_stores_prove_each_row_into_the_root_it_anchors(size):
    rows = [SimpleNamespace(id="0x" + hashlib.sha3_256(i.to_bytes(4, "big")).hexdigest(), accepted_block=7 + i % 3)
            for i in range(size)]
    root, stored = sealed(rows)
    tree_root, proofs = merkle_root_and_proofs([leaf_of(row) for row in rows])
    assert root == "0x" + tree_root.hex()
    assert stored == [[step.to_json() for step in proof] for proof in proofs]
    assert all(root_from_proof(leaf_of(row), [ProofStep.from_json(step) for step in proof]).hex() == root[2:]
               for row, proof in zip(rows, stored))


def test_a_proof_does_not_fit_another_leaf():
    leaves = [hashlib.sha3_256(bytes([i])).digest() for i in range(6)]
    root, proofs = merkle_root_and_proofs(leaves)
    assert root_from_proof(leaves[1], proofs[0]) != root


def test_proof_json_round_trip():
    step = ProofStep(b"\x01" * 32, left=True)
    assert ProofStep.from_json(step.to_json()) == step


def test_canonical_json_is_rfc8785():
    assert canonical_json({"b": 1, "a": [1.0, 1e21, "é"], "c": None}) == b'{"a":[1,1e+21,"\xc3\xa9"],"b":1,"c":null}'


def test_key_order_does_not_change_the_digest():
    salt = new_salt()
    assert record_digest(canonical_json({"a": 1, "b": 2}), salt) == record_digest(canonical_json({"b": 2, "a": 1}),
                                                                                   salt)


def test_salt_hides_the_record():
    body = canonical_json({"resourceType": "Bundle"})
    assert record_digest(body, new_salt()) != record_digest(body, new_salt())


def test_signed_message_binds_the_deployment():
    digest = bytes(32)
    patient = "0x" + "33" * 32
    a = signed_message(digest, chain_id=1, registry="0x" + "11" * 20, patient=patient)
    assert a != signed_message(digest, chain_id=2, registry="0x" + "11" * 20, patient=patient)
    assert a != signed_message(digest, chain_id=1, registry="0x" + "22" * 20, patient=patient)
    assert a != signed_message(digest, chain_id=1, registry="0x" + "11" * 20, patient="0x" + "44" * 32)


def test_leaf_binds_the_acceptance_block():
    assert record_leaf(bytes(32), 7) != record_leaf(bytes(32), 8)
