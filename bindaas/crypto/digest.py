"""Record digests, signed messages and Merkle leaves, each under its own domain tag.

The digest is salted: the 32-byte salt is kept off-chain, so nothing anchored lets anyone confirm a guessed
(low-entropy) record. The signed message binds the digest to one deployment (chain id + registry address) so a
signature cannot be replayed against another, and to the patient (identity key id) whose consent governs reads,
so nobody can re-file a record under another patient.
"""

from __future__ import annotations

import hashlib
import os

SALT_BYTES = 32
DIGEST_BYTES = 32

_RECORD_TAG = b"BINDAAS/record/v1\x00"
_SIGNED_TAG = b"BINDAAS/signed/v2\x00"
_LEAF_TAG = b"\x00"
_AUDIT_LEAF_TAG = b"\x02"  # distinct from record leaves (0x00) and inner nodes (0x01)


def new_salt() -> bytes:
    """A fresh random 32-byte salt."""
    return os.urandom(SALT_BYTES)


def record_digest(canonical_bundle: bytes, salt: bytes) -> bytes:
    """SHA3-256 over the domain tag, the salt and the canonical JSON of the bundle."""
    if len(salt) != SALT_BYTES:
        raise ValueError(f"salt must be {SALT_BYTES} bytes, got {len(salt)}")
    return hashlib.sha3_256(_RECORD_TAG + salt + canonical_bundle).digest()


def signed_message(digest: bytes, *, chain_id: int, registry: str, patient: str) -> bytes:
    """The exact bytes owners and authorities sign:
    tag || chain id (32 bytes) || registry (20 bytes) || patient key id (32 bytes) || digest."""
    registry_bytes = bytes.fromhex(registry.removeprefix("0x"))
    if len(registry_bytes) != 20:
        raise ValueError(f"registry must be a 20-byte address, got {registry!r}")
    patient_bytes = bytes.fromhex(patient.removeprefix("0x"))
    if len(patient_bytes) != 32:
        raise ValueError(f"patient must be a 32-byte key id, got {patient!r}")
    return _SIGNED_TAG + chain_id.to_bytes(32, "big") + registry_bytes + patient_bytes + digest


def record_leaf(digest: bytes, accepted_block: int) -> bytes:
    """Merkle leaf of a record: binds its digest to the chain block at which its signers were checked."""
    return hashlib.sha3_256(_LEAF_TAG + digest + accepted_block.to_bytes(8, "big")).digest()


def audit_leaf(event_digest: bytes) -> bytes:
    """Merkle leaf of an audit event (its own tag, so an audit root never proves a record and vice versa)."""
    return hashlib.sha3_256(_AUDIT_LEAF_TAG + event_digest).digest()
