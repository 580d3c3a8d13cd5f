"""An envelope signed for another deployment (chain id or registry) is refused."""

from __future__ import annotations

import pytest

from bindaas.client import ApiError
from bindaas.crypto.mldsa import PrivateKey
from bindaas.ledger.envelope import build_envelope, endorse


def _envelope(service, bundle, *, chain_id, registry):
    envelope = build_envelope(bundle, owner=PrivateKey.generate(), chain_id=chain_id, registry=registry)
    for authority in service.authorities:
        envelope = endorse(envelope, authority_key=authority.key, authority=authority.address)
    return envelope


def test_envelope_for_another_chain_id_is_rejected(service, framingham_bundles):
    envelope = _envelope(service, framingham_bundles[0], chain_id=service.chain.chain_id + 1,
                         registry=service.chain.deployment.registry)
    with pytest.raises(ApiError) as caught:
        service.client.submit(envelope)
    assert caught.value.status == 422
    assert caught.value.problem["type"] == "urn:bindaas:problem:wrong-deployment"
    assert caught.value.problem["field"] == "chain_id"


def test_envelope_for_another_registry_is_rejected(service, framingham_bundles):
    envelope = _envelope(service, framingham_bundles[0], chain_id=service.chain.chain_id,
                         registry="0x" + "ab" * 20)
    with pytest.raises(ApiError) as caught:
        service.client.submit(envelope)
    assert caught.value.problem["field"] == "registry"


def test_relabelled_envelope_fails_its_signatures(service, framingham_bundles):
    """Editing the deployment fields of a genuine envelope breaks every signature, which cover them."""
    other = _envelope(service, framingham_bundles[0], chain_id=service.chain.chain_id + 1,
                      registry=service.chain.deployment.registry)
    relabelled = other.model_copy(update={"chain_id": service.chain.chain_id})
    with pytest.raises(ApiError) as caught:
        service.client.submit(relabelled)
    assert caught.value.problem["type"] == "urn:bindaas:problem:signature-invalid"
    assert caught.value.problem["field"] == "owner.signature"
