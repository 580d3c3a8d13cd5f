"""The objects an app lives with (its lifespan state): settings, chain client, store and anchorer."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from bindaas.access.audit import AuditLog
from bindaas.access.ratelimit import SignInLimits
from bindaas.access.signin import KnownCallers
from bindaas.access.secrets import service_kem_key, token_secret
from bindaas.access.tokens import TokenIssuer
from bindaas.chain.access import AccessChain
from bindaas.chain.client import ChainClient, connect, deploy
from bindaas.chain.deployment import Deployment
from bindaas.config import Settings
from bindaas.crypto.mldsa import PrivateKey
from bindaas.crypto.sealing import KemPrivateKey
from bindaas.ledger.anchorer import Anchorer
from bindaas.ledger.intake import GroupedIntake
from bindaas.store.database import make_engine, make_sessionmaker
from bindaas.store.group_commit import RecordWriter

if TYPE_CHECKING:
    from bindaas.ml.serving import ModelCache

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    chain: ChainClient
    engine: Engine
    sessions: sessionmaker[Session]
    anchorer: Anchorer
    models: "ModelCache"
    access: AccessChain
    service_key: KemPrivateKey
    tokens: TokenIssuer
    audit: AuditLog
    writer: RecordWriter
    signin_limits: SignInLimits
    intake: GroupedIntake  # single submissions, checked a group at a time and stored through ``writer``
    callers: KnownCallers  # who a token's key is, while the registries stay as they were


def bootstrap_embedded_chain(settings: Settings, *, authorities: int = 3) -> ChainClient:
    """Start an in-process EVM and deploy the contracts with ``authorities`` authorities whose ML-DSA keys are
    kept in ``data_dir/keys`` (made on first use). The chain lives as long as this process."""
    w3 = connect(None)
    accounts = w3.eth.accounts[:authorities]
    keys = []
    for i, address in enumerate(accounts):
        path = settings.data_dir / "keys" / f"authority-{i}.json"
        key = PrivateKey.load(path) if path.exists() else PrivateKey.generate()
        key.save(path, address=address)
        keys.append(key.public_key().raw)
    deployment = deploy(w3, authorities=accounts, public_keys=keys)
    deployment.save(settings.resolved_deployment_file())
    log.info("embedded chain: registry %s, anchor %s", deployment.registry, deployment.anchor)
    return ChainClient(w3, deployment, receipt_timeout_s=settings.receipt_timeout_s)


def chain_from_settings(settings: Settings) -> ChainClient:
    """A client for the deployment named by the settings (JSON-RPC), or a fresh embedded chain."""
    if settings.rpc_url is None:
        return bootstrap_embedded_chain(settings)
    deployment = Deployment.load(settings.resolved_deployment_file())
    return ChainClient(connect(settings.rpc_url, send_timeout_s=settings.receipt_timeout_s), deployment,
                       sender=settings.anchor_account,
                       private_key=settings.anchor_private_key, receipt_timeout_s=settings.receipt_timeout_s)


def build_services(settings: Settings, chain: ChainClient | None = None) -> Services:
    chain = chain or chain_from_settings(settings)
    chain.confirmations = settings.confirmations
    engine = make_engine(settings.resolved_database_url())
    sessions = make_sessionmaker(engine)
    anchorer = Anchorer(chain=chain, sessions=sessions, settings=settings)
    from bindaas.ml.serving import ModelCache  # torch-free import, but keeps ml optional for the ledger

    audience = settings.audience or f"urn:bindaas:{chain.chain_id}:{chain.deployment.registry.lower()}"
    tokens = TokenIssuer(token_secret(settings), audience=audience, ttl_s=settings.token_ttl_s)
    limits = SignInLimits(challenges_per_key=settings.challenges_per_min_per_key,
                          challenges_per_address=settings.challenges_per_min_per_address,
                          failures_per_key=settings.signin_failures_per_min_per_key,
                          failures_per_address=settings.signin_failures_per_min_per_address,
                          failures_total=settings.signin_failures_per_min)
    access, service_key, writer = AccessChain(chain), service_kem_key(settings), RecordWriter(sessions)
    intake = GroupedIntake(chain=chain, access=access, settings=settings, service_public_key=service_key.public_key,
                           writer=writer)
    return Services(settings, chain, engine, sessions, anchorer, ModelCache(), access, service_key, tokens,
                    AuditLog(sessions, anchorer.notify), writer, limits, intake, KnownCallers(chain, access))
