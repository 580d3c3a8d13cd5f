"""Conformance vectors for every verifier of docs/spec.md: valid receipts with their bundles, and tampered
variants each naming the one check that must fail.

    .venv/bin/python scripts/conformance_vectors.py --rpc http://127.0.0.1:8545 --out vectors/

Deploys fresh contracts on the node at --rpc, runs a real BinDaaS server against it, files records as an enrolled
patient and as a consented clinician, waits until they are anchored, and writes one JSON file per vector:
``{"name", "description", "receipt", "bundle", "trust", "expect": {"verdict", "failed_check"}, "tamper"}``.
``tamper`` says how the server's own store would be changed to show the same fault, so a test can check that the
server's ``/verify`` agrees. The vectors hold only synthetic keys and Framingham-derived bundles, and are valid
only against the chain they were made on.
"""

from __future__ import annotations

import argparse
import base64
import copy
import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bindaas.api.app import create_app  # noqa: E402
from bindaas.api.server import running_server  # noqa: E402
from bindaas.api.services import build_services  # noqa: E402
from bindaas.client import BindaasClient  # noqa: E402
from bindaas.config import Settings  # noqa: E402
from bindaas.crypto.mldsa import OWNER_CONTEXT, PrivateKey, b64  # noqa: E402
from bindaas.crypto.sealing import KemPrivateKey  # noqa: E402
from bindaas.demo import deploy_authorities, signed_envelope  # noqa: E402
from bindaas.fhir.datasets import dataset_bundles  # noqa: E402
from bindaas.ledger.envelope import build_envelope, endorse  # noqa: E402
from bindaas.verifier import TrustRoot  # noqa: E402


def _flip_b64(text: str, index: int = 100) -> str:
    raw = bytearray(base64.b64decode(text))
    raw[index] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


def _vector(name: str, description: str, receipt: dict, bundle: dict, trust: TrustRoot, verdict: str,
            failed_check: str | None, tamper: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "description": description, "receipt": receipt, "bundle": bundle,
            "trust": trust.to_json(), "expect": {"verdict": verdict, "failed_check": failed_check},
            "tamper": tamper}


def generate(rpc_url: str, out: Path) -> list[Path]:
    """Make the vectors on the chain at ``rpc_url`` (fresh contracts, a server of our own) into ``out``."""
    chain, authorities = deploy_authorities(rpc_url)
    settings = Settings(data_dir=Path(tempfile.mkdtemp(prefix="bindaas-vectors-")), rpc_url=rpc_url,
                        batch_max_delay_s=0.5)
    services = build_services(settings, chain)
    try:
        with running_server(create_app(settings, services=services)) as url:
            return write_vectors(make_vectors(url, chain, authorities), out)
    finally:
        services.engine.dispose()


