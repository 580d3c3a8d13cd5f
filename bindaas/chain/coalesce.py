"""Concurrent reads of single keys coalesced into one batched call.

Request threads that each need one identity from the chain would each cost the node a call (about 1 ms of its
CPU on Hardhat, on the same cores as the API). Here the first thread to ask calls at once; threads asking while
that call is in flight gather into the next call, which one of them makes as soon as the first returns. Nobody
waits on a timer: alone, a read is one call as before; under load, calls carry as many keys as arrived meanwhile.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

Key = TypeVar("Key", bound=Hashable)
Value = TypeVar("Value")


class _Call(Generic[Key, Value]):
    __slots__ = ("keys", "done", "values", "error")

    def __init__(self) -> None:
        self.keys: set[Key] = set()
        self.done = False
        self.values: dict[Key, Value] = {}
        self.error: BaseException | None = None


class CoalescedReads(Generic[Key, Value]):
    """``read(key)`` answers from ``fetch(keys)``, one call for all the keys asked for meanwhile; an error the
    call raises is raised to every thread whose key it carried."""

    def __init__(self, fetch: Callable[[list[Key]], dict[Key, Value]], *, most: int = 256) -> None:
        self._fetch = fetch
        self._most = most
        self._cond = threading.Condition()
        self._waiting: deque[_Call[Key, Value]] = deque()  # calls to make, in order; the last gathers keys
        self._in_flight = False

    @property
    def queued(self) -> int:
        """Keys waiting for a call that has not started yet."""
        with self._cond:
            return sum(len(call.keys) for call in self._waiting)

    def read(self, key: Key) -> Value:
        """The value ``fetch`` gives for ``key``."""
        with self._cond:
            if not self._waiting or len(self._waiting[-1].keys) >= self._most:
                self._waiting.append(_Call())
            call = self._waiting[-1]
            call.keys.add(key)
            while not call.done:
                if not self._in_flight and self._waiting[0] is call:
                    self._in_flight = True
                    self._waiting.popleft()
                    break  # this thread makes the call
                self._cond.wait()
            else:
                return self._answer(call, key)
        try:
            call.values = self._fetch(list(call.keys))
        except BaseException as exc:  # noqa: BLE001 - every waiting thread hears of it
            call.error = exc
        with self._cond:
            call.done = True
            self._in_flight = False
            self._cond.notify_all()
        return self._answer(call, key)

    @staticmethod
    def _answer(call: _Call[Key, Value], key: Key) -> Value:
        if call.error is not None:
            raise call.error
        return call.values[key]
