"""Submit->anchored and submit->final latency on a chain that seals a block on an interval, as a PoA consortium
chain does."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import httpx

from bindaas.bench._util import pct, scratch_dir
from bindaas.chain.hardhat import HardhatNode
from bindaas.config import Settings
from bindaas.demo import deploy_authorities, signed_envelopes


def interval_mining(bundles: list[dict], *, interval_s: float = 1.0, confirmations: int = 2, records: int = 200,
                    rate_per_s: float = 20.0) -> dict[str, Any]:
    """Submit→anchored and submit→final latency on a chain that seals a block every ``interval_s`` (as a PoA
    consortium chain does) instead of one per transaction: a Hardhat node with automine off and interval mining
    on, the API in process, ``confirmations`` blocks for finality, records sent at a steady ``rate_per_s``."""
    from bindaas.api.app import create_app
    from bindaas.api.server import running_server
    from bindaas.api.services import build_services
    from bindaas.client import BindaasClient

    node = HardhatNode()
    try:
        chain, authorities = deploy_authorities(node.url)
        envelopes = signed_envelopes([bundles[i % len(bundles)] for i in range(records)], chain, authorities)
        for method, params in (("evm_setAutomine", [False]), ("evm_setIntervalMining", [int(interval_s * 1000)])):
            httpx.post(node.url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).raise_for_status()
        data_dir = scratch_dir("bindaas-interval-")
        settings = Settings(data_dir=data_dir, confirmations=confirmations, fhir_validation="schema")
        services = build_services(settings, chain)
        with running_server(create_app(settings, services=services)) as url, \
                BindaasClient(url, key=authorities[0].key) as client:
            ids = []
            for envelope in envelopes:
                started = time.perf_counter()
                ids.append(client.submit(envelope)["id"])
                time.sleep(max(0.0, 1 / rate_per_s - (time.perf_counter() - started)))
            deadline = time.monotonic() + 120
            while not all((client.status(rid)["anchor"] or {}).get("final") for rid in ids[-5:]):
                if time.monotonic() > deadline:
                    raise TimeoutError("records did not become final within 120 s")
                time.sleep(0.2)
            time.sleep(1.0)
        services.engine.dispose()
        anchored, final = _final_latencies(settings.resolved_database_url())
    finally:
        node.stop()
    return {"interval_mining_s": interval_s, "interval_confirmations": confirmations, "interval_records": records,
            "interval_submit_to_anchored_p50_ms": pct(anchored, 50),
            "interval_submit_to_anchored_p99_ms": pct(anchored, 99),
            "interval_submit_to_final_p50_ms": pct(final, 50), "interval_submit_to_final_p99_ms": pct(final, 99)}


def _final_latencies(database_url: str) -> tuple[list[float], list[float]]:
    """submit->anchored and submit->final per record, in ms, from the store."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT r.accepted_at, b.anchored_at, b.final_at FROM records r JOIN batches b "
                                 "ON r.batch_id = b.id WHERE b.final_at IS NOT NULL")).all()
    engine.dispose()
    parse = (lambda v: datetime.fromisoformat(v) if isinstance(v, str) else v)
    return ([(parse(b) - parse(a)).total_seconds() * 1000 for a, b, _ in rows],
            [(parse(c) - parse(a)).total_seconds() * 1000 for a, _, c in rows])
