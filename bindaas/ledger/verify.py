"""Verification of a stored record, as a report a person can read.

Everything is recomputed from what is stored and what is on chain; nothing the store says about itself (its
digest, its root, its status) is trusted. The payload is stored encrypted: the service decrypts it in memory with
its own key to recompute the digest and shows the caller (an auditor, say) only the verdict, never the content. The digest is recomputed from the stored bytes, the leaf from that
digest, the root from the leaf and the proof, and that root is looked up on chain. Signatures are checked against
the public keys the registry published, and the signers and policy k against the registry at the block where the
record was accepted (which the leaf binds).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from bindaas.chain.access import AccessChain
from bindaas.chain.client import ChainClient
from bindaas.crypto.digest import record_digest, record_leaf, signed_message
from bindaas.crypto.merkle import ProofStep, root_from_proof
from bindaas.crypto.mldsa import ENDORSEMENT_CONTEXT, OWNER_CONTEXT, PublicKey, key_id, unb64
from bindaas.crypto.sealing import KemPrivateKey
from bindaas.errors import BindaasError, RecordDamaged
from bindaas.ledger.accept import owner_binding_problem
from bindaas.ledger.payload import open_payload
from bindaas.store.models import BatchRow, DicomObjectRow, RecordRow
from bindaas.threads import map_in_shares


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class VerificationReport:
    record_id: str
    verdict: str  # valid | invalid | not-final (anchored, too few blocks on top) | pending (not yet anchored)
    failed_check: str | None
    summary: str
    checks: list[Check]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _signature_check(name: str, key: bytes, signature: bytes, message: bytes, context: bytes) -> Check:
    try:
        PublicKey.from_bytes(key).verify(signature, message, context=context)
        return Check(name, True, "ML-DSA-65 signature verifies")
    except BindaasError as exc:
        return Check(name, False, exc.detail)


def _owner_identity_check(row: RecordRow, access: AccessChain) -> Check:
    """The owner's key must be an identity the chain enrolled, allowed to own this record at its acceptance block
    (a record stored before owners were bound to identities, or written straight into the store, fails here)."""
    owner_key_id = key_id(bytes(row.owner_public_key))
    owner = access.enrolment(owner_key_id)
    subject = access.enrolment(row.patient_id) if owner is not None and owner.role == "clinician" else None
    problem = owner_binding_problem(owner_key_id, row.patient_id, owner, subject, block=row.accepted_block)
    if problem is not None:
        return Check("owner_identity", False, problem[1], {"owner": owner_key_id})
    assert owner is not None
    return Check("owner_identity", True, f"owner {owner_key_id} was an enrolled {owner.role} at block "
                 f"{row.accepted_block}", {"owner": owner_key_id, "role": owner.role,
                                           "enrolled_block": owner.enrolled_block})


def _imaging_check(plaintext: bytes, objects: list[DicomObjectRow], service_key: KemPrivateKey | None) -> list[Check]:
    """For an imaging record: every DICOM object its signed bundle lists is stored and unchanged."""
    import json

    from bindaas.ledger.imaging import object_hashes, objects_problem

    bundle = json.loads(plaintext)
    listed = object_hashes(bundle)
    if not listed or service_key is None:
        return []
    problem = objects_problem(bundle, objects, service_key)
    return [Check("imaging_objects", problem is None,
                  problem or f"all {len(listed)} DICOM objects are stored and hash to what the signed record lists")]


def verify_record(row: RecordRow, batch: BatchRow | None, chain: ChainClient, access: AccessChain, *,
                  plaintext: bytes | None, confirmations: int = 0, objects: list[DicomObjectRow] | None = None,
                  service_key: KemPrivateKey | None = None) -> VerificationReport:
    """Run every check on ``row`` (``plaintext``: its decrypted payload, None when it did not decrypt) and return
    the report; never raises for a tampered record. An anchor counts as final once ``confirmations`` blocks
    stand on top of its block."""
    checks: list[Check] = []
    if plaintext is None:
        digest = b""
        checks.append(Check("digest", False, "stored payload does not decrypt (AES-256-GCM tag or wrapped key "
                                             "fails): ciphertext changed"))
    else:
        digest = record_digest(plaintext, bytes(row.salt)) if len(row.salt) == 32 else b""
        digest_ok = "0x" + digest.hex() == row.id
        checks.append(Check("digest", digest_ok,
                            "SHA3-256 of tag, salt and canonical bundle matches the record id" if digest_ok
                            else "recomputed digest differs from the record id: payload or salt changed",
                            {"recomputed": "0x" + digest.hex()}))

    if plaintext is not None and objects is not None:
        checks.extend(_imaging_check(plaintext, objects, service_key))
    message = signed_message(digest or bytes(32), chain_id=row.chain_id, registry=row.registry_address,
                             patient=row.patient_id)
    checks.append(_signature_check("owner_signature", bytes(row.owner_public_key), bytes(row.owner_signature),
                                   message, OWNER_CONTEXT))

    block = row.accepted_block
    checks.append(_owner_identity_check(row, access))
    authorities: set[str] = set()
    for i, endorsement in enumerate(row.endorsements):
        name = f"endorsement[{i}]"
        status = chain.key_status(endorsement["key_id"])
        public_key = chain.public_key(endorsement["key_id"])
        if not public_key:
            checks.append(Check(name, False, f"key {endorsement['key_id']} was never published in the registry"))
            continue
        try:
            signature = unb64(endorsement["signature"], field=name)
        except BindaasError as exc:
            checks.append(Check(name, False, exc.detail))
            continue
        signed = _signature_check(name, public_key, signature, message, ENDORSEMENT_CONTEXT)
        valid_then = status.valid_at(block)
        detail = (f"{signed.detail}; signer {status.authority} "
                  + ("was registered and not revoked" if valid_then else "was NOT an active authority")
                  + f" at block {block}")
        checks.append(Check(name, signed.ok and valid_then, detail,
                            {"authority": status.authority, "key_id": endorsement["key_id"],
                             "registered_block": status.registered_at, "revoked_block": status.revoked_at or None}))
        if signed.ok and valid_then:
            authorities.add(status.authority)

    required = chain.threshold_at(block)
    checks.append(Check("policy", len(authorities) >= required,
                        f"{len(authorities)} distinct valid authority endorsements; policy at block {block} "
                        f"requires {required}", {"required": required, "valid": len(authorities)}))

    pending = row.proof is None or batch is None
    if not pending:
        try:
            proof = [ProofStep.from_json(step) for step in row.proof or []]
            root = root_from_proof(record_leaf(digest or bytes(32), block), proof)
            proof_ok = "0x" + root.hex() == batch.root
            checks.append(Check("merkle_proof", proof_ok, "inclusion proof leads to the batch root" if proof_ok
                                else "inclusion proof does not lead to the batch root",
                                {"computed_root": "0x" + root.hex(), "steps": len(proof)}))
        except (KeyError, ValueError, TypeError) as exc:
            root = b""
            checks.append(Check("merkle_proof", False, f"inclusion proof is malformed: {exc}"))
        anchor = chain.anchor_of(root) if len(root) == 32 else None
        if anchor is None:
            checks.append(Check("anchor_on_chain", False, "the computed root is not anchored on chain"))
        else:
            when = datetime.fromtimestamp(anchor.timestamp, tz=timezone.utc).isoformat()
            checks.append(Check("anchor_on_chain", anchor.block_number >= block,
                                f"root anchored in block {anchor.block_number} at {when} by {anchor.submitter}",
                                {"block": anchor.block_number, "time": when, "root": anchor.root,
                                 "tx_hash": batch.tx_hash, "submitter": anchor.submitter}))

        if anchor is not None and confirmations:
            depth = chain.block_number() - anchor.block_number
            checks.append(Check("finality", depth >= confirmations,
                                f"{depth} blocks on top of the anchor; final at {confirmations}",
                                {"confirmations": depth, "required": confirmations}))

    failed = next((c.name for c in checks if not c.ok), None)
    if failed == "finality":
        verdict, summary = "not-final", "NOT FINAL: every check passes, but the anchor is not yet final"
    elif failed:
        verdict, summary = "invalid", f"INVALID: check '{failed}' failed — " + next(c.detail for c in checks
                                                                                  if not c.ok)
    elif pending:
        verdict, summary = "pending", "Signatures and policy verify; the record is not anchored yet"
    else:
        verdict, summary = "valid", "VALID: digest, signatures, signers, policy and on-chain anchor all verify"
    return VerificationReport(row.id, verdict, failed, summary, checks)


def open_and_verify(row: RecordRow, batch: BatchRow | None, chain: ChainClient, access: AccessChain,
                    service_key: KemPrivateKey, *, confirmations: int = 0,
                    objects: list[DicomObjectRow] | None = None) -> tuple[VerificationReport, bytes | None]:
    """Decrypt ``row`` in memory with the service's key and verify it (and, for an imaging record, its stored
    DICOM ``objects``); returns the report and the plaintext (None when it did not decrypt), for the service's
    own use (training reads the records it verified)."""
    try:
        plaintext: bytes | None = open_payload(row, service_key)
    except RecordDamaged:
        plaintext = None
    return verify_record(row, batch, chain, access, plaintext=plaintext, confirmations=confirmations,
                         objects=objects, service_key=service_key), plaintext


def verify_stored(row: RecordRow, batch: BatchRow | None, chain: ChainClient, access: AccessChain,
                  service_key: KemPrivateKey, *, confirmations: int = 0,
                  objects: list[DicomObjectRow] | None = None) -> VerificationReport:
    """Decrypt ``row`` in memory with the service's key and verify it (and, for an imaging record, its stored
    DICOM ``objects``); the plaintext goes no further."""
    return open_and_verify(row, batch, chain, access, service_key, confirmations=confirmations, objects=objects)[0]


def open_and_verify_all(rows: Sequence[RecordRow], batches: Mapping[int, BatchRow], chain: ChainClient,
                        access: AccessChain, service_key: KemPrivateKey, *, confirmations: int = 0,
                        threads: int = 1) -> list[tuple[VerificationReport, bytes | None]]:
    """``open_and_verify`` every row (its batch looked up in ``batches``) on ``threads`` threads, in the order of
    ``rows``. Each thread takes one contiguous share: ML-DSA and ML-KEM in OpenSSL run without the GIL, and a task
    a record made the threads hand the GIL and the executor's locks to each other so often that two threads
    verified barely faster than one."""
    def share(part: Sequence[RecordRow]) -> list[tuple[VerificationReport, bytes | None]]:
        return [open_and_verify(row, batches.get(row.batch_id) if row.batch_id else None, chain, access, service_key,
                                confirmations=confirmations) for row in part]

    return map_in_shares(share, rows, threads, name="verify")
