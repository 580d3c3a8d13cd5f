"""Fixtures: every chain-facing test runs on the embedded EVM and on a real Hardhat node."""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bindaas.api.app import create_app
from bindaas.api.server import running_server
from bindaas.api.services import Services, build_services
from bindaas.chain.client import ChainClient
from bindaas.client import BindaasClient
from bindaas.config import Settings
from bindaas.crypto.mldsa import PrivateKey
from bindaas.crypto.sealing import KemPrivateKey
from bindaas.demo import Authority, deploy_authorities
from bindaas.fhir.datasets import dataset_bundles
from tests.helpers import AnvilNode, HardhatNode

CHAINS = ["embedded", pytest.param("hardhat", marks=pytest.mark.hardhat),
          pytest.param("anvil", marks=pytest.mark.anvil)]


# The session's nodes write their logs here, for whoever looks into a failure.
NODE_LOGS = Path(__file__).resolve().parent.parent / ".pytest_cache"


@pytest.fixture(scope="session")
def hardhat_node() -> Iterator[HardhatNode]:
    node = HardhatNode(log=NODE_LOGS / "hardhat-node.log")
    yield node
    node.stop()


@pytest.fixture(scope="session")
def anvil_node() -> Iterator[AnvilNode]:
    node = AnvilNode(log=NODE_LOGS / "anvil-node.log")
    yield node
    node.stop()


@pytest.fixture(params=CHAINS)
def chain_url(request: pytest.FixtureRequest) -> str | None:
    """None for the in-process EVM (py-evm), else the JSON-RPC URL of the session's Hardhat (EDR) or anvil (revm)
    node: every chain-facing test runs on all three EVMs."""
    return node_url(request)


def node_url(request: pytest.FixtureRequest) -> str | None:
    """The JSON-RPC URL of the session's node for the chain ``request`` is parametrized with; None when embedded."""
    return None if request.param == "embedded" else request.getfixturevalue(f"{request.param}_node").url


@dataclass
class Deployed:
    chain: ChainClient
    authorities: list[Authority]


@pytest.fixture
def deployed(chain_url: str | None) -> Deployed:
    """Fresh contracts with N = 3 authorities and policy k = 3."""
    chain, authorities = deploy_authorities(chain_url, count=3)
    return Deployed(chain, authorities)


@dataclass
class Person:
    """An enrolled identity with its keys and a client signed in as it."""

    key: PrivateKey
    kem: KemPrivateKey
    client: BindaasClient

    @property
    def key_id(self) -> str:
        return self.key.public_key().key_id


@dataclass
class Service:
    url: str
    client: BindaasClient  # signed in as the first authority
    services: Services
    chain: ChainClient
    authorities: list[Authority]
    _clients: list[BindaasClient]

    def login(self, key: PrivateKey, kem: KemPrivateKey | None = None) -> BindaasClient:
        client = BindaasClient(self.url, key=key, kem_key=kem)
        self._clients.append(client)
        return client

    def enroll(self, role: str, key: PrivateKey | None = None) -> Person:
        """Enrol a fresh (or the given) key with ``role`` through the API, as the first authority."""
        key = key or PrivateKey.generate()
        kem = KemPrivateKey.generate()
        self.client.enroll(role=role, public_key=key.public_key().raw, kem_public_key=kem.public_key)
        client = self.login(key, kem)
        client.sign_in()
        return Person(key, kem, client)


@contextmanager
def fresh_database() -> Iterator[str | None]:
    """None (SQLite in the test's folder), or a fresh database on the PostgreSQL server named by
    BINDAAS_TEST_DATABASE_URL (scripts/test.sh starts one), dropped afterwards."""
    server = os.environ.get("BINDAAS_TEST_DATABASE_URL")
    if not server:
        yield None
        return
    name = f"bindaas_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(server).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def database_url() -> Iterator[str | None]:
    with fresh_database() as url:
        yield url


def quick_settings(data_dir: Path, database_url: str | None) -> Settings:
    """Settings that anchor within a fifth of a second, so tests wait little."""
    return Settings(data_dir=data_dir, database_url=database_url, batch_max_delay_s=0.2, anchor_retry_s=0.2)


@pytest.fixture
def settings(tmp_path: Path, database_url: str | None) -> Settings:
    return quick_settings(tmp_path, database_url)


@contextmanager
def serving(settings: Settings, deployed: Deployed) -> Iterator[Service]:
    """The API on a real loopback socket, with its anchorer, over the deployed chain."""
    services = build_services(settings, deployed.chain)
    with running_server(create_app(settings, services=services)) as url, \
            BindaasClient(url, key=deployed.authorities[0].key) as client:
        client.sign_in()
        service = Service(url, client, services, deployed.chain, deployed.authorities, [])
        yield service
        for other in service._clients:
            other.close()
    services.engine.dispose()


@pytest.fixture
def service(deployed: Deployed, settings: Settings) -> Iterator[Service]:
    """A service of the test's own, on a fresh store and fresh contracts."""
    with serving(settings, deployed) as service:
        yield service


@pytest.fixture(scope="module", params=CHAINS)
def module_service(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """One service per chain for all of a module's tests, for a module whose every test needs the same costly
    state (a store of anchored records, a trained model) and changes nothing another test reads."""
    with fresh_database() as database_url:
        settings = quick_settings(tmp_path_factory.mktemp("service"), database_url)
        with serving(settings, Deployed(*deploy_authorities(node_url(request), count=3))) as service:
            yield service


@pytest.fixture(scope="session")
def framingham_bundles() -> list[dict]:
    return list(dataset_bundles("framingham", limit=12))
