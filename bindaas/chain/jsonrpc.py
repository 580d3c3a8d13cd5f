"""A lean JSON-RPC transport: one kept-alive HTTP/1.1 connection a thread, orjson, no middleware. It carries the
reads acceptance makes per record (``KeepAliveRpc.call``) and, under web3, every other call (``KeepAliveProvider``):
web3's own provider costs about 0.8 ms of CPU a call (requests, its session and adapters, urllib3's pool); this
costs a fifth of that."""

from __future__ import annotations

import http.client
import socket
import threading
from typing import Any
from urllib.parse import urlsplit

import orjson
from web3 import HTTPProvider
from web3.types import RPCEndpoint

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
        # A node that let a call time out (hung, or cut off by a network that drops packets) would make every
        # caller wait out the timeout in turn: the intake thread, checking a group of submissions, once per
        # record. Until it answers again, only one call at a time asks it (the ``asker``'s, when one is named and
        # alive: the registry watcher's); every other call fails at once, and its caller falls back on the state
        # it read last.
        self._silent = False
        self._asking = threading.Lock()
        self.asker: threading.Thread | None = None

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

    def post(self, body: bytes, *, timeout_s: float | None = None) -> bytes:
        """The node's answer to one JSON-RPC POST of ``body``, as bytes, waited for up to ``timeout_s`` (default: the
        transport's). A kept-alive connection the node has closed in the meantime is reopened and the request sent
        once more; no other failure is retried, so a transaction the node may have received is not sent twice.
        While the node is silent (see ``__init__``), a call that may not ask it fails at once."""
        if not self._silent:
            return self._post(body, timeout_s)
        asker = self.asker
        named = asker is not None and asker.is_alive()
        if (named and threading.current_thread() is not asker) or not self._asking.acquire(blocking=False):
            raise ChainUnavailable(f"chain node unreachable (it let a call time out after {self._timeout_s:g} s and "
                                   f"has not answered since)")
        try:
            return self._post(body, timeout_s)
        finally:
            self._asking.release()

    def _post(self, body: bytes, timeout_s: float | None) -> bytes:
        for attempt in (1, 2):
            reused = getattr(self._local, "connection", None) is not None
            connection = None
            try:
                connection = self._connection()
                wait_s = timeout_s or self._timeout_s
                if connection.sock.gettimeout() != wait_s:  # two system calls a change: made only when it changes
                    connection.sock.settimeout(wait_s)
                connection.request("POST", self._path, body, {"Content-Type": "application/json"})
                response = connection.getresponse()
                data = response.read()
            except (OSError, http.client.HTTPException) as exc:
                if connection is not None:
                    connection.close()
                self._local.connection = None
                if isinstance(exc, TimeoutError):
                    self._silent = True
                elif reused and attempt == 1:
                    continue
                raise ChainUnavailable(f"chain node unreachable ({type(exc).__name__})") from exc
            self._silent = False
            if response.status != 200:
                raise ChainError(f"JSON-RPC answered HTTP {response.status}")
            return data
        raise AssertionError("unreachable")

    def call(self, method: str, params: list[Any]) -> Any:
        """The result of one call; raises ChainError with the node's message on an error answer."""
        answer = orjson.loads(self.post(orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})))
        if "error" in answer:
            raise ChainError(f"{method}: {answer['error'].get('message', answer['error'])}")
        return answer["result"]


class KeepAliveProvider(HTTPProvider):
    """web3's HTTP provider (its encoding, decoding and response caching) over ``KeepAliveRpc``'s connections
    instead of a requests session. Failures surface as ``ChainUnavailable`` (node unreachable) and ``ChainError``
    (an answer other than HTTP 200)."""

    def __init__(self, endpoint_uri: str, *, timeout_s: float = 10.0, send_timeout_s: float = 60.0,
                 **kwargs: Any) -> None:
        super().__init__(endpoint_uri, **kwargs)
        self.rpc = KeepAliveRpc(endpoint_uri, timeout_s=timeout_s)
        self.send_timeout_s = max(send_timeout_s, timeout_s)

    def _make_request(self, method: RPCEndpoint, request_data: bytes) -> bytes:
        return self.rpc.post(request_data, timeout_s=self.send_timeout_s if method in EXECUTING else None)


# Calls a development node answers only once it has run the transaction: an automining node (Hardhat, anvil) mines
# it before answering a send, and an estimate runs it several times. On Hardhat, a consent checked on chain that
# reverts (a forged signature) took 6-8.5 s, as the node builds the failure's Solidity stack trace: no sign of a
# node gone silent. A production node answers a send once the transaction is in its pool.
EXECUTING = frozenset({RPCEndpoint("eth_sendTransaction"), RPCEndpoint("eth_sendRawTransaction"),
                       RPCEndpoint("eth_estimateGas")})
