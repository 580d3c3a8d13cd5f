"""Local chain nodes on a free loopback port, for tests, benchmarks and fault scripts (both from `npm ci`): Hardhat
(EDR) and anvil (revm)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


ANVIL = ROOT / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"


class HardhatNode:
    """`npx hardhat node` (EDR) on a free loopback port, for the length of the test session."""

    name = "hardhat"

    def __init__(self, *, log: Path | None = None) -> None:
        """Start the node; its output goes to ``log`` when one is named, else nowhere (and it is told to stop
        logging: see ``quiet``)."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        if log is not None:
            log.parent.mkdir(parents=True, exist_ok=True)
        self.log = open(log, "w") if log is not None else subprocess.DEVNULL
        self.proc = subprocess.Popen(self.command(), cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True, env=self.environment())
        self._wait_until_answering()
        if self.log is subprocess.DEVNULL:
            self.quiet()

    def quiet(self) -> None:
        """Stop the node's per-request log, which nobody keeps here (anvil starts ``--silent``). Hardhat decodes
        every call and transaction it logs: an ``eth_call`` of ``enrolmentsOf`` cost it 0.65 ms of CPU with its
        log on and 0.40 ms with it off, and an ``eth_blockNumber`` 0.70 and 0.45 ms."""
        self.rpc("hardhat_setLoggingEnabled", False)

    def rpc(self, method: str, *params: object) -> object:
        """One JSON-RPC request to the node; its result."""
        import requests

        answer = requests.post(self.url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)},
                               timeout=10).json()
        if "error" in answer:
            raise RuntimeError(f"{self.name} node refused {method}: {answer['error']}")
        return answer["result"]

    def command(self) -> list[str]:
        if shutil.which("npx") is None or not (ROOT / "node_modules" / "hardhat").exists():
            raise RuntimeError("Hardhat is not installed: run `npm ci` in the repository root")
        return ["npx", "hardhat", "node", "--hostname", "127.0.0.1", "--port", str(self.port)]

    def environment(self) -> dict[str, str] | None:
        """The node's environment (None: this process's)."""
        return None

    def _wait_until_answering(self) -> None:
        import requests  # here, not at the top: the CLI reads NODES at every start and needs no HTTP client for it

        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} node exited with {self.proc.returncode}")
            try:
                requests.post(self.url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
                              timeout=1).raise_for_status()
                return
            except requests.RequestException:
                time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"{self.name} node did not answer within 90 s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
        if not isinstance(self.log, int):  # a log file, not DEVNULL
            self.log.close()


class AnvilNode(HardhatNode):
    """Foundry's anvil (revm), from the npm package @foundry-rs/anvil-linux-amd64: a third EVM, so we know we depend
    on Ethereum JSON-RPC and not on one node's quirks. Same chain id and funded, unlocked accounts as Hardhat's."""

    name = "anvil"

    def command(self) -> list[str]:
        if not ANVIL.exists():
            raise RuntimeError("anvil is not installed: run `npm ci` in the repository root")
        return [str(ANVIL), "--host", "127.0.0.1", "--port", str(self.port), "--chain-id", "31337", "--silent",
                "--gas-limit", "60000000"]

    def quiet(self) -> None:
        """Started ``--silent`` already."""

    def environment(self) -> dict[str, str]:
        # anvil writes old states under $HOME/.foundry/anvil/tmp and leaves them when stopped: ~6 GB a test
        # session, 73 GB on this machine before it filled the disk. A home of its own goes with the node.
        self._home = tempfile.mkdtemp(prefix="bindaas-anvil-home-")
        return {**os.environ, "HOME": self._home}

    def stop(self) -> None:
        super().stop()
        shutil.rmtree(self._home, ignore_errors=True)


# The local nodes by name, for `bindaas bench --node`.
NODES: dict[str, type[HardhatNode]] = {"hardhat": HardhatNode, "anvil": AnvilNode}
