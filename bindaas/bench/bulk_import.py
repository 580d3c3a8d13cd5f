"""The streaming import at scale: N Framingham-derived signed envelopes (owners enrolled, every envelope signed by
its owner and three authorities ahead of the timed phase, in worker processes) streamed from an NDJSON file into
``bindaas serve --workers 2`` on a local chain node (Hardhat unless told); records/s, the server's peak memory,
that every record is anchored and verifies, and the ingest floor over the file's first lines, in the same run."""

from __future__ import annotations

import io
import os
import time
from concurrent.futures import ProcessPoolExecutor
from itertools import islice
from pathlib import Path
from typing import Any

from bindaas.bench._util import group_pids, machine, scratch_dir, served
from bindaas.bench.floor import FLOOR_BODIES, floor_across, ingest_floor_in_fresh_process
from bindaas.chain.hardhat import NODES
from bindaas.config import Settings
from bindaas.crypto.mldsa import PrivateKey
from bindaas.demo import deploy_authorities, enroll_patients
from bindaas.fhir.datasets import dataset_bundles
from bindaas.ledger.envelope import build_envelope, endorse


def _sign_slice(args: tuple) -> list[bytes]:
    """Sign one slice of envelopes in a worker process (keys travel as seeds)."""
    bundles, owner_seeds, authority_seeds, addresses, chain_id, registry = args
    authorities = [(PrivateKey(seed), address) for seed, address in zip(authority_seeds, addresses)]
    out = []
    for bundle, seed in zip(bundles, owner_seeds):
        envelope = build_envelope(bundle, owner=PrivateKey(seed), chain_id=chain_id, registry=registry)
        for key, address in authorities:
            envelope = endorse(envelope, authority_key=key, authority=address)
        out.append(envelope.model_dump_json().encode() + b"\n")
    return out


def _peak_rss_kb(group: int) -> int:
    """Sum of the peak resident sizes (VmHWM) of every live process in process group ``group``."""
    total = 0
    for pid in group_pids(group):
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
        except (OSError, ValueError):
            continue
    return total


def bulk_import(records: int = 100_000, *, patients: int = 1000, workers: int = 2, node_name: str = "hardhat",
                say: Any = print) -> dict[str, Any]:
    from bindaas.client import BindaasClient
    from bindaas.ndjson_import import Progress, import_file

    node = NODES[node_name]()
    data_dir = scratch_dir("bindaas-import-")
    try:
        chain, authorities = deploy_authorities(node.url)
        owners = [PrivateKey.generate() for _ in range(min(patients, records))]
        enroll_patients(chain, owners)
        source = list(dataset_bundles("framingham"))
        file = data_dir / "history.ndjson"
        started = time.perf_counter()
        slices = []
        for start in range(0, records, 1000):
            count = min(1000, records - start)
            slices.append(([source[(start + i) % len(source)] for i in range(count)],
                           [owners[(start + i) % len(owners)].seed for i in range(count)],
                           [a.key.seed for a in authorities], [a.address for a in authorities],
                           chain.chain_id, chain.deployment.registry))
        with file.open("wb") as out, ProcessPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            for lines in pool.map(_sign_slice, slices):
                out.writelines(lines)
        say(f"signed {records} envelopes ({file.stat().st_size / 1e9:.2f} GB) in {time.perf_counter() - started:.0f} s")
        floor_before = _floor_of_first_lines(file, node.url, chain.deployment)

        chain.deployment.save(data_dir / "deployment.json")
        with served(data_dir, node.url, workers=workers, token_ttl_s="86400") as (url, group), \
                BindaasClient(url, key=authorities[0].key, timeout_s=600) as client:
            summary = import_file(client, file, progress=Progress(file.stat().st_size, out=io.StringIO()))
            peak_kb = _peak_rss_kb(group)
            deadline = time.monotonic() + 600
            while (counts := client.health()["records"]).get("anchored", 0) < records:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"not all anchored: {counts}")
                time.sleep(1)
        floor = floor_across(floor_before, _floor_of_first_lines(file, node.url, chain.deployment))
        say(f"imported: {summary['records_per_s']} records/s; verifying every record")
        valid = _verify_all(data_dir, chain)
    finally:
        node.stop()
    return {"machine": machine(), "chain_node": node_name, "import_records": records,
            "import_patients": len(owners), "import_records_per_s": summary["records_per_s"],
            "import_seconds": summary["seconds"], "import_refused": summary["refused"],
            "import_server_peak_rss_mb": round(peak_kb / 1024, 1), "import_file_gb": round(file.stat().st_size / 1e9, 2),
            "import_anchored": counts.get("anchored", 0), "import_verified_valid": valid, "floor": floor,
            "import_vs_floor": round(summary["records_per_s"] / floor["ingest_floor_records_per_s"], 3)}


def _floor_of_first_lines(file: Path, rpc_url: str, deployment: Any) -> dict[str, float]:
    """The ingest floor (``bindaas.bench.floor``) over the file's first lines, in the same run as the import (taken
    before and after it, and merged by ``floor_across``)."""
    with file.open("rb") as handle:
        bodies = [line.rstrip(b"\n") for line in islice(handle, FLOOR_BODIES)]
    return ingest_floor_in_fresh_process(bodies, rpc_url, deployment, settings=Settings(fhir_validation="schema"))


def _verify_all(data_dir: Path, chain: Any) -> int:
    from bindaas.access.secrets import service_kem_key
    from bindaas.chain.access import AccessChain
    from bindaas.ledger.verify import open_and_verify_all
    from bindaas.store import repository
    from bindaas.store.database import make_engine, make_sessionmaker

    settings = Settings(data_dir=data_dir)
    sessions = make_sessionmaker(make_engine(settings.resolved_database_url()))
    key, access, valid, after = service_kem_key(settings), AccessChain(chain), 0, 0
    chain.watch()
    try:
        while True:
            with sessions() as session:
                rows = repository.records_page(session, after_seq=after, limit=2000)
                batches = repository.batches_by_id(session, ids={r.batch_id for r in rows if r.batch_id})
            if not rows:
                return valid
            after = rows[-1].seq
            reports = open_and_verify_all(rows, batches, chain, access, key,
                                          threads=settings.resolved_verify_threads())
            valid += sum(report.verdict == "valid" for report, _ in reports)
    finally:
        chain.stop_watching()
