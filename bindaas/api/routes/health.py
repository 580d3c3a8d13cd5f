"""Liveness and what the service is connected to."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.security import HTTPAuthorizationCredentials

from bindaas.api.deps import ServicesDep
from bindaas.api.auth import caller_of
from bindaas.errors import BindaasError, ChainUnavailable
from bindaas.store import repository

router = APIRouter(tags=["health"])


@router.get("/health")
def health(services: ServicesDep, request: Request) -> dict[str, Any]:
    """Liveness, open to all: whether the store and chain answer. With a valid access token (any role), also
    record counts by status, the anchorer's last error and how far this worker's identity index has got."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    try:  # read by hand, not declared as a security scheme: the route is open, the token only adds detail
        caller = caller_of(services, HTTPAuthorizationCredentials(scheme=scheme, credentials=token)) \
            if scheme.lower() == "bearer" and token else None
    except BindaasError:
        caller = None
    try:
        block: int | None = services.chain.block_number()
    except ChainUnavailable:
        block = None
    healthy = block is not None and services.anchorer.last_error is None
    answer: dict[str, Any] = {"status": "ok" if healthy else "degraded", "chain": {
        "embedded": services.chain.embedded, "chain_id": services.chain.chain_id, "block": block,
        "registry": services.chain.deployment.registry, "identities": services.chain.deployment.identities,
        "consents": services.chain.deployment.consents}}
    if caller is not None:
        with services.sessions() as session:
            answer.update(records=repository.count_by_status(session), anchorer_error=services.anchorer.last_error)
        answer["identity_index"] = services.access.index_status()  # this worker's
    return answer
