"""Prints, as JSON, ML-DSA-65 signatures the on-chain verifier must accept: made by `cryptography` (OpenSSL) under
each of BinDaaS's four contexts, and by `pqcrypto` (PQClean, empty context). Used by test/contracts/MLDSA65.test.js."""

from __future__ import annotations

import json

from bindaas.crypto.mldsa import AUTH_CONTEXT, CONSENT_CONTEXT, ENDORSEMENT_CONTEXT, OWNER_CONTEXT, PrivateKey


def signatures() -> list[dict[str, str]]:
    key = PrivateKey(bytes(range(32)))
    out = []
    for context in (OWNER_CONTEXT, ENDORSEMENT_CONTEXT, AUTH_CONTEXT, CONSENT_CONTEXT):
        message = b"BinDaaS test message under " + context
        out.append({"source": f"cryptography (OpenSSL), context {context.decode()}",
                    "pk": "0x" + key.public_key().raw.hex(), "msg": "0x" + message.hex(), "ctx": "0x" + context.hex(),
                    "sig": "0x" + key.sign(message, context=context).hex()})
    try:
        from pqcrypto.sign import ml_dsa_65
    except ImportError:
        return out
    public, secret = ml_dsa_65.keygen()
    message = b"signed by PQClean through pqcrypto"
    out.append({"source": "pqcrypto (PQClean), empty context", "pk": "0x" + public.hex(), "msg": "0x" + message.hex(),
                "ctx": "0x", "sig": "0x" + ml_dsa_65.sign(secret, message).hex()})
    return out


if __name__ == "__main__":
    print(json.dumps(signatures()))
