"""Test helpers: a real Hardhat node, a TCP proxy to cut the chain's network, Synthea samples."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = Path(os.environ.get("BINDAAS_FHIR_SAMPLES", ROOT.parent / "shared" / "fhir-samples"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def synthea_bundles() -> list[dict[str, Any]]:
    """The five Synthea R4 transaction bundles, as they are."""
    found = [json.loads(p.read_text()) for p in sorted(SAMPLES.glob("*.json"))]
    if len(found) != 5:
        raise FileNotFoundError(f"expected the five Synthea bundles in {SAMPLES} (set BINDAAS_FHIR_SAMPLES)")
    return found


class HardhatNode:
    """`npx hardhat node` on a free loopback port, for the length of the test session."""

    def __init__(self) -> None:
        if shutil.which("npx") is None or not (ROOT / "node_modules" / "hardhat").exists():
            raise RuntimeError("Hardhat is not installed: run `npm ci` in the repository root")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(ROOT / ".pytest_cache" / "hardhat-node.log", "w") if (ROOT / ".pytest_cache").exists() \
            else subprocess.DEVNULL
        self.proc = subprocess.Popen(["npx", "hardhat", "node", "--hostname", "127.0.0.1", "--port", str(self.port)],
                                     cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hardhat node exited with {self.proc.returncode}")
            try:
                requests.post(self.url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
                              timeout=1).raise_for_status()
                return
            except requests.RequestException:
                time.sleep(0.25)
        self.stop()
        raise RuntimeError("hardhat node did not answer within 90 s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)


class TcpProxy:
    """Forwards a loopback port to the chain node; ``cut()`` and ``restore()`` simulate a network outage."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self.restore()

    def restore(self) -> None:
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen(64)
        self._server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()

    def cut(self) -> None:
        if self._server:
            try:
                self._server.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept(); close() alone may not
            except OSError:
                pass
            self._server.close()
            self._server = None
        for conn in self._conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()
        self._conns.clear()

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.close()
                except OSError:
                    pass
