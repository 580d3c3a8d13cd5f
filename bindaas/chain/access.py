"""Who may do what, as the chain says: enrolled identities (IdentityRegistry) and patients' consents
(ConsentRegistry).

Consents are relayed by an authority because the EVM cannot check ML-DSA; so a consent is honoured only when the
patient's signature in its ``ConsentChanged`` event verifies under the key the identity registry published for
that patient. Identities are cached until the identity registry emits an event (the registry watcher tells);
the consent in force is read from the chain at every check, and a consent history from the block after the last
one read for it.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eth_utils import keccak
from web3 import Web3

from bindaas.chain.artifacts import load_artifact
from bindaas.chain.client import ChainClient, TxReceipt
from bindaas.chain.coalesce import CoalescedReads
from bindaas.chain.enrolments import ENROLLED_TOPIC, REVOKED_TOPIC, EnrolmentIndex, back_fill
from bindaas.chain.jsonrpc import KeepAliveProvider
from bindaas.crypto.mldsa import CONSENT_CONTEXT, PublicKey
from bindaas.errors import BindaasError, ChainError, ChainUnavailable, InvalidInput
from bindaas.threads import named_thread

ROLES = ("none", "patient", "clinician", "auditor", "authority")
BACK_FILL_RETRY_S = 1.0  # pause before a failed back-fill read is made again, over a quarter of its blocks
ENROL_PER_TX = 64  # ~8 M gas: each key publishes 3.1 KB (ML-DSA-65 + ML-KEM-768) in its Enrolled event
_CONSENT_TAG = b"BINDAAS/consent/v1\x00"
CONSENT_GAS_LIMIT = 12_000_000  # a consent change checked on chain uses about 6.9 M (messages are 142 bytes)
# Registering a patient's key in the on-chain verifier uses about 6.40 M gas and proving two rows of its expansion
# about 4.87 M, whatever the key: ML-DSA-65 fixes their sizes. Without a limit, web3 first estimates each by running
# it; on Hardhat that took 4.4 s of a proof's 6.6 s on this machine, and a patient's first consent sends four.
MLDSA_REGISTER_GAS_LIMIT = 8_000_000
MLDSA_PROVE_GAS_LIMIT = 6_500_000
_ENROLMENTS_OF = "0x" + keccak(text="enrolmentsOf(bytes32[])")[:4].hex()
_CONSENT_CHANGED_TOPIC = "0x" + keccak(text="ConsentChanged(bytes32,bytes32,bool,uint64,uint64,bytes)").hex()


_BLOCK_MASK = (1 << 64) - 1
HISTORIES_KEPT = 4096  # consent-history queries whose reads are kept; one past them is read again from the start


def _unpack_enrolment(word: int) -> tuple[int, int, int]:
    """One word of ``enrolmentsOf`` as (role, enrolledBlock, revokedBlock)."""
    return word & 0xFF, (word >> 8) & _BLOCK_MASK, (word >> 72) & _BLOCK_MASK


def check_key_id(text: str, *, field: str) -> str:
    """``text`` as a lower-case 0x key id; raises InvalidInput naming ``field`` otherwise."""
    if not re.fullmatch(r"0x[0-9a-fA-F]{64}", text):
        raise InvalidInput(f"{field} must be a key id: 0x and 64 hex digits", field=field)
    return text.lower()


def _b32(key_id: str) -> bytes:
    return bytes.fromhex(key_id.removeprefix("0x"))


@dataclass(frozen=True)
class Identity:
    """An enrolled key: its role, its ML-DSA-65 signing key and ML-KEM-768 key, and whether it is revoked."""

    key_id: str
    role: str
    enrolled_block: int
    revoked_block: int
    enrolled_by: str
    signing_key: bytes
    kem_key: bytes

    @property
    def active(self) -> bool:
        return self.enrolled_block != 0 and self.revoked_block == 0

    def active_at(self, block: int) -> bool:
        """Enrolled at or before ``block`` and not revoked by then (enrolment is once, revocation final)."""
        return active_at(self.enrolled_block, self.revoked_block, block)


def active_at(enrolled_block: int, revoked_block: int, block: int) -> bool:
    """Whether an identity enrolled at ``enrolled_block`` and revoked at ``revoked_block`` (0: never) was active at
    ``block``: from its enrolment block up to, not including, its revocation block."""
    return enrolled_block != 0 and enrolled_block <= block and (revoked_block == 0 or block < revoked_block)


@dataclass(frozen=True)
class Enrolment:
    """What the identity registry's storage holds about a key (no public keys: those are in the event)."""

    key_id: str
    role: str
    enrolled_block: int
    revoked_block: int

    def active_at(self, block: int) -> bool:
        return active_at(self.enrolled_block, self.revoked_block, block)


