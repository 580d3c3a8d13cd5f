"""Structured logs: one JSON object per line, each carrying the id of the request it belongs to. The API takes a
client's ``X-Request-ID`` (letters, digits, ``.``, ``_``, ``-``; up to 64) or makes one, and returns it, so one
request can be followed through the access line and everything logged while it was served."""

from __future__ import annotations

import contextvars
import json
import logging
import random
import re
import time
from typing import Any, Awaitable, Callable

REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("bindaas_request_id", default=None)
_VALID_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
access_log = logging.getLogger("bindaas.access")


class JsonLines(logging.Formatter):
    """Formats a record as one JSON object: time, level, logger, message, request id, and any ``extra`` fields."""

    _STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {"ts": round(record.created, 3), "level": record.levelname.lower(),
                                "logger": record.name, "msg": record.getMessage()}
        request_id = REQUEST_ID.get()
        if request_id:
            line["request_id"] = request_id
        line.update({k: v for k, v in vars(record).items() if k not in self._STANDARD})
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure(level: str = "info") -> None:
    """Send every log record to stderr as JSON lines (``bindaas serve``)."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonLines())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = name != "uvicorn.access"  # our access line replaces uvicorn's


Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def new_request_id() -> str:
    """32 random hex digits, as a UUID4's would be. Not ``uuid4``: ``os.urandom`` lets go of the GIL for its system
    call, and this runs on the event loop, which then waited for whichever thread took the GIL meanwhile (a busy
    one: about 0.5 ms each time beside a thread checking submissions). The id correlates logs and is no secret;
    ``random`` is seeded from the system's entropy and anew in each forked process."""
    return f"{random.getrandbits(128):032x}"


def request_ids(app: Any) -> Any:
    """ASGI middleware: give each request an id, return it as ``X-Request-ID``, and log one access line."""

    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await app(scope, receive, send)
        given = dict(scope.get("headers", [])).get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _VALID_ID.match(given) else new_request_id()
        token = REQUEST_ID.set(request_id)
        started, status = time.perf_counter(), 0

        async def tagged(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await app(scope, receive, tagged)
        finally:
            if access_log.isEnabledFor(logging.INFO):
                access_log.info("%s %s %s", scope["method"], scope["path"], status, extra={
                    "method": scope["method"], "path": scope["path"], "status": status,
                    "ms": round((time.perf_counter() - started) * 1000, 2),
                    "client": (scope.get("client") or ["?"])[0]})
            REQUEST_ID.reset(token)

    return asgi
