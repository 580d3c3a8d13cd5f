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
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


class CpuShares:
    """Where a timed phase's CPU went, per record: the server's processes, the chain node's, and this process (the
    client or load generator). All three share the machine's cores, so together they set what a phase can reach."""

    def __init__(self, *, server_group: int, node_group: int | None) -> None:
        self.groups = {"server": server_group, **({"chain_node": node_group} if node_group else {})}

    def _now(self) -> dict[str, float]:
        return {**{name: group_cpu_s(group) for name, group in self.groups.items()}, "client": time.process_time()}

    def start(self) -> None:
        self._started = self._now()

    def per_record_ms(self, records: int) -> dict[str, float]:
        """CPU milliseconds a record of each share since ``start``."""
        now = self._now()
        return {name: round((now[name] - self._started[name]) * 1000 / max(records, 1), 3) for name in now}


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