@dataclass(frozen=True)
class ConsentStatement:
    """What a patient signs to grant or revoke a grantee's read access."""

    chain_id: int
    contract: str
    patient: str
    grantee: str
    granted: bool
    not_after: int
    nonce: int

    def message(self) -> bytes:
        """tag || chain id (32) || consent contract (20) || patient (32) || grantee (32) || granted (1) ||
        notAfter (8) || nonce (8)."""
        return (_CONSENT_TAG + self.chain_id.to_bytes(32, "big") + bytes.fromhex(self.contract[2:])
                + _b32(self.patient) + _b32(self.grantee) + bytes([self.granted])
                + self.not_after.to_bytes(8, "big") + self.nonce.to_bytes(8, "big"))


@dataclass(frozen=True)
class Consent:
    """The latest consent change of a patient for a grantee, and whether the patient's signature on it verifies."""

    patient: str
    grantee: str
    granted: bool
    not_after: int
    changed_block: int
    nonce: int
    signature_valid: bool

    def allows(self, at: float | None = None) -> bool:
        """Granted, signed by the patient, and not past ``not_after`` (unix seconds; 0 = no end)."""
        at = time.time() if at is None else at
        return self.granted and self.signature_valid and (self.not_after == 0 or at <= self.not_after)

    def to_json(self) -> dict[str, Any]:
        return {"patient": self.patient, "grantee": self.grantee, "granted": self.granted,
                "not_after": self.not_after or None, "changed_block": self.changed_block, "nonce": self.nonce,
                "patient_signature_valid": self.signature_valid, "in_force": self.allows()}


@dataclass(frozen=True)
class _ReadHistory:
    """The consent changes of one query read up to ``block`` (whose hash was ``block_hash``)."""

    block: int
    block_hash: bytes
    changes: tuple[Consent, ...]


