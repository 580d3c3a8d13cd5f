"""App factory: wires the routers, the problem handlers and the lifespan objects."""

from __future__ import annotations

import gc
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

from fastapi import Depends, FastAPI
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from bindaas import __version__
from bindaas.api import limits, problems
from bindaas.api.auth import authenticated
from bindaas.api.routes import (audit, authorities, bulk, cds, consents, fhir, health, identities, imaging, imports,
                                metrics, models, predict, records, signin)
from bindaas.api.services import Services, build_services
from bindaas.api.submissions import submissions_first
from bindaas.chain.client import ChainClient
from bindaas.config import Settings
from bindaas.fhir.validate import warm_up
from bindaas.observability import logs
from bindaas.web import routes as web_routes


def create_app(settings: Settings | None = None, *, chain: ChainClient | None = None,
               services: Services | None = None, run_anchorer: bool = True) -> FastAPI:
    """The BinDaaS API. Pass ``chain`` to share an already deployed chain (the demo and tests do)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        built = services or build_services(settings, chain)
        app.state.services = built
        warm_up(settings.fhir_validation)
        # The registry watcher keeps authority keys, identities and policy cached between chain events, so
        # per-request sign-in checks cost no chain round trip; it runs even where this process does not anchor.
        built.chain.watch(settings.registry_poll_s)
        built.access.index_identities()
        built.chain.warm()
        if run_anchorer:
            built.anchorer.start()
        if services is None and chain is None:  # this app owns its process (`bindaas serve` and its workers)
            # The libraries loaded so far (web3, SQLAlchemy, pydantic, the FHIR schema) are hundreds of thousands
            # of long-lived objects; frozen, the collector stops re-scanning them in every full collection.
            gc.collect()
            gc.freeze()
            # Each request allocates thousands of short-lived containers: a parsed 26 KB envelope holds ~84, an
            # import's group of 256 ~22,000 while it is checked, all freed by reference counting after. The youngest
            # generation is collected once allocations outnumber deallocations by the threshold, and each collection
            # walks every container still alive: at the default 700, ~0.05 ms of CPU a record under an import; at
            # 10,000, 21 collections in each worker over 1,650 records (~30 ms, gc.callbacks); at 100,000, above two
            # groups' peak, none.
            gc.set_threshold(100_000, 20, 20)
        try:
            yield
        finally:
            if run_anchorer:
                built.anchorer.stop()
            built.intake.stop()
            built.writer.stop()
            built.chain.stop_watching()
            built.access.close()
            if services is None:
                built.engine.dispose()

    app = FastAPI(title="BinDaaS", version=__version__, lifespan=lifespan,
                  description="Post-quantum-signed, chain-anchored FHIR R4 health records.")
    problems.install(app)
    app.add_middleware(submissions_first)  # innermost of ours: after the limits, before FastAPI's routing
    app.add_middleware(limits.request_limits(max_bytes=settings.max_body_bytes, max_depth=settings.max_json_depth,
                                             read_timeout_s=settings.request_read_timeout_s,
                                             max_dicom_bytes=settings.max_dicom_bytes))
    app.add_middleware(logs.request_ids)  # outermost: every answer, refusals by the limits too, carries its id
    # Public, and matched before /fhir/{resource_type}: what this FHIR server does (its CapabilityStatement).
    app.get("/fhir/metadata", tags=["fhir"], **fhir.FHIR_OK)(fhir.capability_statement)
    # Every endpoint but health, sign-in and the OpenAPI pages needs a token; routes then check roles and consent.
    for router in (imports.router, imaging.router, records.router, identities.router, consents.router, audit.router, authorities.router,
                   models.router, predict.router, cds.call_router, bulk.router, fhir.router):
        app.include_router(router, dependencies=[Depends(authenticated)])
    app.include_router(signin.router)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(cds.discovery_router)  # CDS Hooks discovery is public
    app.include_router(web_routes.router)  # the web app: static files; every call it makes is authenticated
    _document(app, records.RAW_BODY_MODELS)
    return app


# What any operation may answer besides its success: RFC 9457 problems (bindaas.api.problems, bindaas.api.limits).
_PROBLEMS = {
    "400": "malformed JSON", "401": "no valid access token, or a failed sign-in", "403": "the role may not do this",
    "404": "no such resource, or none the caller may see", "405": "method not allowed (see Allow)",
    "408": "the body did not arrive in time", "409": "conflicts with what the store or the chain holds",
    "413": "body too large", "415": "the body is not JSON", "422": "a field is wrong (named in `field`)",
    "429": "rate limited (see Retry-After)", "500": "an unexpected error; nothing was applied",
    "502": "the chain refused the transaction", "503": "the chain node is unreachable",
}
_PROBLEM_SCHEMA = {"type": "object", "required": ["type", "title", "status", "detail"], "properties": {
    "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
    "detail": {"type": "string"}, "instance": {"type": "string"}, "field": {"type": "string"},
    "errors": {"type": "array", "items": {"type": "object"}}}}


def _document(app: FastAPI, models: tuple[type[BaseModel], ...]) -> None:
    """Make the OpenAPI document say what the server does: the schemas of bodies that routes parse themselves (see
    ``records._parse``), and every error status any operation can answer, as application/problem+json."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            _, definitions = models_json_schema([(model, "validation") for model in models],
                                                ref_template="#/components/schemas/{model}")
            schemas = schema.setdefault("components", {}).setdefault("schemas", {})
            schemas.update(definitions.get("$defs", {}))
            schemas["Problem"] = _PROBLEM_SCHEMA
            schemas.pop("HTTPValidationError", None)
            schemas.pop("ValidationError", None)
            schemas["OperationOutcome"] = {"type": "object", "required": ["resourceType", "issue"]}
            for path, path_item in schema.get("paths", {}).items():
                # FHIR routes answer errors as OperationOutcomes (application/fhir+json), the rest as RFC 9457.
                content = ({"application/fhir+json": {"schema": {"$ref": "#/components/schemas/OperationOutcome"}}}
                           if path.startswith("/fhir/") else
                           {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}})
                for operation in path_item.values():
                    responses = operation.setdefault("responses", {})
                    for code, description in _PROBLEMS.items():
                        responses[code] = {"description": description, "content": content}
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
