"""Chain-free test vectors of docs/spec.md's byte layouts (digest, signed message, leaf, Merkle paths, an ML-DSA-65
owner signature), written to js/verifier/test/offline-vectors.json for the JavaScript verifier's unit tests;
tests/test_spec_vectors.py checks the Python side against the same file.

    .venv/bin/python scripts/offline_vectors.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bindaas.crypto.canonical import canonical_json  # noqa: E402
from bindaas.crypto.digest import record_digest, record_leaf, signed_message  # noqa: E402
from bindaas.crypto.merkle import merkle_root_and_proofs  # noqa: E402
from bindaas.crypto.mldsa import OWNER_CONTEXT, PrivateKey, b64  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "js" / "verifier" / "test" / "offline-vectors.json"
BUNDLE = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": {
    "resourceType": "Observation", "status": "final", "valueQuantity": {"value": 1.0e-7, "unit": "mg/dL"},
    "note": [{"text": "Größe \u00e9\u20ac \U0001F600 <tab>\t"}], "code": {"text": "z"}, "a": 100, "b": -0.0}}]}


def make() -> dict:
    """The vectors, recomputed with the Python primitives; the signature is fresh on every run."""
    salt = bytes(range(32))
    digest = record_digest(canonical_json(BUNDLE), salt)
    patient, registry, chain_id, block = "0x" + "ab" * 32, "0x" + "12" * 20, 31337, 1_000_003
    message = signed_message(digest, chain_id=chain_id, registry=registry, patient=patient)
    leaves = [record_leaf(bytes([i]) * 32, i) for i in range(5)]
    root, proofs = merkle_root_and_proofs(leaves)
    key = PrivateKey.generate()
    return {
        "bundle": BUNDLE, "canonical": canonical_json(BUNDLE).decode(), "salt": "0x" + salt.hex(),
        "chain_id": chain_id, "registry": registry, "patient": patient, "accepted_block": block,
        "digest": "0x" + digest.hex(), "message": "0x" + message.hex(),
        "leaf": "0x" + record_leaf(digest, block).hex(),
        "tree": {"leaves": ["0x" + leaf.hex() for leaf in leaves], "root": "0x" + root.hex(),
                 "paths": [["0x" + s.sibling.hex() for s in proof] for proof in proofs]},
        "owner": {"public_key": b64(key.public_key().raw), "key_id": key.public_key().key_id,
                  "signature": b64(key.sign(message, context=OWNER_CONTEXT))},
    }


if __name__ == "__main__":
    OUT.write_text(json.dumps(make(), indent=1, ensure_ascii=False) + "\n")
    print(OUT)
