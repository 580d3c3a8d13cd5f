"""`bindaas bench`: every measurement, in one run on this machine."""

from __future__ import annotations

import json
from functools import partial
from typing import Any, Callable

from bindaas.bench._util import machine, scratch_dir
from bindaas.bench.clinical import clinical_interop
from bindaas.bench.finality import interval_mining
from bindaas.bench.floor import FLOOR_BODIES, floor_across, ingest_floor_in_fresh_process
from bindaas.bench.imaging import imaging_bench
from bindaas.bench.ingest import baseline_per_tx, communication, computation, embedded_ingest, gas_per_record, ingest
from bindaas.bench.verification import independent_verification, verification
from bindaas.chain.hardhat import NODES, ROOT
from bindaas.config import Settings
from bindaas.demo import deploy_authorities, signed_envelope, signed_envelopes
from bindaas.fhir.datasets import dataset_bundles


def run_bench(*, records: int = 3000, duration_s: float = 20.0, workers: int = 2, concurrency: int = 32,
              predict: bool = True, node_name: str = "hardhat", say: Callable[[str], None] = print) -> dict[str, Any]:
    """Every measurement, in one run on this machine. The chain node (``node_name``, one of ``NODES``) runs on the
    same cores as the server and takes its share of them; its ingest figures are kept under its name."""
    if records < FLOOR_BODIES:
        raise ValueError(f"the bench needs at least {FLOOR_BODIES} records (the ingest floor alone checks that many)")
    result: dict[str, Any] = {"machine": machine(), "chain_node": node_name}
    bundles = list(dataset_bundles("framingham", limit=min(records, 4240)))
    result["computation"] = computation(bundles[0])
    say("computation costs measured")
    node = NODES[node_name]()
    try:
        chain, authorities = deploy_authorities(node.url)
        say(f"signing 3 x {records} envelopes before the timed phase")
        cycled = [bundles[i % len(bundles)] for i in range(records)]
        bodies = [e.model_dump_json().encode() for e in signed_envelopes(cycled, chain, authorities)]
        bulk_envelopes = [e.model_dump_json() for e in signed_envelopes(cycled, chain, authorities)]
        bulk_bodies = [("{\"envelopes\":[" + ",".join(bulk_envelopes[i:i + 100]) + "]}").encode()
                       for i in range(0, len(bulk_envelopes), 100)]
        import_lines = [e.model_dump_json().encode() for e in signed_envelopes(cycled, chain, authorities)]
        synthea = None
        samples = sorted((ROOT.parent / "shared" / "fhir-samples").glob("*.json"))
        if samples:
            synthea = signed_envelope(json.loads(samples[0].read_text()), chain, authorities).model_dump_json()
        result["communication"] = communication([b.decode() for b in bodies[:200]], synthea)
        data_dir = scratch_dir()
        measure_floor = partial(ingest_floor_in_fresh_process, bodies[:FLOOR_BODIES], node.url, chain.deployment,
                                settings=Settings(fhir_validation="schema"))
        say("the ingest floor: essential acceptance CPU per record, in a fresh process, before the ingest phases")
        floor_before = measure_floor()
        say(f"ingest over HTTP against the {node_name} node")
        result[node_name] = ingest(node.url, bodies, bulk_bodies, import_lines, workers=workers,
                                   concurrency=concurrency, duration_s=duration_s, data_dir=data_dir,
                                   deployment=chain.deployment, submitter=authorities[0].key,
                                   node_group=node.proc.pid)
        say("the ingest floor again, after the ingest phases")
        floor = floor_across(floor_before, measure_floor())
        result["floor"] = floor
        result["floor"]["ingest_vs_floor"] = round(result[node_name]["ingest_records_per_s"]
                                                   / floor["ingest_floor_records_per_s"], 3)
        # Bulk ingest is the streaming import (the definition); the bulk request route is shown beside it.
        result["floor"]["bulk_vs_floor"] = round(result[node_name]["import_records_per_s"]
                                                 / floor["ingest_floor_records_per_s"], 3)
        result["floor"]["bulk_request_vs_floor"] = round(result[node_name]["bulk_request_records_per_s"]
                                                         / floor["ingest_floor_records_per_s"], 3)
        result.update(verification(data_dir, chain))
        result.update(independent_verification(data_dir, chain, node.url))
        say("baseline: one transaction per record")
        result["baseline_per_tx_records_per_s"] = baseline_per_tx(chain, 200)
        result["gas_per_record"] = gas_per_record(chain)
    finally:
        node.stop()
    say("submit -> final under interval mining (a block a second, 2 confirmations)")
    result.update(interval_mining(bundles))
    say("CDS Hooks and FHIR search latency over HTTP")
    result.update(clinical_interop())
    say("ingest over HTTP against the embedded chain")
    embedded_chain, embedded_authorities = deploy_authorities(None)
    embedded_bodies = [e.model_dump_json().encode() for e in
                       signed_envelopes(bundles[:min(records, 1500)], embedded_chain, embedded_authorities)]
    result["embedded"] = embedded_ingest(embedded_bodies, embedded_chain, concurrency=concurrency,
                                         duration_s=duration_s, data_dir=scratch_dir(),
                                         submitter=embedded_authorities[0].key)
    for key in ("ingest_records_per_s", "ingest_latency_p50_ms", "ingest_latency_p99_ms", "mining_time_p50_ms"):
        result[key] = result[node_name][key]
    result["ingest_vs_baseline"] = round(result["ingest_records_per_s"] / result["baseline_per_tx_records_per_s"], 2)
    if predict:
        say("prediction latency and training time")
        from bindaas.bench.predict import predict_bench

        result["prediction"] = predict_bench()
        result["predict_http_p99_ms"] = result["prediction"]["predict_http"]["p99_ms"]
        say("imaging: DICOM mapping throughput, prediction with Grad-CAM")
        result["imaging"] = imaging_bench()
    return result
