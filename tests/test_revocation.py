"""Revocation through quorum governance: later endorsements are refused, earlier records still verify."""

from __future__ import annotations

import pytest

from bindaas.client import ApiError
from bindaas.demo import signed_envelope
from bindaas.errors import ChainError


def _revoke(chain, authorities, target):
    chain.propose_revoke(target.address, sender=authorities[0].address)
    proposal = chain.proposal_count() - 1
    chain.approve(proposal, sender=authorities[1].address)


def test_revoked_authority_endorsements_are_rejected_and_old_records_still_verify(service, framingham_bundles):
    chain, authorities = service.chain, service.authorities
    before = service.client.submit(signed_envelope(framingham_bundles[0], chain, authorities))["id"]
    service.client.wait_anchored([before], timeout_s=30)

    _revoke(chain, authorities, authorities[2])
    # k stays 3 with 2 active, so the remaining two lower it by quorum (2 of 2).
    chain.propose_threshold(2, sender=authorities[0].address)
    chain.approve(chain.proposal_count() - 1, sender=authorities[1].address)

    with pytest.raises(ApiError) as caught:
        service.client.submit(signed_envelope(framingham_bundles[1], chain, authorities))
    assert caught.value.status == 422
    assert caught.value.problem["field"] == "endorsements[2].key_id"
    assert "revoked" in caught.value.problem["detail"]

    after = service.client.submit(signed_envelope(framingham_bundles[2], chain, authorities[:2]))["id"]
    service.client.wait_anchored([after], timeout_s=30)
    assert service.client.verify(after)["verdict"] == "valid"

    report = service.client.verify(before)
    assert report["verdict"] == "valid", report
    third = next(c for c in report["checks"] if c["name"] == "endorsement[2]")
    assert third["ok"] and third["data"]["revoked_block"] is not None


def test_a_single_authority_cannot_revoke_another(deployed):
    chain, authorities = deployed.chain, deployed.authorities
    chain.propose_revoke(authorities[2].address, sender=authorities[0].address)
    assert [a["active"] for a in chain.authorities()] == [True, True, True]


def test_outsiders_cannot_govern(deployed):
    chain, authorities = deployed.chain, deployed.authorities
    outsider = chain.w3.eth.accounts[5]
    with pytest.raises(ChainError) as caught:
        chain.propose_revoke(authorities[0].address, sender=outsider)
    assert caught.value.error_name == "RegistryNotAuthority"


def test_duplicate_root_is_refused_by_the_chain(deployed):
    root = bytes(range(32))
    deployed.chain.anchor_batch(root, 1)
    with pytest.raises(ChainError) as caught:
        deployed.chain.anchor_batch(root, 1)
    assert caught.value.error_name == "AnchorDuplicateRoot"
