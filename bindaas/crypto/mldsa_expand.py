"""FIPS 204 ExpandA for an ML-DSA-65 public key, in the packed form the on-chain verifier stores: A[r][s] for
r < 6, s < 5, row-major, 256 coefficients in the NTT domain, 3 bytes big-endian each (23,040 bytes). The chain
recomputes every row from rho before it trusts the expansion, so this is a convenience, not a trust assumption."""

from __future__ import annotations

import hashlib

Q = 8380417
ROWS, COLUMNS, N = 6, 5, 256
EXPANDED_BYTES = ROWS * COLUMNS * N * 3


def _rej_ntt_poly(seed: bytes) -> bytes:
    stream = hashlib.shake_128(seed).digest(168 * 8)  # 5 blocks almost always suffice; 8 leave no doubt
    out = bytearray()
    for p in range(0, len(stream) - 2, 3):
        z = stream[p] | stream[p + 1] << 8 | (stream[p + 2] & 0x7F) << 16
        if z < Q:
            out += z.to_bytes(3, "big")
            if len(out) == 3 * N:
                return bytes(out)
    raise ValueError("SHAKE128 stream too short for RejNTTPoly")  # probability far below 2^-100


def expand_a(public_key: bytes) -> bytes:
    """The packed matrix A of ``public_key`` (its first 32 bytes are rho)."""
    rho = public_key[:32]
    return b"".join(_rej_ntt_poly(rho + bytes([s, r])) for r in range(ROWS) for s in range(COLUMNS))
