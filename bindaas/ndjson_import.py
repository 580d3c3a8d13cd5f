"""The client side of the streaming import (``bindaas import-ndjson FILE``): the file (or a pipe) is cut into slices
of about 50 MB where lines start, each sent as one ``POST /records/import``, four at a time; every answer line is
counted, and a progress line (records/s, accepted, refused, ETA from the bytes sent) is redrawn on stderr. The
server numbers lines within a request; its summary's count of each slice's lines turns them into the file's."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from functools import partial
from itertools import accumulate
from pathlib import Path
from typing import Any, BinaryIO

import httpx

from bindaas.client import ApiError, BindaasClient


class Progress:
    """Counts and the progress line."""

    def __init__(self, total_bytes: int, *, out: Any = sys.stderr) -> None:
        self.total_bytes = total_bytes
        self.sent_bytes = 0
        self.accepted = self.created = self.refused = 0
        self.refusals: list[tuple[int, dict[str, Any]]] = []  # (slice, result numbered within its slice)
        self._slice_lines: dict[int, int] = {}  # lines of each slice answered, as the server counted them
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self._out = out

    def add(self, result: dict[str, Any], slice_index: int) -> None:
        """Count one result of slice ``slice_index`` (its ``line`` numbered within the slice)."""
        with self._lock:
            if "problem" in result:
                self.refused += 1
                if len(self.refusals) < 20:
                    self.refusals.append((slice_index, result))
            else:
                self.accepted += 1
                self.created += bool(result.get("created"))

    def sent(self, size: int) -> None:
        """``size`` more bytes of the file were sent and answered: how far along the import is."""
        with self._lock:
            self.sent_bytes += size

    def end_line(self) -> None:
        """End the progress line, so that what is written next starts on a line of its own."""
        self._out.write("\n")

    def slice_done(self, slice_index: int, lines: int) -> None:
        """Slice ``slice_index`` held ``lines`` lines: where the next slices' line numbers start."""
        with self._lock:
            self._slice_lines[slice_index] = lines

    def draw(self) -> None:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = (self.accepted + self.refused) / elapsed
        if self.total_bytes:
            done = self.sent_bytes / self.total_bytes
            eta = elapsed * (1 - done) / done if done > 0 else float("inf")
            where, left = f"{100 * done:5.1f}%", f"  ETA {eta:5.0f} s"
        else:  # a pipe's size is not known ahead
            where, left = f"{self.sent_bytes / 1e6:,.0f} MB sent", ""
        self._out.write(f"\r{where}  {rate:7.1f} records/s  accepted {self.accepted:,}  refused {self.refused:,}"
                        f"{left} ")
        self._out.flush()

    def summary(self) -> dict[str, Any]:
        elapsed = time.monotonic() - self.started
        order = sorted(self._slice_lines)
        before = dict(zip(order, accumulate((self._slice_lines[k] for k in order), initial=0)))
        return {"accepted": self.accepted, "created": self.created, "refused": self.refused,
                "seconds": round(elapsed, 2), "records_per_s": round((self.accepted + self.refused) / elapsed, 1),
                "first_refusals": [{**result, "line": result["line"] + before[index]}
                                   for index, result in self.refusals]}


BLOCK = 1 << 20  # bytes read at a time: to find where a slice starts, and to send one
SLICE_BYTES = 50_000_000  # a request's share of the file, ~1,900 envelopes of 26 KB
# Requests at once. A request is read, checked and stored one step after another, so a worker serving one of them
# left its core idle while it read the next lines or committed; with two a worker, one is checked while the other
# waits. 100,000 envelopes into two workers on Hardhat, one run each: 2 requests 1,462.5 and 1,609.2 records/s
# (0.615 and 0.610 of the floor), 4 requests 1,759.8 and 1,683.3 (0.687 and 0.658), 8 requests 1,687.1 (0.656).
PARALLEL = 4


@dataclass(frozen=True)
class _Slice:
    index: int
    size: int  # bytes
    body: Callable[[], Iterator[bytes]]  # its bytes, afresh on each call: a slice may be sent twice


