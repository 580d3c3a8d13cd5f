"""Records of named patients leave no trace of their names or clinical values in the database file or on the
chain: payloads are AES-256-GCM ciphertexts, keys are wrapped with ML-KEM-768, the chain holds salted roots."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bindaas.crypto.canonical import canonical_json
from bindaas.demo import signed_envelope
from tests.helpers import synthea_bundles


def _secrets(bundle: dict) -> set[bytes]:
    """Names, birth date, street address and distinctive clinical values of one Synthea patient."""
    found: set[str] = set()
    for entry in bundle["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] == "Patient":
            for name in resource.get("name", []):
                found |= {name["family"], *name.get("given", [])}
            found.add(resource["birthDate"])
            found |= {line for address in resource.get("address", []) for line in address.get("line", [])}
        if resource["resourceType"] == "Observation" and "valueQuantity" in resource:
            value = json.dumps(resource["valueQuantity"]["value"])
            if len(value) >= 6:  # short numbers occur by chance in any binary file
                found.add(value)
        if resource["resourceType"] == "Condition":
            found |= {c["display"] for c in resource["code"].get("coding", []) if len(c.get("display", "")) >= 8}
    return {s.encode() for s in found if len(s) >= 4}


def _chain_bytes(service) -> bytes:
    """Every byte the chain keeps: on the embedded EVM its whole state database (blocks, receipts, state and
    storage tries); on a JSON-RPC node every transaction's calldata, every log, and the contracts' storage slots
    (contract storage is computed from calldata, so plaintext could reach it only through calldata), from the block
    that deployed this service's contracts: the session's node holds every earlier test's chain too, megabytes of
    signatures and keys in which some four-byte name turns up by chance (one did, "Conn", on anvil)."""
    w3 = service.chain.w3
    if service.chain.embedded:
        store = w3.provider.ethereum_tester.backend.chain.chaindb.db.wrapped_db.kv_store
        return b"".join(bytes(k) + bytes(v) for k, v in store.items())
    out = bytearray()
    for number in range(service.chain.deployment.deployed_block, w3.eth.block_number + 1):
        for tx in w3.eth.get_block(number, full_transactions=True)["transactions"]:
            out += bytes(tx["input"])
            for log in w3.eth.get_transaction_receipt(tx["hash"])["logs"]:
                out += bytes(log["data"]) + b"".join(bytes(t) for t in log["topics"])
    deployment = service.chain.deployment
    for address in (deployment.registry, deployment.anchor, deployment.models, deployment.identities,
                    deployment.consents):
        out += b"".join(bytes(w3.eth.get_storage_at(address, slot)) for slot in range(32))
    return bytes(out)


def test_names_and_clinical_values_are_nowhere_in_the_database_or_on_chain(service, settings):
    if settings.database_url:
        pytest.skip("the raw-file search needs the SQLite file (PostgreSQL stores through its own server)")
    bundles = synthea_bundles()
    secrets = set().union(*(_secrets(b) for b in bundles))
    assert len(secrets) > 50
    # The search itself works: every secret is in the plaintext it was taken from.
    plaintext = b"".join(canonical_json(b) for b in bundles)
    assert all(s in plaintext for s in secrets)

    patient = service.enroll("patient")
    clinician = service.enroll("clinician")
    ids = [service.client.submit(signed_envelope(b, service.chain, service.authorities, owner=patient.key))["id"]
           for b in bundles]
    service.client.wait_anchored(ids, timeout_s=60)
    patient.client.set_consent(clinician.key_id)
    assert clinician.client.record(ids[0])["bundle"] == bundles[0]  # reads work, and are audited
    assert clinician.client.export(ids[1])["bundle"] == bundles[1]
    service.services.anchorer.drain()

    files = sorted(Path(settings.data_dir).glob("bindaas.db*"))  # the database, its WAL and shared memory
    stored = b"".join(p.read_bytes() for p in files)
    assert len(stored) > 500_000  # five encrypted Synthea bundles are in there
    on_chain = _chain_bytes(service)
    assert len(on_chain) > 10_000
    assert [s for s in secrets if s in stored] == []
    assert [s for s in secrets if s in on_chain] == []
