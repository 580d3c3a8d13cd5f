"""The chain node becomes unreachable: the API keeps accepting, anchoring resumes by itself, nothing is lost."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

import pytest

from bindaas.api.app import create_app
from bindaas.api.server import running_server
from bindaas.api.services import build_services
from bindaas.chain.client import ChainClient, connect
from bindaas.client import BindaasClient
from bindaas.crypto.mldsa import PrivateKey
from bindaas.demo import deploy_authorities, enroll_patients, signed_envelope
from tests.helpers import TcpProxy


@dataclass
class _Behind:
    """A service whose chain node is reached through ``proxy``, and one patient's envelopes, the first of them
    already accepted (``first``) and anchored: the service has seen her enrolment before any outage."""

    proxy: TcpProxy
    url: str
    client: BindaasClient
    envelopes: list
    first: str


@contextmanager
def _service_behind_a_proxy(hardhat_node, settings, bundles, *, rpc_timeout_s: float) -> Iterator[_Behind]:
    direct, authorities = deploy_authorities(hardhat_node.url)
    proxy = TcpProxy(hardhat_node.port)
    chain = ChainClient(connect(proxy.url, timeout_s=rpc_timeout_s), direct.deployment)
    services = build_services(settings, chain)
    try:
        with running_server(create_app(settings, services=services)) as url, \
                BindaasClient(url, key=authorities[0].key) as client:
            patient = PrivateKey.generate()
            enroll_patients(direct, [patient])
            envelopes = [signed_envelope(b, chain, authorities, owner=patient) for b in bundles]
            first = client.submit(envelopes[0])["id"]
            client.wait_anchored([first], timeout_s=30)
            yield _Behind(proxy, url, client, envelopes, first)
    finally:
        proxy.cut()
        services.engine.dispose()


@pytest.mark.hardhat
def test_records_wait_for_the_chain_and_are_anchored_when_it_returns(hardhat_node, settings, framingham_bundles):
    # The three records sent during the outage should share one batch even on a loaded CI machine.
    settings = settings.model_copy(update={"batch_max_delay_s": 1.0})
    # One patient's records: the service has seen her enrolment before the outage and keeps accepting her records
    # from the identity state it last read (an owner it never saw would get a 503).
    with _service_behind_a_proxy(hardhat_node, settings, framingham_bundles[:4], rpc_timeout_s=2) as behind:
        client = behind.client
        behind.proxy.cut()
        during = [client.submit(envelope)["id"] for envelope in behind.envelopes[1:]]
        time.sleep(settings.batch_max_delay_s + 1.0)
        assert {client.status(rid)["status"] for rid in during} == {"accepted"}
        health = client.health()
        assert health["status"] == "degraded"
        assert health["records"] == {"anchored": 1, "accepted": 3}

        behind.proxy.restore()
        client.wait_anchored(during, timeout_s=30)
        assert all(client.verify(rid)["verdict"] == "valid" for rid in [behind.first, *during])
        roots = [client.status(rid)["anchor"]["root"] for rid in during]
        assert len(set(roots)) == 1  # one batch, anchored once


@pytest.mark.hardhat
def test_a_node_that_stops_answering_does_not_hold_up_acceptance(hardhat_node, settings, framingham_bundles):
    """Calls to a node behind a network that drops every packet time out (here after 1 s). Only the first waits:
    the rest fail at once until the node answers the registry watcher again. So submissions sent together are all
    accepted from the state last read, each well within its client's 5 s, instead of each waiting out timeouts one
    after another on the intake thread, and they are anchored once the node answers."""
    with _service_behind_a_proxy(hardhat_node, settings, framingham_bundles[:9], rpc_timeout_s=1) as behind:
        client = behind.client
        behind.proxy.silent = True
        time.sleep(1.5)  # the watcher's poll times out: the node has gone silent

        def submit(envelope):
            with BindaasClient(behind.url, timeout_s=5) as impatient:
                impatient.http.headers["authorization"] = f"Bearer {client.token}"
                return impatient.submit(envelope)["id"]

        with ThreadPoolExecutor(8) as pool:
            during = list(pool.map(submit, behind.envelopes[1:]))
        assert len(set(during)) == 8

        behind.proxy.silent = False
        client.wait_anchored(during, timeout_s=60)
        assert all(client.verify(rid)["verdict"] == "valid" for rid in [behind.first, *during])
