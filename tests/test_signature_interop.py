"""ML-DSA-65 signatures made by `cryptography` (OpenSSL) verify under `pqcrypto` (PQClean) and back."""

from __future__ import annotations

import pytest
from pqcrypto.sign import ml_dsa_65

from bindaas.crypto.mldsa import OWNER_CONTEXT, PUBLIC_KEY_BYTES, SIGNATURE_BYTES, PrivateKey, PublicKey
from bindaas.errors import SignatureInvalid

MESSAGE = b"BINDAAS interop message"


def test_sizes_match_fips_204():
    assert (ml_dsa_65.PUBLIC_KEY_SIZE, ml_dsa_65.SIGNATURE_SIZE) == (PUBLIC_KEY_BYTES, SIGNATURE_BYTES)


def test_ours_verify_under_pqcrypto():
    key = PrivateKey.generate()
    signature = key.sign(MESSAGE, context=OWNER_CONTEXT)
    assert ml_dsa_65.verify(key.public_key().raw, MESSAGE, signature, context=OWNER_CONTEXT) is None


def test_pqcrypto_signatures_verify_under_ours():
    public, secret = ml_dsa_65.keygen()
    signature = ml_dsa_65.sign(secret, MESSAGE, context=OWNER_CONTEXT)
    PublicKey.from_bytes(public).verify(signature, MESSAGE, context=OWNER_CONTEXT)


def test_context_separates_roles_in_both_libraries():
    public, secret = ml_dsa_65.keygen()
    signature = ml_dsa_65.sign(secret, MESSAGE, context=b"bindaas/endorsement/v1")
    with pytest.raises(SignatureInvalid):
        PublicKey.from_bytes(public).verify(signature, MESSAGE, context=OWNER_CONTEXT)


def test_key_file_round_trip(tmp_path):
    key = PrivateKey.generate()
    key.save(tmp_path / "k.json", address="0xabc")
    assert PrivateKey.load(tmp_path / "k.json").public_key() == key.public_key()
    assert (tmp_path / "k.json").stat().st_mode & 0o777 == 0o600
