"""ML-DSA-65 (FIPS 204) keys: the only module that touches the post-quantum signature library.

Backed by ``cryptography`` (OpenSSL): about 0.55 ms to sign and 0.15 ms to verify here, against ~8 ms to sign with
``pqcrypto``; signatures interoperate (tests/test_signature_interop.py). The role of a signature (owner or
endorsement) goes in the FIPS 204 context string, so one can never be presented as the other.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pybase64
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import mldsa
from eth_utils import keccak

from bindaas.errors import InvalidKey, SignatureInvalid

ALGORITHM = "ML-DSA-65"
PUBLIC_KEY_BYTES = 1952
SIGNATURE_BYTES = 3309
SEED_BYTES = 32

OWNER_CONTEXT = b"bindaas/owner/v1"
ENDORSEMENT_CONTEXT = b"bindaas/endorsement/v1"
AUTH_CONTEXT = b"bindaas/auth/v1"
CONSENT_CONTEXT = b"bindaas/consent/v1"


@lru_cache(maxsize=4096)  # about 8 MB of keys
def key_id(public_key: bytes) -> str:
    """The on-chain identifier of a public key: keccak256 of its bytes, as 0x-hex (what the registry stores).
    Remembered: acceptance asks it several times a record, and through eth_utils one costs about 25 µs."""
    return "0x" + keccak(public_key).hex()


@dataclass(frozen=True)
class PublicKey:
    """An ML-DSA-65 public key."""

    raw: bytes

    @classmethod
    def from_bytes(cls, raw: bytes, *, field: str = "public_key") -> "PublicKey":
        """Check the size and wrap ``raw``; raises InvalidKey naming ``field`` otherwise."""
        if len(raw) != PUBLIC_KEY_BYTES:
            raise InvalidKey(f"an {ALGORITHM} public key is {PUBLIC_KEY_BYTES} bytes, got {len(raw)}", field=field)
        return cls(raw)

    @property
    def key_id(self) -> str:
        return key_id(self.raw)

    def verify(self, signature: bytes, message: bytes, *, context: bytes, field: str = "signature") -> None:
        """Raise SignatureInvalid unless ``signature`` is valid for ``message`` under ``context``."""
        if len(signature) != SIGNATURE_BYTES:
            raise InvalidKey(f"an {ALGORITHM} signature is {SIGNATURE_BYTES} bytes, got {len(signature)}", field=field)
        try:
            openssl_public_key(self.raw).verify(signature, message, context)
        except InvalidSignature:
            raise SignatureInvalid(f"{ALGORITHM} signature does not verify under key {self.key_id}", field=field)
        except ValueError as exc:  # OpenSSL refuses a malformed key
            raise InvalidKey(f"not a usable {ALGORITHM} public key: {exc}", field=field) from exc


@dataclass(frozen=True)
class PrivateKey:
    """An ML-DSA-65 private key, kept as its 32-byte FIPS 204 seed."""

    seed: bytes

    @classmethod
    def generate(cls) -> "PrivateKey":
        key = mldsa.MLDSA65PrivateKey.generate()
        return cls(key.private_bytes_raw())

    def _key(self) -> mldsa.MLDSA65PrivateKey:
        return _openssl_private(self.seed)

    def public_key(self) -> PublicKey:
        return PublicKey(self._key().public_key().public_bytes_raw())

    def sign(self, message: bytes, *, context: bytes) -> bytes:
        """Sign ``message`` under the FIPS 204 context string ``context``."""
        return self._key().sign(message, context)

    # Key files are JSON so a person can see what they hold; the seed is the secret.
    def save(self, path: Path, **metadata: str) -> None:
        """Write the key to ``path`` (mode 0600) with optional metadata such as an Ethereum address."""
        path.parent.mkdir(parents=True, exist_ok=True)
        doc = {"algorithm": ALGORITHM, "seed": b64(self.seed), "public_key": b64(self.public_key().raw), **metadata}
        path.write_text(json.dumps(doc, indent=1))
        path.chmod(0o600)

    @classmethod
    def load(cls, path: Path) -> "PrivateKey":
        doc = json.loads(Path(path).read_text())
        if doc.get("algorithm") != ALGORITHM:
            raise InvalidKey(f"{path} holds a {doc.get('algorithm')!r} key, expected {ALGORITHM}", field="key_file")
        seed = base64.b64decode(doc["seed"])
        if len(seed) != SEED_BYTES:
            raise InvalidKey(f"{path}: seed must be {SEED_BYTES} bytes", field="key_file")
        return cls(seed)


@lru_cache(maxsize=1024)
def openssl_public_key(raw: bytes) -> mldsa.MLDSA65PublicKey:
    """``raw`` parsed by OpenSSL, remembered: authorities' keys are parsed once, not per record (about 9 µs each,
    5% of a verification)."""
    return mldsa.MLDSA65PublicKey.from_public_bytes(raw)


@lru_cache(maxsize=64)
def _openssl_private(seed: bytes) -> mldsa.MLDSA65PrivateKey:
    # Expanding the FIPS 204 seed is costly; a signer that signs many records expands it once.
    return mldsa.MLDSA65PrivateKey.from_seed_bytes(seed)


def b64(raw: bytes) -> str:
    """Standard base64 text, how keys and signatures travel in envelopes."""
    return pybase64.b64encode(raw).decode("ascii")


def unb64(text: str, *, field: str) -> bytes:
    """Decode base64 ``text``; raises InvalidKey naming ``field`` when it is not base64 (padding included: a
    stray "=" the standard library would let through is refused). pybase64's SIMD decoder: the standard library's
    took ~9 µs for each 4.4 KB signature, five or six a record, all of it holding the GIL."""
    try:
        return pybase64.b64decode(text, validate=True)
    except (ValueError, TypeError) as exc:
        raise InvalidKey(f"{field} is not valid base64", field=field) from exc
