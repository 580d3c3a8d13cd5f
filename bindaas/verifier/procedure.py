"""The verification procedure of docs/spec.md, "Verifying a record", in the spec's order and with its check names.

Every check runs, so the report shows everything that is wrong; ``failed_check`` is the first that failed. The
verdict is ``valid``, ``invalid``, or ``not-final`` when every other check passes but fewer than the trust root's
confirmations stand on top of the anchor.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from bindaas.crypto.canonical import canonical_json
from bindaas.crypto.digest import record_digest, record_leaf, signed_message
from bindaas.crypto.merkle import ProofStep, root_from_proof
from bindaas.crypto.mldsa import ENDORSEMENT_CONTEXT, OWNER_CONTEXT, PublicKey, key_id
from bindaas.errors import BindaasError
from bindaas.verifier.rpc import BATCH_ANCHORED_TOPIC, JsonRpcReader, RpcError
from bindaas.verifier.trust import TrustRoot

RECEIPT_VERSION = "bindaas-receipt/1"
ROLE_PATIENT, ROLE_CLINICIAN = 1, 2
_HEX32 = re.compile(r"^0x[0-9a-f]{64}$")
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    skipped: bool = False  # not run for want of its input (the digest, without the bundle)


@dataclass
class Report:
    record_id: str | None
    verdict: str  # valid | invalid | not-final
    failed_check: str | None
    checks: list[Check] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class _Malformed(ValueError):
    pass


def _bytes(text: Any, what: str, *, b64: bool = False, length: int | None = None) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True) if b64 else bytes.fromhex(text.removeprefix("0x"))
    except (TypeError, AttributeError, ValueError, binascii.Error):
        raise _Malformed(f"{what} is not {'base64' if b64 else '0x-hex'}") from None
    if length is not None and len(raw) != length:
        raise _Malformed(f"{what} must be {length} bytes, got {len(raw)}")
    return raw


def _check_format(receipt: dict[str, Any]) -> None:
    """Raise _Malformed naming the first field that is missing or of the wrong shape."""
    if receipt.get("spec") != RECEIPT_VERSION:
        raise _Malformed(f"spec must be {RECEIPT_VERSION!r}, got {receipt.get('spec')!r}")
    for name in ("record_id", "patient", "salt"):
        if not isinstance(receipt.get(name), str) or not _HEX32.match(receipt[name]):
            raise _Malformed(f"{name} must be 0x and 64 lower-case hex digits")
    for name in ("chain_id", "accepted_block"):
        if not isinstance(receipt.get(name), int) or receipt[name] < 0:
            raise _Malformed(f"{name} must be a non-negative integer")
    contracts = receipt.get("contracts")
    if not isinstance(contracts, dict) or not all(
            isinstance(contracts.get(n), str) and _ADDRESS.match(contracts[n])
            for n in ("authority_registry", "record_anchor", "identity_registry")):
        raise _Malformed("contracts must name authority_registry, record_anchor and identity_registry addresses")
    if not isinstance(receipt.get("owner"), dict) or not isinstance(receipt.get("endorsements"), list):
        raise _Malformed("owner (object) and endorsements (list) are required")
    inclusion, anchor = receipt.get("inclusion"), receipt.get("anchor")
    if not isinstance(inclusion, dict) or not isinstance(inclusion.get("path"), list) \
            or not all(isinstance(inclusion.get(n), int) for n in ("leaf_index", "tree_size")) \
            or not 0 <= inclusion["leaf_index"] < inclusion["tree_size"]:
        raise _Malformed("inclusion needs leaf_index < tree_size, root and path")
    if not isinstance(anchor, dict) or not isinstance(anchor.get("block_number"), int) \
            or not isinstance(anchor.get("tx_hash"), str):
        raise _Malformed("anchor needs tx_hash and block_number")


def path_directions(leaf_index: int, tree_size: int) -> list[bool]:
    """For each level from the leaf up, whether the sibling sits on the left; levels where the node is the lone
    last one move it up unchanged and have no sibling (docs/spec.md, "Merkle tree")."""
    directions = []
    index, size = leaf_index, tree_size
    while size > 1:
        sibling = index ^ 1
        if sibling < size:
            directions.append(sibling < index)
        index, size = index // 2, (size + 1) // 2
    return directions


def _active_at(enrolled: int, revoked: int, block: int) -> bool:
    return enrolled != 0 and enrolled <= block and (revoked == 0 or block < revoked)


def _signature_ok(public_key: bytes, signature: bytes, message: bytes, context: bytes) -> str | None:
    try:
        PublicKey.from_bytes(public_key).verify(signature, message, context=context)
        return None
    except BindaasError as exc:
        return exc.detail


def verify_receipt(receipt: dict[str, Any], bundle: dict[str, Any] | None, *, rpc: JsonRpcReader,
                   trust: TrustRoot) -> Report:
    """Verify ``bundle`` with its ``receipt`` against the chain ``rpc`` reads, believing only ``trust``. Without
    ``bundle`` (an auditor holds no content) the digest check is skipped and marked so."""
    checks: list[Check] = []
    record_id = receipt.get("record_id") if isinstance(receipt, dict) else None
    try:
        _check_format(receipt)
    except _Malformed as exc:
        return _report(record_id, [Check("receipt_format", False, str(exc))])
    checks.append(Check("receipt_format", True, f"a {RECEIPT_VERSION} receipt"))
    try:
        _run(receipt, bundle, rpc, trust, checks)
    except RpcError as exc:
        checks.append(Check("chain_reachable", False, str(exc)))
    return _report(record_id, checks)


def _report(record_id: str | None, checks: list[Check]) -> Report:
    failed = next((c.name for c in checks if not c.ok), None)
    verdict = "valid" if failed is None else "not-final" if failed == "finality" else "invalid"
    return Report(record_id, verdict, failed, checks)


def _run(receipt: dict[str, Any], bundle: dict[str, Any], rpc: JsonRpcReader, trust: TrustRoot,
         checks: list[Check]) -> None:
    contracts = {k: v.lower() for k, v in receipt["contracts"].items()}
    node_chain = rpc.chain_id()
    mismatched = [name for name in ("authority_registry", "record_anchor", "identity_registry")
                  if contracts[name] != getattr(trust, name)]
    if receipt["chain_id"] != trust.chain_id or node_chain != trust.chain_id:
        checks.append(Check("trust_root", False, f"receipt names chain {receipt['chain_id']}, the node is chain "
                            f"{node_chain}, the trust root pins chain {trust.chain_id}"))
        return
    if mismatched:
        checks.append(Check("trust_root", False, f"receipt names other contracts than the trust root pins: "
                            f"{', '.join(mismatched)}"))
        return
    checks.append(Check("trust_root", True, f"chain {trust.chain_id} and contracts as pinned"))

    block = receipt["accepted_block"]
    salt = _bytes(receipt["salt"], "salt", length=32)
    if bundle is None:  # an auditor holds no content: every other check runs on the record id as the digest
        digest = bytes.fromhex(receipt["record_id"][2:])
        checks.append(Check("digest", True, "not checked: no bundle was given, so the record id stands for the "
                            "digest", skipped=True))
    else:
        try:
            digest = record_digest(canonical_json(bundle), salt)
            digest_ok = "0x" + digest.hex() == receipt["record_id"]
            checks.append(Check("digest", digest_ok, "SHA3-256 of tag, salt and RFC 8785 bundle is the record id"
                                if digest_ok else "the bundle and salt do not hash to the record id"))
        except (TypeError, ValueError) as exc:
            digest = bytes(32)
            checks.append(Check("digest", False, f"the bundle cannot be canonicalized: {exc}"))
    message = signed_message(digest, chain_id=receipt["chain_id"], registry=contracts["authority_registry"],
                             patient=receipt["patient"])

    owner = receipt["owner"]
    try:
        owner_key = _bytes(owner.get("public_key"), "owner.public_key", b64=True)
        owner_id = key_id(owner_key)
        problem = None if owner_id == owner.get("key_id") else "owner.key_id is not keccak256 of owner.public_key"
        problem = problem or _signature_ok(owner_key, _bytes(owner.get("signature"), "owner.signature", b64=True),
                                           message, OWNER_CONTEXT)
    except _Malformed as exc:
        owner_id, problem = None, str(exc)
    checks.append(Check("owner_signature", problem is None, problem or "ML-DSA-65 owner signature verifies"))
    checks.append(_owner_identity(owner_id, receipt["patient"], block, rpc, contracts["identity_registry"]))

    authorities: set[str] = set()
    for i, endorsement in enumerate(receipt["endorsements"]):
        name = f"endorsement[{i}]"
        try:
            public_key = _bytes(endorsement.get("public_key"), f"{name}.public_key", b64=True)
            kid = key_id(public_key)
            if kid != endorsement.get("key_id"):
                raise _Malformed(f"{name}.key_id is not keccak256 of its public key")
            state = rpc.authority_key(contracts["authority_registry"], bytes.fromhex(kid[2:]))
            problem = _signature_ok(public_key, _bytes(endorsement.get("signature"), f"{name}.signature", b64=True),
                                    message, ENDORSEMENT_CONTEXT)
            if problem is None and not _active_at(state.registered_block, state.revoked_block, block):
                problem = f"key {kid} was not a registered, unrevoked authority key at block {block}"
            if problem is None and endorsement.get("authority") \
                    and endorsement["authority"].lower() != state.owner.lower():
                problem = f"key {kid} belongs to {state.owner}, not {endorsement['authority']}"
        except _Malformed as exc:
            problem = str(exc)
        checks.append(Check(name, problem is None, problem or f"ML-DSA-65 endorsement by {state.owner} verifies; "
                            f"the key was valid at block {block}"))
        if problem is None:
            authorities.add(state.owner.lower())
    required = rpc.threshold_at(contracts["authority_registry"], block)
    checks.append(Check("policy", len(authorities) >= required, f"{len(authorities)} distinct valid authorities "
                        f"endorsed; the policy at block {block} requires {required}"))

    inclusion = receipt["inclusion"]
    try:
        path = [_bytes(s, "inclusion.path[]", length=32) for s in inclusion["path"]]
        root = _bytes(inclusion.get("root"), "inclusion.root", length=32)
        directions = path_directions(inclusion["leaf_index"], inclusion["tree_size"])
        if len(directions) != len(path):
            raise _Malformed(f"a leaf at index {inclusion['leaf_index']} of {inclusion['tree_size']} has a path of "
                             f"{len(directions)} hashes, the receipt gives {len(path)}")
        computed = root_from_proof(record_leaf(digest, block), [ProofStep(s, d) for s, d in zip(path, directions)])
        problem = None if computed == root else "the inclusion path does not lead to the root"
    except _Malformed as exc:
        root, problem = b"", str(exc)
    checks.append(Check("merkle_proof", problem is None, problem or "the leaf and path lead to the root"))

    anchor = receipt["anchor"]
    problem = _anchor_problem(rpc, contracts["record_anchor"], root, anchor, inclusion["tree_size"], block)
    checks.append(Check("anchor_on_chain", problem is None,
                        problem or f"root anchored in block {anchor['block_number']} by tx {anchor['tx_hash']}"))
    if problem is None:
        depth = rpc.block_number() - anchor["block_number"]
        checks.append(Check("finality", depth >= trust.confirmations,
                            f"{depth} blocks stand on top of the anchor; final at {trust.confirmations}"))


def _owner_identity(owner_id: str | None, patient: str, block: int, rpc: JsonRpcReader, registry: str) -> Check:
    if owner_id is None:
        return Check("owner_identity", False, "the owner key is unreadable")
    owner = rpc.identity(registry, bytes.fromhex(owner_id[2:]))
    if not _active_at(owner.enrolled_block, owner.revoked_block, block):
        return Check("owner_identity", False, f"owner {owner_id} was not an enrolled, active identity at block {block}")
    if owner.role == ROLE_PATIENT:
        ok = patient == owner_id
        return Check("owner_identity", ok, "the owner is the patient, enrolled as a patient" if ok else
                     f"a patient owns records only about themselves; the receipt names patient {patient}")
    if owner.role == ROLE_CLINICIAN:
        subject = rpc.identity(registry, bytes.fromhex(patient[2:]))
        ok = subject.role == ROLE_PATIENT and _active_at(subject.enrolled_block, subject.revoked_block, block)
        return Check("owner_identity", ok, "the owner is an enrolled clinician, the subject an enrolled patient"
                     if ok else f"patient {patient} was not an enrolled, active patient at block {block}")
    return Check("owner_identity", False, f"owner {owner_id} has role {owner.role}; only patients and clinicians "
                 "own records")


def _anchor_problem(rpc: JsonRpcReader, record_anchor: str, root: bytes, anchor: dict[str, Any], tree_size: int,
                    accepted_block: int) -> str | None:
    if len(root) != 32:
        return "no root to look up"
    state = rpc.anchor(record_anchor, root)
    if state.block_number == 0:
        return f"root 0x{root.hex()} is not anchored in RecordAnchor {record_anchor}"
    if state.block_number != anchor["block_number"]:
        return f"root anchored in block {state.block_number}, the receipt says {anchor['block_number']}"
    if state.record_count != tree_size:
        return f"the anchor commits to {state.record_count} leaves, the receipt to {tree_size}"
    if state.block_number < accepted_block:
        return f"anchored in block {state.block_number}, before the record's acceptance block {accepted_block}"
    tx = rpc.transaction_receipt(anchor["tx_hash"])
    if tx is None or int(tx["status"], 16) != 1 or int(tx["blockNumber"], 16) != state.block_number:
        return f"transaction {anchor['tx_hash']} is not a successful transaction in block {state.block_number}"
    root_topic = "0x" + root.hex()
    if not any(log["address"].lower() == record_anchor and log["topics"][:2] == [BATCH_ANCHORED_TOPIC, root_topic]
               for log in tx["logs"]):
        return f"transaction {anchor['tx_hash']} emitted no BatchAnchored event for this root"
    return None
