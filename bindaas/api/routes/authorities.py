"""Authorities as the on-chain registry lists them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from bindaas.api.deps import ServicesDep

router = APIRouter(prefix="/authorities", tags=["authorities"])


@router.get("")
def list_authorities(services: ServicesDep) -> dict[str, Any]:
    """Registered authorities, their ML-DSA key ids, and the endorsement policy k-of-N."""
    chain = services.chain
    return {"chain_id": chain.chain_id, "registry": chain.deployment.registry, "anchor": chain.deployment.anchor,
            "policy": chain.policy(), "authorities": chain.authorities()}
