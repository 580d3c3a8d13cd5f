"""A lean HTTP/1.1 load generator for the ingest benchmark.

It shares the benchmark machine's two cores with the server under test, so it must cost little: httpx's async
client spent about 6-8 ms of CPU per 26 KB submission here (as much as the server it measured), this one sends
pre-built requests over persistent keep-alive connections and parses just the status line and Content-Length.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit


class LoadError(RuntimeError):
    """The server answered something the load generator did not expect (the benchmark stops on it)."""


@dataclass
class LoadResult:
    """What a load run saw: requests answered with an expected status, the elapsed time, and the answers if kept."""

    answered: int = 0
    seconds: float = 0.0
    bodies: list[bytes] = field(default_factory=list)


def _request(host: str, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    head = [f"POST {path} HTTP/1.1", f"Host: {host}", "Content-Type: application/json",
            f"Content-Length: {len(body)}", *(f"{k}: {v}" for k, v in headers.items()), "", ""]
    return "\r\n".join(head).encode() + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length = None
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
        elif name.strip().lower() == b"transfer-encoding":
            raise LoadError("chunked responses are not supported by the load generator")
    if length is None:
        raise LoadError(f"response {status} without Content-Length")
    return status, await reader.readexactly(length)


async def post_all(url: str, path: str, bodies: list[bytes], *, concurrency: int, duration_s: float,
                   headers: dict[str, str], expect: tuple[int, ...] = (200, 201, 202),
                   keep_bodies: bool = False) -> LoadResult:
    """POST each of ``bodies`` to ``url + path`` with ``concurrency`` connections, each with one request in flight,
    until all are sent or ``duration_s`` has passed. Raises LoadError on any status outside ``expect``."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    # Built before the clock starts; popped from the end, so the first body goes first.
    queue = [_request(parts.netloc, path, body, headers) for body in reversed(bodies)]
    result = LoadResult()
    started = time.perf_counter()

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while queue and time.perf_counter() - started < duration_s:
                writer.write(queue.pop())
                status, body = await _read_response(reader)
                if status not in expect:
                    raise LoadError(f"{path}: {status} {body[:300]!r}")
                result.answered += 1
                if keep_bodies:
                    result.bodies.append(body)
        finally:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(concurrency)))
    result.seconds = time.perf_counter() - started
    return result
