"""The chain node becomes unreachable: the API keeps accepting, anchoring resumes by itself, nothing is lost."""

from __future__ import annotations

import time

import pytest

from bindaas.api.app import create_app
from bindaas.api.server import running_server
from bindaas.api.services import build_services
from bindaas.chain.client import ChainClient, connect
from bindaas.client import BindaasClient
from bindaas.crypto.mldsa import PrivateKey
from bindaas.demo import deploy_authorities, enroll_patients, signed_envelope
from tests.helpers import TcpProxy


@pytest.mark.hardhat
def test_records_wait_for_the_chain_and_are_anchored_when_it_returns(hardhat_node, settings, framingham_bundles):
    # The three records sent during the outage should share one batch even on a loaded CI machine.
    settings = settings.model_copy(update={"batch_max_delay_s": 1.0})
    direct, authorities = deploy_authorities(hardhat_node.url)
    proxy = TcpProxy(hardhat_node.port)
    chain = ChainClient(connect(proxy.url, timeout_s=2), direct.deployment)
    services = build_services(settings, chain)
    try:
        with running_server(create_app(settings, services=services)) as url, \
                BindaasClient(url, key=authorities[0].key) as client:
            # One patient's records: the service has seen her enrolment before the outage and keeps accepting
            # her records from the identity state it last read (an owner it never saw would get a 503).
            patient = PrivateKey.generate()
            enroll_patients(direct, [patient])
            envelopes = [signed_envelope(b, chain, authorities, owner=patient) for b in framingham_bundles[:4]]
            first = client.submit(envelopes[0])["id"]
            client.wait_anchored([first], timeout_s=30)

            proxy.cut()
            during = [client.submit(envelope)["id"] for envelope in envelopes[1:]]
            time.sleep(settings.batch_max_delay_s + 1.0)
            assert {client.status(rid)["status"] for rid in during} == {"accepted"}
            health = client.health()
            assert health["status"] == "degraded"
            assert health["records"] == {"anchored": 1, "accepted": 3}

            proxy.restore()
            client.wait_anchored(during, timeout_s=30)
            assert all(client.verify(rid)["verdict"] == "valid" for rid in [first, *during])
            roots = [client.status(rid)["anchor"]["root"] for rid in during]
            assert len(set(roots)) == 1  # one batch, anchored once
    finally:
        proxy.cut()
        services.engine.dispose()
