"""RFC 9457 problem details: every error the API returns is ``application/problem+json`` naming what is wrong."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from bindaas.errors import BindaasError, RateLimited

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"


def problem(status: int, slug: str, title: str, detail: str, *, instance: str | None = None,
            **extensions: Any) -> JSONResponse:
    """A problem+json response; extensions (e.g. ``field``) are added as top-level members."""
    body = {"type": f"urn:bindaas:problem:{slug}", "title": title, "status": status, "detail": detail}
    if instance:
        body["instance"] = instance
    body.update({k: v for k, v in extensions.items() if v is not None})
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


_ISSUE_CODES = {400: "invalid", 401: "login", 403: "forbidden", 404: "not-found", 409: "conflict",
                422: "invalid", 429: "throttled"}


def operation_outcome(status: int, detail: str, *, field: str | None = None) -> JSONResponse:
    """The FHIR routes' error body: an OperationOutcome naming the parameter or field at fault."""
    issue: dict[str, Any] = {"severity": "error", "code": _ISSUE_CODES.get(status, "exception"), "diagnostics": detail}
    if field:
        issue["expression"] = [field]
    headers = {"WWW-Authenticate": 'Bearer realm="bindaas"'} if status == 401 else None
    return JSONResponse({"resourceType": "OperationOutcome", "issue": [issue]}, status_code=status,
                        media_type="application/fhir+json", headers=headers)


def _loc_to_field(loc: tuple | list) -> str:
    parts = [p for p in loc if p != "body"]
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


def domain_problem(exc: BindaasError, path: str) -> JSONResponse:
    """The answer to a refusal the domain raised (``BindaasError``) on ``path``: an OperationOutcome on the FHIR
    routes, else a problem naming the field, with the headers its status calls for."""
    if path.startswith("/fhir/"):
        return operation_outcome(exc.status, exc.detail, field=exc.field)
    response = problem(exc.status, exc.slug, exc.title, exc.detail, instance=path, field=exc.field, **exc.extensions)
    if exc.status == 401:  # RFC 6750: say which scheme to use
        response.headers["WWW-Authenticate"] = 'Bearer realm="bindaas", error="invalid_token"'
    if isinstance(exc, RateLimited):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


def validation_problem(exc: RequestValidationError, path: str) -> JSONResponse:
    """The answer to a body or parameter that failed validation on ``path``: 400 when it is not JSON at all, else
    422 naming the first field at fault (with up to 20 errors)."""
    errors = [{"field": _loc_to_field(e.get("loc", ())), "message": e.get("msg", "")} for e in exc.errors()]
    first = errors[0] if errors else {"field": "body", "message": "invalid request"}
    if path.startswith("/fhir/"):
        return operation_outcome(422, f"{first['field']}: {first['message']}", field=first["field"])
    if any(e.get("type") == "json_invalid" for e in exc.errors()):
        return problem(400, "malformed-json", "Malformed JSON", f"request body is not valid JSON: "
                       f"{first['message']}", instance=path, field="body")
    return problem(422, "invalid-input", "Invalid input", f"{first['field']}: {first['message']}",
                   instance=path, field=first["field"], errors=errors[:20])


def too_deep_problem(path: str) -> JSONResponse:
    """The answer when a parser ran out of stack on ``path`` (the request limits should have refused it first)."""
    return problem(422, "too-deep", "JSON nested too deeply", "request body is nested too deeply", instance=path,
                   field="body")


def install(app: FastAPI) -> None:
    """Register the handlers that turn every exception into a problem response."""

    @app.exception_handler(BindaasError)
    async def _domain(request: Request, exc: BindaasError) -> JSONResponse:
        return domain_problem(exc, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return validation_problem(exc, request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        slug = {404: "not-found", 405: "method-not-allowed", 413: "payload-too-large"}.get(exc.status_code, "http")
        response = problem(exc.status_code, slug, str(exc.detail), str(exc.detail), instance=request.url.path)
        response.headers.update(exc.headers or {})  # a 405 says which methods are allowed (Allow)
        return response

    @app.exception_handler(RecursionError)
    async def _deep(request: Request, exc: RecursionError) -> JSONResponse:
        return too_deep_problem(request.url.path)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s", request.url.path)
        return problem(500, "internal", "Internal error", f"{type(exc).__name__}; the request was not applied",
                       instance=request.url.path)
