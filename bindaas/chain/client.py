"""One chain client for every chain: the in-process EVM (eth-tester / py-evm), a Hardhat node, or any Ethereum
JSON-RPC endpoint (geth, Besu). Library errors are translated here into ``ChainError`` / ``ChainUnavailable``.
"""

from __future__ import annotations

import ast
import contextlib
import logging
import random
import re
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence, TypeVar

from eth_abi import decode as abi_decode
from eth_utils import keccak
from web3 import Web3
from web3.exceptions import BlockNotFound, ContractLogicError, TimeExhausted, TransactionNotFound, Web3RPCError
from web3.types import RPCEndpoint

from bindaas.chain.artifacts import custom_errors, load_artifact
from bindaas.chain.deployment import Deployment
from bindaas.chain.jsonrpc import KeepAliveProvider
from bindaas.chain.reverts import explain
from bindaas.errors import ChainError, ChainUnavailable
from bindaas.threads import named_thread

log = logging.getLogger(__name__)
T = TypeVar("T")
BATCH_ANCHORED_TOPIC = "0x" + keccak(text="BatchAnchored(bytes32,address,uint256,uint32)").hex()


def connect(rpc_url: str | None, *, timeout_s: float = 10.0, send_timeout_s: float = 60.0) -> Web3:
    """A Web3 over ``rpc_url``, or over a fresh in-process EVM when it is None. A call the node does not answer
    within ``timeout_s`` finds it unreachable; a transaction sent (or estimated) gets ``send_timeout_s``."""
    if rpc_url is None:
        from web3 import EthereumTesterProvider  # imported lazily: py-evm is slow to import

        return Web3(EthereumTesterProvider())
    # web3's validation asks the node for its chain id before every call and transaction (4 of the 9 JSON-RPC
    # round trips of one anchorBatch); an endpoint's chain id does not change, so it is asked once.
    return Web3(KeepAliveProvider(rpc_url, timeout_s=timeout_s, send_timeout_s=send_timeout_s,
                                  cache_allowed_requests=True,
                                  cacheable_requests={RPCEndpoint("eth_chainId")}))


@dataclass(frozen=True)
class KeyStatus:
    """An authority key as the registry sees it (block numbers; 0 = never)."""

    key_id: str
    authority: str
    registered_at: int
    revoked_at: int

    def valid_at(self, block: int) -> bool:
        return self.registered_at != 0 and self.registered_at <= block and (
            self.revoked_at == 0 or block < self.revoked_at
        )


@dataclass(frozen=True)
class AnchorInfo:
    """Where and when a Merkle root was anchored."""

    root: str
    block_number: int
    timestamp: int
    record_count: int
    submitter: str


@dataclass(frozen=True)
class ModelInfo:
    """A model's provenance as the ModelRegistry holds it."""

    model_id: str
    training_root: str
    metrics_hash: str
    training_records: int
    block_number: int
    timestamp: int
    registered_by: str


@dataclass(frozen=True)
class TxReceipt:
    tx_hash: str
    block_number: int
    gas_used: int


def _revert_payloads(exc: BaseException) -> list[bytes]:
    """Candidate revert data: web3 carries it as ``.data`` (hex), eth-tester as bytes in its message."""
    found: list[bytes] = []
    data = getattr(exc, "data", None)
    if isinstance(data, dict):
        data = data.get("data")
    if isinstance(data, str) and data.startswith("0x"):
        found.append(bytes.fromhex(data[2:]))
    for arg in exc.args:
        if isinstance(arg, bytes):
            found.append(arg)
        text = str(arg)
        if "b'" in text or 'b"' in text:
            with contextlib.suppress(ValueError, SyntaxError):
                literal = ast.literal_eval(text[text.index("b"):])
                if isinstance(literal, bytes):
                    found.append(literal)
        found += [bytes.fromhex(h) for h in re.findall(r"0x((?:[0-9a-fA-F]{2}){4,})", text)]
    return found


def decode_revert(exc: BaseException) -> tuple[str, tuple] | None:
    """The custom error (name, args) carried by a revert, from web3 or eth-tester, or None."""
    for data in _revert_payloads(exc):
        known = custom_errors().get(data[:4])
        if known is not None:
            name, types, _ = known
            with contextlib.suppress(Exception):
                return name, tuple(abi_decode(types, data[4:]))
    return None


