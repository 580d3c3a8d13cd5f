"""Property tests: any change to a record, salt, proof or root is detected; proofs never cross batches."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bindaas.crypto.canonical import canonical_json
from bindaas.crypto.digest import record_digest, record_leaf
from bindaas.crypto.merkle import ProofStep, merkle_root_and_proofs, root_from_proof

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(max_size=20)
    | st.floats(min_value=-(2.0**52), max_value=2.0**52, allow_nan=False, width=64),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
salts = st.binary(min_size=32, max_size=32)
leaf_lists = st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=40, unique=True)
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(json_values)
def test_canonical_json_is_a_fixed_point(value):
    once = canonical_json(value)
    assert canonical_json(json.loads(once)) == once


def test_numbers_without_a_canonical_form_are_refused_not_crashed():
    import pytest

    from bindaas.errors import InvalidInput

    with pytest.raises(InvalidInput) as caught:
        canonical_json({"valueInteger": 2**60})
    assert caught.value.field == "bundle"


@FAST
@given(st.dictionaries(st.text(max_size=8), json_values, min_size=2, max_size=6))
def test_key_order_never_changes_the_canonical_form(mapping):
    reversed_mapping = dict(reversed(list(mapping.items())))
    assert canonical_json(mapping) == canonical_json(reversed_mapping)


@FAST
@given(json_values, json_values, salts)
def test_a_different_record_has_a_different_digest(a, b, salt):
    if canonical_json(a) != canonical_json(b):
        assert record_digest(canonical_json(a), salt) != record_digest(canonical_json(b), salt)


@FAST
@given(json_values, salts, st.integers(0, 31), st.integers(1, 255))
def test_any_changed_salt_byte_changes_the_digest(value, salt, index, flip):
    changed = bytearray(salt)
    changed[index] ^= flip
    assert record_digest(canonical_json(value), salt) != record_digest(canonical_json(value), bytes(changed))


@FAST
@given(st.binary(min_size=1, max_size=300), salts, st.data())
def test_any_changed_payload_byte_changes_the_digest(payload, salt, data):
    index = data.draw(st.integers(0, len(payload) - 1))
    changed = bytearray(payload)
    changed[index] ^= data.draw(st.integers(1, 255))
    assert record_digest(payload, salt) != record_digest(bytes(changed), salt)


@FAST
@given(leaf_lists, st.data())
def test_every_proof_verifies_and_any_change_breaks_it(leaves, data):
    root, proofs = merkle_root_and_proofs(leaves)
    i = data.draw(st.integers(0, len(leaves) - 1))
    assert root_from_proof(leaves[i], proofs[i]) == root
    # a changed leaf
    leaf = bytearray(leaves[i])
    leaf[data.draw(st.integers(0, 31))] ^= data.draw(st.integers(1, 255))
    assert root_from_proof(bytes(leaf), proofs[i]) != root
    if proofs[i]:
        # a changed sibling, or a flipped side
        k = data.draw(st.integers(0, len(proofs[i]) - 1))
        step = proofs[i][k]
        sibling = bytearray(step.sibling)
        sibling[data.draw(st.integers(0, 31))] ^= 1
        for altered in (ProofStep(bytes(sibling), step.left), ProofStep(step.sibling, not step.left)):
            tampered = [*proofs[i][:k], altered, *proofs[i][k + 1:]]
            assert root_from_proof(leaves[i], tampered) != root


@FAST
@given(leaf_lists, leaf_lists)
def test_proofs_of_one_batch_never_verify_against_another(batch_a, batch_b):
    root_a, proofs_a = merkle_root_and_proofs(batch_a)
    root_b, _ = merkle_root_and_proofs(batch_b)
    if root_a == root_b:
        return
    for leaf, proof in zip(batch_a, proofs_a):
        if leaf not in batch_b:
            assert root_from_proof(leaf, proof) != root_b


@FAST
@given(st.binary(min_size=32, max_size=32), st.integers(0, 2**40), st.integers(0, 2**40))
def test_leaf_binds_digest_and_block(digest, block_a, block_b):
    if block_a != block_b:
        assert record_leaf(digest, block_a) != record_leaf(digest, block_b)
