"""`bindaas serve --workers 2`: connections opened together are shared evenly between the workers (the supervisor
hands them out in turn), and a worker that dies is replaced while the other keeps answering."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from bindaas.api.workers import connection_handover_supported, worker_cores
from bindaas.bench._util import served
from bindaas.demo import deploy_authorities

pytestmark = [pytest.mark.hardhat,
              pytest.mark.skipif(not connection_handover_supported(),
                                 reason="handing connections to workers is Linux's")]


def _children(parent: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == parent and fields[0] != "Z":
                out.append(int(entry.name))
    return out


def _established_on(pid: int, port: int) -> int:
    """Established connections to local ``port`` that the process ``pid`` holds (from /proc: its socket inodes,
    the TCP tables)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].split(":")[1], 16) == port and fields[3] == "01" and fields[9] in inodes:
                count += 1
    return count


def _workers(pid: int) -> set[int]:
    """The API worker processes: the supervisor's children that multiprocessing spawned (not its resource tracker)."""
    out = set()
    for child in _children(pid):
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        if b"spawn_main" in cmdline:
            out.add(child)
    return out


def _serving_worker(url: str, pid: int, port: int) -> int | None:
    """The worker that a new connection reaches (None if it was not seen holding it)."""
    with httpx.Client(base_url=url, timeout=10) as client:
        assert client.get("/health").status_code == 200
        return next((w for w in _workers(pid) if _established_on(w, port)), None)


@pytest.fixture
def two_workers(hardhat_node, tmp_path):
    chain, _ = deploy_authorities(hardhat_node.url)
    chain.deployment.save(tmp_path / "deployment.json")
    with served(tmp_path, hardhat_node.url, workers=2) as (url, pid):
        port = int(url.rsplit(":", 1)[1])
        deadline = time.monotonic() + 60
        while len({_serving_worker(url, pid, port) for _ in range(4)} - {None}) < 2:  # one answering: not both up
            assert time.monotonic() < deadline, "two workers did not start"
            time.sleep(0.1)
        yield url, pid, port


def test_connections_are_shared_evenly_by_the_workers(two_workers):
    url, pid, port = two_workers
    clients = [httpx.Client(base_url=url, timeout=10) for _ in range(24)]
    try:
        for client in clients:  # 24 connections opened one after another, kept alive: as a load generator opens them
            assert client.get("/health").status_code == 200
        counts = [_established_on(worker, port) for worker in _workers(pid)]
        assert counts == [12, 12], f"connections per worker: {counts}"
    finally:
        for client in clients:
            client.close()


def test_a_killed_worker_is_replaced_and_the_other_keeps_answering(two_workers):
    url, pid, port = two_workers
    survivor, victim = sorted(_workers(pid))
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 60
    # Until the supervisor reaps it: the victim's main thread turns zombie while its other threads may still be
    # exiting and hold its end of the channel open, and a connection handed over then dies with them (CI saw
    # one reset so).
    while Path(f"/proc/{victim}").exists():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert httpx.get(f"{url}/health", timeout=10).status_code == 200  # the survivor answers meanwhile
    while len(_workers(pid) - {survivor}) < 1:
        assert time.monotonic() < deadline, "the killed worker was not replaced"
        time.sleep(0.2)
    (replacement,) = _workers(pid) - {survivor}
    for _ in range(300):  # new connections reach the replacement too
        with httpx.Client(base_url=url, timeout=10) as client:
            assert client.get("/health").status_code == 200
            if _established_on(replacement, port):
                return
    pytest.fail("no connection reached the replacement worker")


CORES = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set()  # what this process may run on


@pytest.mark.skipif(len(CORES) < 2, reason="a core for each of two workers")
def test_each_worker_runs_on_a_core_of_its_own(two_workers):
    _, pid, _ = two_workers
    placed = [os.sched_getaffinity(worker) for worker in sorted(_workers(pid))]
    assert all(len(cores) == 1 for cores in placed), f"cores per worker: {placed}"
    assert placed[0] != placed[1] and placed[0] | placed[1] <= CORES


@pytest.mark.skipif(len(CORES) < 2, reason="a core for each of two workers")
def test_workers_left_to_the_scheduler_when_pinning_is_off(hardhat_node, tmp_path):
    chain, _ = deploy_authorities(hardhat_node.url)
    chain.deployment.save(tmp_path / "deployment.json")
    with served(tmp_path, hardhat_node.url, workers=2, pin_workers="false") as (_, pid):
        deadline = time.monotonic() + 60
        while len(_workers(pid)) < 2:
            assert time.monotonic() < deadline, "two workers did not start"
            time.sleep(0.1)
        assert [os.sched_getaffinity(worker) for worker in sorted(_workers(pid))] == [CORES] * 2


def test_pinning_needs_a_core_for_every_worker():
    available = sorted(CORES)
    assert worker_cores(len(available) + 1, pin=True) == [None] * (len(available) + 1)
    assert worker_cores(1, pin=True) == [None]  # one worker: the scheduler may use every core for its threads
    assert worker_cores(2, pin=False) == [None, None]
    if len(available) >= 2:
        assert worker_cores(2, pin=True) == available[:2]
