"""Sources we generate are committed as their generator writes them: editing one by hand fails here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_keccak_permutation_in_yul_is_what_its_generator_writes():
    check = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_keccak_yul.py"), "--check"])
    assert check.returncode == 0, "contracts/mldsa/KeccakF1600.sol differs: run python scripts/gen_keccak_yul.py"


def test_the_python_expansion_of_a_key_is_fips_204_expand_a():
    """A[0][0]'s first coefficients of a key, recomputed here by the
    definition (SHAKE128 of rho || 0 || 0, three bytes a candidate, 23 bits, kept below q)."""
    import hashlib

    from bindaas.crypto.mldsa_expand import EXPANDED_BYTES, Q, expand_a
    from bindaas.crypto.mldsa import PrivateKey

    key = PrivateKey(bytes(32)).public_key().raw
    packed = expand_a(key)
    assert len(packed) == EXPANDED_BYTES == 23040
    stream = hashlib.shake_128(key[:32] + b"\x00\x00").digest(30)
    candidates = [stream[i] | stream[i + 1] << 8 | (stream[i + 2] & 0x7F) << 16 for i in range(0, 30, 3)]
    expected = [c for c in candidates if c < Q][:5]
    assert [int.from_bytes(packed[3 * i:3 * i + 3], "big") for i in range(5)] == expected
