"""Confidentiality at rest: AES-256-GCM payloads, each under its own data key, and data keys wrapped for readers
with ML-KEM-768 (FIPS 203), both from ``cryptography`` (OpenSSL).

A wrapped key is the ML-KEM ciphertext followed by an AES-256-GCM encryption of the data key under the
encapsulated secret. Associated data binds every ciphertext to its record and (for wrapped keys) its reader, so a
ciphertext moved to another row or reader does not decrypt.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric import mlkem
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eth_utils import keccak

from bindaas.errors import InvalidKey

KEM_ALGORITHM = "ML-KEM-768"
KEM_PUBLIC_KEY_BYTES = 1184
KEM_SEED_BYTES = 64
KEM_CIPHERTEXT_BYTES = 1088
DATA_KEY_BYTES = 32
NONCE_BYTES = 12

_PAYLOAD_AAD = b"BINDAAS/payload/v1\x00"
_WRAP_AAD = b"BINDAAS/wrapped-key/v1\x00"


class DecryptionFailed(Exception):
    """A ciphertext did not authenticate: it was altered, moved, or is for another key."""


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def seal(plaintext: bytes, data_key: bytes, *, record_id: str) -> bytes:
    """AES-256-GCM: nonce || ciphertext-with-tag, bound to ``record_id``."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(data_key).encrypt(nonce, plaintext, _PAYLOAD_AAD + record_id.encode())


def unseal(sealed: bytes, data_key: bytes, *, record_id: str) -> bytes:
    """The plaintext of :func:`seal`; raises DecryptionFailed when anything was changed."""
    try:
        return AESGCM(data_key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], _PAYLOAD_AAD + record_id.encode())
    except (InvalidTag, ValueError) as exc:
        raise DecryptionFailed(f"payload of {record_id} does not authenticate") from exc


def kem_key_id(public_key: bytes) -> str:
    return "0x" + keccak(public_key).hex()


def wrap_key(data_key: bytes, reader_public_key: bytes, *, record_id: str, reader: str) -> bytes:
    """Encapsulate a fresh secret to the reader's ML-KEM-768 key and encrypt ``data_key`` under it."""
    secret, kem_ciphertext = _kem_public(reader_public_key).encapsulate()
    nonce = os.urandom(NONCE_BYTES)
    aad = _WRAP_AAD + record_id.encode() + b"\x00" + reader.encode()
    return kem_ciphertext + nonce + AESGCM(secret).encrypt(nonce, data_key, aad)


@dataclass(frozen=True)
class KemPrivateKey:
    """An ML-KEM-768 decapsulation key, kept as its 64-byte FIPS 203 seed."""

    seed: bytes

    @classmethod
    def generate(cls) -> "KemPrivateKey":
        return cls(mlkem.MLKEM768PrivateKey.generate().private_bytes_raw())

    @property
    def public_key(self) -> bytes:
        return _kem_public_bytes(self.seed)

    def unwrap(self, wrapped: bytes, *, record_id: str, reader: str) -> bytes:
        """The data key inside ``wrapped``; raises DecryptionFailed if it is not for this key, record and reader."""
        kem_ciphertext = wrapped[:KEM_CIPHERTEXT_BYTES]
        nonce = wrapped[KEM_CIPHERTEXT_BYTES:KEM_CIPHERTEXT_BYTES + NONCE_BYTES]
        aad = _WRAP_AAD + record_id.encode() + b"\x00" + reader.encode()
        try:
            secret = _kem_private(self.seed).decapsulate(kem_ciphertext)
            return AESGCM(secret).decrypt(nonce, wrapped[KEM_CIPHERTEXT_BYTES + NONCE_BYTES:], aad)
        except (InvalidTag, ValueError) as exc:
            raise DecryptionFailed(f"wrapped key of {record_id} is not for reader {reader}") from exc

    def save(self, path: Path) -> None:
        """Add this key to the JSON key file ``path`` (made if missing, mode 0600)."""
        doc = json.loads(path.read_text()) if path.exists() else {}
        doc.update(kem_algorithm=KEM_ALGORITHM, kem_seed=base64.b64encode(self.seed).decode(),
                   kem_public_key=base64.b64encode(self.public_key).decode())
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(doc, indent=1))
        path.chmod(0o600)

    @classmethod
    def load(cls, path: Path) -> "KemPrivateKey":
        doc = json.loads(Path(path).read_text())
        if doc.get("kem_algorithm") != KEM_ALGORITHM:
            raise InvalidKey(f"{path} holds no {KEM_ALGORITHM} key (make one with `bindaas keygen`)",
                             field="key_file")
        seed = base64.b64decode(doc["kem_seed"])
        if len(seed) != KEM_SEED_BYTES:
            raise InvalidKey(f"{path}: {KEM_ALGORITHM} seed must be {KEM_SEED_BYTES} bytes", field="key_file")
        return cls(seed)


def check_kem_public_key(raw: bytes, *, field: str) -> bytes:
    """Raise InvalidKey naming ``field`` unless ``raw`` is a usable ML-KEM-768 encapsulation key."""
    if len(raw) != KEM_PUBLIC_KEY_BYTES:
        raise InvalidKey(f"an {KEM_ALGORITHM} public key is {KEM_PUBLIC_KEY_BYTES} bytes, got {len(raw)}", field=field)
    try:
        _kem_public(raw)
    except ValueError as exc:
        raise InvalidKey(f"not a usable {KEM_ALGORITHM} public key: {exc}", field=field) from exc
    return raw


@lru_cache(maxsize=1024)
def _kem_public(raw: bytes) -> mlkem.MLKEM768PublicKey:
    return mlkem.MLKEM768PublicKey.from_public_bytes(raw)


@lru_cache(maxsize=64)
def _kem_private(seed: bytes) -> mlkem.MLKEM768PrivateKey:
    return mlkem.MLKEM768PrivateKey.from_seed_bytes(seed)


@lru_cache(maxsize=64)
def _kem_public_bytes(seed: bytes) -> bytes:
    # Deriving the encapsulation key costs ~0.1 ms, and the service's is needed for every record it seals.
    return _kem_private(seed).public_key().public_bytes_raw()
