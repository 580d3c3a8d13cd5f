"""Ingest and chain costs: computation and communication per record, gas by batch size, the one-transaction-
per-record baseline, and ingest over real HTTP against a local chain node and the embedded chain."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import statistics
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import httpx

from bindaas.bench._util import CpuShares, pct, served
from bindaas.bench.loadgen import post_all
from bindaas.chain.client import ChainClient
from bindaas.config import Settings
from bindaas.crypto.canonical import canonical_json
from bindaas.crypto.digest import new_salt, record_digest, record_leaf
from bindaas.crypto.merkle import merkle_root_and_proofs, root_from_proof
from bindaas.crypto.mldsa import OWNER_CONTEXT, PrivateKey


def _timed_us(fn: Callable[[], Any], n: int, rounds: int = 5) -> float:
    """Mean µs per call in the fastest of ``rounds`` rounds of ``n`` calls (the usual timeit rule: slower rounds
    measure other work on the machine, not the function)."""
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - started) / n)
    return round(best * 1e6, 1)


def computation(bundle: dict) -> dict[str, Any]:
    key = PrivateKey.generate()
    public = key.public_key()
    message = b"x" * 100
    signature = key.sign(message, context=OWNER_CONTEXT)
    salt = new_salt()
    canonical = canonical_json(bundle)
    leaves = [hashlib.sha3_256(i.to_bytes(4, "big")).digest() for i in range(1000)]
    root, proofs = merkle_root_and_proofs(leaves)
    return {
        "mldsa65_keygen_us": _timed_us(PrivateKey.generate, 200),
        "mldsa65_sign_us": _timed_us(lambda: key.sign(message, context=OWNER_CONTEXT), 300),
        "mldsa65_verify_us": _timed_us(lambda: public.verify(signature, message, context=OWNER_CONTEXT), 300),
        "canonical_json_us": _timed_us(lambda: canonical_json(bundle), 500),
        "sha3_digest_us": _timed_us(lambda: record_digest(canonical, salt), 2000),
        "merkle_proof_verify_us_batch1000": _timed_us(lambda: root_from_proof(leaves[7], proofs[7]), 2000),
    }


def communication(envelopes: list[str], synthea: str | None) -> dict[str, Any]:
    leaves = [record_leaf(bytes(32), i) for i in range(1000)]
    _, proofs = merkle_root_and_proofs(leaves)
    proof_json = json.dumps([s.to_json() for s in proofs[0]])
    return {
        "envelope_bytes_framingham_mean": round(statistics.mean(len(e) for e in envelopes)),
        "envelope_bytes_synthea": len(synthea) if synthea else None,
        "verification_proof_bytes_batch1000": {"json": len(proof_json), "raw": 33 * len(proofs[0])},
        "on_chain_batch_calldata_bytes": 4 + 32 + 32,  # anchorBatch(bytes32 root, uint32 count)
        "on_chain_per_batch_storage_bytes": 64,  # two slots: root -> (block, time, count, submitter)
    }


def gas_per_record(chain: ChainClient) -> dict[str, Any]:
    chain.anchor_batch(os.urandom(32), 1)  # the first anchor also initialises the batch counter
    out = {}
    for size in (1, 10, 100, 1000):
        leaves = [os.urandom(32) for _ in range(size)]
        root, _ = merkle_root_and_proofs(leaves)
        receipt = chain.anchor_batch(root, size)
        out[str(size)] = round(receipt.gas_used / size, 2)
    out["ratio_1000_to_1"] = round(out["1000"] / out["1"], 5)
    return out


def baseline_per_tx(chain: ChainClient, records: int) -> float:
    """Records anchored one transaction each, as an anchorer without batching would."""
    started = time.perf_counter()
    for _ in range(records):
        chain.anchor_batch(os.urandom(32), 1)
    return round(records / (time.perf_counter() - started), 1)


def _sign_in(url: str, key: Any) -> dict[str, str]:
    """The handshake, once per run (as a hospital's submitting system would), outside the timed phase."""
    from bindaas.client import BindaasClient

    with BindaasClient(url, key=key) as client:
        return {"authorization": f"Bearer {client.sign_in()['access_token']}"}


def _wait_identity_index(url: str, auth: dict[str, str], timeout_s: float = 600) -> float:
    """Seconds until the workers' identity indexes hold every enrolment (the owners were enrolled before the server
    started, so each worker back-fills them from the registry's events): the timed phases measure a server that has
    been running, and the start-up cost is reported on its own. Each /health lands on one worker; 16 fresh
    connections in a row all answering "complete" is taken as all of them."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        states = [httpx.get(f"{url}/health", headers=auth, timeout=10).json().get("identity_index")
                  for _ in range(16)]
        if all(state is None or state["complete"] for state in states):
            return round(time.monotonic() - started, 2)
        time.sleep(0.1)
    raise TimeoutError("the identity index was not complete in time")


def _load(url: str, path: str, bodies: list[bytes], concurrency: int, duration_s: float,
          auth: dict[str, str]) -> tuple[int, float]:
    """Send ``bodies`` with ``concurrency`` in flight until done or ``duration_s``; returns (records acknowledged,
    seconds). A bulk answer acknowledges the records it says it accepted."""
    result = asyncio.run(post_all(url, path, bodies, concurrency=concurrency, duration_s=duration_s, headers=auth,
                                  expect=(200, 202), keep_bodies=path.endswith("/bulk")))
    acknowledged = sum(json.loads(body)["accepted"] for body in result.bodies) if result.bodies else result.answered
    return acknowledged, result.seconds


def _store_latencies(database_url: str) -> tuple[list[float], list[float]]:
    """submit->anchored (accepted_at -> batch anchored_at) per record, and sealed -> mined per batch, in ms."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT r.accepted_at, b.anchored_at FROM records r JOIN batches b "
                                 "ON r.batch_id = b.id WHERE b.anchored_at IS NOT NULL")).all()
        batches = conn.execute(text("SELECT sealed_at, anchored_at FROM batches WHERE anchored_at IS NOT NULL "
                                    "AND sealed_at IS NOT NULL")).all()
    engine.dispose()

    def ms(a: Any, b: Any) -> float:
        parse = (lambda v: datetime.fromisoformat(v) if isinstance(v, str) else v)  # SQLite returns text
        return (parse(b) - parse(a)).total_seconds() * 1000

    return [ms(a, b) for a, b in rows], [ms(a, b) for a, b in batches]


