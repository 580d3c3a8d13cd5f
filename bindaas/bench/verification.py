"""Verification throughput: full reports in process (the /verify path), and the independent verifier over JSON-RPC."""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bindaas.bench._util import pct
from bindaas.chain.client import ChainClient
from bindaas.config import Settings


def verification(data_dir: Path, chain: ChainClient, limit: int = 1000) -> dict[str, float]:
    """Full verification reports per second, in-process, over records stored and anchored by the ingest run: on
    one thread, and on one thread per core (as concurrent ``/verify`` requests run; ML-DSA verification in OpenSSL
    does not hold the GIL)."""
    from bindaas.access.secrets import service_kem_key
    from bindaas.chain.access import AccessChain
    from bindaas.ledger.verify import verify_stored
    from bindaas.store import repository
    from bindaas.store.database import make_engine, make_sessionmaker

    sessions = make_sessionmaker(make_engine(Settings(data_dir=data_dir).resolved_database_url()))
    with sessions() as session:
        rows = repository.records_page(session, after_seq=0, limit=limit)
        batches = repository.batches_by_id(session, ids={r.batch_id for r in rows if r.batch_id})
    access = AccessChain(chain)
    chain.watch()  # as the API does: registry state is read once, then followed by its events
    service_key = service_kem_key(Settings(data_dir=data_dir))

    def valid(row: Any) -> bool:
        # Includes unwrapping the data key (ML-KEM-768) and decrypting the payload: the report path of /verify.
        return verify_stored(row, batches.get(row.batch_id), chain, access, service_key).verdict == "valid"

    for row in rows[:50]:  # warm-up, untimed: parsed keys, anchors and registry state are cached from here on
        valid(row)
    rates = {}
    for threads in (1, os.cpu_count() or 1):
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=threads) as pool:
            verified = sum(pool.map(valid, rows))
        rates[threads] = round(len(rows) / (time.perf_counter() - started), 1)
        if verified != len(rows):
            raise RuntimeError(f"only {verified} of {len(rows)} records verified")
    chain.stop_watching()
    return {"verify_records_per_s": rates[os.cpu_count() or 1], "verify_records_per_s_one_thread": rates[1],
            "verify_threads": os.cpu_count() or 1}


def independent_verification(data_dir: Path, chain: ChainClient, rpc_url: str, limit: int = 200) -> dict[str, float]:
    """The independent verifier (bindaas.verifier) over JSON-RPC, per record: receipts built from records the
    ingest run anchored, bundles decrypted beforehand (as the holder has them), one verification at a time."""
    from bindaas.access.secrets import service_kem_key
    from bindaas.ledger.payload import open_payload
    from bindaas.ledger.receipt import build_receipt
    from bindaas.store import repository
    from bindaas.store.database import make_engine, make_sessionmaker
    from bindaas.verifier import JsonRpcReader, TrustRoot, verify_receipt

    settings = Settings(data_dir=data_dir)
    sessions = make_sessionmaker(make_engine(settings.resolved_database_url()))
    with sessions() as session:
        rows = [r for r in repository.records_page(session, after_seq=0, limit=limit) if r.status == "anchored"]
        batches = repository.batches_by_id(session, ids={r.batch_id for r in rows})
    service_key = service_kem_key(settings)
    cases = [(build_receipt(r, batches[r.batch_id], chain), json.loads(open_payload(r, service_key))) for r in rows]
    trust = TrustRoot(chain.chain_id, chain.deployment.registry.lower(), chain.deployment.anchor.lower(),
                      (chain.deployment.identities or "").lower())
    rpc = JsonRpcReader(rpc_url)
    times = []
    for receipt, bundle in cases:
        started = time.perf_counter()
        verdict = verify_receipt(receipt, bundle, rpc=rpc, trust=trust).verdict
        times.append((time.perf_counter() - started) * 1000)
        if verdict != "valid":
            raise RuntimeError(f"record {receipt['record_id']} did not verify independently: {verdict}")
    return {"independent_verify_ms_p50": pct(times, 50), "independent_verify_ms_p99": pct(times, 99),
            "independent_verify_records": len(times)}
