"""Model ids, training-set roots and metric hashes: what ties a served model to the chain.

model id = SHA3-256("BINDAAS/model/v1\\0" || canonical JSON of the configuration || artifact bytes). The artifact
is only unpickled after its bytes hash to the id that the store and the chain know.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from bindaas.crypto.canonical import canonical_json
from bindaas.crypto.merkle import merkle_root_and_proofs
from bindaas.errors import InvalidInput

_MODEL_TAG = b"BINDAAS/model/v1\x00"


def model_id(config: dict[str, Any], artifact: bytes) -> str:
    return "0x" + hashlib.sha3_256(_MODEL_TAG + canonical_json(config) + artifact).hexdigest()


def training_set_root(record_ids: list[str]) -> str:
    """Merkle root over the sorted digests of the training records (leaf = SHA3-256(0x00 || digest))."""
    if not record_ids:
        raise InvalidInput("a model needs at least one training record", field="records")
    leaves = [hashlib.sha3_256(b"\x00" + bytes.fromhex(rid[2:])).digest() for rid in sorted(record_ids)]
    root, _ = merkle_root_and_proofs(leaves)
    return "0x" + root.hex()


def metrics_hash(metrics: dict[str, Any]) -> str:
    return "0x" + hashlib.sha3_256(canonical_json(metrics)).hexdigest()


def read_artifact(path: Path, *, expected_id: str, config: dict[str, Any]) -> bytes:
    """The artifact's bytes, if they hash (with ``config``) to ``expected_id``; raises otherwise."""
    data = Path(path).read_bytes()
    actual = model_id(config, data)
    if actual != expected_id:
        raise ArtifactTampered(f"model artifact {path} hashes to {actual}, not {expected_id}")
    return data


class ArtifactTampered(InvalidInput):
    status, slug, title = 409, "model-tampered", "Model artifact does not match its id"