def _slices(path: Path, slice_bytes: int) -> Iterator[_Slice]:
    """The slices of ``path``, about ``slice_bytes`` each, cut where a line starts. Of a file, only the bytes around
    each cut are read, and each slice is streamed from disk as it is sent. Cutting after so many lines read every
    line to place the cuts (into lists, or just counted): while the server held both cores, that kept the last of
    four streams 70-100 ms behind the first on a 3,000-line file. What cannot seek (a pipe, as in ``zcat
    history.ndjson.gz | bindaas import-ndjson /dev/stdin``) is read a slice at a time instead."""
    if not path.is_file():
        yield from _read_slices(path, slice_bytes)
        return
    size = path.stat().st_size
    start, index = 0, 0
    with path.open("rb", buffering=0) as handle:
        while start < size:
            end = _line_start(handle, min(start + max(slice_bytes, 1), size), size)
            yield _Slice(index, end - start, partial(_byte_range, path, start, end))
            start, index = end, index + 1


def _read_slices(path: Path, slice_bytes: int) -> Iterator[_Slice]:
    """Slices of a stream, each read into memory: ``slice_bytes``, then the rest of the line they end in."""
    with path.open("rb") as handle:
        index = 0
        while data := handle.read(max(slice_bytes, 1)):
            if not data.endswith(b"\n"):
                data += handle.readline()
            yield _Slice(index, len(data), partial(iter, (data,)))
            index += 1


def _line_start(handle: BinaryIO, at: int, size: int) -> int:
    """The first offset at or after ``at`` where a line starts (``size`` at the end of the file)."""
    handle.seek(at - 1)
    while at < size:
        block = handle.read(BLOCK)
        if not block:
            return size
        found = block.find(b"\n")
        if found >= 0:
            return at + found
        at += len(block)
    return size


def _byte_range(path: Path, start: int, end: int) -> Iterator[bytes]:
    """The bytes of ``path`` from ``start`` up to ``end``, a block at a time (one request body)."""
    with path.open("rb", buffering=0) as handle:
        handle.seek(start)
        while start < end and (block := handle.read(min(BLOCK, end - start))):
            start += len(block)
            yield block


def _post_slice(client: BindaasClient, part: _Slice) -> httpx.Response:
    return client.http.post("/records/import", content=part.body(), timeout=None,
                            headers={"content-type": "application/x-ndjson"})


def import_file(client: BindaasClient, path: Path, *, slice_bytes: int = SLICE_BYTES, parallel: int = PARALLEL,
                progress: Progress | None = None) -> dict[str, Any]:
    """Send every line of ``path``; returns the summary (counts, rate, the first refusals with their line)."""
    progress = progress or Progress(path.stat().st_size if path.is_file() else 0)
    if client.token is None:
        client.sign_in()

    def send(part: _Slice) -> None:
        response = _post_slice(client, part)
        if response.status_code == 401 and "expired" in response.text:
            client.sign_in()  # a long import outlives a token; sending a slice again is safe (stored come back)
            response = _post_slice(client, part)
        if response.status_code >= 400:
            raise ApiError(response.status_code, response.json())
        progress.sent(part.size)
        for text in response.text.splitlines():
            result = json.loads(text)
            if "summary" in result:
                progress.slice_done(part.index, result["summary"]["lines"])
            else:
                progress.add(result, part.index)
        progress.draw()

    with ThreadPoolExecutor(max_workers=parallel) as pool:
        # At most one slice waits, located ahead, beside those being sent (Executor.map would queue them all).
        sending: set[Future[None]] = set()
        for part in _slices(path, slice_bytes):
            sending.add(pool.submit(send, part))
            if len(sending) > parallel:  # the next slice is located once one is answered
                done, sending = wait(sending, return_when=FIRST_COMPLETED)
                for future in done:
                    future.result()
        for future in sending:
            future.result()
    progress.end_line()
    return progress.summary()