def _is_revert(exc: BaseException) -> bool:
    # eth-tester raises its own TransactionFailed; importing it would load py-evm for JSON-RPC users too. A node
    # that reverts eth_sendTransaction (Hardhat) answers with a JSON-RPC error carrying the revert data.
    if isinstance(exc, ContractLogicError) or type(exc).__name__ == "TransactionFailed":
        return True
    return isinstance(exc, Web3RPCError) and "revert" in str(exc).lower()


# What nodes answer when sent a transaction their pool already holds: geth "already known", anvil "transaction
# already imported", Hardhat and Besu "Known transaction", Nethermind "AlreadyKnown".
_ALREADY_KNOWN = ("already known", "already imported", "known transaction", "alreadyknown")


def _is_already_known(exc: BaseException) -> bool:
    return isinstance(exc, Web3RPCError) and any(words in str(exc).lower() for words in _ALREADY_KNOWN)


# What nodes answer when a transaction's nonce was taken by another one from the same account: geth, anvil and Besu
# "nonce too low" / "replacement transaction underpriced", Hardhat "Nonce too low" / "Replacement transaction
# underpriced", Nethermind "OldNonce" / "ReplacementNotAllowed". The node refused it: nothing of it is pending.
_NONCE_TAKEN = ("nonce too low", "replacement transaction underpriced", "oldnonce", "replacementnotallowed")
# A client that loses the race for a nonce tries again until its receipt timeout, not for a fixed number of tries:
# while another process keeps sending from the account, it may win every nonce until its backlog drains (CI saw
# one anvil sender lose eight in a row). The pause doubles to _NONCE_PAUSE_MAX_S and is drawn at random, so two
# senders that collided once do not read the pending count in step again.
_NONCE_PAUSE_S = 0.005
_NONCE_PAUSE_MAX_S = 0.2


def _is_nonce_taken(exc: BaseException) -> bool:
    return isinstance(exc, Web3RPCError) and any(words in str(exc).lower() for words in _NONCE_TAKEN)


