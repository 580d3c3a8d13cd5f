"""What each custom error of our contracts means, in words: the status the API answers with, the field of the
request it concerns, and a sentence. A revert is a refusal by the chain's rules, not a fault of the service, so
most are 409 (conflicts with what the chain holds) or 403 (the sender may not); none leaks a Python repr."""

from __future__ import annotations

from typing import Any, Callable


def _hex(value: Any) -> str:
    return "0x" + value.hex() if isinstance(value, (bytes, bytearray)) else str(value)


# name -> (HTTP status, field, sentence from the error's arguments)
REVERTS: dict[str, tuple[int, str | None, Callable[..., str]]] = {
    "RegistryNotAuthority": (403, None, lambda a: f"{a} is not an active authority"),
    "RegistryAlreadyAuthority": (409, "target", lambda a: f"{a} is an authority already"),
    "RegistryUnknownAuthority": (409, "target", lambda a: f"{a} is not an active authority"),
    "RegistryBadPublicKeyLength": (422, "public_key", lambda n: f"an ML-DSA-65 public key is 1952 bytes, got {n}"),
    "RegistryKeyAlreadyUsed": (409, "public_key", lambda k: f"key {_hex(k)} has been registered before"),
    "RegistryZeroAddress": (422, "target", lambda: "the zero address cannot be an authority"),
    "RegistryBadInitialSet": (422, None, lambda a, k: f"{a} authorities but {k} public keys"),
    "RegistryProposalNotFound": (404, "proposal_id", lambda p: f"no proposal {p}"),
    "RegistryProposalStale": (409, "proposal_id", lambda p: f"proposal {p} was overtaken by a change of the "
                                                              "authority set"),
    "RegistryProposalExecuted": (409, "proposal_id", lambda p: f"proposal {p} has been carried out already"),
    "RegistryAlreadyApproved": (409, "proposal_id", lambda p, a: f"{a} approved proposal {p} already"),
    "RegistryInvalidThreshold": (422, "threshold", lambda k, n: f"policy {k} is not between 1 and the {n} active "
                                                                 "authorities"),
    "RegistryLastAuthority": (409, "target", lambda a: f"{a} is the last active authority and cannot be revoked"),
    "ConsentNotRelayer": (403, None, lambda a: f"{a} may not relay consents"),
    "ConsentUnknownPatient": (409, "patient", lambda p: f"{_hex(p)} is not an enrolled, active patient"),
    "ConsentBadGrantee": (422, "grantee", lambda g: f"{_hex(g)} is not an enrolled, active clinician or authority"),
    "ConsentBadNonce": (409, "nonce", lambda given, expected: f"nonce {given} is stale; the next is {expected}"),
    "ConsentBadSignature": (422, "signature", lambda n: f"an ML-DSA-65 signature is 3309 bytes, got {n}"),
    "ConsentKeyMismatch": (422, "public_key", lambda p: f"the key given is not patient {_hex(p)}'s signing key"),
    "ConsentForged": (422, "signature", lambda p: f"the chain checked the signature: it is not patient {_hex(p)}'s "
                                                  "ML-DSA-65 signature of this consent change"),
    "MLDSAKeyBadLength": (422, "public_key", lambda k, a: f"a key of {k} bytes with an expansion of {a}; ML-DSA-65 "
                                                          "keys are 1952 bytes and their expansion 23040"),
    "MLDSAKeyExists": (409, "public_key", lambda k: f"key {_hex(k)} is registered in the verifier already"),
    "MLDSAKeyUnknown": (409, "public_key", lambda k: f"key {_hex(k)} is not registered in the on-chain verifier"),
    "MLDSAKeyNotProven": (409, "public_key", lambda k, rows: f"key {_hex(k)}'s expansion is not proven yet "
                                                            f"(rows proven: {rows:06b})"),
    "MLDSAKeyBadRows": (422, None, lambda a, b: f"rows {a}..{b} are not a range of the six rows of A"),
    "MLDSAKeyStoreFailed": (409, None, lambda: "the expanded key could not be stored"),
    "IdentityNotAuthority": (403, None, lambda a: f"{a} is not an active authority and may not enrol or revoke"),
    "IdentityKeyMismatch": (422, "public_key", lambda k: f"{_hex(k)} is not keccak256 of the key given"),
    "IdentityBadKeyLength": (422, "public_key", lambda s, k: f"keys of {s} and {k} bytes; ML-DSA-65 keys are 1952 "
                                                             "and ML-KEM-768 keys 1184 bytes"),
    "IdentityBadRole": (422, "role", lambda: "role 'none' cannot be enrolled"),
    "IdentityExists": (409, "public_key", lambda k: f"key {_hex(k)} is enrolled already (an identity is enrolled "
                                                    "once; a revoked one stays revoked)"),
    "IdentityUnknown": (409, "key_id", lambda k: f"key {_hex(k)} is not an enrolled, unrevoked identity "
                                                 "(revoked already?)"),
    "IdentityNotAuthorityKey": (409, "public_key", lambda k: f"key {_hex(k)} is not a valid authority key in the "
                                                             "authority registry"),
    "IdentityBadBatch": (422, "identities", lambda i, s, k: f"{i} key ids, {s} signing keys and {k} KEM keys"),
    "ModelRegistryNotAuthority": (403, None, lambda a: f"{a} is not an active authority and may not register "
                                                       "models"),
    "ModelRegistryDuplicate": (409, "model_id", lambda m: f"model {_hex(m)} is registered already"),
    "ModelRegistryEmpty": (422, None, lambda: "a model needs a non-zero id, root and at least one record"),
    "AnchorNotAuthority": (403, None, lambda a: f"{a} is not an active authority and may not anchor"),
    "AnchorDuplicateRoot": (409, "root", lambda r: f"root {_hex(r)} is anchored already"),
    "AnchorEmptyBatch": (422, None, lambda: "a batch needs at least one record and a non-zero root"),
}


def explain(name: str | None, args: tuple) -> tuple[int, str | None, str] | None:
    """(status, field, sentence) for the custom error ``name`` with ``args``, or None when it is not ours."""
    known = REVERTS.get(name or "")
    if known is None:
        return None
    status, field, sentence = known
    try:
        return status, field, sentence(*args)
    except TypeError:
        return status, field, f"the chain refused the transaction ({name})"
