"""Streaming bulk import: newline-delimited JSON, one signed envelope a line, of any size. The body is read as it
arrives, checked a group of lines at a time and stored a Merkle batch's worth at a time (committed before the next
line is read), so a large file never sits in memory whole; each line's result (the record, or a problem naming the
line) is spooled to disk and sent back, in order, once the body has been read. Re-sending after a crash is safe: a
record already stored comes back as the same record (``created: false``)."""

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
from bindaas.ledger.accept import Accepted, prepare_many, store_prepared
from bindaas.ledger.envelope import Envelope, validate_json
from bindaas.observability import metrics
from bindaas.store.models import NewRecord

router = APIRouter(prefix="/records", tags=["records"])
NDJSON = ("application/x-ndjson", "application/ndjson", "application/jsonl")
GROUP = 256  # lines checked together (one identity read for their new owners)
FIRST_GROUP = 32  # a request's first group; each next one twice the last, up to GROUP
STORE_AT_MOST = 1000  # checked rows held for one store, ~26 MB; a batch of the store's own is at most this


def _problem(line: int, exc: BindaasError) -> dict[str, Any]:
    return {"line": line, "problem": {"type": f"urn:bindaas:problem:{exc.slug}", "title": exc.title,
                                      "status": exc.status, "detail": exc.detail, "field": exc.field}}


class _Checked:
    """Lines checked but not yet stored: every line's number in order, the problems found, and the rows that
    passed. Rows wait here across groups until a batch's worth is stored in one go: the store seals them as one
    Merkle batch (one transaction, one anchoring; a last remainder under a quarter batch waits to share one), where
    groups stored one by one made batches of a group each, and a last short group was claimed later by rewriting
    its rows. No result leaves the server before the body is read, so a row not yet stored has not been
    acknowledged either."""

    def __init__(self) -> None:
        self.numbers: list[int] = []
        self.results: dict[int, dict[str, Any]] = {}
        self.rows: list[tuple[int, NewRecord]] = []


def _check(lines: list[tuple[int, bytes]], services: Services, caller: Caller, checked: _Checked) -> None:
    """Check one group of lines (signatures, endorsements, owners, the bundle) and add them to ``checked``."""
    parsed: list[tuple[int, Envelope]] = []
    settings = services.settings
    for number, text in lines:
        checked.numbers.append(number)
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
            checked.results[number] = {"line": number, "problem": {
                "type": f"urn:bindaas:problem:{kind}", "status": 422, "detail": f"{field}: {first.get('msg')}",
                "field": field}}
        except BindaasError as exc:
            checked.results[number] = _problem(number, exc)
    if parsed:
        outcomes = prepare_many([e for _, e in parsed], chain=services.chain, access=services.access,
                                settings=settings, service_public_key=services.service_key.public_key)
        for (number, _), outcome in zip(parsed, outcomes):
            if isinstance(outcome, NewRecord):
                checked.rows.append((number, outcome))
            else:
                checked.results[number] = _problem(number, outcome)


def _store(checked: _Checked, services: Services, out: BinaryIO) -> tuple[int, int, int]:
    """Store the checked rows (committed before this returns) and write one result line for each checked line, in
    order; returns (accepted, created, refused)."""
    if checked.rows:
        outcomes = store_prepared([row for _, row in checked.rows], sessions=services.sessions,
                                  anchorer=services.anchorer)
        for (number, _), outcome in zip(checked.rows, outcomes):
            assert isinstance(outcome, Accepted)
            checked.results[number] = {"line": number, **record_summary(outcome.record), "created": outcome.created}
        services.anchorer.notify(rows=len(checked.rows))
    accepted = created = refused = 0
    for number in checked.numbers:
        result = checked.results[number]
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
    of up to 256 lines (32 first, then twice as many each time) are checked as they arrive and stored (committed) a
    Merkle batch's worth at a time. The answer is NDJSON: one line per input line (`{line, id, status, created}` or
    `{line, problem}`), then `{summary: {lines, accepted, created, refused}}`."""
    require_role(caller, *SUBMITTERS, doing="submit records")
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in NDJSON:
        raise Unsupported(f"this route takes newline-delimited JSON (application/x-ndjson), not "
                          f"{media_type or 'an unnamed type'}", field="Content-Type")
    spool = tempfile.SpooledTemporaryFile(max_size=4 * 1024 * 1024)
    totals = [0, 0, 0, 0]  # lines, accepted, created, refused
    group: list[tuple[int, bytes]] = []
    checked = _Checked()
    pending = b""
    # Checking starts after FIRST_GROUP lines rather than GROUP: a first group of 256 lines (6.8 MB) per request
    # had the cores idle for the first 0.4 s of a 3,000-line import while it arrived.
    limit = FIRST_GROUP
    batch = min(services.settings.batch_size, STORE_AT_MOST)

    async def check() -> None:
        nonlocal limit
        if group:
            await run_in_threadpool(_check, list(group), services, caller, checked)
            group.clear()
            limit = min(GROUP, limit * 2)

    async def store() -> None:
        nonlocal checked
        counts = await run_in_threadpool(_store, checked, services, spool)
        checked = _Checked()
        for index, count in enumerate(counts, start=1):
            totals[index] += count

    try:
        async for chunk in request.stream():
            pending += chunk
            *complete, pending = pending.split(b"\n")
            for text in complete:
                totals[0] += 1
                if text.strip():
                    group.append((totals[0], text))
                # A group is cut short where it would take the rows waiting past a batch's worth, so that what is
                # stored together fills a batch rather than spilling into a second, smaller one.
                if len(group) >= min(limit, max(1, batch - len(checked.rows))):
                    await check()
                    if len(checked.rows) >= batch:
                        await store()
            if len(pending) > services.settings.max_body_bytes:
                raise PayloadTooLarge(f"line {totals[0] + 1} is longer than {services.settings.max_body_bytes} "
                                      f"bytes", field="line")
        if pending.strip():
            totals[0] += 1
            group.append((totals[0], pending))
        await check()
    finally:
        # After a failure too (a line too long, the client gone), what was checked is stored, as when each group
        # was committed on its own: sending the file again finds those records stored.
        await store()
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
