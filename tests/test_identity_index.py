"""Over JSON-RPC, the service answers "is this owner enrolled?" from the identity registry's events, not with a chain
read per group of owners: owners enrolled before it started (back-filled), while it runs (the registry watcher),
and revoked since all get the answer the chain gives. A key it has not seen is read from the chain. When a
reorganisation drops an enrolment, the service stops honouring it.

Observed through a real proxy in front of a real node: what the service sends the node is what the proxy passed on.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import requests

from bindaas.chain.access import _ENROLMENTS_OF
from bindaas.chain.client import ChainClient, connect
from bindaas.chain.enrolments import ENROLLED_TOPIC, REVOKED_TOPIC, EnrolmentIndex, back_fill
from bindaas.crypto.mldsa import PrivateKey
from bindaas.crypto.sealing import KemPrivateKey
from bindaas.demo import deploy_authorities, enroll_patients, signed_envelope
from bindaas.errors import ChainUnavailable
from tests.conftest import Deployed, Service, serving
from tests.helpers import TcpProxy, refused_submission

NODES = [pytest.param("hardhat", marks=pytest.mark.hardhat), pytest.param("anvil", marks=pytest.mark.anvil)]
SELECTOR = _ENROLMENTS_OF[2:].encode()  # as it appears in an eth_call's data


def _rpc(url: str, method: str, *params):
    answer = requests.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)},
                           timeout=10).json()
    assert "error" not in answer, answer
    return answer["result"]


def _wait_for(condition, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.fixture(params=NODES)
def node(request):
    return request.getfixturevalue(f"{request.param}_node")


@pytest.fixture
def proxied(node, settings) -> Iterator[tuple[Service, TcpProxy, Deployed]]:
    """Contracts on ``node``, and a service that reaches the node only through a proxy that records its calls."""
    chain, authorities = deploy_authorities(node.url, count=3)
    deployed = Deployed(chain, authorities)  # the tests' own client, straight to the node
    proxy = TcpProxy(node.port)
    with serving(settings, Deployed(ChainClient(connect(proxy.url), chain.deployment), authorities)) as service:
        yield service, proxy, deployed
    proxy.cut()


def _enrolment_reads(proxy: TcpProxy, key_ids: list[str]) -> int:
    """How many of the calls the proxy passed on asked the registry for any of ``key_ids``."""
    wanted = [k[2:].lower().encode() for k in key_ids]
    return sum(SELECTOR in call and any(k in call.lower() for k in wanted)
               for call in bytes(proxy.sent or b"").split(b"POST "))


def _index(service: Service) -> dict:
    return service.client.health()["identity_index"]


def test_owners_enrolled_before_the_service_started_are_checked_without_reading_the_chain(
        node, settings, framingham_bundles):
    chain, authorities = deploy_authorities(node.url, count=3)
    owners = [PrivateKey.generate() for _ in framingham_bundles]
    enroll_patients(chain, owners)  # before the service starts
    envelopes = [signed_envelope(b, chain, authorities, owner=o) for b, o in zip(framingham_bundles, owners)]
    proxy = TcpProxy(node.port)
    with serving(settings, Deployed(ChainClient(connect(proxy.url), chain.deployment), authorities)) as service:
        _wait_for(lambda: _index(service)["complete"])
        assert _index(service)["identities"] >= len(envelopes)
        proxy.sent = bytearray()
        ids = [service.client.submit(e)["id"] for e in envelopes]
        assert len(set(ids)) == len(envelopes)
        assert _enrolment_reads(proxy, [o.public_key().key_id for o in owners]) == 0  # the index answered

        stranger = PrivateKey.generate()  # never enrolled: the index has not seen it, so the chain is asked
        problem = refused_submission(service, signed_envelope(framingham_bundles[0], chain, authorities,
                                                              owner=stranger))
        assert problem["field"] == "owner.public_key" and "not enrolled" in problem["detail"]
        assert _enrolment_reads(proxy, [stranger.public_key().key_id]) == 1
    proxy.cut()


def test_an_owner_enrolled_or_revoked_while_the_service_runs_is_answered_as_the_chain_says(
        proxied, framingham_bundles):
    service, proxy, deployed = proxied
    _wait_for(lambda: _index(service)["complete"])
    owner, kem = PrivateKey.generate(), KemPrivateKey.generate()
    service.client.enroll(role="patient", public_key=owner.public_key().raw, kem_public_key=kem.public_key)
    proxy.sent = bytearray()
    first = signed_envelope(framingham_bundles[0], deployed.chain, deployed.authorities, owner=owner)
    assert service.client.submit(first)["id"]
    assert _enrolment_reads(proxy, [owner.public_key().key_id]) == 0

    service.client.revoke_identity(owner.public_key().key_id)
    second = signed_envelope(framingham_bundles[1], deployed.chain, deployed.authorities, owner=owner)
    problem = refused_submission(service, second)
    assert problem["field"] == "owner.public_key" and "was revoked" in problem["detail"]
    assert _enrolment_reads(proxy, [owner.public_key().key_id]) == 0  # the revocation came with the watcher's logs


@pytest.mark.parametrize("how", ["evm_revert", "anvil_reorg"])
def test_an_enrolment_a_reorganisation_dropped_is_no_longer_honoured(proxied, framingham_bundles, node, how):
    if how == "anvil_reorg" and "anvil" not in type(node).__name__.lower():
        pytest.skip("anvil_reorg is anvil's")
    service, proxy, deployed = proxied
    _wait_for(lambda: _index(service)["complete"])
    indexed = _index(service)["identities"]
    snapshot = _rpc(node.url, "evm_snapshot")
    owner = PrivateKey.generate()
    enroll_patients(deployed.chain, [owner])  # by another client: the service's watcher sees it within a poll
    key_id = owner.public_key().key_id
    _wait_for(lambda: _index(service)["identities"] == indexed + 1)
    assert service.services.access.enrolment(key_id) is not None

    if how == "evm_revert":
        _rpc(node.url, "evm_revert", snapshot)
        _rpc(node.url, "evm_mine")
    else:
        _rpc(node.url, "anvil_reorg", 1, [])  # the enrolment's block replaced by an empty one
    _wait_for(lambda: _index(service) == {"identities": indexed, "complete": True})
    assert service.services.access.enrolment(key_id) is None
    envelope = signed_envelope(framingham_bundles[0], deployed.chain, deployed.authorities, owner=owner)
    problem = refused_submission(service, envelope)
    assert problem["field"] == "owner.public_key" and "not enrolled" in problem["detail"]


def test_a_back_fill_read_the_node_fails_is_read_again_over_fewer_blocks(node):
    # A node that cannot answer a large span in time (two workers back-filling 9,000 enrolments at once on
    # Hardhat, in a bench run) once left a worker's index empty for its whole life. The first read fails here as
    # that one did; the back-fill reads a quarter of its blocks a moment later and still takes in every enrolment.
    chain, _ = deploy_authorities(node.url, count=3)
    owners = [PrivateKey.generate() for _ in range(40)]
    for i in range(0, len(owners), 8):  # five blocks of enrolments
        enroll_patients(chain, owners[i:i + 8])
    reads: list[tuple[int, int]] = []

    def get_logs(first: int, last: int) -> list[dict]:
        reads.append((first, last))
        if len(reads) == 1:
            raise ChainUnavailable("the node did not answer within 10 s")
        return _rpc(node.url, "eth_getLogs", {"address": chain.deployment.identities, "fromBlock": hex(first),
                                              "toBlock": hex(last), "topics": [[ENROLLED_TOPIC, REVOKED_TOPIC]]})

    index = EnrolmentIndex()
    back_fill(index, generation=index.reset(), get_logs=get_logs, first_block=chain.deployment.deployed_block,
              last_block=chain.block_number(), stop=threading.Event(), retry_on=(ChainUnavailable,), retry_s=0.01)

    assert index.complete_from == chain.deployment.deployed_block
    assert all(index.get(owner.public_key().key_id) is not None for owner in owners)
    (first_tried, top), (first_again, top_again) = reads[0], reads[1]
    assert top_again == top and first_again > first_tried  # the same newest block, fewer blocks