class ChainClient:
    """Reads and writes the BinDaaS contracts over one Web3 connection.

    The in-process EVM is not thread-safe, so calls on it are serialized; a JSON-RPC node needs no lock.
    """

    def __init__(self, w3: Web3, deployment: Deployment, *, sender: str | None = None,
                 private_key: str | None = None, receipt_timeout_s: float = 60.0) -> None:
        self.w3 = w3
        self.deployment = deployment
        self.registry = w3.eth.contract(address=deployment.registry, abi=load_artifact("AuthorityRegistry")["abi"])
        self.anchor = w3.eth.contract(address=deployment.anchor, abi=load_artifact("RecordAnchor")["abi"])
        self.models = (w3.eth.contract(address=deployment.models, abi=load_artifact("ModelRegistry")["abi"])
                       if deployment.models else None)
        self._account = w3.eth.account.from_key(private_key) if private_key else None
        self.sender = self._account.address if self._account else (sender or deployment.authorities[0])
        self._receipt_timeout_s = receipt_timeout_s
        embedded = _embedded(w3)
        self._lock: threading.Lock | None = threading.RLock() if embedded else None  # type: ignore[assignment]
        # Numbering and sending a transaction is one step at a time: threads that each read the pending nonce
        # (or have the node number theirs, which anvil does concurrently) would take the same one.
        self._send_lock = threading.Lock()
        self._last_head: int | None = None
        self._keys: dict[str, tuple[int, KeyStatus]] = {}
        self._thresholds: dict[int, int] = {}
        self._anchors: dict[bytes, AnchorInfo] = {}
        self._view_lock = threading.Lock()
        self._watched_head: int | None = None
        self._watched_hash = b""
        self._identity_followers: list[tuple[Callable[[list[Any]], None], Callable[[int], None]]] = []
        self._watched_at = 0.0
        self._watch_interval = 0.2
        self._current_threshold: tuple[int, int] | None = None
        self._watch_thread: threading.Thread | None = None
        self._watch_stop = threading.Event()
        self._public_keys: dict[str, bytes] = {}
        self.identity_epoch = 0  # bumped whenever the identity registry emits an event (enrol, revoke)
        self.registry_epoch = 0  # bumped whenever the authority registry emits one (key added, revoked, policy)
        self.confirmations = 0  # blocks on top of an anchor before it is final (BINDAAS_CONFIRMATIONS)

    @property
    def embedded(self) -> bool:
        return self._lock is not None

    @property
    def chain_id(self) -> int:
        return self.deployment.chain_id

    def _guard(self, fn: Callable[[], T], what: str) -> T:
        try:
            if self._lock is None:
                return fn()
            with self._lock:
                return fn()
        except ChainError:
            raise
        except ChainUnavailable as exc:
            raise ChainUnavailable(f"{what}: {exc.detail}") from exc
        except (ConnectionError, TimeExhausted) as exc:
            raise ChainUnavailable(f"{what}: chain node unreachable ({type(exc).__name__})") from exc
        except Exception as exc:
            if not _is_revert(exc):
                raise
            name, args = decode_revert(exc) or (None, ())
            explained = explain(name, args)
            if explained is None:
                raise ChainError(f"{what}: the chain refused the transaction", error_name=name, args=args) from exc
            status, field, sentence = explained
            raise ChainError(f"{what}: {sentence}", error_name=name, args=args, status=status, field=field) from exc

    def call(self, fn: Callable[[], T], what: str) -> T:
        """Run a read against the chain with this client's locking and error translation."""
        return self._guard(fn, what)

    def transact(self, fn: Any, what: str, *, sender: str | None = None, gas: int | None = None) -> TxReceipt:
        """Send a contract call (as ``sender`` or this client's sender; with ``gas`` as its limit, else estimated);
        the watcher sees the change at once, not one poll later."""
        receipt = self._transact(fn, what, sender=sender, gas=gas)
        if self._watched_head is not None:
            self.refresh()
        return receipt

    # ------------------------------------------------------------------ reads

    def block_number(self) -> int:
        head = self._guard(lambda: self.w3.eth.block_number, "eth_blockNumber")
        self._last_head = head
        return head

    # ------------------------------------------------------------------ registry view
    # Acceptance needs the registry's state (keys, policy) at a block. Reading it per record costs several
    # JSON-RPC round trips; instead a watcher follows the chain head and the registry's events, and the cached
    # state stays valid until an event says otherwise. Records are accepted "as of" the watched head, which is
    # exact for that block and bound into the Merkle leaf; a change made elsewhere is seen within one poll.

    def refresh(self) -> int:
        """Move the watched head to the chain's head, dropping cached registry state if the registry changed, and
        all of it if the chain reorganised under the watched head."""
        latest = self._guard(lambda: self.w3.eth.get_block("latest"), "eth_getBlockByNumber")
        head, head_hash = int(latest["number"]), bytes(latest["hash"])
        self._last_head = head
        with self._view_lock:
            since = self._watched_head
            if since is not None and self._reorganised(since, head, head_hash):
                log.warning("the chain reorganised under block %s (now at %s): registry and identity views are "
                            "read again", since, head)
                since = None
            if since is not None and head > since:
                watched = [a for a in (self.deployment.registry, self.deployment.identities) if a]
                logs = self._guard(lambda: self.w3.eth.get_logs(
                    {"address": watched, "fromBlock": since + 1, "toBlock": head}), "eth_getLogs")
                if any(entry["address"].lower() == self.deployment.registry.lower() for entry in logs):
                    self._keys.clear()
                    self._current_threshold = None
                    self.registry_epoch += 1
                identity_logs = [entry for entry in logs
                                 if entry["address"].lower() != self.deployment.registry.lower()]
                if identity_logs:
                    self.identity_epoch += 1
                    for on_logs, _ in self._identity_followers:
                        on_logs(identity_logs)
            elif since is None:
                self._keys.clear()
                self._current_threshold = None
                self.registry_epoch += 1
                self.identity_epoch += 1
                for _, on_restart in self._identity_followers:
                    on_restart(head)
            if since is None or head >= since:  # an older head is a slower concurrent read, not news
                self._watched_head, self._watched_hash = head, head_hash
            self._watched_at = time.monotonic()
        return head

    def _reorganised(self, since: int, head: int, head_hash: bytes) -> bool:
        """Whether the block the watcher last saw at height ``since`` is no longer on the chain."""
        return not self.still_on_chain(since, self._watched_hash, head=head, head_hash=head_hash)

    def still_on_chain(self, number: int, block_hash: bytes | None, *, head: int, head_hash: bytes) -> bool:
        """Whether the chain's block at height ``number`` is still the one of ``block_hash`` (``head``, ``head_hash``:
        the head as just read). A block's hash commits to every block before it, so what was read up to it stands;
        False once a reorganisation replaced it or the chain no longer reaches it."""
        if number == head:
            return block_hash == head_hash
        try:
            block = self._guard(lambda: self.w3.eth.get_block(number), "eth_getBlockByNumber")
        except BlockNotFound:
            return False  # the chain is shorter than it was: blocks were dropped
        return bytes(block["hash"]) == block_hash

    def follow_identities(self, on_logs: Callable[[list[Any]], None], on_restart: Callable[[int], None]) -> None:
        """Have the watcher hand ``on_logs`` every identity-registry log of each block it moves over, and call
        ``on_restart(head)`` when it starts watching at ``head`` or restarts there after a reorganisation
        (everything learnt from earlier logs is then suspect; the logs up to ``head`` are the follower's to read).
        Both are called with the watcher's lock held, so they must not wait on the chain."""
        with self._view_lock:
            self._identity_followers.append((on_logs, on_restart))
            if self._watched_head is not None:
                on_restart(self._watched_head)

    def unfollow_identities(self, on_logs: Callable[[list[Any]], None]) -> None:
        """Stop handing logs to a follower ``follow_identities`` registered with ``on_logs``."""
        with self._view_lock:
            self._identity_followers = [f for f in self._identity_followers if f[0] != on_logs]

    def watch(self, interval_s: float = 0.2) -> None:
        """Follow the chain head and the registry's events in a background thread."""
        if self._watch_thread is not None:
            return
        self._watch_interval = interval_s
        try:
            self.refresh()
        except ChainUnavailable:
            pass  # the chain may be down at start-up; the loop keeps trying

        def loop() -> None:
            while not self._watch_stop.wait(interval_s):
                try:
                    self.refresh()
                except ChainUnavailable:
                    pass  # acceptance falls back to the last state seen; see head_for_acceptance

        self._watch_thread = named_thread(loop, "registry-watch")
        if isinstance(self.w3.provider, KeepAliveProvider):
            self.w3.provider.rpc.asker = self._watch_thread  # it polls anyway: a silent node is asked by it alone
        self._watch_thread.start()

    def warm(self) -> None:
        """Read the active authorities' keys, their status and the policy now, so that a burst of first requests
        does not send one identical chain read per request thread."""
        with contextlib.suppress(ChainUnavailable):
            head = self.head_for_acceptance()
            for authority in self.authorities():
                self.key_status(authority["key_id"], at_block=head)
                self.public_key(authority["key_id"])
            self.threshold_at(head)

    def stop_watching(self) -> None:
        self._watch_stop.set()
        if self._watch_thread is not None:
            self._watch_thread.join(timeout=5)
            self._watch_thread = None
        self._watch_stop = threading.Event()

    @property
    def watched_head(self) -> int | None:
        """The block the registry watcher has followed the chain to (None before it starts)."""
        return self._watched_head

    def watch_fresh(self) -> bool:
        """Whether the watcher has seen the chain recently (cached registry views are then current)."""
        return (self._watch_thread is not None and self._watched_head is not None
                and time.monotonic() - self._watched_at < 5 * self._watch_interval)

    def view_epoch(self) -> tuple[int, int] | None:
        """Which registry view the caches hold: (authority registry epoch, identity registry epoch) while the
        watcher is current, None otherwise. Anything derived from the registries alone (a caller's role) stays
        right for as long as this value does not change."""
        return (self.registry_epoch, self.identity_epoch) if self.watch_fresh() else None

    def head_for_acceptance(self) -> int:
        """The block acceptance is judged at: the watched head, else the chain's head, or during a chain outage
        the last one seen (acceptance goes on against the registry state last read; anchoring waits)."""
        if self.watch_fresh():
            assert self._watched_head is not None
            return self._watched_head
        try:
            return self.block_number()
        except ChainUnavailable:
            if self._last_head is None:
                raise
            return self._last_head

    def is_connected(self) -> bool:
        try:
            self.block_number()
            return True
        except ChainUnavailable:
            return False

    def threshold_at(self, block: int) -> int:
        """The policy k at ``block``. Read once per registry change while watched; else cached per block."""
        current = self._current_threshold
        if self.watch_fresh() and current is not None and current[0] <= block:
            return current[1]
        if block not in self._thresholds:
            try:
                value = self._guard(lambda: self.registry.functions.thresholdAt(block).call(), "thresholdAt")
            except ChainUnavailable:
                earlier = [b for b in self._thresholds if b <= block]
                if not earlier:
                    raise
                return self._thresholds[max(earlier)]
            if len(self._thresholds) >= 1024:
                self._thresholds.pop(min(self._thresholds))
            self._thresholds[block] = value
            if self.watch_fresh() and block == self._watched_head:
                self._current_threshold = (block, value)
        return self._thresholds[block]

    def key_status(self, key_id: str, *, at_block: int | None = None) -> KeyStatus:
        """The registry's view of ``key_id``. While watched, cached until a registry event; otherwise re-read
        whenever the chain has moved. During an outage the last view read is used."""
        head = self.head_for_acceptance() if at_block is None else at_block
        cached = self._keys.get(key_id)
        if cached is not None and (cached[0] >= head or (self.watch_fresh() and cached[0] <= head)):
            return cached[1]
        raw = bytes.fromhex(key_id.removeprefix("0x"))
        try:
            owner, registered, revoked = self._guard(
                lambda: self.registry.functions.keyInfo(raw).call(), "keyInfo")
        except ChainUnavailable:
            if cached is None:
                raise
            return cached[1]
        status = KeyStatus(key_id, owner, registered, revoked)
        self._keys[key_id] = (head, status)
        return status

    def public_key(self, key_id: str) -> bytes:
        """The ML-DSA public key the registry published under ``key_id`` (empty if none)."""
        if key_id not in self._public_keys:
            raw = bytes.fromhex(key_id.removeprefix("0x"))
            key = self._guard(lambda: self.registry.functions.publicKeyOf(raw).call(), "publicKeyOf")
            if not key:
                return b""
            self._public_keys[key_id] = key
        return self._public_keys[key_id]

    def authorities(self) -> list[dict[str, Any]]:
        """Every authority ever registered with its current key and whether it is active."""
        def read() -> list[dict[str, Any]]:
            out = []
            for address in self.registry.functions.members().call():
                key_hash, active = self.registry.functions.authority(address).call()
                owner, registered, revoked = self.registry.functions.keyInfo(key_hash).call()
                out.append({"address": address, "key_id": "0x" + key_hash.hex(), "active": active,
                            "registered_block": registered, "revoked_block": revoked or None})
            return out
        return self._guard(read, "authorities")

    def policy(self) -> dict[str, int]:
        def read() -> dict[str, int]:
            f = self.registry.functions
            return {"threshold": f.threshold().call(), "active": f.activeCount().call(), "quorum": f.quorum().call()}
        return self._guard(read, "policy")

    def anchor_of(self, root: bytes, *, fresh: bool = False) -> AnchorInfo | None:
        """The anchor of ``root``, or None when it is not (or no longer) anchored. A final anchor (``confirmations``
        blocks on top) never changes, so those are cached (the newest 4096); ``fresh`` reads the chain regardless."""
        cached = None if fresh else self._anchors.get(root)
        if cached is not None:
            return cached
        block, timestamp, count, submitter = self._guard(
            lambda: self.anchor.functions.anchorOf(root).call(), "anchorOf")
        if block == 0:
            self._anchors.pop(root, None)
            return None
        found = AnchorInfo("0x" + root.hex(), block, timestamp, count, submitter)
        if self.confirmations == 0 or self.block_number() - block >= self.confirmations:
            if len(self._anchors) >= 4096:
                self._anchors.pop(next(iter(self._anchors)))
            self._anchors[root] = found
        return found

    def anchored_roots(self, *, submitter: str | None = None) -> list[str]:
        """Every root anchored since deployment (by ``submitter`` if given), from the BatchAnchored events."""
        topics: list[Any] = [BATCH_ANCHORED_TOPIC, None]
        if submitter:
            topics.append("0x" + "00" * 12 + submitter.lower().removeprefix("0x"))
        logs = self._guard(lambda: self.w3.eth.get_logs({
            "address": self.deployment.anchor, "fromBlock": self.deployment.deployed_block, "toBlock": "latest",
            "topics": topics}), "eth_getLogs(BatchAnchored)")
        return ["0x" + bytes(log["topics"][1]).hex() for log in logs]

    def anchor_tx(self, root: bytes, block: int) -> str | None:
        """The hash of the transaction that anchored ``root`` in ``block`` (from its BatchAnchored event)."""
        logs = self._guard(lambda: self.w3.eth.get_logs({
            "address": self.deployment.anchor, "fromBlock": block, "toBlock": block,
            "topics": [BATCH_ANCHORED_TOPIC, "0x" + root.hex()]}), "eth_getLogs(BatchAnchored)")
        return "0x" + bytes(logs[0]["transactionHash"]).hex() if logs else None

    def model_of(self, model_id: bytes) -> ModelInfo | None:
        """The on-chain provenance of ``model_id``, or None when it was never registered."""
        if self.models is None:
            return None
        root, metrics, count, block, timestamp, by = self._guard(
            lambda: self.models.functions.modelOf(model_id).call(), "modelOf")
        if block == 0:
            return None
        return ModelInfo("0x" + model_id.hex(), "0x" + root.hex(), "0x" + metrics.hex(), count, block, timestamp, by)

    def block_time(self, block: int) -> int:
        return self._guard(lambda: self.w3.eth.get_block(block)["timestamp"], "eth_getBlockByNumber")

    # ------------------------------------------------------------------ writes

    def _transact(self, fn: Any, what: str, *, sender: str | None = None, gas: int | None = None) -> TxReceipt:
        limit = {"gas": gas} if gas else {}

        def send() -> TxReceipt:
            give_up_at = time.monotonic() + self._receipt_timeout_s
            pause = _NONCE_PAUSE_S
            while True:
                try:
                    with self._send_lock:
                        tx_hash = self._send_once(fn, what, sender, limit)
                    break
                except Web3RPCError as exc:
                    # Another process sending from this account took the nonce first. The node refused this
                    # transaction, so numbering it again is safe.
                    if not _is_nonce_taken(exc) or time.monotonic() + pause > give_up_at:
                        raise
                    time.sleep(random.uniform(0, pause))
                    pause = min(2 * pause, _NONCE_PAUSE_MAX_S)
            receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=self._receipt_timeout_s,
                                                               poll_latency=0.02)
            if receipt["status"] != 1:
                # Hardhat refuses a reverting transaction when it is sent; anvil mines it and fails it. Replaying
                # the call names the contract's error (AnchorDuplicateRoot when another anchorer came first), so
                # callers see the same ChainError whichever node they talk to.
                fn.call({"from": sender or self.sender})
                raise ChainError(f"{what}: transaction {tx_hash.hex()} reverted")
            return TxReceipt("0x" + bytes(tx_hash).hex(), receipt["blockNumber"], receipt["gasUsed"])
        return self._guard(send, what)

    def _send_once(self, fn: Any, what: str, sender: str | None, limit: dict[str, int]) -> Any:
        """Number, sign (here or on the node) and send one transaction; its hash."""
        if self._account is not None and sender is None:
            tx = fn.build_transaction({
                "from": self._account.address,
                "nonce": self.w3.eth.get_transaction_count(self._account.address, "pending"),
                "chainId": self.chain_id, **limit,
            })
            signed = self._account.sign_transaction(tx)
            try:
                return self.w3.eth.send_raw_transaction(signed.raw_transaction)
            except Web3RPCError as exc:
                if not (_is_already_known(exc) or _is_nonce_taken(exc) and self._is_known(signed.hash)):
                    raise
                # The transport sent it again after the connection dropped, and the node had the first copy
                # (pending: "already known"; mined at once: its nonce now "too low"): these very bytes went
                # through, under the hash they always had.
                return signed.hash
        try:
            return fn.transact({"from": sender or self.sender, **limit})
        except Web3RPCError as exc:
            if not _is_already_known(exc):
                raise
            # The node signs and numbers these itself: two identical calls sent at once got the same nonce,
            # and it holds the first. Which hash that has, only the node knows.
            raise ChainError(f"{what}: the node already holds this very transaction from "
                             f"{sender or self.sender} (it was sent twice at once); it is pending",
                             error_name="TransactionAlreadyKnown") from exc

    def _is_known(self, tx_hash: bytes) -> bool:
        try:
            return self.w3.eth.get_transaction(tx_hash) is not None
        except TransactionNotFound:
            return False

    def anchor_batch(self, root: bytes, record_count: int) -> TxReceipt:
        """Anchor a Merkle root; raises ChainError(error_name='AnchorDuplicateRoot') if it already is."""
        return self._transact(self.anchor.functions.anchorBatch(root, record_count), "anchorBatch")

    def register_model(self, model_id: bytes, training_root: bytes, metrics_hash: bytes, records: int) -> TxReceipt:
        if self.models is None:
            raise ChainError("this deployment has no ModelRegistry")
        return self._transact(self.models.functions.registerModel(model_id, training_root, metrics_hash, records),
                              "registerModel")

    def propose_revoke(self, target: str, *, sender: str) -> TxReceipt:
        return self.transact(self.registry.functions.proposeRevoke(target), "proposeRevoke", sender=sender)

    def propose_add(self, target: str, public_key: bytes, *, sender: str) -> TxReceipt:
        return self.transact(self.registry.functions.proposeAdd(target, public_key), "proposeAdd", sender=sender)

    def propose_rotate(self, target: str, public_key: bytes, *, sender: str) -> TxReceipt:
        return self.transact(self.registry.functions.proposeRotate(target, public_key), "proposeRotate", sender=sender)

    def propose_threshold(self, threshold: int, *, sender: str) -> TxReceipt:
        return self.transact(self.registry.functions.proposeThreshold(threshold), "proposeThreshold", sender=sender)

    def approve(self, proposal_id: int, *, sender: str) -> TxReceipt:
        return self.transact(self.registry.functions.approve(proposal_id), "approve", sender=sender)

    def proposal_count(self) -> int:
        return self._guard(lambda: self.registry.functions.proposalCount().call(), "proposalCount")


