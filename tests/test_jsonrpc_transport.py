"""web3 over the kept-alive JSON-RPC transport: answers come back, a connection the node closed is reopened, a node
that is down or too slow is reported as unavailable, a request the node may have received is not sent twice, and a
node that went silent is asked again by one caller, not waited on by all."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

import pytest

from bindaas.chain.client import ChainClient, connect
from bindaas.chain.deployment import Deployment
from bindaas.errors import ChainUnavailable


class _Node(BaseHTTPRequestHandler):
    """Answers eth_blockNumber with 0x2a; closes the connection after each answer when the server says so, and
    waits before answering when asked to."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.methods.append(request["method"])  # type: ignore[attr-defined]
        time.sleep(self.server.delay_s)  # type: ignore[attr-defined]
        body = json.dumps({"jsonrpc": "2.0", "id": request["id"], "result": "0x2a"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        if self.server.close_after_answer:  # type: ignore[attr-defined]
            self.close_connection = True

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def node() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Node)
    server.methods, server.delay_s, server.close_after_answer = [], 0.0, False  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _url(server: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


def test_calls_share_one_kept_alive_connection(node):
    w3 = connect(_url(node))
    assert [w3.eth.block_number for _ in range(3)] == [42, 42, 42]
    assert node.methods == ["eth_blockNumber"] * 3


def test_a_connection_the_node_closed_is_reopened_and_the_call_answered(node):
    node.close_after_answer = True
    w3 = connect(_url(node))
    assert w3.eth.block_number == 42
    time.sleep(0.1)  # the node has closed the connection kept for the next call
    assert w3.eth.block_number == 42
    assert node.methods == ["eth_blockNumber"] * 2  # the stale connection carried no request the node read


def test_a_node_that_is_down_is_reported_unavailable_naming_the_call():
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    nobody = "0x" + "00" * 20
    chain = ChainClient(connect(f"http://127.0.0.1:{port}"),
                        Deployment(chain_id=1, registry=nobody, anchor=nobody, deployed_block=0, authorities=[nobody]))
    with pytest.raises(ChainUnavailable, match=r"^eth_blockNumber: chain node unreachable \(ConnectionRefusedError\)"):
        chain.block_number()


def test_a_call_that_times_out_is_not_sent_again(node):
    w3 = connect(_url(node), timeout_s=0.2)
    assert w3.eth.block_number == 42
    node.delay_s = 0.5
    with pytest.raises(ChainUnavailable, match="TimeoutError"):
        w3.eth.block_number
    time.sleep(0.5)
    assert node.methods == ["eth_blockNumber"] * 2


def test_a_node_that_let_a_call_time_out_is_asked_again_only_by_the_named_asker(node):
    """Until a silent node answers again, other callers are refused at once (no request reaches the node) rather
    than each waiting out the timeout; once the asker's call is answered, everyone's calls go through again."""
    w3 = connect(_url(node), timeout_s=0.2)
    node.delay_s = 0.5
    with pytest.raises(ChainUnavailable, match="TimeoutError"):
        w3.eth.block_number
    time.sleep(0.5)  # the node finishes with the call it was given
    go, answers = threading.Event(), []
    asker = threading.Thread(target=lambda: (go.wait(10), answers.append(w3.eth.block_number)))
    asker.start()
    w3.provider.rpc.asker = asker

    started = time.perf_counter()
    with pytest.raises(ChainUnavailable, match="has not answered since"):
        w3.eth.block_number
    assert time.perf_counter() - started < 0.1
    assert node.methods == ["eth_blockNumber"]

    node.delay_s = 0.0
    go.set()
    asker.join(10)
    assert answers == [42]
    assert w3.eth.block_number == 42
    assert node.methods == ["eth_blockNumber"] * 3


def test_without_a_named_asker_the_next_caller_asks_a_silent_node_again(node):
    w3 = connect(_url(node), timeout_s=0.2)
    node.delay_s = 0.5
    with pytest.raises(ChainUnavailable, match="TimeoutError"):
        w3.eth.block_number
    node.delay_s = 0.0
    assert w3.eth.block_number == 42


def test_a_transaction_is_given_the_longer_wait_a_mining_node_needs_before_it_answers_the_send(node):
    """A node that mines as it is sent answers a send once it has run the transaction (Hardhat took 6-8.5 s for a
    consent checked on chain that reverts): sends and estimates wait up to the send timeout, and only other calls
    find the node unreachable after the shorter one."""
    w3 = connect(_url(node), timeout_s=0.2, send_timeout_s=2)
    node.delay_s = 0.5
    assert w3.provider.make_request("eth_sendRawTransaction", ["0x00"])["result"] == "0x2a"
    assert w3.provider.make_request("eth_estimateGas", [{}])["result"] == "0x2a"
    with pytest.raises(ChainUnavailable, match="TimeoutError"):
        w3.eth.block_number