def _wait_anchored(url: str, expected: int, auth: dict[str, str], timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        counts = httpx.get(f"{url}/health", headers=auth, timeout=10).json()["records"]  # counts need a token
        if counts.get("anchored", 0) >= expected and not counts.get("accepted"):
            return
        time.sleep(0.2)
    raise TimeoutError("records were not all anchored in time")


def ingest(node_url: str, bodies: list[bytes], bulk_bodies: list[bytes], import_lines: list[bytes], *, workers: int,
           concurrency: int, duration_s: float, data_dir: Path, deployment: Any, submitter: Any,
           node_group: int | None = None) -> dict[str, Any]:
    """Single-record POSTs, then `POST /records/bulk` (100 a request), then the streaming NDJSON import of
    ``import_lines`` (fresh envelopes), all against one server; each phase waits until its records are anchored.
    The single-record and import phases also say where their CPU went (``CpuShares``; the chain node's share when
    its process group ``node_group`` is given), and the server's by thread."""
    deployment.save(data_dir / "deployment.json")
    with served(data_dir, node_url, workers=workers) as (url, server_group):
        shares = CpuShares(server_group=server_group, node_group=node_group)
        auth = _sign_in(url, submitter)
        index_ready_s = _wait_identity_index(url, auth)
        shares.start()
        acknowledged, seconds = _load(url, "/records", bodies, concurrency, duration_s, auth)
        single_cpu, single_threads = shares.per_record_ms(acknowledged), shares.server_threads_ms(acknowledged)
        _wait_anchored(url, acknowledged, auth)
        latencies, mining = _store_latencies(Settings(data_dir=data_dir).resolved_database_url())
        bulk_ack, bulk_s = _load(url, "/records/bulk", bulk_bodies, 4, duration_s, auth)
        _wait_anchored(url, acknowledged + bulk_ack, auth)
        imported, import_s, import_cpu, import_threads = _stream_import(url, import_lines, submitter, data_dir,
                                                                        shares)
        _wait_anchored(url, acknowledged + bulk_ack + imported, auth)
    return {"ingest_records_per_s": round(acknowledged / seconds, 1), "ingest_records": acknowledged,
            "ingest_latency_p50_ms": pct(latencies, 50), "ingest_latency_p99_ms": pct(latencies, 99),
            "mining_time_p50_ms": pct(mining, 50), "mining_time_p99_ms": pct(mining, 99),
            "bulk_request_records_per_s": round(bulk_ack / bulk_s, 1), "bulk_records": bulk_ack,
            "import_records_per_s": round(imported / import_s, 1), "import_records": imported,
            "ingest_cpu_ms_per_record": single_cpu, "import_cpu_ms_per_record": import_cpu,
            "ingest_server_threads_ms_per_record": single_threads,
            "import_server_threads_ms_per_record": import_threads,
            "api_workers": workers, "client_concurrency": concurrency, "fhir_validation": "schema",
            "identity_index_ready_s": index_ready_s}


def _stream_import(url: str, lines: list[bytes], submitter: Any, data_dir: Path,
                   shares: CpuShares) -> tuple[int, float, dict[str, float], dict[str, float]]:
    """`bindaas import-ndjson` of ``lines`` (as a file): records accepted, the seconds it took, its CPU per record
    by share, and the server's by thread."""
    import io

    from bindaas.client import BindaasClient
    from bindaas.ndjson_import import Progress, import_file

    path = data_dir / "import.ndjson"
    path.write_bytes(b"".join(line.rstrip(b"\n") + b"\n" for line in lines))
    with BindaasClient(url, key=submitter, timeout_s=600) as client:
        client.sign_in()
        shares.start()
        started = time.perf_counter()
        # Four streams in flight, as the bulk phase keeps four requests in flight (while one stream's group waits
        # on the chain node for its owners' identities, another's is checked), each a quarter of the file: with
        # slices of 500, the last third of the time ran two streams, at times both on one worker, the other idle.
        summary = import_file(client, path, slice_bytes=-(-path.stat().st_size // 4), parallel=4,
                              progress=Progress(path.stat().st_size, out=io.StringIO()))
        seconds = time.perf_counter() - started
        cpu, threads = shares.per_record_ms(summary["accepted"]), shares.server_threads_ms(summary["accepted"])
    if summary["refused"]:
        raise RuntimeError(f"the import refused {summary['refused']} envelopes: {summary.get('first_refusals')}")
    return summary["accepted"], seconds, cpu, threads


def embedded_ingest(bodies: list[bytes], chain: ChainClient, *, concurrency: int, duration_s: float,
                    data_dir: Path, submitter: Any) -> dict[str, Any]:
    from bindaas.api.app import create_app
    from bindaas.api.server import running_server
    from bindaas.api.services import build_services

    settings = Settings(data_dir=data_dir, fhir_validation="schema", batch_size=1000)
    services = build_services(settings, chain)
    with running_server(create_app(settings, services=services)) as url:
        auth = _sign_in(url, submitter)
        acknowledged, seconds = _load(url, "/records", bodies, concurrency, duration_s, auth)
        _wait_anchored(url, acknowledged, auth)
    services.engine.dispose()
    latencies, _ = _store_latencies(settings.resolved_database_url())
    return {"ingest_records_per_s": round(acknowledged / seconds, 1), "ingest_records": acknowledged,
            "ingest_latency_p50_ms": pct(latencies, 50), "ingest_latency_p99_ms": pct(latencies, 99)}
