"""An index of the identity registry built from its events, so that checking a record's owner costs no chain call.

Acceptance asks, for every record, whether its owner was an enrolled identity at the block the record is judged
at. Asking the node (`enrolmentsOf`) costs it about 1 ms of CPU a call on Hardhat, one call per group of new owners;
with 32 connections in flight those reads were most of what separated single-record ingest from its floor. The
registry says everything acceptance needs in its events: an ``Enrolled`` log carries the key id and role as topics
and its block is the enrolment block; a ``Revoked`` log's block is the revocation block. The registry watcher
already fetches every new identity-registry log each poll; this index keeps what they say, and a back-fill reads
the logs from the deployment up to where the watcher started.

The index answers only for keys it has seen enrolled. A key it has not seen (not enrolled, or enrolled in a block
the back-fill has not reached yet) is read from the chain as before, so an incomplete index is slower, never wrong.
A reorganisation clears it (the watcher tells) and the back-fill starts again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from eth_utils import keccak

ENROLLED_TOPIC = "0x" + keccak(text="Enrolled(bytes32,uint8,address,bytes,bytes)").hex()
REVOKED_TOPIC = "0x" + keccak(text="Revoked(bytes32,address)").hex()
# Blocks a back-fill request spans at first. Each Enrolled log carries 3.1 KB of public keys (6.3 KB as JSON hex),
# and a block can hold 64 of them, so the span halves while answers are large and doubles while they are small.
# Sixteen blocks are at most ~1,000 logs (7 MB); 256 were one 64 MB answer on the bench's chain (9,000 enrolments
# in 141 blocks): 4.7 s from an idle Hardhat, 6.3 s with two asking at once, near the client's 10 s timeout.
_FIRST_SPAN = 16
_MOST_LOGS = 1_000  # above this many logs an answer, the next span halves (about 6 MB of JSON)
_FEW_LOGS = 100  # below this many, it doubles

log = logging.getLogger(__name__)

Fields = tuple[int, int, int]  # (role, enrolledBlock, revokedBlock), as `enrolmentsOf` packs them


def _hex(value: Any) -> str:
    """A topic or block hash as lower-case 0x hex, from JSON-RPC text or web3's bytes."""
    return "0x" + bytes(value).hex() if isinstance(value, (bytes, bytearray)) else str(value).lower()


def _number(value: Any) -> int:
    return value if isinstance(value, int) else int(value, 16)


class EnrolmentIndex:
    """Key id -> (role, enrolled block, revoked block), from the identity registry's Enrolled and Revoked logs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._enrolled: dict[str, tuple[int, int]] = {}  # key id -> (role, enrolled block)
        self._revoked: dict[str, int] = {}  # key id -> revoked block; a Revoked log may be seen before its Enrolled
        self._generation = 0
        self.complete_from: int | None = None  # the lowest block from which every log has been applied

    def get(self, key_id: str) -> Fields | None:
        """What the registry holds about ``key_id`` (a lower-case 0x key id), or None when no Enrolled log of it has
        been seen (ask the chain then)."""
        enrolled = self._enrolled.get(key_id)
        if enrolled is None:
            return None
        return enrolled[0], enrolled[1], self._revoked.get(key_id, 0)

    @property
    def generation(self) -> int:
        return self._generation

    def __len__(self) -> int:
        return len(self._enrolled)

    def reset(self) -> int:
        """Forget everything (a reorganisation may have dropped any of it); returns the new generation, which
        ``apply`` calls from an earlier one are then ignored by."""
        with self._lock:
            self._generation += 1
            self._enrolled, self._revoked, self.complete_from = {}, {}, None
            return self._generation

    def apply(self, logs: Iterable[Mapping[str, Any]], *, generation: int | None = None) -> None:
        """Take in identity-registry logs (JSON-RPC's or web3's form), unless they were read for an earlier
        ``generation``. Order does not matter: an enrolment happens once and a revocation is final."""
        with self._lock:
            if generation is not None and generation != self._generation:
                return
            for entry in logs:
                topics = [_hex(t) for t in entry["topics"]]
                if not topics or entry.get("removed"):
                    continue
                if topics[0] == ENROLLED_TOPIC and len(topics) >= 3:
                    self._enrolled[topics[1]] = (int(topics[2], 16), _number(entry["blockNumber"]))
                elif topics[0] == REVOKED_TOPIC and len(topics) >= 2:
                    self._revoked[topics[1]] = _number(entry["blockNumber"])

    def mark_complete_from(self, block: int, *, generation: int) -> None:
        with self._lock:
            if generation == self._generation:
                self.complete_from = block


def back_fill(index: EnrolmentIndex, *, generation: int, get_logs: Callable[[int, int], list[Mapping[str, Any]]],
              first_block: int, last_block: int, stop: threading.Event,
              retry_on: tuple[type[Exception], ...] = (), retry_s: float = 1.0) -> None:
    """Apply the identity registry's logs of blocks ``last_block`` down to ``first_block`` to ``index``, newest
    first (recent enrolments are the ones new records name), in spans sized by how many logs the last one held.
    ``get_logs(from, to)`` reads one span. A read that fails with one of ``retry_on`` is made again ``retry_s``
    later over a quarter of the span: a node too busy to answer a large span in time (or down a while) must not
    leave the index incomplete for the life of the process. Stops early when ``stop`` is set or the index is
    reset."""
    span, to = _FIRST_SPAN, last_block
    while to >= first_block and not stop.is_set():
        start = max(first_block, to - span + 1)
        try:
            logs = get_logs(start, to)
        except retry_on as exc:
            log.warning("identity index: reading blocks %d-%d failed (%s); reading a quarter of them in %.1f s",
                        start, to, exc, retry_s)
            span = max(1, span // 4)
            stop.wait(retry_s)
            if index.generation != generation:
                return
            continue
        index.apply(logs, generation=generation)
        if index.generation != generation:
            return  # reset meanwhile: a newer back-fill has the job
        index.mark_complete_from(start, generation=generation)
        span = max(1, span // 2) if len(logs) > _MOST_LOGS else span * 2 if len(logs) < _FEW_LOGS else span
        to = start - 1
    log.info("identity index: %d enrolled keys from block %d to %d", len(index), first_block, last_block)
