"""A lean JSON-RPC client for the reads acceptance makes per record: one kept-alive HTTP/1.1 connection a thread,
orjson, no middleware. web3's provider costs about 0.6 ms of CPU a call (requests, its session and adapters); this
costs about a sixth of that."""

from __future__ import annotations

import http.client
import socket
import threading
from typing import Any
from urllib.parse import urlsplit

import orjson

from bindaas.errors import ChainError, ChainUnavailable


class KeepAliveRpc:
    """JSON-RPC over one persistent connection per thread to ``url``."""

    def __init__(self, url: str, *, timeout_s: float = 10.0) -> None:
        parts = urlsplit(url)
        self._https = parts.scheme == "https"
        self._host, self._port = parts.hostname or "127.0.0.1", parts.port
        self._path = parts.path or "/"
        self._timeout_s = timeout_s
        self._local = threading.local()

    def _connection(self) -> http.client.HTTPConnection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            kind = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            connection = kind(self._host, self._port, timeout=self._timeout_s)
            connection.connect()
            # http.client sends headers and body in two writes: without this, Nagle holds the body back.
            connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._local.connection = connection
        return connection

    def _post(self, body: bytes) -> Any:
        for attempt in (1, 2):  # a kept-alive connection the node closed is reopened once
            connection = None
            try:
                connection = self._connection()
                connection.request("POST", self._path, body, {"Content-Type": "application/json"})
                response = connection.getresponse()
                data = response.read()
                if response.status != 200:
                    raise ChainError(f"JSON-RPC answered HTTP {response.status}")
                return orjson.loads(data)
            except (OSError, http.client.HTTPException) as exc:
                if connection is not None:
                    connection.close()
                self._local.connection = None
                if attempt == 2:
                    raise ChainUnavailable(f"chain node unreachable ({type(exc).__name__})") from exc
        raise AssertionError("unreachable")

    def call(self, method: str, params: list[Any]) -> Any:
        """The result of one call; raises ChainError with the node's message on an error answer."""
        answer = self._post(orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))
        if "error" in answer:
            raise ChainError(f"{method}: {answer['error'].get('message', answer['error'])}")
        return answer["result"]
