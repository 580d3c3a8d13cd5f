"""Prometheus metrics, for operators only: a scraper sends ``Authorization: Bearer <BINDAAS_METRICS_TOKEN>``, or a
signed-in auditor or authority sends their access token. Counts only: no key ids, no record ids, no content."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request, Response
from fastapi.security import HTTPAuthorizationCredentials

from bindaas.api.auth import caller_of, require_role
from bindaas.api.deps import ServicesDep
from bindaas.errors import Unauthorized
from bindaas.observability import metrics

router = APIRouter(tags=["operations"])


@router.get("/metrics", response_class=Response, responses={200: {"content": {metrics.CONTENT_TYPE: {}},
                                                                  "description": "Prometheus text format"}})
def scrape(request: Request, services: ServicesDep) -> Response:
    """Counters, gauges and histograms of this API process, in the Prometheus text format."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("metrics need 'Authorization: Bearer <BINDAAS_METRICS_TOKEN>' or an auditor's or "
                           "authority's access token", field="Authorization")
    configured = services.settings.metrics_token
    if not (configured and token.isascii() and hmac.compare_digest(token.encode(), configured.encode())):
        caller = caller_of(services, HTTPAuthorizationCredentials(scheme=scheme, credentials=token))
        require_role(caller, "auditor", "authority", doing="read the metrics")
    return Response(metrics.exposition(), media_type=metrics.CONTENT_TYPE)
