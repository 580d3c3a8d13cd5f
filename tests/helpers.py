"""Test helpers: a real Hardhat node, a TCP proxy to cut the chain's network, Synthea samples."""

from __future__ import annotations

import json
import os
import socket
import threading
from pathlib import Path
from typing import Any

from bindaas.chain.hardhat import ROOT, AnvilNode, HardhatNode, free_port  # noqa: F401  (re-exported for tests)

SAMPLES = Path(os.environ.get("BINDAAS_FHIR_SAMPLES", ROOT.parent / "shared" / "fhir-samples"))


def synthea_bundles() -> list[dict[str, Any]]:
    """The five Synthea R4 transaction bundles, as they are."""
    found = [json.loads(p.read_text()) for p in sorted(SAMPLES.glob("*.json"))]
    if len(found) != 5:
        raise FileNotFoundError(f"expected the five Synthea bundles in {SAMPLES} (set BINDAAS_FHIR_SAMPLES)")
    return found


class TcpProxy:
    """Forwards a loopback port to the chain node; ``cut()`` and ``restore()`` simulate a network outage (connections
    refused), setting ``silent`` a network that drops every packet (calls time out)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self.silent = False
        self.sent: bytearray | None = None  # set to a bytearray, it collects what clients send the node
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
            for a, b, outgoing in ((client, upstream, True), (upstream, client, False)):
                threading.Thread(target=self._pipe, args=(a, b, outgoing), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, outgoing: bool) -> None:
        try:
            while data := src.recv(65536):
                if outgoing and self.sent is not None:
                    self.sent += data
                if not self.silent:
                    dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.close()
                except OSError:
                    pass


def rewrite_payload(services: Any, record_id: str, edit: Any) -> None:
    """Play an insider holding the service's key: decrypt a stored payload, apply ``edit`` (str -> str) and store
    it re-encrypted under the same data key, so only the digest check can notice."""
    from bindaas.crypto.sealing import seal, unseal
    from bindaas.ledger.payload import data_key_of
    from bindaas.store import repository

    with services.sessions() as session:
        row = repository.get_record(session, record_id=record_id)
        data_key = data_key_of(row, services.service_key)
        text = unseal(bytes(row.payload), data_key, record_id=record_id).decode()
        repository.update_record(session, record_id=record_id,
                                 values={"payload": seal(edit(text).encode(), data_key, record_id=record_id)})
        session.commit()


def refused_submission(service: Any, envelope: Any) -> dict[str, Any]:
    """Submit ``envelope``, which must be refused with a 422; returns the problem body."""
    import pytest

    from bindaas.client import ApiError

    with pytest.raises(ApiError) as refused:
        service.client.submit(envelope)
    assert refused.value.status == 422
    return refused.value.problem
