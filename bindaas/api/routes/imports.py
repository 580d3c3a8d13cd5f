"""Streaming bulk import: newline-delimited JSON, one signed envelope a line, of any size. The body is read as it
arrives and checked and stored a group of lines at a time (each group committed before the next is read), so a
large file never sits in memory whole; each line's result (the record, or a problem naming the line) is spooled
to disk and sent back, in order, once the body has been read. Re-sending after a crash is safe: a record already
stored comes back as the same record (``created: false``)."""

from __future__ import annotations

import tempfile
from typing import Any, AsyncIterator, BinaryIO

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from bindaas.access.signin import Caller
from bindaas.api.auth import CallerDep, require_role
from bindaas.api.deps import ServicesDep
from bindaas.api.limits import json_depth
from bindaas.api.routes.records import SUBMITTERS, _check_submitter, record_summary
from bindaas.api.services import Services
from bindaas.errors import BindaasError, PayloadTooLarge, Unsupported
from bindaas.ledger.accept import Accepted, accept_many
from bindaas.ledger.envelope import Envelope, validate_json
from bindaas.observability import metrics

router = APIRouter(prefix="/records", tags=["records"])
NDJSON = ("application/x-ndjson", "application/ndjson", "application/jsonl")
GROUP = 256  # lines checked and committed together


def _problem(line: int, exc: BindaasError) -> dict[str, Any]:
    return {"line": line, "problem": {"type": f"urn:bindaas:problem:{exc.slug}", "title": exc.title,
                                      "status": exc.status, "detail": exc.detail, "field": exc.field}}


def _group(lines: list[tuple[int, bytes]], services: Services, caller: Caller, out: BinaryIO) -> tuple[int, int, int]:
    """Check and store one group of lines; write one result line each; returns (accepted, created, refused)."""
    results: dict[int, dict[str, Any]] = {}
    parsed: list[tuple[int, Envelope]] = []
    settings = services.settings
    for number, text in lines:
        try:
            if len(text) > settings.max_body_bytes:
                raise PayloadTooLarge(f"line is {len(text)} bytes; at most {settings.max_body_bytes}", field="line")
            if json_depth(text) > settings.max_json_depth:
                raise BindaasError(f"line nests deeper than {settings.max_json_depth} levels", field="line")
            envelope = validate_json(Envelope, text)
            _check_submitter(caller, envelope)
            parsed.append((number, envelope))
        except ValidationError as exc:
            first = exc.errors(include_url=False, include_context=False)[0]
            field = ".".join(str(p) for p in first.get("loc", ())) or "line"
            kind = "malformed-json" if first.get("type") == "json_invalid" else "invalid-input"
            results[number] = {"line": number, "problem": {"type": f"urn:bindaas:problem:{kind}", "status": 422,
                                                          "detail": f"{field}: {first.get('msg')}", "field": field}}
        except BindaasError as exc:
            results[number] = _problem(number, exc)
    if parsed:
        outcomes = accept_many([e for _, e in parsed], chain=services.chain, access=services.access,
                               sessions=services.sessions, settings=settings,
                               service_public_key=services.service_key.public_key, anchorer=services.anchorer)
        for (number, _), outcome in zip(parsed, outcomes):
            results[number] = ({"line": number, **record_summary(outcome.record), "created": outcome.created}
                               if isinstance(outcome, Accepted) else _problem(number, outcome))
        services.anchorer.notify(rows=len(parsed))
    accepted = created = refused = 0
    for number, _ in lines:
        result = results[number]
        out.write(orjson.dumps(result) + b"\n")
        if "problem" in result:
            refused += 1
            metrics.records_refused.labels(result["problem"]["type"].rsplit(":", 1)[-1]).inc()
        else:
            accepted += 1
            created += result["created"]
    metrics.records_accepted.inc(accepted)
    return accepted, created, refused


@router.post("/import", responses={200: {"content": {"application/x-ndjson": {}},
                                         "description": "one result a line, in order, then a summary line"}},
             openapi_extra={"requestBody": {"required": True, "content": {"application/x-ndjson": {
                 "schema": {"type": "string", "description": "one signed Envelope (JSON) a line"}}}}})
async def import_ndjson(request: Request, services: ServicesDep, caller: CallerDep) -> StreamingResponse:
    """Import signed envelopes from NDJSON (one a line; `Content-Type: application/x-ndjson`), streamed: groups
    of 256 lines are checked and committed as they arrive. The answer is NDJSON: one line per input line
    (`{line, id, status, created}` or `{line, problem}`), then `{summary: {lines, accepted, created, refused}}`."""
    require_role(caller, *SUBMITTERS, doing="submit records")
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in NDJSON:
        raise Unsupported(f"this route takes newline-delimited JSON (application/x-ndjson), not "
                          f"{media_type or 'an unnamed type'}", field="Content-Type")
    spool = tempfile.SpooledTemporaryFile(max_size=4 * 1024 * 1024)
    totals = [0, 0, 0, 0]  # lines, accepted, created, refused
    group: list[tuple[int, bytes]] = []
    pending = b""

    async def flush() -> None:
        if group:
            accepted, created, refused = await run_in_threadpool(_group, list(group), services, caller, spool)
            totals[1] += accepted
            totals[2] += created
            totals[3] += refused
            group.clear()

    async for chunk in request.stream():
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for text in complete:
            totals[0] += 1
            if text.strip():
                group.append((totals[0], text))
            if len(group) >= GROUP:
                await flush()
        if len(pending) > services.settings.max_body_bytes:
            raise PayloadTooLarge(f"line {totals[0] + 1} is longer than {services.settings.max_body_bytes} bytes",
                                  field="line")
    if pending.strip():
        totals[0] += 1
        group.append((totals[0], pending))
    await flush()
    spool.write(orjson.dumps({"summary": {"lines": totals[0], "accepted": totals[1], "created": totals[2],
                                          "refused": totals[3]}}) + b"\n")
    spool.seek(0)

    async def results() -> AsyncIterator[bytes]:
        try:
            while block := spool.read(65536):
                yield block
        finally:
            spool.close()

    return StreamingResponse(results(), media_type="application/x-ndjson")
