"""Request limits, enforced before any parser sees the body: media type (415: bodies are JSON), size (413), read
timeout (408), malformed JSON (400) and nesting depth (422), whatever the Content-Type header claims. Deeply nested JSON must never reach the recursive parsers and validators
downstream: one such body can exhaust the stack and take the whole server down."""

from __future__ import annotations

import asyncio
import re
from itertools import accumulate
from typing import Any, Awaitable, Callable

import orjson

from bindaas.api.problems import PROBLEM_JSON

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'[]{}"')
_ONE_KIND = bytes.maketrans(b"{}", b"[]")  # depth does not care which kind of bracket nests
_STEP = {ord("["): 1, ord("]"): -1}
_PEELS = 16  # innermost bracket pairs peeled off this many times before counting bracket by bracket


def json_depth(body: bytes) -> int:
    """Nesting depth of a JSON text, from its bytes. Escapes go first (pairs of backslashes, then escaped quotes,
    left to right as JSON reads them); then only brackets (all as square ones) and quotes are kept, and adjacent
    quotes dropped (an empty string, or the gap between two strings: either way no bracket changes side); what sits
    between the quotes left is dropped, and the brackets left are counted. It runs for every body, so it stays in C
    (replace, split, translate): walking the parsed objects in Python cost ~0.1 ms for a 26 KB envelope, and
    splitting the whole text at its quotes ~40 µs, where the skeleton of brackets and quotes is ~1 KB and costs
    ~15 µs."""
    if b"\\" in body:
        body = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    skeleton = body.translate(_ONE_KIND, _NOT_STRUCTURE).replace(b'""', b"")
    if b'"' in skeleton:
        skeleton = b"".join(skeleton.split(b'"')[::2])
    # Balanced brackets empty out in as many peels of their innermost pairs as they nest deep; anything deeper (or
    # unbalanced: a line not yet parsed) is counted bracket by bracket, which costs Python steps per bracket.
    for depth in range(_PEELS):
        if not skeleton:
            return depth
        skeleton = skeleton.replace(b"[]", b"")
    return _PEELS + max(accumulate(map(_STEP.__getitem__, skeleton)), default=0)


def _is_json(media_type: bytes) -> bool:
    """application/json, or a JSON-based type such as application/fhir+json or application/problem+json."""
    return media_type == b"application/json" or (media_type.startswith(b"application/")
                                                   and media_type.endswith(b"+json"))


async def _problem(send: Send, status: int, slug: str, title: str, detail: str, *, field: str = "body") -> None:
    body = orjson.dumps({"type": f"urn:bindaas:problem:{slug}", "title": title, "status": status,
                         "detail": detail, "field": field})
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", PROBLEM_JSON.encode()), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


# Where the limits put the body they parsed (checking that it is JSON), so that a route can validate it into its
# model without parsing the same 26 KB again (``submissions``: ~25 µs a record).
PARSED_BODY = "bindaas.parsed_body"

STREAMED = {"/records/import"}  # reads its body as it arrives and applies the limits per line itself
# Binary bodies some routes take instead of JSON, with their own size limit (BINDAAS_MAX_DICOM_BYTES): DICOM
# objects of imaging records, and images sent for a prediction.
BINARY = ((re.compile(r"^/records/0x[0-9a-fA-F]{64}/objects/[0-9a-f]{64}$"), {b"application/dicom"}),
          (re.compile(r"^/predict/image$"), {b"application/dicom", b"image/jpeg", b"image/png"}))


def request_limits(*, max_bytes: int, max_depth: int, read_timeout_s: float,  # type: ignore[no-untyped-def]
                   max_dicom_bytes: int = 64 * 1024 * 1024):
    """ASGI middleware factory applying the limits to every request with a body."""

    max_json_bytes = max_bytes

    def middleware(app):  # type: ignore[no-untyped-def]
        async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE") \
                    or scope["path"] in STREAMED:
                return await app(scope, receive, send)
            headers = dict(scope.get("headers", []))
            media_type = headers.get(b"content-type", b"application/json").split(b";")[0].strip().lower()
            binary = any(media_type in types and path.match(scope["path"]) for path, types in BINARY)
            max_bytes = max_dicom_bytes if binary else max_json_bytes
            length = headers.get(b"content-length")
            if length is not None and length.isdigit() and int(length) > max_bytes:
                return await _problem(send, 413, "payload-too-large", "Payload too large",
                                      f"body is {int(length)} bytes; at most {max_bytes} are accepted")
            chunks, size = [], 0
            try:
                while True:
                    async with asyncio.timeout(read_timeout_s):  # no extra task per chunk, unlike wait_for
                        message = await receive()
                    if message["type"] == "http.disconnect":
                        return
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > max_bytes:
                        return await _problem(send, 413, "payload-too-large", "Payload too large",
                                              f"body exceeds {max_bytes} bytes")
                    chunks.append(chunk)
                    if not message.get("more_body"):
                        break
            except TimeoutError:
                return await _problem(send, 408, "request-timeout", "Request timeout",
                                      f"the body was not received within {read_timeout_s} s")
            body = b"".join(chunks)
            if body and not binary and not _is_json(media_type):
                return await _problem(send, 415, "unsupported-media-type", "Unsupported media type",
                                      f"this API takes JSON bodies (application/json), not "
                                      f"{media_type.decode('latin-1') or 'an unnamed type'}",
                                      field="Content-Type")
            if body and not binary:  # every limit applies whatever the header claimed
                try:
                    scope[PARSED_BODY] = orjson.loads(body)  # iterative-safe: refuses nesting past 1024 itself
                except orjson.JSONDecodeError as exc:
                    if "depth" in str(exc):
                        return await _problem(send, 422, "too-deep", "JSON nested too deeply",
                                              f"request body nests deeper than {max_depth} levels")
                    return await _problem(send, 400, "malformed-json", "Malformed JSON",
                                          f"request body is not valid JSON: {exc}")
                if json_depth(body) > max_depth:
                    return await _problem(send, 422, "too-deep", "JSON nested too deeply",
                                          f"request body nests deeper than {max_depth} levels")
            sent = False

            async def replay() -> dict[str, Any]:
                nonlocal sent
                if sent:
                    return await receive()
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}

            await app(scope, replay, send)

        return asgi

    return middleware
