"""The bench says where a timed phase's CPU went: the CPU a process group has used is read from /proc, so a busy
server (or chain node) shows up in its own share and not in the client's."""

from __future__ import annotations

import subprocess
import sys

from bindaas.bench._util import CpuShares, group_cpu_s, group_pids

# Burns 0.3 s of CPU, says so, then waits (idle) to be stopped: the test reads a known amount, however loaded.
_BUSY = """
import sys, time
while time.process_time() < 0.3:
    pass
print("ready", flush=True)
sys.stdin.read()
"""


def test_a_busy_process_groups_cpu_is_counted_in_its_own_share():
    busy = subprocess.Popen([sys.executable, "-c", _BUSY], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        shares = CpuShares(server_group=busy.pid, node_group=None)
        shares.start()  # after start-up: counts nothing the group did before
        assert busy.stdout.readline().strip() == "ready"
        assert group_pids(busy.pid) == [busy.pid]
        assert group_cpu_s(busy.pid) >= 0.25  # /proc counts whole clock ticks (10 ms)
        per_record = shares.per_record_ms(records=10)
        assert set(per_record) == {"server", "client"}
        assert per_record["server"] > per_record["client"]
    finally:
        busy.stdin.close()
        busy.wait(timeout=10)
    assert group_pids(busy.pid) == []


# Each kind of thread burns a known amount of CPU after "go": a named thread (as the anchorer is), a request-like
# thread left unnamed, one that ends before the reading, and the main thread. All but the ended one stay alive.
_THREADS = """
import sys, threading, time
from bindaas.threads import named_thread

def burn(seconds):
    start = time.thread_time()
    while time.thread_time() - start < seconds:
        pass

hold = threading.Event()
burnt = [threading.Event(), threading.Event()]
def then_hold(seconds, index):
    burn(seconds)
    burnt[index].set()
    hold.wait()

print("ready", flush=True)
sys.stdin.readline()
threads = [named_thread(lambda: then_hold(0.3, 0), "anchorer"), threading.Thread(target=then_hold, args=(0.2, 1)),
           threading.Thread(target=burn, args=(0.1,))]
for thread in threads:
    thread.start()
burn(0.15)
threads[2].join()
for event in burnt:
    event.wait()
print("done", flush=True)
sys.stdin.read()
hold.set()
"""


def test_the_servers_cpu_is_told_by_thread_named_ones_apart_from_request_threads_and_the_event_loop():
    process = subprocess.Popen([sys.executable, "-c", _THREADS], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               text=True, start_new_session=True)
    try:
        assert process.stdout.readline().strip() == "ready"
        shares = CpuShares(server_group=process.pid, node_group=None)
        shares.start()
        process.stdin.write("go\n")
        process.stdin.flush()
        assert process.stdout.readline().strip() == "done"
        by_thread = shares.server_threads_ms(records=1)
        # /proc counts whole clock ticks (10 ms); each share is within a few of them
        assert 260 <= by_thread["anchorer"] <= 360
        assert 160 <= by_thread["request_threads"] <= 260
        assert 120 <= by_thread["event_loop"] <= 220
        assert 60 <= by_thread["ended_threads"] <= 160
        assert list(by_thread)[0] == "anchorer"  # largest first
    finally:
        process.stdin.close()
        process.wait(timeout=10)