def write_vectors(vectors: list[dict[str, Any]], out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for vector in vectors:
        path = out / f"{vector['name']}.json"
        path.write_text(json.dumps(vector, indent=1))
        paths.append(path)
    return paths


def make_vectors(url: str, chain: Any, authorities: list) -> list[dict[str, Any]]:
    """File records through the server at ``url`` (on ``chain``, whose first authority is ``authorities[0]``) and
    make every vector from their receipts and bundles."""
    trust = TrustRoot(chain.chain_id, chain.deployment.registry.lower(), chain.deployment.anchor.lower(),
                      (chain.deployment.identities or "").lower())
    bundles = list(dataset_bundles("framingham", limit=4))
    with BindaasClient(url, key=authorities[0].key) as authority:
        people = {}
        for role in ("patient", "clinician"):
            key, kem = PrivateKey.generate(), KemPrivateKey.generate()
            authority.enroll(role=role, public_key=key.public_key().raw, kem_public_key=kem.public_key)
            people[role] = BindaasClient(url, key=key, kem_key=kem)
        patient, clinician = people["patient"], people["clinician"]
        patient.set_consent(clinician.key_id)
        envelopes = [signed_envelope(b, chain, authorities, owner=patient.key) for b in bundles[:3]]
        by_clinician = build_envelope(bundles[3], owner=clinician.key, chain_id=chain.chain_id,
                                      registry=chain.deployment.registry, patient=patient.key_id)
        for each in authorities:
            by_clinician = endorse(by_clinician, authority_key=each.key, authority=each.address)
        body = {"envelopes": [json.loads(e.model_dump_json()) for e in [*envelopes, by_clinician]]}
        results = authority.request("POST", "/records/bulk", json=body)["results"]
        ids = [r["id"] for r in results]
        authority.wait_anchored(ids, timeout_s=60)
        receipts = [patient.receipt(rid) for rid in ids]
        bundle_of = {rid: patient.export(rid)["bundle"] for rid in ids}
        for person in people.values():
            person.close()

    own, other = receipts[0], receipts[3]
    bundle = bundle_of[own["record_id"]]
    vectors = [
        _vector("valid-patient-owner", "a patient's own record, endorsed by 3 of 3 authorities", own, bundle,
                trust, "valid", None, {"kind": "none"}),
        _vector("valid-clinician-owner", "a record a consented clinician filed about the patient", other,
                bundle_of[other["record_id"]], trust, "valid", None, {"kind": "none"}),
    ]
    edited = copy.deepcopy(bundle)
    edited["entry"][0]["resource"]["id"] = str(edited["entry"][0]["resource"].get("id", "")) + "0"
    vectors.append(_vector("digest", "one field of the bundle changed", own, edited, trust, "invalid", "digest",
                           {"kind": "bundle", "bundle": edited}))
    forged = copy.deepcopy(own)
    forged["owner"]["signature"] = _flip_b64(own["owner"]["signature"])
    vectors.append(_vector("owner-signature", "one bit of the owner's signature flipped", forged, bundle, trust,
                           "invalid", "owner_signature", {"kind": "owner", "owner": forged["owner"]}))
    vectors.append(_forged_owner(own, bundle, trust))
    for i in range(len(own["endorsements"])):
        changed = copy.deepcopy(own)
        changed["endorsements"][i]["signature"] = _flip_b64(own["endorsements"][i]["signature"])
        vectors.append(_vector(f"endorsement-{i}", f"one bit of endorsement {i}'s signature flipped", changed,
                               bundle, trust, "invalid", f"endorsement[{i}]",
                               {"kind": "endorsements", "endorsements": changed["endorsements"]}))
    fewer = copy.deepcopy(own)
    fewer["endorsements"] = own["endorsements"][:-1]
    vectors.append(_vector("policy", "one endorsement left out: 2 of the 3 the policy needs", fewer, bundle, trust,
                           "invalid", "policy", {"kind": "endorsements", "endorsements": fewer["endorsements"]}))
    moved = copy.deepcopy(own)
    first = bytearray(bytes.fromhex(moved["inclusion"]["path"][0][2:]))
    first[0] ^= 0x01
    moved["inclusion"]["path"][0] = "0x" + first.hex()
    vectors.append(_vector("merkle-proof", "one bit of the inclusion path flipped", moved, bundle, trust,
                           "invalid", "merkle_proof", {"kind": "proof", "path": moved["inclusion"]["path"]}))
    vectors.append(_unanchored(own, bundle, trust))
    wrong = TrustRoot(trust.chain_id, trust.authority_registry, "0x" + "11" * 20, trust.identity_registry)
    vectors.append(_vector("wrong-trust-root", "the trust root pins another RecordAnchor than the receipt names",
                           own, bundle, wrong, "invalid", "trust_root", None))
    deep = TrustRoot(trust.chain_id, trust.authority_registry, trust.record_anchor, trust.identity_registry,
                     confirmations=1_000_000)
    vectors.append(_vector("not-final", "valid, but the trust root asks for a million confirmations", own, bundle,
                           deep, "not-final", "finality", {"kind": "confirmations", "confirmations": 1_000_000}))
    malformed = {**own, "spec": "bindaas-receipt/0"}
    vectors.append(_vector("receipt-format", "a receipt of an unknown spec version", malformed, bundle, trust,
                           "invalid", "receipt_format", None))

    return vectors


def _forged_owner(own: dict, bundle: dict, trust: TrustRoot) -> dict[str, Any]:
    """The security defect of issue #11: a valid owner signature by a key nobody enrolled."""
    from bindaas.crypto.digest import signed_message

    stranger = PrivateKey.generate()
    message = signed_message(bytes.fromhex(own["record_id"][2:]), chain_id=own["chain_id"],
                             registry=own["contracts"]["authority_registry"], patient=own["patient"])
    forged = copy.deepcopy(own)
    forged["owner"] = {"key_id": stranger.public_key().key_id, "public_key": b64(stranger.public_key().raw),
                       "signature": b64(stranger.sign(message, context=OWNER_CONTEXT))}
    return _vector("owner-identity", "a valid owner signature by a key that was never enrolled", forged, bundle,
                   trust, "invalid", "owner_identity", {"kind": "owner", "owner": forged["owner"]})


def _unanchored(own: dict, bundle: dict, trust: TrustRoot) -> dict[str, Any]:
    """A consistent inclusion proof into a root that was never anchored."""
    from bindaas.crypto.digest import record_leaf
    from bindaas.crypto.merkle import merkle_root_and_proofs

    leaf = record_leaf(bytes.fromhex(own["record_id"][2:]), own["accepted_block"])
    other = hashlib.sha3_256(os.urandom(32)).digest()
    root, proofs = merkle_root_and_proofs([leaf, other])
    moved = copy.deepcopy(own)
    moved["inclusion"] = {"leaf_index": 0, "tree_size": 2, "root": "0x" + root.hex(),
                          "path": ["0x" + step.sibling.hex() for step in proofs[0]]}
    return _vector("anchor-missing", "a consistent proof into a root that was never anchored", moved, bundle,
                   trust, "invalid", "anchor_on_chain",
                   {"kind": "batch", "root": moved["inclusion"]["root"], "size": 2,
                    "proof": [step.to_json() for step in proofs[0]]})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rpc", required=True, help="JSON-RPC URL of a chain with unlocked accounts (Hardhat)")
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()
    for path in generate(args.rpc, args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
