"""A consent history (who granted a reader access, who revoked it) is read on from where the last reading of it
stopped, not from the deployment block: every FHIR search and CDS call asks for its caller's grants, and each is
an audited access that lengthens the chain. What the chain says stays what the history says: changes made since
the last reading appear, and changes a reorganisation dropped disappear."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from bindaas.chain.access import AccessChain
from bindaas.chain.client import ChainClient, connect, deploy
from bindaas.crypto.mldsa import CONSENT_CONTEXT, PrivateKey
from bindaas.crypto.sealing import KemPrivateKey


@dataclass
class Registries:
    access: AccessChain
    reader: str
    patients: list[PrivateKey]
    log_reads: list[tuple[int, int]]  # (fromBlock, toBlock) of each ConsentChanged read

    def grant(self, patient: PrivateKey, *, granted: bool = True) -> None:
        patient_id = patient.public_key().key_id
        statement = self.access.statement(patient=patient_id, grantee=self.reader, granted=granted, not_after=0,
                                          nonce=self.access.next_nonce(patient_id))
        self.access.set_consent(statement, patient.sign(statement.message(), context=CONSENT_CONTEXT))

    def granted_by(self) -> list[tuple[str, bool]]:
        return [(c.patient, c.granted) for c in self.access.history(grantee=self.reader)
                if c.signature_valid]


@pytest.fixture
def registries(chain_url: str | None, monkeypatch: pytest.MonkeyPatch) -> Registries:
    # Consents relayed by an authority and checked off chain: the on-chain check (tests/test_consent_on_chain.py)
    # costs each new patient ~25 s of key registration, and reads the same events.
    w3 = connect(chain_url)
    authorities = w3.eth.accounts[:3]
    deployment = deploy(w3, authorities=authorities, public_keys=[PrivateKey.generate().public_key().raw
                                                                  for _ in authorities],
                        consent_verification="relayed")
    access = AccessChain(ChainClient(w3, deployment))
    reader, patients = PrivateKey.generate(), [PrivateKey.generate() for _ in range(3)]
    access.enroll(signing_key=reader.public_key().raw, kem_key=KemPrivateKey.generate().public_key, role="clinician")
    access.enroll_many(keys=[(p.public_key().raw, KemPrivateKey.generate().public_key) for p in patients],
                       role="patient")
    log_reads: list[tuple[int, int]] = []
    get_logs = w3.eth.get_logs

    def recording_get_logs(params: dict[str, Any]) -> Any:
        if params.get("address") == deployment.consents:
            log_reads.append((params["fromBlock"], params["toBlock"]))
        return get_logs(params)

    monkeypatch.setattr(w3.eth, "get_logs", recording_get_logs)
    return Registries(access, reader.public_key().key_id, patients, log_reads)


def _rpc(w3: Any, method: str, *params: Any) -> Any:
    response = w3.provider.make_request(method, list(params))
    assert "error" not in response, response
    return response["result"]


def test_changes_made_since_the_last_reading_are_in_the_next_one(registries):
    first, second = (p.public_key().key_id for p in registries.patients[:2])
    assert registries.granted_by() == []

    registries.grant(registries.patients[0])
    assert registries.granted_by() == [(first, True)]
    registries.grant(registries.patients[1])
    registries.grant(registries.patients[0], granted=False)
    assert registries.granted_by() == [(first, True), (second, True), (first, False)]
    assert registries.granted_by() == [(first, True), (second, True), (first, False)]  # nothing new: no read


def test_a_reading_asks_only_for_the_blocks_after_the_last_one(registries):
    w3 = registries.access.chain.w3
    registries.granted_by()
    deployed_block, head = registries.log_reads[0]
    assert deployed_block == registries.access.chain.deployment.deployed_block

    registries.grant(registries.patients[0])
    registries.granted_by()
    assert registries.log_reads[1] == (head + 1, w3.eth.block_number)
    registries.granted_by()
    assert len(registries.log_reads) == 2  # the head has not moved: nothing asked


@pytest.mark.parametrize("blocks_after", [0, 2])
def test_a_change_a_reorganisation_dropped_is_no_longer_in_the_history(registries, blocks_after):
    w3 = registries.access.chain.w3
    first, second = (p.public_key().key_id for p in registries.patients[:2])
    snapshot = _rpc(w3, "evm_snapshot")
    registries.grant(registries.patients[0])
    assert registries.granted_by() == [(first, True)]

    _rpc(w3, "evm_revert", snapshot)  # the grant's block is gone; another takes its height
    registries.grant(registries.patients[1])
    for _ in range(blocks_after):
        _rpc(w3, "evm_mine")
    assert registries.granted_by() == [(second, True)]
    assert registries.log_reads[-1][0] == registries.access.chain.deployment.deployed_block  # read again in full
