"""`bindaas serve --workers N`: N API processes behind one listening socket. The supervisor accepts each connection
and hands it to the next worker in turn (the descriptor passed over a Unix socket), so N keep-alive connections
opened together land N / workers on each.

uvicorn's own supervisor shares the listening socket, and a worker's event loop accepts every connection waiting
when it wakes: a burst of keep-alive connections (a load generator's, an importer's parallel streams) lands on
whichever worker woke first. Measured on two workers under 32 concurrent clients: one worker served ~90% of the
requests while the other's core idled. A socket of its own per worker, bound with ``SO_REUSEPORT``, spread them by
a hash of their addresses instead: fair on average, but an importer's four streams went all to one worker in about
one run in eight (639 records/s, against ~900 when spread), and three to one in half of them. Workers accepting one
connection per wake-up of a shared socket did no better: the worker the kernel wakes first took 21 of 24.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from typing import Any

from bindaas.config import Settings
from bindaas.threads import named_thread

log = logging.getLogger(__name__)

STOP_WAIT_S = 30.0
_ACCEPT_POLL_S = 0.5  # how often the accepting thread looks whether the server is stopping


def connection_handover_supported() -> bool:
    """Whether this platform can hand accepted connections to worker processes (``SCM_RIGHTS``; Linux can)."""
    return hasattr(socket, "send_fds") and sys.platform.startswith("linux")


def worker_cores(workers: int, *, pin: bool) -> list[int | None]:
    """The core each worker slot runs on: one of its own, from the cores this process may use, when ``pin`` and
    there are as many; else None for every slot (the scheduler places its threads).

    Left to the scheduler, a worker's event loop, intake and writer threads moved between the cores and among the
    other worker's, and each thread found caches the others had filled. 3,000 single submissions on Hardhat (32
    connections, two workers, four runs in ABBA order, the ingest floor measured around each): pinned, 654.2 and
    810.2 records/s, 0.528 and 0.594 of the floor, the cores busy 97.9% and 98.6% of the time; unpinned, 555.0 and
    659.7 records/s, 0.537 and 0.474, busy 92.6% and 94.6%. In the last two runs, with the same floor (essential work
    1.47 and 1.44 ms a record), the intake thread took 1.45 ms a record pinned against 1.65 unpinned. nginx places
    its workers so (``worker_cpu_affinity``)."""
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if not pin or workers < 2 or len(cores) < workers:
        return [None] * workers
    return list(cores[:workers])


def _listening_socket(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.settimeout(_ACCEPT_POLL_S)
    return sock



class _Dispatcher:
    """Accepts connections on the listening socket, in a thread of the supervisor, and passes each to the next
    worker's channel in turn; a worker that died is skipped until it is replaced."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._channels: list[tuple[socket.socket, Any]] = []  # (our end, the worker's ready event) by slot
        self._turn = 0
        self._stop = threading.Event()
        self._thread = named_thread(self._run, "accept")

    def channel(self, slot: int, ready: Any) -> socket.socket:
        """A new channel for the worker in ``slot`` (replacing the old one), used once ``ready`` is set; returns
        the worker's end."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        if slot < len(self._channels):
            previous, self._channels[slot] = self._channels[slot], (ours, ready)
            previous[0].close()
        else:
            self._channels.append((ours, ready))
        return theirs

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self.running:
            self._thread.join(timeout=2 * _ACCEPT_POLL_S)
        self._sock.close()
        for channel, _ in self._channels:
            channel.close()  # each worker reads the end of its channel and stops taking connections

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._sock.accept()
            except (TimeoutError, InterruptedError, ConnectionAbortedError):
                continue
            with connection:  # our copy: the worker holds its own once the message is sent
                self._hand_over(connection)

    def _hand_over(self, connection: socket.socket) -> None:
        # Workers that serve first, in turn; one still starting (a replacement) only when none serves: it takes
        # the connection once it is up.
        for starting_too in (False, True):
            for _ in range(len(self._channels)):
                self._turn = (self._turn + 1) % len(self._channels)
                channel, ready = self._channels[self._turn]
                if not (starting_too or ready.is_set()):
                    continue
                try:
                    socket.send_fds(channel, [b"c"], [connection.fileno()])
                    return
                except OSError:  # that worker died; the supervisor replaces it
                    continue
        log.error("no API worker took a connection; it is closed")


def _worker(channel: socket.socket, log_level: str, ready: Any, core: int | None) -> None:
    if core is not None:  # before any thread starts: every thread of this worker inherits it
        os.sched_setaffinity(0, {core})
    import asyncio
    import functools

    import uvicorn

    from bindaas.observability.logs import configure

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=[])  # the app's start-up; connections come from the supervisor
            if self.should_exit:
                return
            loop = asyncio.get_running_loop()
            protocol = functools.partial(self.config.http_protocol_class, config=self.config,
                                         server_state=self.server_state, app_state=self.lifespan.state)

            def take() -> None:
                try:
                    _, descriptors, _, _ = socket.recv_fds(channel, 16, 4)
                except (BlockingIOError, InterruptedError):
                    return
                if not descriptors:  # the supervisor closed the channel: it is stopping
                    loop.remove_reader(channel.fileno())
                    return
                for descriptor in descriptors:
                    connection = socket.socket(fileno=descriptor)
                    connection.setblocking(False)
                    loop.create_task(loop.connect_accepted_socket(protocol, connection))

            channel.setblocking(False)
            loop.add_reader(channel.fileno(), take)
            ready.set()  # the app started and this worker takes connections

        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            asyncio.get_running_loop().remove_reader(channel.fileno())
            await super().shutdown(sockets=sockets)

    configure(log_level)
    config = uvicorn.Config("bindaas.api.app:create_app", factory=True, log_level=log_level, log_config=None)
    Server(config).run()


def serve_workers(*, host: str, port: int, workers: int, log_level: str) -> int:
    """Run ``workers`` API processes on ``host:port`` until SIGTERM or SIGINT; a worker that dies is replaced.
    Returns the exit status: 0, or the status of a worker that failed to start."""
    try:
        dispatcher = _Dispatcher(_listening_socket(host, port))
    except OSError as exc:
        log.error("cannot listen on %s:%s: %s", host, port, exc)
        return 1
    context = multiprocessing.get_context("spawn")
    cores = worker_cores(workers, pin=Settings().pin_workers)
    ready: dict[int, Any] = {}  # pid -> set once that worker serves

    def start(slot: int) -> BaseProcess:
        event = context.Event()
        theirs = dispatcher.channel(slot, event)
        process = context.Process(target=_worker, args=(theirs, log_level, event, cores[slot]),
                                  name="bindaas-api")
        process.start()
        theirs.close()  # the worker holds its end now
        ready[process.pid] = event
        return process

    processes = [start(slot) for slot in range(workers)]
    stopping: list[int] = []

    def stop(signum: int, _frame: Any) -> None:
        stopping.append(signum)
        if signum == signal.SIGTERM:  # SIGINT from a terminal reaches the workers by itself
            for process in processes:
                if process.is_alive():
                    process.terminate()

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    status = 0
    try:
        while not stopping:
            wait([p.sentinel for p in processes], timeout=1.0 if dispatcher.running else 0.05)
            if not dispatcher.running and all(ready[p.pid].is_set() for p in processes if p.is_alive()):
                # Connections wait in the listen queue until every worker is up: handed out as they came, a load
                # generator's, opened when the first worker answered, all went to that one.
                dispatcher.start()
            for i, process in enumerate(processes):
                if process.is_alive() or stopping:
                    continue
                if not ready.pop(process.pid).is_set():
                    log.error("an API worker exited with status %s while starting; stopping", process.exitcode)
                    status = process.exitcode or 1
                    stopping.append(0)
                    break
                log.warning("API worker %s exited with status %s; starting another", process.pid, process.exitcode)
                processes[i] = start(i)
    finally:
        dispatcher.stop()
        if stopping[:1] != [signal.SIGINT]:
            for process in processes:
                if process.is_alive():
                    process.terminate()
        _stop_all(processes)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return status


def _stop_all(processes: list[BaseProcess]) -> None:
    deadline = time.monotonic() + STOP_WAIT_S
    for process in processes:
        process.join(timeout=max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=5)
        if process.is_alive():
            process.kill()
