"""Token-bucket rate limits, per process, for what unauthenticated callers can make the service do: issue sign-in
challenges, and fail sign-ins (each failure is an audit event, and audit events are anchored on chain, so this is
also what bounds the gas an unauthenticated caller can make the service spend)."""

from __future__ import annotations

import math
import threading
import time


class RateLimiter:
    """At most ``per_minute`` events per key, with bursts up to the same number; thread-safe."""

    def __init__(self, per_minute: int, *, max_keys: int = 100_000) -> None:
        self.per_minute = per_minute
        self._rate = per_minute / 60.0
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        self._lock = threading.Lock()
        self._max_keys = max_keys

    def peek(self, key: str, *, now: float | None = None) -> float:
        """Seconds until ``key`` may have an event (0: now), spending nothing."""
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, at = self._buckets.get(key, (float(self.per_minute), now))
        tokens = min(float(self.per_minute), tokens + (now - at) * self._rate)
        return 0.0 if tokens >= 1.0 else max(1.0, math.ceil((1.0 - tokens) / self._rate))

    def take(self, key: str, *, now: float | None = None) -> float:
        """Spend one event for ``key``: 0 when allowed, else the seconds until one is (nothing is spent)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, at = self._buckets.get(key, (float(self.per_minute), now))
            tokens = min(float(self.per_minute), tokens + (now - at) * self._rate)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                return max(1.0, math.ceil((1.0 - tokens) / self._rate))
            if len(self._buckets) >= self._max_keys and key not in self._buckets:
                self._buckets.clear()  # a flood of distinct keys: forget them all rather than grow without end
            self._buckets[key] = (tokens - 1.0, now)
            return 0.0


class SignInLimits:
    """The limits on the sign-in routes, by key id, by client address and (failures) in all."""

    def __init__(self, *, challenges_per_key: int, challenges_per_address: int, failures_per_key: int,
                 failures_per_address: int, failures_total: int) -> None:
        self.challenges = (RateLimiter(challenges_per_key), RateLimiter(challenges_per_address))
        self.failures = (RateLimiter(failures_per_key), RateLimiter(failures_per_address))
        self.failures_total = RateLimiter(failures_total)
        self._unaudited = 0
        self._lock = threading.Lock()

    def challenge(self, *, key_id: str, address: str) -> float:
        """0 when a challenge may be issued, else the seconds to wait."""
        return self.challenges[0].take(key_id) or self.challenges[1].take(address)

    def failure_blocked(self, *, key_id: str, address: str) -> float:
        """Seconds to wait before this key or address may try to sign in again after too many failures (0: may).
        The total limit blocks nobody: it only bounds auditing, or a flood would lock everyone out."""
        per_key, per_address = self.failures
        return max(per_key.peek(key_id), per_address.peek(address))

    def failed(self, *, key_id: str, address: str) -> int | None:
        """Count a failure. Returns how many earlier failures went unaudited when this one is to be audited, or
        None when it is past the total limit (then it is only counted)."""
        self.failures[0].take(key_id)
        self.failures[1].take(address)
        with self._lock:
            if self.failures_total.take("all"):
                self._unaudited += 1
                return None
            unaudited, self._unaudited = self._unaudited, 0
            return unaudited
