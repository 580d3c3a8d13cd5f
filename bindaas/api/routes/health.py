"""Liveness and what the service is connected to."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from bindaas.api.deps import ServicesDep
from bindaas.errors import ChainUnavailable
from bindaas.store import repository

router = APIRouter(tags=["health"])


@router.get("/health")
def health(services: ServicesDep) -> dict[str, Any]:
    """Store and chain reachability, record counts by status, and the anchorer's last error."""
    with services.sessions() as session:
        counts = repository.count_by_status(session)
    try:
        block: int | None = services.chain.block_number()
    except ChainUnavailable:
        block = None
    healthy = block is not None and services.anchorer.last_error is None
    return {"status": "ok" if healthy else "degraded", "chain": {
        "embedded": services.chain.embedded, "chain_id": services.chain.chain_id, "block": block,
        "registry": services.chain.deployment.registry, "identities": services.chain.deployment.identities,
        "consents": services.chain.deployment.consents}, "records": counts,
        "anchorer_error": services.anchorer.last_error}
