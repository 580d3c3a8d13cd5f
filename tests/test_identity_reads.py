"""Identity reads that arrive together share one chain call, and each reader still gets its own key's answer."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from bindaas.chain.coalesce import CoalescedReads
from bindaas.crypto.mldsa import PrivateKey
from bindaas.errors import ChainUnavailable


def _wait_for(condition, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_reads_arriving_while_a_call_is_in_flight_share_the_next_call():
    calls: list[list[int]] = []
    first_call_may_end = threading.Event()

    def fetch(keys: list[int]) -> dict[int, int]:
        calls.append(sorted(keys))
        if len(calls) == 1:
            first_call_may_end.wait(10)
        return {k: k * k for k in keys}

    reads = CoalescedReads(fetch)
    with ThreadPoolExecutor(max_workers=11) as pool:
        first = pool.submit(reads.read, 0)
        _wait_for(lambda: len(calls) == 1)
        rest = [pool.submit(reads.read, k) for k in range(1, 11)]
        _wait_for(lambda: reads.queued == 10)
        first_call_may_end.set()
        answers = [first.result(10)] + [f.result(10) for f in rest]
    assert answers == [k * k for k in range(11)]
    assert calls == [[0], list(range(1, 11))]


def test_a_failed_call_fails_every_read_it_carried_and_the_next_read_calls_again():
    calls: list[list[str]] = []
    failing = threading.Event()
    failing.set()
    release = threading.Event()

    def fetch(keys: list[str]) -> dict[str, str]:
        calls.append(keys)
        if len(calls) == 1:
            release.wait(10)
        if failing.is_set():
            raise ChainUnavailable("node down")
        return {k: k.upper() for k in keys}

    reads = CoalescedReads(fetch)
    with ThreadPoolExecutor(max_workers=4) as pool:
        first = pool.submit(reads.read, "a")
        _wait_for(lambda: len(calls) == 1)
        others = [pool.submit(reads.read, k) for k in "bcd"]
        _wait_for(lambda: reads.queued == 3)
        release.set()
        for future in [first, *others]:
            with pytest.raises(ChainUnavailable):
                future.result(10)
    failing.clear()
    assert reads.read("e") == "E"
    assert len(calls) == 3


def test_concurrent_reads_on_the_chain_give_what_identity_of_gives_each_key(deployed):
    """Through the real registry: enrolled, revoked and never-enrolled keys read by 12 threads at once."""
    from bindaas.chain.access import AccessChain
    from bindaas.demo import enroll_patients

    keys = [PrivateKey.generate() for _ in range(12)]
    enroll_patients(deployed.chain, keys[:8])
    access = AccessChain(deployed.chain)
    access.revoke(keys[2].public_key().key_id)
    ids = [k.public_key().key_id for k in keys]
    contract = access.identities.functions
    expected = {k: tuple(contract.identityOf(bytes.fromhex(k[2:])).call()) for k in ids}

    fresh = AccessChain(deployed.chain)
    start = threading.Barrier(len(ids))

    def read(key_id: str):
        start.wait(10)
        return fresh.enrolment(key_id)

    with ThreadPoolExecutor(max_workers=len(ids)) as pool:
        got = dict(zip(ids, pool.map(read, ids)))
    for key_id in ids:
        role, enrolled, revoked, _by, _kem = expected[key_id]
        if enrolled == 0:
            assert got[key_id] is None
        else:
            assert (got[key_id].role, got[key_id].enrolled_block, got[key_id].revoked_block) == (
                "patient", enrolled, revoked)
    assert sum(got[k] is None for k in ids) == 4 and got[ids[2]].revoked_block