def _embedded(w3: Web3) -> bool:
    return type(w3.provider).__name__ == "EthereumTesterProvider"


def _fresh_deployer(w3: Web3) -> str:
    """A new funded account on the in-process EVM. Every embedded chain has the same chain id and accounts, so
    contracts deployed from the same account would get the same addresses, and a signature made for one embedded
    deployment (bound to chain id + registry address) would be valid on another; a random deployer makes each
    deployment's addresses, and so its identity, its own."""
    account = w3.eth.account.create()
    w3.provider.ethereum_tester.add_account(account.key.hex())  # type: ignore[attr-defined]
    tx = w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": account.address, "value": 10**20})
    w3.eth.wait_for_transaction_receipt(tx)
    return account.address


def deploy(w3: Web3, *, authorities: Sequence[str], public_keys: Sequence[bytes], threshold: int = 0,
           deployer: str | None = None, consent_verification: str = "auto") -> Deployment:
    """Deploy the registry (with ``authorities`` and their ML-DSA keys, policy k = ``threshold`` or N), the anchor,
    model, identity and consent contracts, using unlocked accounts of the node. ``consent_verification``: "chain"
    (the consent registry checks patients' ML-DSA-65 signatures itself, through MLDSA65Keys; anyone relays),
    "relayed" (authorities relay, readers check signatures off chain) or "auto": chain, except on the in-process
    py-evm chain, where one verification costs seconds of CPU."""
    deployer = deployer or (_fresh_deployer(w3) if _embedded(w3) else authorities[0])
    if consent_verification not in ("auto", "chain", "relayed"):
        raise ValueError(f"consent_verification must be auto, chain or relayed, not {consent_verification!r}")
    on_chain = consent_verification == "chain" or (consent_verification == "auto" and not _embedded(w3))

    def create(name: str, *args: Any) -> tuple[str, int]:
        artifact = load_artifact(name)
        factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
        tx_hash = factory.constructor(*args).transact({"from": deployer})
        receipt = w3.eth.wait_for_transaction_receipt(tx_hash)
        return receipt["contractAddress"], receipt["blockNumber"]

    try:
        registry, block = create("AuthorityRegistry", list(authorities), list(public_keys), threshold)
        anchor, _ = create("RecordAnchor", registry)
        models, _ = create("ModelRegistry", registry)
        identities, _ = create("IdentityRegistry", registry)
        mldsa_keys = create("MLDSA65Keys")[0] if on_chain else None
        consents, _ = create("ConsentRegistry", registry, identities, mldsa_keys or "0x" + "00" * 20)
    except ChainUnavailable as exc:
        raise ChainUnavailable(f"deploy: {exc.detail}") from exc
    return Deployment(chain_id=w3.eth.chain_id, registry=registry, anchor=anchor, deployed_block=block,
                      authorities=list(authorities), models=models, identities=identities, consents=consents,
                      mldsa_keys=mldsa_keys)
