"""Nothing acknowledged is lost: the API (two worker processes sharing one database) is killed with SIGKILL
mid-load and restarted, and the chain is cut off for a while; every acknowledged record is then present,
anchored exactly once, and verifies. A smaller run of scripts/fault_inject.py."""

from __future__ import annotations

import importlib.util

import pytest

from tests.helpers import ROOT


def _fault_script():
    spec = importlib.util.spec_from_file_location("fault_inject", ROOT / "scripts" / "fault_inject.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.hardhat
def test_acknowledged_records_survive_kill_9_and_a_chain_outage(hardhat_node, database_url):
    result = _fault_script().run(records=160, kills=3, outage_s=3.0, database_url=database_url, clients=4,
                                 workers=2, time_limit_s=240, node=hardhat_node, say=lambda _m: None)
    assert result["acknowledged"] == 160
    assert result["acknowledged"] == result["present"] == result["anchored"] == result["verified"]
    assert result["duplicates"] == 0
    assert result["stored"] == 160  # resubmissions after a crash were idempotent
