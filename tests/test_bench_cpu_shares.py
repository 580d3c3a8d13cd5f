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