class AccessChain:
    """Reads and writes the identity and consent registries of one deployment."""

    def __init__(self, chain: ChainClient) -> None:
        deployment = chain.deployment
        if not deployment.identities or not deployment.consents:
            raise ChainError("this deployment has no IdentityRegistry/ConsentRegistry; redeploy with `bindaas deploy`")
        self.chain = chain
        self.identities = chain.w3.eth.contract(address=deployment.identities,
                                                abi=load_artifact("IdentityRegistry")["abi"])
        self.consents = chain.w3.eth.contract(address=deployment.consents, abi=load_artifact("ConsentRegistry")["abi"])
        self.mldsa_keys = (chain.w3.eth.contract(address=deployment.mldsa_keys, abi=load_artifact("MLDSA65Keys")["abi"])
                           if deployment.mldsa_keys else None)
        # key id -> (signing key, KEM key, enrolling authority), from its Enrolled event: immutable once enrolled
        self._published: dict[str, tuple[bytes, bytes, str]] = {}
        self._enrolments: dict[str, tuple[Any, tuple[int, int, int] | None]] = {}  # key id -> (mark, fields)
        self._identities: dict[str, tuple[tuple[int, int, int], Identity]] = {}
        self._signatures: dict[tuple[str, str, int], bool] = {}
        # (patient, grantee) query -> the consent changes read for it, up to a block (the most recent queries kept)
        self._histories: OrderedDict[tuple[str | None, str | None], _ReadHistory] = OrderedDict()
        self._lock = threading.Lock()
        # The reads below go over the chain client's own connections (None on the embedded chain).
        provider = chain.w3.provider
        self._rpc = provider.rpc if isinstance(provider, KeepAliveProvider) else None
        self._enrolment_fields: Callable[[str], tuple[int, int, int]]  # one key's enrolment, read from the chain
        # Over JSON-RPC, owners' enrolments are answered from the registry's events where they can be (see
        # enrolments.py). The embedded chain answers reads in-process, and its logs are slow to search.
        self._index = EnrolmentIndex()
        self._indexing = False
        self._back_fill_stop = threading.Event()
        if self._rpc is not None:  # POST /records meets a new owner in nearly every request: reads share a call
            self._enrolment_fields = CoalescedReads(
                lambda keys: self.chain.call(lambda: self._enrolments_of(keys), "enrolmentsOf")).read
        else:
            self._enrolment_fields = lambda key_id: self.chain.call(
                lambda: _unpack_enrolment(self.identities.functions.enrolmentsOf([_b32(key_id)]).call()[0]),
                "enrolmentsOf")

    # ------------------------------------------------------------------ identities

    def _start_back_fill(self, head: int) -> None:
        """Index the registry's logs up to ``head`` (the watcher follows it from there), in a thread of its own."""
        generation = self._index.reset()
        rpc, address = self._rpc, self.identities.address
        assert rpc is not None

        def get_logs(first: int, last: int) -> list[dict[str, Any]]:
            return self.chain.call(lambda: rpc.call("eth_getLogs", [{
                "address": address, "fromBlock": hex(first), "toBlock": hex(last),
                "topics": [[ENROLLED_TOPIC, REVOKED_TOPIC]]}]), "eth_getLogs(identity registry)")

        def run() -> None:
            # Until it completes, owners it has not reached are read from the chain one group at a time.
            back_fill(self._index, generation=generation, get_logs=get_logs,
                      first_block=self.chain.deployment.deployed_block, last_block=head, stop=self._back_fill_stop,
                      retry_on=(ChainError, ChainUnavailable), retry_s=BACK_FILL_RETRY_S)

        named_thread(run, "identity-back-fill").start()

    def index_identities(self) -> None:
        """Answer enrolments from the identity registry's events from now on (a service does; a one-off enrolment
        need not), indexing those before the watcher's head in the background. Over JSON-RPC only."""
        if self._rpc is None or self._indexing:
            return
        self._indexing, self._back_fill_stop = True, threading.Event()
        self.chain.follow_identities(self._index.apply, self._start_back_fill)

    def index_status(self) -> dict[str, Any] | None:
        """How far the identity index has got (None where enrolments are read from the chain each time): keys
        indexed, and whether every block from the deployment on has been taken in."""
        if not self._indexing:
            return None
        complete_from = self._index.complete_from
        return {"identities": len(self._index), "complete": complete_from is not None
                and complete_from <= self.chain.deployment.deployed_block}

    def close(self) -> None:
        """Stop following the registry's events and any back-fill in progress."""
        self._back_fill_stop.set()
        if self._indexing:
            self.chain.unfollow_identities(self._index.apply)
            self._indexing = False

    def _indexed(self, key_id: str) -> tuple[int, int, int] | None:
        """``key_id``'s enrolment from the registry's events, while the watcher keeps them current; else None."""
        if not self._indexing or not self.chain.watch_fresh():
            return None
        return self._index.get(key_id)

    def _read_enrolment(self, key_id: str) -> tuple[int, tuple[int, int, int] | None]:
        """(epoch, (role, enrolledBlock, revokedBlock) or None) for ``key_id``: cached while the registry watcher
        shows no identity event since; re-read otherwise; during a chain outage, as last read (like the authority
        registry's view)."""
        epoch = self.chain.identity_epoch
        indexed = self._indexed(key_id)
        if indexed is not None:
            return epoch, indexed
        cached = self._enrolments.get(key_id)
        if cached is not None and cached[0] in self._valid_marks(epoch) and self.chain.watch_fresh():
            return epoch, cached[1]
        try:
            fields = self._enrolment_fields(key_id)
        except ChainUnavailable:
            if cached is not None:
                return epoch, cached[1]
            # An owner the index answered for while the watcher was current: its answer is the state last read.
            last = self._index.get(key_id) if self._indexing else None
            if last is None:
                raise
            return epoch, last
        found = fields if fields[1] else None
        with self._lock:
            self._enrolments[key_id] = (self._mark(epoch, found), found)
        return epoch, found

    def _mark(self, epoch: int, fields: tuple[int, int, int] | None) -> int | tuple[int, int | None]:
        """What a read enrolment is kept under: the identity epoch, until the registry's next event. Where the
        index is kept, an enrolment read from the chain is kept only until the watcher's head moves: the read may
        be ahead of the watcher, and a reorganisation that drops a block the watcher never saw emits no event."""
        return (epoch, self.chain.watched_head) if fields is not None and self._indexing else epoch

    def _valid_marks(self, epoch: int) -> tuple[int, tuple[int, int | None]]:
        return epoch, (epoch, self.chain.watched_head)

    def _enrolments_of(self, key_ids: list[str]) -> dict[str, tuple[int, int, int]]:
        """enrolmentsOf(keyIds) over JSON-RPC as a raw eth_call (0.6 ms of CPU a call, where web3's contract
        machinery took 2.1 ms): each key id's (role, enrolledBlock, revokedBlock). The identity's first storage
        slot only: Hardhat spent 27 ms of CPU answering identitiesOf (all three slots, as structs) for 256 owners,
        5.5 ms answering this."""
        assert self._rpc is not None
        # enrolmentsOf(bytes32[]): the array's offset and length, then the key ids.
        data = (_ENROLMENTS_OF + (32).to_bytes(32, "big").hex() + len(key_ids).to_bytes(32, "big").hex()
                + "".join(_b32(k).hex() for k in key_ids))
        answer = self._rpc.call("eth_call", [{"to": self.identities.address, "data": data}, "latest"])
        raw = bytes.fromhex(answer[2:])[64:]  # past the offset and length words: one word an owner
        return {key_id: _unpack_enrolment(int.from_bytes(raw[32 * i:32 * (i + 1)], "big"))
                for i, key_id in enumerate(key_ids)}

    def prefetch_identities(self, key_ids: set[str]) -> None:
        """Read the enrolments of ``key_ids`` not cached yet with one `enrolmentsOf` call, so that checking a group
        of envelopes (the streaming import) costs the node one call for its new owners instead of one each (about
        1 ms of the node's CPU each on Hardhat)."""
        if self._rpc is None:
            return
        epoch, fresh = self.chain.identity_epoch, self.chain.watch_fresh()
        marks = self._valid_marks(epoch)
        missing = sorted(k for k in (k.lower() for k in key_ids)
                         if not (fresh and (cached := self._enrolments.get(k)) is not None and cached[0] in marks)
                         and self._indexed(k) is None)
        if not missing:
            return
        try:
            found = self._enrolments_of(missing)
        except (ChainError, ChainUnavailable):
            return  # each identity is then read on its own, with that path's error handling
        with self._lock:
            for key_id, fields in found.items():
                enrolled = fields if fields[1] else None
                self._enrolments[key_id] = (self._mark(epoch, enrolled), enrolled)

    def enrolment(self, key_id: str) -> Enrolment | None:
        """Role and enrolment blocks of ``key_id`` (None if never enrolled), without fetching its public keys."""
        key_id = key_id.lower()
        fields = self._read_enrolment(key_id)[1]
        if fields is None:
            return None
        role, enrolled, revoked = fields
        return Enrolment(key_id, ROLES[role], enrolled, revoked)

    def identity(self, key_id: str) -> Identity | None:
        """The identity enrolled under ``key_id`` (None if never), with its published keys."""
        key_id = key_id.lower()
        fields = self._read_enrolment(key_id)[1]
        if fields is None:
            return None
        cached = self._identities.get(key_id)
        if cached is not None and cached[0] == fields:
            return cached[1]
        role, enrolled, revoked = fields
        signing, kem, by = self._published_keys(key_id, enrolled)
        found = Identity(key_id, ROLES[role], enrolled, revoked, by, signing, kem)
        with self._lock:
            self._identities[key_id] = (fields, found)
        return found

    def _published_keys(self, key_id: str, block: int) -> tuple[bytes, bytes, str]:
        """The signing key, KEM key and enrolling authority (checksummed) that ``key_id``'s Enrolled event in
        ``block`` published; none of them changes once enrolled."""
        if key_id not in self._published:
            event = self.identities.events.Enrolled()
            logs = self.chain.call(lambda: self.chain.w3.eth.get_logs({
                "address": self.identities.address, "fromBlock": block, "toBlock": block,
                "topics": [ENROLLED_TOPIC, "0x" + _b32(key_id).hex()]}), "eth_getLogs(Enrolled)")
            if not logs:
                raise ChainError(f"no Enrolled event for {key_id} in block {block}")
            args = event.process_log(logs[0])["args"]
            self._published[key_id] = (bytes(args["signingKey"]), bytes(args["kemKey"]),
                                       Web3.to_checksum_address(args["by"]))
        return self._published[key_id]

    def enroll(self, *, signing_key: bytes, kem_key: bytes, role: str) -> TxReceipt:
        """Enrol a key with ``role`` (sent by this service's authority account)."""
        key_id = "0x" + keccak(signing_key).hex()
        return self.chain.transact(
            self.identities.functions.enroll(_b32(key_id), ROLES.index(role), signing_key, kem_key), "enroll")

    def enroll_many(self, *, keys: list[tuple[bytes, bytes]], role: str) -> list[TxReceipt]:
        """Enrol many (signing key, KEM key) pairs with one ``role``, ``ENROL_PER_TX`` per transaction."""
        receipts = []
        for start in range(0, len(keys), ENROL_PER_TX):
            chunk = keys[start:start + ENROL_PER_TX]
            receipts.append(self.chain.transact(self.identities.functions.enrollMany(
                [keccak(s) for s, _ in chunk], ROLES.index(role), [s for s, _ in chunk], [k for _, k in chunk]),
                "enrollMany"))
        return receipts

    def revoke(self, key_id: str) -> TxReceipt:
        return self.chain.transact(self.identities.functions.revoke(_b32(key_id)), "revoke")

    # ------------------------------------------------------------------ consents

    def statement(self, *, patient: str, grantee: str, granted: bool, not_after: int, nonce: int) -> ConsentStatement:
        return ConsentStatement(self.chain.chain_id, self.consents.address.lower(), patient.lower(), grantee.lower(),
                                granted, not_after, nonce)

    def next_nonce(self, patient: str) -> int:
        return self.chain.call(lambda: self.consents.functions.nonceOf(_b32(patient)).call(), "nonceOf") + 1

    @property
    def consent_verified_on_chain(self) -> bool:
        """Whether the consent registry checks patients' signatures itself (and anyone may relay)."""
        return self.mldsa_keys is not None

    @property
    def relayer(self) -> str:
        """The account that relays consent changes: in on-chain mode a node account that is not an authority
        (none is needed: the contract checks the signature), else the client's authority account."""
        if not self.consent_verified_on_chain:
            return self.chain.sender
        authorities = {a.lower() for a in self.chain.deployment.authorities}
        accounts = self.chain.call(lambda: self.chain.w3.eth.accounts, "eth_accounts")
        return next((a for a in reversed(accounts) if a.lower() not in authorities), self.chain.sender)

    def ensure_key_proven(self, public_key: bytes, *, sender: str | None = None) -> list[TxReceipt]:
        """Register ``public_key`` with its expansion in the on-chain verifier and prove the expansion (a register
        transaction and three of two rows each), unless that is done; returns the receipts of what was sent."""
        assert self.mldsa_keys is not None, "relayed mode has no on-chain verifier"
        from bindaas.crypto.mldsa_expand import expand_a

        key_id = keccak(public_key)
        sender = sender or self.relayer
        receipts = []
        if self.chain.call(lambda: self.mldsa_keys.functions.isProven(key_id).call(), "isProven"):
            return receipts
        registered = self.chain.call(lambda: self.mldsa_keys.functions.keyOf(key_id).call(), "keyOf")
        if int(registered[0], 16) == 0:
            receipts.append(self.chain.transact(self.mldsa_keys.functions.register(public_key, expand_a(public_key)),
                                                "MLDSA65Keys.register", sender=sender, gas=MLDSA_REGISTER_GAS_LIMIT))
        for first in (0, 2, 4):
            receipts.append(self.chain.transact(self.mldsa_keys.functions.prove(key_id, first, first + 2),
                                                "MLDSA65Keys.prove", sender=sender, gas=MLDSA_PROVE_GAS_LIMIT))
        return receipts

    def set_consent(self, statement: ConsentStatement, signature: bytes, *, patient_key: bytes = b"",
                    sender: str | None = None) -> TxReceipt:
        """Relay a patient-signed change; the caller checked the signature first. In on-chain mode the contract
        checks it again against ``patient_key`` (registered and proven first if need be), and ``sender`` (default:
        the relayer, not an authority) may be any funded account."""
        if self.consent_verified_on_chain:
            sender = sender or self.relayer
            self.ensure_key_proven(patient_key, sender=sender)
        # An explicit limit on chain-checked changes (about 6.9 M gas used): Hardhat 2.29's estimator probes at
        # three times the gas used, above the 16,777,216 per-transaction cap, and refuses.
        return self.chain.transact(self.consents.functions.setConsent(
            _b32(statement.patient), _b32(statement.grantee), statement.granted, statement.not_after,
            statement.nonce, patient_key, signature), "setConsent", sender=sender,
            gas=CONSENT_GAS_LIMIT if self.consent_verified_on_chain else None)

    def consent(self, patient: str, grantee: str) -> Consent:
        """The consent in force now, read from the chain, with the patient's signature checked."""
        patient, grantee = patient.lower(), grantee.lower()
        granted, not_after, block, nonce = self.chain.call(
            lambda: self.consents.functions.consentOf(_b32(patient), _b32(grantee)).call(), "consentOf")
        if block == 0:
            return Consent(patient, grantee, False, 0, 0, 0, False)
        valid = self._signature_valid(patient, grantee, nonce, block)
        return Consent(patient, grantee, granted, not_after, block, nonce, valid)

    def history(self, *, patient: str | None = None, grantee: str | None = None) -> list[Consent]:
        """Every consent change (oldest first) for ``patient`` and/or ``grantee``, each with its signature checked,
        up to the chain's head. A query read before is read on from the block after the one it reached, while that
        block is still on the chain: every FHIR read asks for its caller's grants, and each such read is an audited
        access, so on a busy chain the history from the deployment block grows with every read."""
        query = (patient.lower() if patient else None, grantee.lower() if grantee else None)
        latest = self.chain.call(lambda: self.chain.w3.eth.get_block("latest"), "eth_getBlockByNumber")
        head, head_hash = int(latest["number"]), bytes(latest["hash"])
        with self._lock:
            known = self._histories.get(query)
        first, changes = self.chain.deployment.deployed_block, []
        if known is not None and known.block <= head and self.chain.still_on_chain(
                known.block, known.block_hash, head=head, head_hash=head_hash):
            if known.block == head:
                return list(known.changes)
            first, changes = known.block + 1, list(known.changes)
        changes += self._consent_changes(query, first, head)
        with self._lock:
            self._histories[query] = _ReadHistory(head, head_hash, tuple(changes))
            self._histories.move_to_end(query)
            while len(self._histories) > HISTORIES_KEPT:
                self._histories.popitem(last=False)
        return changes

    def _consent_changes(self, query: tuple[str | None, str | None], first: int, last: int) -> list[Consent]:
        """The ConsentChanged events of blocks ``first``..``last`` matching ``query`` (patient, grantee), oldest
        first, each with the patient's signature checked."""
        patient, grantee = query
        topics: list[Any] = [_CONSENT_CHANGED_TOPIC,
                             "0x" + _b32(patient).hex() if patient else None,
                             "0x" + _b32(grantee).hex() if grantee else None]
        logs = self.chain.call(lambda: self.chain.w3.eth.get_logs({
            "address": self.consents.address, "fromBlock": first, "toBlock": last, "topics": topics}),
            "eth_getLogs(ConsentChanged)")
        out = []
        for log in logs:
            args = self.consents.events.ConsentChanged().process_log(log)["args"]
            p, g = "0x" + bytes(args["patient"]).hex(), "0x" + bytes(args["grantee"]).hex()
            valid = self._check(p, g, args["granted"], args["notAfter"], args["nonce"], bytes(args["signature"]))
            out.append(Consent(p, g, args["granted"], args["notAfter"], log["blockNumber"], args["nonce"], valid))
        return out

    def _signature_valid(self, patient: str, grantee: str, nonce: int, block: int) -> bool:
        cache_key = (patient, grantee, nonce)
        if cache_key not in self._signatures:
            logs = self.chain.call(lambda: self.chain.w3.eth.get_logs({
                "address": self.consents.address, "fromBlock": block, "toBlock": block,
                "topics": [_CONSENT_CHANGED_TOPIC, "0x" + _b32(patient).hex(), "0x" + _b32(grantee).hex()]}),
                "eth_getLogs(ConsentChanged)")
            valid = False
            for log in logs:
                args = self.consents.events.ConsentChanged().process_log(log)["args"]
                if args["nonce"] == nonce:
                    valid = self._check(patient, grantee, args["granted"], args["notAfter"], nonce,
                                        bytes(args["signature"]))
            self._signatures[cache_key] = valid
        return self._signatures[cache_key]

    def _check(self, patient: str, grantee: str, granted: bool, not_after: int, nonce: int, signature: bytes) -> bool:
        identity = self.identity(patient)
        if identity is None:
            return False
        statement = self.statement(patient=patient, grantee=grantee, granted=granted, not_after=not_after,
                                   nonce=nonce)
        try:
            PublicKey(identity.signing_key).verify(signature, statement.message(), context=CONSENT_CONTEXT)
            return True
        except BindaasError:
            return False
