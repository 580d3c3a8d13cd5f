"""With N = 3 and k = 3 no two authorities can get a record accepted, and nobody can forge an owner."""

from __future__ import annotations

from bindaas.crypto.mldsa import OWNER_CONTEXT, PrivateKey, b64
from bindaas.demo import Authority, signed_envelope
from bindaas.ledger.envelope import OwnerSignature, build_envelope, endorse
from tests.helpers import refused_submission


def test_two_authorities_are_not_enough(service, framingham_bundles):
    envelope = signed_envelope(framingham_bundles[0], service.chain, service.authorities[:2])
    problem = refused_submission(service, envelope)
    assert problem["type"] == "urn:bindaas:problem:policy-not-met"
    assert problem["field"] == "endorsements"
    assert "needs 3" in problem["detail"]


def test_two_authorities_plus_an_unregistered_key_arerefused_submission(service, framingham_bundles):
    outsider = Authority(service.authorities[2].address, PrivateKey.generate())  # claims to be the third
    envelope = signed_envelope(framingham_bundles[0], service.chain, [*service.authorities[:2], outsider])
    problem = refused_submission(service, envelope)
    assert problem["type"] == "urn:bindaas:problem:unknown-signer"
    assert problem["field"] == "endorsements[2].key_id"


def test_one_authority_endorsing_three_times_counts_once(service, framingham_bundles):
    envelope = signed_envelope(framingham_bundles[0], service.chain, [service.authorities[0]] * 3)
    problem = refused_submission(service, envelope)
    assert problem["type"] == "urn:bindaas:problem:policy-not-met"


def test_authorities_cannot_forge_an_owner_signature(service, framingham_bundles):
    """All three authorities together, signing with a key of their own in the owner's place, are refused."""
    owner = PrivateKey.generate()
    genuine = build_envelope(framingham_bundles[0], owner=owner, chain_id=service.chain.chain_id,
                             registry=service.chain.deployment.registry)
    # Same bundle, the owner's public key, but a signature made by an authority key.
    forged_sig = service.authorities[0].key.sign(genuine.message(), context=OWNER_CONTEXT)
    forged = genuine.model_copy(update={"owner": OwnerSignature(public_key=genuine.owner.public_key,
                                                                signature=b64(forged_sig))})
    for authority in service.authorities:
        forged = endorse(forged, authority_key=authority.key, authority=authority.address)
    problem = refused_submission(service, forged)
    assert problem["type"] == "urn:bindaas:problem:signature-invalid"
    assert problem["field"] == "owner.signature"


def test_an_endorsement_signature_cannot_pass_as_the_owners(service, framingham_bundles):
    """Roles are bound by the FIPS 204 context string, so an endorsement is no owner signature."""
    owner = PrivateKey.generate()
    envelope = build_envelope(framingham_bundles[0], owner=owner, chain_id=service.chain.chain_id,
                              registry=service.chain.deployment.registry)
    from bindaas.crypto.mldsa import ENDORSEMENT_CONTEXT

    wrong_role = owner.sign(envelope.message(), context=ENDORSEMENT_CONTEXT)
    envelope = envelope.model_copy(update={"owner": OwnerSignature(public_key=envelope.owner.public_key,
                                                                   signature=b64(wrong_role))})
    for authority in service.authorities:
        envelope = endorse(envelope, authority_key=authority.key, authority=authority.address)
    assert refused_submission(service, envelope)["field"] == "owner.signature"
