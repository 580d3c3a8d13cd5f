"""`bindaas serve --workers 2`: both workers take connections (each listens on its own SO_REUSEPORT socket), and a
worker that dies is replaced while the other keeps answering."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from bindaas.api.workers import reuse_port_supported
from bindaas.bench._util import served
from bindaas.demo import deploy_authorities

pytestmark = [pytest.mark.hardhat,
              pytest.mark.skipif(not reuse_port_supported(), reason="SO_REUSEPORT balancing is Linux's")]


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


def _sockets_on(pid: int, port: int, *, state: str) -> int:
    """Sockets on local ``port`` in TCP ``state`` ("01" established, "0A" listening) that the process ``pid``
    holds (from /proc: its socket inodes, the TCP tables)."""
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
            if int(fields[1].split(":")[1], 16) == port and fields[3] == state and fields[9] in inodes:
                count += 1
    return count


def _established_on(pid: int, port: int) -> int:
    return _sockets_on(pid, port, state="01")


def _workers(pid: int, port: int) -> set[int]:
    """The serving processes: the supervisor's children listening on ``port``."""
    return {child for child in _children(pid) if _sockets_on(child, port, state="0A")}


@pytest.fixture
def two_workers(hardhat_node, tmp_path):
    chain, _ = deploy_authorities(hardhat_node.url)
    chain.deployment.save(tmp_path / "deployment.json")
    with served(tmp_path, hardhat_node.url, workers=2) as (url, pid):
        port = int(url.rsplit(":", 1)[1])
        deadline = time.monotonic() + 60
        while len(_workers(pid, port)) < 2:  # one answering is not both listening
            assert time.monotonic() < deadline, "two workers did not start"
            time.sleep(0.1)
        yield url, pid, port


def test_connections_are_spread_over_both_workers(two_workers):
    url, pid, port = two_workers
    clients = [httpx.Client(base_url=url, timeout=10) for _ in range(24)]
    try:
        for client in clients:  # 24 connections opened together, kept alive: as a load generator opens them
            assert client.get("/health").status_code == 200
        counts = [_established_on(worker, port) for worker in _children(pid)]
        assert sum(counts) == 24
        assert sorted(counts)[-2] >= 4, f"connections per process: {counts}"  # both workers hold several
    finally:
        for client in clients:
            client.close()


def test_a_killed_worker_is_replaced_and_the_other_keeps_answering(two_workers):
    url, pid, port = two_workers
    survivor, victim = sorted(_workers(pid, port))
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while victim in _children(pid):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert httpx.get(f"{url}/health", timeout=10).status_code == 200  # the survivor answers meanwhile
    while len(_workers(pid, port) - {survivor}) < 1:
        assert time.monotonic() < deadline, "the killed worker was not replaced"
        time.sleep(0.2)
    (replacement,) = _workers(pid, port) - {survivor}
    for _ in range(300):  # new connections reach the replacement too
        with httpx.Client(base_url=url, timeout=10) as client:
            assert client.get("/health").status_code == 200
            if _established_on(replacement, port):
                return
    pytest.fail("no connection reached the replacement worker")
