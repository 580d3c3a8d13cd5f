"""Receipts: everything an outsider needs, beside the bundle they hold, to verify a record against the chain alone
(docs/spec.md, "Receipts"). A receipt carries no clinical content: keys, signatures, the salt, the inclusion proof
and where the root was anchored."""

from __future__ import annotations

from typing import Any

from bindaas.chain.client import ChainClient
from bindaas.crypto.mldsa import b64, key_id
from bindaas.errors import NotAnchored
from bindaas.store.models import BatchRow, RecordRow

RECEIPT_VERSION = "bindaas-receipt/1"


def build_receipt(row: RecordRow, batch: BatchRow | None, chain: ChainClient) -> dict[str, Any]:
    """The receipt of an anchored record; raises NotAnchored before its batch's transaction is mined."""
    if batch is None or batch.status != "anchored" or row.proof is None or row.leaf_index is None:
        raise NotAnchored(f"record {row.id} is not anchored yet; its receipt exists once it is (about a second)",
                          field="record_id")
    deployment = chain.deployment
    return {
        "spec": RECEIPT_VERSION,
        "record_id": row.id,
        "salt": "0x" + bytes(row.salt).hex(),
        "patient": row.patient_id,
        "chain_id": row.chain_id,
        "contracts": {"authority_registry": row.registry_address, "record_anchor": deployment.anchor,
                      "identity_registry": deployment.identities},
        "accepted_block": row.accepted_block,
        "owner": {"key_id": key_id(bytes(row.owner_public_key)), "public_key": b64(bytes(row.owner_public_key)),
                  "signature": b64(bytes(row.owner_signature))},
        "endorsements": [{"key_id": e["key_id"], "authority": e.get("authority"),
                          "public_key": b64(chain.public_key(e["key_id"])), "signature": e["signature"]}
                         for e in row.endorsements],
        "inclusion": {"leaf_index": row.leaf_index, "tree_size": batch.size, "root": batch.root,
                      "path": [step["sibling"] for step in row.proof]},
        "anchor": {"tx_hash": batch.tx_hash, "block_number": batch.block_number},
    }
