"""Python client for the BinDaaS REST API, plus the helpers that build and sign envelopes on the caller's side."""

from __future__ import annotations

import time
from typing import Any

import httpx

from bindaas.ledger.envelope import Envelope


class ApiError(Exception):
    """The API answered with an RFC 9457 problem; ``problem`` holds its body."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        super().__init__(f"{status} {problem.get('title')}: {problem.get('detail')}")
        self.status = status
        self.problem = problem


class BindaasClient:
    """A thin, typed wrapper over the HTTP API."""

    def __init__(self, base_url: str, *, timeout_s: float = 30.0) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=timeout_s)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> "BindaasClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _json(self, response: httpx.Response) -> dict[str, Any]:
        if response.status_code >= 400:
            try:
                problem = response.json()
            except ValueError:
                problem = {"title": response.reason_phrase, "detail": response.text[:500]}
            raise ApiError(response.status_code, problem)
        return response.json()

    def submit(self, envelope: Envelope) -> dict[str, Any]:
        """POST the envelope; returns the record id, digest and status."""
        return self._json(self.http.post("/records", content=envelope.model_dump_json(),
                                         headers={"content-type": "application/json"}))

    def record(self, record_id: str) -> dict[str, Any]:
        return self._json(self.http.get(f"/records/{record_id}"))

    def verify(self, record_id: str) -> dict[str, Any]:
        return self._json(self.http.get(f"/records/{record_id}/verify"))

    def authorities(self) -> dict[str, Any]:
        return self._json(self.http.get("/authorities"))

    def health(self) -> dict[str, Any]:
        return self._json(self.http.get("/health"))

    def wait_anchored(self, record_ids: list[str], *, timeout_s: float = 60.0) -> None:
        """Block until every record is anchored; raises TimeoutError naming how many are still waiting."""
        deadline = time.monotonic() + timeout_s
        waiting = list(record_ids)
        while waiting:
            waiting = [rid for rid in waiting if self.record(rid)["status"] != "anchored"]
            if waiting and time.monotonic() > deadline:
                raise TimeoutError(f"{len(waiting)} records not anchored after {timeout_s} s")
            if waiting:
                time.sleep(0.1)
