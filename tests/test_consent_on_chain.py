"""On a chain that checks ML-DSA-65 itself (Hardhat and anvil deploy the consent registry with the on-chain
verifier), a consent no longer trusts whoever relays it: the API relays from an account that is no authority,
anyone else may relay a patient-signed change, and a forged one reverts on chain."""

from __future__ import annotations

import json
import os

import pytest
from eth_utils import keccak

from bindaas.chain.access import MLDSA_PROVE_GAS_LIMIT, MLDSA_REGISTER_GAS_LIMIT
from bindaas.cli import main
from bindaas.crypto.mldsa import CONSENT_CONTEXT
from bindaas.demo import signed_envelope
from bindaas.errors import ChainError
from tests.conftest import CHAINS

on_chain_nodes = pytest.mark.parametrize("chain_url", CHAINS[1:], indirect=True)


def _is_authority(service, account: str) -> bool:
    return service.chain.call(lambda: service.chain.registry.functions.isActiveAuthority(account).call(), "auth")


@on_chain_nodes
def test_a_grant_made_with_the_cli_is_checked_on_chain_and_relayed_by_no_authority(service, tmp_path, capsys,
                                                                                      framingham_bundles):
    patient, clinician = service.enroll("patient"), service.enroll("clinician")
    key_file = tmp_path / "patient.json"
    patient.key.save(key_file)
    record = service.client.submit(signed_envelope(framingham_bundles[0], service.chain, service.authorities,
                                                   owner=patient.key))["id"]
    assert main(["consent", "grant", clinician.key_id, "--key", str(key_file), "--api", service.url]) == 0
    granted = json.loads(capsys.readouterr().out)
    assert granted["in_force"] and granted["signature_checked_on_chain"]
    relayed_by = service.chain.w3.eth.get_transaction(granted["tx_hash"])["from"]
    assert not _is_authority(service, relayed_by)
    assert clinician.client.record(record)["id"] == record
    assert main(["consent", "revoke", clinician.key_id, "--key", str(key_file), "--api", service.url]) == 0
    assert json.loads(capsys.readouterr().out)["in_force"] is False


@on_chain_nodes
def test_anyone_may_relay_a_patient_signed_grant_and_a_forged_one_reverts(service, framingham_bundles):
    access = service.services.access
    patient, clinician, intruder = service.enroll("patient"), service.enroll("clinician"), service.enroll("patient")
    record = service.client.submit(signed_envelope(framingham_bundles[1], service.chain, service.authorities,
                                                   owner=patient.key))["id"]
    stranger = next(a for a in service.chain.w3.eth.accounts[::-1]
                    if not _is_authority(service, a) and a != access.relayer)
    statement = access.statement(patient=patient.key_id, grantee=clinician.key_id, granted=True, not_after=0,
                                 nonce=access.next_nonce(patient.key_id))
    patient_key = patient.key.public_key().raw

    for forged in (os.urandom(3309), intruder.key.sign(statement.message(), context=CONSENT_CONTEXT)):
        with pytest.raises(ChainError) as caught:
            access.set_consent(statement, forged, patient_key=patient_key, sender=stranger)
        assert (caught.value.error_name, caught.value.status, caught.value.field) == ("ConsentForged", 422,
                                                                                       "signature")
    assert not access.consent(patient.key_id, clinician.key_id).allows()

    receipt = access.set_consent(statement, patient.key.sign(statement.message(), context=CONSENT_CONTEXT),
                                 patient_key=patient_key, sender=stranger)
    assert service.chain.w3.eth.get_transaction(receipt.tx_hash)["from"] == stranger
    assert access.consent(patient.key_id, clinician.key_id).allows()
    assert clinician.client.record(record)["id"] == record  # the service honours what the chain proved


@on_chain_nodes
def test_a_patients_key_is_registered_and_proven_once_within_the_gas_it_is_sent_with(service):
    """The four transactions that put a patient's key into the on-chain verifier go out with fixed gas limits (no
    estimate: on Hardhat that ran each proof once more). Each stays well inside its limit, and a key once proven
    sends nothing again."""
    access, patient = service.services.access, service.enroll("patient")
    key = patient.key.public_key().raw
    receipts = access.ensure_key_proven(key)
    limits = [MLDSA_REGISTER_GAS_LIMIT] + [MLDSA_PROVE_GAS_LIMIT] * 3
    assert len(receipts) == 4
    assert all(r.gas_used <= 0.85 * limit for r, limit in zip(receipts, limits)), [r.gas_used for r in receipts]
    assert access.mldsa_keys.functions.isProven(keccak(key)).call()
    assert access.ensure_key_proven(key) == []
