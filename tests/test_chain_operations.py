"""Real chain behaviour and operations. A consortium chain can drop recent blocks. With BINDAAS_CONFIRMATIONS set, a batch is final only once that many
blocks stand on its anchor; until then the anchorer watches it, and when a reorganisation drops the anchor it
sends it again: nothing is lost, nothing is anchored twice, and the records end final and valid. Forced on a
Hardhat node (evm_snapshot / evm_revert) and on anvil (evm_revert, and anvil_reorg). A transaction the node already
holds (sent twice after a dropped connection) is waited for, not taken for a failure; transactions sent at once
from one account, by threads or processes, each get a nonce of their own."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from web3.exceptions import Web3RPCError

from bindaas.api.app import create_app
from bindaas.api.server import running_server
from bindaas.api.services import build_services
from bindaas.chain.client import BATCH_ANCHORED_TOPIC, ChainClient, connect
from bindaas.chain.hardhat import HardhatNode
from bindaas.client import BindaasClient
from bindaas.demo import deploy_authorities, signed_envelopes

CONFIRMATIONS = 3


def _rpc(url: str, method: str, *params):
    answer = requests.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)},
                           timeout=10).json()
    assert "error" not in answer, answer
    return answer["result"]


def _mine(url: str, blocks: int) -> None:
    for _ in range(blocks):
        _rpc(url, "evm_mine")


@pytest.mark.parametrize("node_name,how", [pytest.param("hardhat", "revert", marks=pytest.mark.hardhat),
                                           pytest.param("anvil", "revert", marks=pytest.mark.anvil),
                                           pytest.param("anvil", "anvil_reorg", marks=pytest.mark.anvil)])
def test_a_dropped_anchor_is_sent_again_and_the_records_end_final_and_valid(request, settings, framingham_bundles,
                                                                             node_name, how, caplog):
    url = request.getfixturevalue(f"{node_name}_node").url
    settings = settings.model_copy(update={"confirmations": CONFIRMATIONS})
    chain, authorities = deploy_authorities(url)
    services = build_services(settings, chain)
    envelopes = signed_envelopes(framingham_bundles[:3], chain, authorities)
    with running_server(create_app(settings, services=services, run_anchorer=False)) as api, \
            BindaasClient(api, key=authorities[0].key) as client:
        ids = [client.submit(e)["id"] for e in envelopes]
        snapshot = _rpc(url, "evm_snapshot")
        services.anchorer.run_once(force=True)
        first = client.status(ids[0])["anchor"]
        assert client.status(ids[0])["status"] == "anchored" and first["final"] is False
        assert client.verify(ids[0])["verdict"] == "not-final"

        if how == "revert":
            _rpc(url, "evm_revert", snapshot)
        else:
            _rpc(url, "anvil_reorg", 1, [])  # the anchor's block replaced by an empty one
        assert chain.anchor_of(bytes.fromhex(first["root"][2:]), fresh=True) is None

        with caplog.at_level("WARNING", logger="bindaas.ledger.anchorer"):
            services.anchorer.run_once()  # sees the anchor gone, and sends it again
        assert "dropped by a reorganisation; sending it again" in caplog.text
        # (The same sender, nonce and calldata can make the very same transaction hash again: that is fine.)
        assert chain.anchor_of(bytes.fromhex(first["root"][2:]), fresh=True) is not None
        assert client.status(ids[0])["anchor"]["root"] == first["root"]
        assert {client.status(rid)["status"] for rid in ids} == {"anchored"}

        _mine(url, CONFIRMATIONS)
        services.anchorer.run_once()
        assert all(client.status(rid)["anchor"]["final"] for rid in ids)
        assert all(client.verify(rid)["verdict"] == "valid" for rid in ids)
        logs = _rpc(url, "eth_getLogs", {"address": chain.deployment.anchor, "fromBlock": "0x0", "toBlock": "latest",
                                         "topics": [BATCH_ANCHORED_TOPIC, first["root"]]})
        assert len(logs) == 1  # anchored once on the chain as it now stands
    services.engine.dispose()


# The first funded account of Hardhat's and anvil's default mnemonic ("test test ... junk"): known to everyone.
FIRST_DEV_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"


@pytest.mark.parametrize("node_name", [pytest.param("hardhat", marks=pytest.mark.hardhat),
                                       pytest.param("anvil", marks=pytest.mark.anvil)])
@pytest.mark.parametrize("first_copy", ["pending", "mined"])
def test_an_anchor_the_node_already_holds_is_waited_for_not_refused(request, node_name, first_copy, monkeypatch):
    """An anchorer signing with its own key (BINDAAS_ANCHOR_PRIVATE_KEY) whose transport sent the transaction twice
    (the connection dropped after the node took the first copy) gets the node's "already known" answer for the
    second, or "nonce too low" when the first was mined at once: the transaction went through all the same, once,
    and the anchor stands."""
    url = request.getfixturevalue(f"{node_name}_node").url
    deployed, authorities = deploy_authorities(url)
    chain = ChainClient(deployed.w3, deployed.deployment, private_key=FIRST_DEV_KEY)
    assert chain.sender == authorities[0].address
    send, refusals = chain.w3.eth.send_raw_transaction, []

    def sent_twice(raw: bytes):
        if first_copy == "pending":
            _rpc(url, "evm_setAutomine", False)  # so that the pool still holds the first copy when the second comes
        try:
            send(raw)
            try:
                return send(raw)
            except Web3RPCError as exc:
                refusals.append(str(exc))
                raise
        finally:
            if first_copy == "pending":
                _rpc(url, "evm_setAutomine", True)
                _mine(url, 1)

    monkeypatch.setattr(chain.w3.eth, "send_raw_transaction", sent_twice)
    root = bytes(range(32))
    receipt = chain.anchor_batch(root, 7)
    assert len(refusals) == 1
    anchor = chain.anchor_of(root, fresh=True)
    assert (anchor.record_count, anchor.block_number) == (7, receipt.block_number)
    assert chain.anchor_tx(root, anchor.block_number) == receipt.tx_hash


def test_metrics_are_prometheus_text_for_operators_only_and_requests_carry_an_id(service, framingham_bundles):
    import httpx

    envelope = signed_envelopes(framingham_bundles[:1], service.chain, service.authorities)[0]
    service.client.wait_anchored([service.client.submit(envelope)["id"]], timeout_s=30)
    assert httpx.get(f"{service.url}/metrics").status_code == 401
    clinician = service.enroll("clinician")
    assert clinician.client.http.get("/metrics").status_code == 403
    auditor = service.enroll("auditor")
    scrape = auditor.client.http.get("/metrics")
    assert scrape.status_code == 200 and scrape.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = scrape.text
    for name in ("bindaas_records_accepted_total", "bindaas_anchor_batches_total", "bindaas_anchor_gas_total",
                 "bindaas_submit_to_anchored_seconds_bucket", "bindaas_submit_to_final_seconds_count",
                 "bindaas_anchor_queue_depth", "bindaas_signin_failures_total", "bindaas_chain_outage_seconds_total"):
        assert name in text, name
    given = httpx.get(f"{service.url}/health", headers={"x-request-id": "trace-42"})
    assert given.headers["x-request-id"] == "trace-42"
    made = {httpx.get(f"{service.url}/health").headers["x-request-id"] for _ in range(3)}
    assert len(made) == 3 and all(len(made_id) == 32 and int(made_id, 16) >= 0 for made_id in made)


def test_each_request_is_one_json_log_line_carrying_its_request_id(service):
    import io
    import json
    import logging

    import httpx

    from bindaas.observability.logs import JsonLines

    sink = io.StringIO()
    handler = logging.StreamHandler(sink)
    handler.setFormatter(JsonLines())
    access = logging.getLogger("bindaas.access")
    access.addHandler(handler)
    access.setLevel(logging.INFO)
    try:
        httpx.get(f"{service.url}/records/0x{'ab' * 32}", headers={"x-request-id": "follow-me"})
    finally:
        access.removeHandler(handler)
    [line] = [json.loads(text) for text in sink.getvalue().splitlines()]
    assert (line["request_id"], line["status"], line["method"]) == ("follow-me", 401, "GET")
    assert line["path"].startswith("/records/") and line["ms"] >= 0


@pytest.mark.parametrize("node_name", [pytest.param("hardhat", marks=pytest.mark.hardhat),
                                       pytest.param("anvil", marks=pytest.mark.anvil)])
@pytest.mark.parametrize("signer", ["node", "own key"])
def test_transactions_sent_at_once_from_one_account_all_go_through(request, node_name, signer):
    """Threads of one process and several processes (here: two clients, each with its own connection) send from
    one account at once, the node numbering the transactions (eth_sendTransaction) or each client signing its own
    (BINDAAS_ANCHOR_PRIVATE_KEY). None is refused for a nonce another took: every one lands, once."""
    url = request.getfixturevalue(f"{node_name}_node").url
    deployed, _ = deploy_authorities(url)
    key = FIRST_DEV_KEY if signer == "own key" else None
    clients = [ChainClient(connect(url), deployed.deployment, private_key=key) for _ in range(2)]
    assert {c.sender for c in clients} == {deployed.sender}
    roots = {bytes([thread + 1, n + 1]) * 16: thread * 10 + n + 1 for thread in range(16) for n in range(4)}
    with ThreadPoolExecutor(max_workers=16) as pool:
        receipts = list(pool.map(lambda item: clients[item[1] % 2].anchor_batch(*item), roots.items()))
    assert len({r.tx_hash for r in receipts}) == len(roots)
    for root, count in roots.items():
        assert deployed.anchor_of(root, fresh=True).record_count == count


@pytest.mark.parametrize("node_name", [pytest.param("hardhat", marks=pytest.mark.hardhat),
                                       pytest.param("anvil", marks=pytest.mark.anvil)])
def test_a_sender_that_keeps_losing_the_nonce_race_still_lands_its_transaction(request, node_name):
    """Another process sending from the same account takes the nonce this client read, twelve times in a row (a
    busy sender can win every nonce until its backlog drains): the node refuses each, and the client numbers its
    transaction again until it lands, once."""
    url = request.getfixturevalue(f"{node_name}_node").url
    deployed, _ = deploy_authorities(url)
    loser, rival = (ChainClient(connect(url), deployed.deployment, private_key=FIRST_DEV_KEY) for _ in range(2))
    rival_roots = [bytes([0xEE, n]) * 16 for n in range(12)]
    sign = loser._account.sign_transaction
    taken: list = []

    def sign_after_the_rival_sent(tx):  # between this client's read of the nonce and its send
        if len(taken) < len(rival_roots):
            taken.append(rival.anchor_batch(rival_roots[len(taken)], 1))
        return sign(tx)

    loser._account.sign_transaction = sign_after_the_rival_sent
    mine = loser.anchor_batch(b"\xAB" * 32, 7)
    assert len(taken) == 12 and len({r.tx_hash for r in taken} | {mine.tx_hash}) == 13
    assert deployed.anchor_of(b"\xAB" * 32, fresh=True).record_count == 7
    assert all(deployed.anchor_of(root, fresh=True).record_count == 1 for root in rival_roots)


@pytest.mark.hardhat
def test_a_hardhat_node_whose_log_nobody_keeps_is_told_to_stop_logging_and_still_serves():
    """The bench's and the scripts' Hardhat node writes no per-request log (as anvil runs --silent): Hardhat takes
    the request, and the node goes on answering."""
    node = HardhatNode()  # no log named: told to stop logging once it answers (raises if Hardhat refuses)
    try:
        assert node.rpc("hardhat_setLoggingEnabled", False) is True
        assert int(node.rpc("eth_blockNumber"), 16) >= 0
    finally:
        node.stop()
