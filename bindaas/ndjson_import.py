"""The client side of the streaming import (``bindaas import-ndjson FILE``): the file is sent in slices of lines,
each read from disk (one slice ahead of those being sent) and sent as one ``POST /records/import``, two at a time;
every answer line is counted, and a progress line (records/s, accepted, refused, ETA from the bytes sent) is
redrawn on stderr."""

from __future__ import annotations

import json
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any, Iterator

from bindaas.client import ApiError, BindaasClient


class Progress:
    """Counts and the progress line."""

    def __init__(self, total_bytes: int, *, out: Any = sys.stderr) -> None:
        self.total_bytes = total_bytes
        self.sent_bytes = 0
        self.accepted = self.created = self.refused = 0
        self.refusals: list[dict[str, Any]] = []
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self._out = out

    def add(self, result: dict[str, Any], line_offset: int) -> None:
        with self._lock:
            if "problem" in result:
                self.refused += 1
                if len(self.refusals) < 20:
                    self.refusals.append({**result, "line": result["line"] + line_offset})
            else:
                self.accepted += 1
                self.created += bool(result.get("created"))

    def draw(self) -> None:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = (self.accepted + self.refused) / elapsed
        done = self.sent_bytes / self.total_bytes if self.total_bytes else 1.0
        eta = elapsed * (1 - done) / done if done > 0 else float("inf")
        self._out.write(f"\r{100 * done:5.1f}%  {rate:7.1f} records/s  accepted {self.accepted:,}  refused "
                        f"{self.refused:,}  ETA {eta:5.0f} s ")
        self._out.flush()

    def summary(self) -> dict[str, Any]:
        elapsed = time.monotonic() - self.started
        return {"accepted": self.accepted, "created": self.created, "refused": self.refused,
                "seconds": round(elapsed, 2), "records_per_s": round((self.accepted + self.refused) / elapsed, 1),
                "first_refusals": self.refusals}


def _slices(path: Path, lines_per_slice: int) -> Iterator[tuple[int, list[bytes]]]:
    """(number of lines before it, its lines): a slice at a time, never the whole file."""
    before, lines = 0, []
    with path.open("rb") as handle:
        for line in handle:
            lines.append(line if line.endswith(b"\n") else line + b"\n")
            if len(lines) == lines_per_slice:
                yield before, lines
                before, lines = before + len(lines), []
    if lines:
        yield before, lines


def _chunks(lines: list[bytes], per_chunk: int = 32) -> Iterator[bytes]:
    """The slice's lines joined a few dozen at a time (~0.85 MB of 26 KB envelopes): one chunk of the request body
    a line cost the client a framing and a send each."""
    for start in range(0, len(lines), per_chunk):
        yield b"".join(lines[start:start + per_chunk])


def import_file(client: BindaasClient, path: Path, *, lines_per_slice: int = 2000, parallel: int = 2,
                progress: Progress | None = None) -> dict[str, Any]:
    """Send every line of ``path``; returns the summary (counts, rate, the first refusals with their line)."""
    progress = progress or Progress(path.stat().st_size)
    client.sign_in()

    def send(item: tuple[int, list[bytes]]) -> None:
        before, lines = item
        response = client.http.post("/records/import", content=_chunks(lines), timeout=None,
                                    headers={"content-type": "application/x-ndjson"})
        if response.status_code >= 400:
            raise ApiError(response.status_code, response.json())
        with progress._lock:
            progress.sent_bytes += sum(len(line) for line in lines)
        for text in response.text.splitlines():
            result = json.loads(text)
            if "summary" not in result:
                progress.add(result, before)
        progress.draw()

    with ThreadPoolExecutor(max_workers=parallel) as pool:
        # At most one slice waits, read ahead, beside those being sent. Executor.map would submit every slice at
        # once, reading the whole file into memory (2.66 GB for 100,000 envelopes) while the first were sent.
        sending: set[Future[None]] = set()
        for item in _slices(path, lines_per_slice):
            sending.add(pool.submit(send, item))
            if len(sending) > parallel:  # the next slice is read once one is answered
                done, sending = wait(sending, return_when=FIRST_COMPLETED)
                for future in done:
                    future.result()
        for future in sending:
            future.result()
    progress._out.write("\n")
    return progress.summary()
