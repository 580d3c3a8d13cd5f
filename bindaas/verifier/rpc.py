"""A thin, read-only Ethereum JSON-RPC reader: the handful of calls docs/spec.md names, decoded by hand.

Every getter it calls returns static ABI types, so each answer is a row of 32-byte words; nothing else of web3 is
needed, and nothing here can send a transaction.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import requests
from eth_utils import keccak

BATCH_ANCHORED_TOPIC = "0x" + keccak(text="BatchAnchored(bytes32,address,uint256,uint32)").hex()


class RpcError(Exception):
    """The node answered with an error, or not at all."""


def _selector(signature: str) -> str:
    return "0x" + keccak(text=signature)[:4].hex()


def _words(data: str, count: int) -> list[int]:
    raw = bytes.fromhex(data.removeprefix("0x"))
    if len(raw) < 32 * count:
        raise RpcError(f"eth_call returned {len(raw)} bytes, expected {32 * count}")
    return [int.from_bytes(raw[32 * i:32 * i + 32], "big") for i in range(count)]


@dataclass(frozen=True)
class IdentityState:
    role: int  # 0 none, 1 patient, 2 clinician, 3 auditor, 4 authority
    enrolled_block: int
    revoked_block: int


@dataclass(frozen=True)
class AuthorityKeyState:
    owner: str
    registered_block: int
    revoked_block: int


@dataclass(frozen=True)
class AnchorState:
    block_number: int
    timestamp: int
    record_count: int
    submitter: str


class JsonRpcReader:
    """Reads the BinDaaS contracts through one JSON-RPC endpoint."""

    def __init__(self, url: str, *, timeout_s: float = 10.0) -> None:
        self.url = url
        self._http = requests.Session()
        self._http.trust_env = False
        self._timeout_s = timeout_s
        self._ids = itertools.count(1)

    def request(self, method: str, params: list[Any]) -> Any:
        try:
            answer = self._http.post(self.url, json={"jsonrpc": "2.0", "id": next(self._ids), "method": method,
                                                     "params": params}, timeout=self._timeout_s).json()
        except (requests.RequestException, ValueError) as exc:
            raise RpcError(f"{method}: no answer from {self.url} ({type(exc).__name__})") from exc
        if "error" in answer:
            raise RpcError(f"{method}: {answer['error'].get('message', answer['error'])}")
        return answer["result"]

    def _call(self, to: str, signature: str, *args: bytes | int) -> str:
        data = _selector(signature) + "".join(
            (a if isinstance(a, bytes) else a.to_bytes(32, "big")).rjust(32, b"\0").hex() for a in args)
        return self.request("eth_call", [{"to": to, "data": data}, "latest"])

    def chain_id(self) -> int:
        return int(self.request("eth_chainId", []), 16)

    def block_number(self) -> int:
        return int(self.request("eth_blockNumber", []), 16)

    def identity(self, registry: str, key_id: bytes) -> IdentityState:
        """IdentityRegistry.identityOf(bytes32) → (uint8 role, uint64 enrolledBlock, uint64 revokedBlock, ...)."""
        role, enrolled, revoked = _words(self._call(registry, "identityOf(bytes32)", key_id), 5)[:3]
        return IdentityState(role, enrolled, revoked)

    def authority_key(self, registry: str, key_id: bytes) -> AuthorityKeyState:
        """AuthorityRegistry.keyInfo(bytes32) → (address owner, uint64 registeredAt, uint64 revokedAt)."""
        owner, registered, revoked = _words(self._call(registry, "keyInfo(bytes32)", key_id), 3)
        return AuthorityKeyState("0x" + owner.to_bytes(20, "big").hex(), registered, revoked)

    def threshold_at(self, registry: str, block: int) -> int:
        """AuthorityRegistry.thresholdAt(uint256) → uint256."""
        return _words(self._call(registry, "thresholdAt(uint256)", block), 1)[0]

    def anchor(self, record_anchor: str, root: bytes) -> AnchorState:
        """RecordAnchor.anchorOf(bytes32) → (uint64 blockNumber, uint64 timestamp, uint32 recordCount, address)."""
        block, timestamp, count, submitter = _words(self._call(record_anchor, "anchorOf(bytes32)", root), 4)
        return AnchorState(block, timestamp, count, "0x" + submitter.to_bytes(20, "big").hex())

    def transaction_receipt(self, tx_hash: str) -> dict[str, Any] | None:
        return self.request("eth_getTransactionReceipt", [tx_hash])
