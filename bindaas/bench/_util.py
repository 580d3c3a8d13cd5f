"""Helpers the benchmarks share."""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import httpx
import numpy as np

from bindaas.chain.hardhat import ROOT, free_port


def scratch_dir(prefix: str = "bindaas-bench-") -> Path:
    """A new temporary folder, removed when the benchmark's process exits: a 100,000-record import leaves 5 GB
    (database and NDJSON file), and a few runs filled the disk."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def group_pids(group: int) -> list[int]:
    """The live processes of process group ``group``."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.getpgid(int(entry)) == group:
                    pids.append(int(entry))
            except ProcessLookupError:
                continue
    return pids


def group_cpu_s(group: int) -> float:
    """User + system CPU seconds used so far by the live processes of process group ``group``."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in group_pids(group):
        try:
            total += _cpu_s(Path(f"/proc/{pid}/stat").read_text(), tick)
        except OSError:
            continue
    return total


def _cpu_s(stat: str, tick: int) -> float:
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / tick  # utime, stime


def thread_kind(pid: int, tid: int, comm: str, process_comm: str) -> str:
    """What a server thread does, from its operating-system name: a process's first thread runs its event loop
    (uvicorn's), threads named with ``bindaas.threads.named_thread`` are ours (intake, record-writer, anchorer,
    registry-watch, wal-checkpoint, accept), and the rest, named as the process is, are the request threads a
    route's blocking work runs on (checking and storing the import's and bulk requests' records)."""
    if tid == pid:
        return "event_loop"
    return "request_threads" if comm == process_comm else comm


def group_thread_cpu_s(group: int) -> dict[tuple[int, int], tuple[str, float]]:
    """(process id, thread id) -> (``thread_kind``, user + system CPU seconds so far) for every live thread of
    process group ``group``."""
    tick = os.sysconf("SC_CLK_TCK")
    threads: dict[tuple[int, int], tuple[str, float]] = {}
    for pid in group_pids(group):
        try:
            process_comm = Path(f"/proc/{pid}/comm").read_text().strip()
            tids = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
        except OSError:
            continue
        for tid in tids:
            try:
                comm = Path(f"/proc/{pid}/task/{tid}/comm").read_text().strip()
                cpu = _cpu_s(Path(f"/proc/{pid}/task/{tid}/stat").read_text(), tick)
            except OSError:
                continue
            threads[(pid, tid)] = (thread_kind(pid, tid, comm, process_comm), cpu)
    return threads


class CpuShares:
    """Where a timed phase's CPU went, per record: the server's processes, the chain node's, and this process (the
    client or load generator). All three share the machine's cores, so together they set what a phase can reach."""

    def __init__(self, *, server_group: int, node_group: int | None) -> None:
        self.groups = {"server": server_group, **({"chain_node": node_group} if node_group else {})}

    def _now(self) -> dict[str, float]:
        return {**{name: group_cpu_s(group) for name, group in self.groups.items()}, "client": time.process_time()}

    def start(self) -> None:
        self._started = self._now()
        self._server_threads = group_thread_cpu_s(self.groups["server"])

    def per_record_ms(self, records: int) -> dict[str, float]:
        """CPU milliseconds a record of each share since ``start``."""
        now = self._now()
        return {name: round((now[name] - self._started[name]) * 1000 / max(records, 1), 3) for name in now}

    def server_threads_ms(self, records: int) -> dict[str, float]:
        """The server's CPU milliseconds a record since ``start``, by ``thread_kind``: which part of the server
        the CPU above the floor goes to. Read before the server stops (its threads' CPU goes with them)."""
        group = self.groups["server"]
        now, total = group_thread_cpu_s(group), group_cpu_s(group)
        spent: dict[str, float] = {}
        for thread, (kind, cpu) in now.items():
            spent[kind] = spent.get(kind, 0.0) + cpu - self._server_threads.get(thread, (kind, 0.0))[1]
        # Threads that ended since (anyio retires idle request threads) leave their CPU in their process's total.
        spent["ended_threads"] = total - self._started["server"] - sum(spent.values())
        per_record = {kind: round(s * 1000 / max(records, 1), 3) for kind, s in spent.items()}
        return {kind: ms for kind, ms in sorted(per_record.items(), key=lambda item: -item[1]) if ms > 0}


# The packages whose speed the ingest and verification figures depend on. A fresh install takes the newest release
# of each; a run that differs from an earlier one can then be told apart from one on other packages.
TIMED_PACKAGES = ("cryptography", "orjson", "pydantic", "pydantic-core", "jsonschema-rs", "SQLAlchemy", "uvicorn",
                  "uvloop", "httptools", "starlette", "fastapi", "web3", "pybase64")


def machine() -> dict[str, object]:
    """What a run ran on: cores, Python, the OpenSSL that signs and verifies, and ``TIMED_PACKAGES``' versions."""
    from importlib import metadata

    from cryptography.hazmat.backends.openssl import backend

    versions = {}
    for name in TIMED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {"cpus": os.cpu_count(), "python": sys.version.split()[0], "openssl": backend.openssl_version_text(),
            "packages": versions}


def pct(values: list[float], q: float) -> float:
    """The ``q``-th percentile of ``values``, in their unit, rounded to 3 decimals (NaN when there are none)."""
    return round(float(np.percentile(values, q)), 3) if values else float("nan")


@contextmanager
def served(data_dir: Path, node_url: str, *, workers: int, **settings: str) -> Iterator[tuple[str, int]]:
    """``bindaas serve --workers N`` as a process group of its own on ``data_dir`` and the chain at ``node_url``
    (extra ``BINDAAS_*`` settings by keyword), until the block exits; yields its URL and process group."""
    env = {**os.environ, "BINDAAS_DATA_DIR": str(data_dir), "BINDAAS_RPC_URL": node_url,
           "BINDAAS_FHIR_VALIDATION": "schema", "BINDAAS_BATCH_SIZE": "1000",
           **{f"BINDAAS_{k.upper()}": v for k, v in settings.items()}}
    port = free_port()
    log_path = data_dir / "serve.log"
    with log_path.open("ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "bindaas.cli", "serve", "--port", str(port), "--workers",
                                 str(workers), "--log-level", "warning"], env=env, cwd=ROOT,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = log_path.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"`bindaas serve` did not start (exit status {proc.poll()}); its log ends:\n{tail}")
        yield url, proc.pid
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=60)
