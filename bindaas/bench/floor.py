"""The ingest floor: the CPU one record's essential acceptance work costs, in process, with no HTTP and no store
(parse the envelope, validate the bundle, check the deployment, the owner's identity, four ML-DSA-65 signatures
and the policy, canonicalize and digest, seal), next to the cryptography alone (four verifications, the digest,
the sealing: canonical JSON is work, not cryptography, and is reported apart). ``cores / essential CPU`` is the
most records a second this machine could accept.

Records are checked as the import checks them: a group at a time, the group's new owners read from the identity
registry in one call (``prepare_many``). `POST /records` checks its submissions so too, in groups of whatever arrived
meanwhile (``bindaas.ledger.intake``). A record checked alone pays a registry read for its new owner by itself;
that CPU is reported beside (``essential_cpu_ms_one_at_a_time``)."""

from __future__ import annotations

import gc
import os
import statistics
import time
from typing import Any

from bindaas.api.routes.imports import GROUP
from bindaas.chain.access import AccessChain
from bindaas.chain.client import ChainClient
from bindaas.config import Settings
from bindaas.crypto.canonical import canonical_json
from bindaas.crypto.digest import record_digest, signed_message
from bindaas.crypto.mldsa import ENDORSEMENT_CONTEXT, OWNER_CONTEXT, PublicKey, key_id, openssl_public_key, unb64
from bindaas.crypto.sealing import KemPrivateKey
from bindaas.ledger.accept import prepare_many, prepare_record
from bindaas.ledger.envelope import Envelope, validate_json
from bindaas.ledger.payload import seal_payload
from bindaas.store.models import NewRecord


WARM = 50
FLOOR_GROUPS = 6
FLOOR_BODIES = WARM + FLOOR_GROUPS * GROUP + 3 * 150  # warm-up, six groups, three runs of 150 single records


def _cpu_per_item(fn: Any, items: list[Any]) -> float:
    started = time.thread_time()
    for item in items:
        fn(item)
    return (time.thread_time() - started) / len(items)


def ingest_floor(bodies: list[bytes], chain: ChainClient, *, settings: Settings) -> dict[str, float]:
    """Essential and cryptographic CPU per record (ms, one thread) over ``bodies`` (signed envelopes as JSON),
    after an untimed warm-up; and the floor they put on ingest."""
    access = AccessChain(chain)
    service_key = KemPrivateKey.generate().public_key

    def essential(group: list[bytes]) -> None:
        prepared = prepare_many([validate_json(Envelope, body) for body in group], chain=chain, access=access,
                                settings=settings, service_public_key=service_key)
        refused = [item for item in prepared if not isinstance(item, NewRecord)]
        if refused:
            raise RuntimeError(f"the floor's envelopes must all pass: {refused[0]}")

    def one_at_a_time(body: bytes) -> None:
        prepare_record(validate_json(Envelope, body), chain=chain, access=access, settings=settings,
                       service_public_key=service_key)

    def crypto(item: tuple[Envelope, bytes]) -> None:  # the denominator: four verifications, digest, seal
        envelope, canonical = item
        digest = record_digest(canonical, envelope.salt_bytes())
        message = signed_message(digest, chain_id=envelope.chain_id, registry=envelope.registry,
                                 patient=envelope.patient)
        PublicKey(unb64(envelope.owner.public_key, field="owner")).verify(
            unb64(envelope.owner.signature, field="owner"), message, context=OWNER_CONTEXT)
        for endorsement in envelope.endorsements:
            PublicKey(chain.public_key(endorsement.key_id)).verify(
                unb64(endorsement.signature, field="endorsement"), message, context=ENDORSEMENT_CONTEXT)
        seal_payload(canonical, record_id="0x" + digest.hex(), service_public_key=service_key)

    def fresh() -> None:
        key_id.cache_clear()
        openssl_public_key.cache_clear()
        gc.collect()

    def measured(group: list[bytes]) -> tuple[float, float, float]:
        # The essential work and the cryptography of the same group, one straight after the other: this shared VM
        # drifts by 10% within a minute, and a ratio of two figures taken minutes apart carried that drift.
        # Parsed copies of one group only, collected before timing: a heap of thousands of parsed bundles would
        # make the garbage collector's passes, not acceptance, the cost (the server holds a group at most).
        parsed = [validate_json(Envelope, body) for body in group]
        items = [(e, canonical_json(e.bundle)) for e in parsed]
        fresh()
        essential_s = _cpu_per_item(essential, [group]) / len(group)
        fresh()  # the cryptography parses each owner's key too: not from the cache the essential pass filled
        crypto_s = _cpu_per_item(crypto, items)
        return essential_s, crypto_s, _cpu_per_item(lambda e: canonical_json(e.bundle), parsed)

    chain.watch(settings.registry_poll_s)  # as the API does: registry state cached between its events
    try:
        essential(bodies[:WARM])  # warm: parsed authority keys, the schema validator
        # Each group and each single record is of owners nothing before has seen, with no key id remembered: as
        # the server meets a new owner. The median of each figure over the groups, and of the groups' ratios.
        groups = [bodies[WARM + i * GROUP:WARM + (i + 1) * GROUP] for i in range(FLOOR_GROUPS)]
        timed = [measured(group) for group in groups]
        singles = bodies[WARM + FLOOR_GROUPS * GROUP:]
        fresh()
        single_s = statistics.median(_cpu_per_item(one_at_a_time, singles[i::3]) for i in range(3))
    finally:
        chain.stop_watching()
    essential_s, crypto_s, canonical_s = (statistics.median(t[k] for t in timed) for k in range(3))
    ratio = statistics.median(t[0] / t[1] for t in timed)
    cores = os.cpu_count() or 1
    return {"essential_cpu_ms": round(essential_s * 1000, 3), "crypto_cpu_ms": round(crypto_s * 1000, 3),
            "canonical_json_cpu_ms": round(canonical_s * 1000, 3),
            "essential_cpu_ms_one_at_a_time": round(single_s * 1000, 3),
            "ingest_floor_records_per_s": round(cores / essential_s, 1),
            "floor_cpu_vs_crypto": round(ratio, 3), "floor_cores": cores}


_DERIVED = ("ingest_floor_records_per_s", "floor_cores")  # computed again from the merged figures


def floor_across(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """One floor from two ``ingest_floor`` measurements taken on either side of the ingest phases: each figure the
    mean of the two, the floor from the mean essential CPU, and both essential figures kept. This VM's speed drifts
    by a third within minutes; a floor taken after the phases alone was once measured at a slow moment, slower than
    the server's own checking of the same records in the phase just before, and flattered every ratio to it."""
    merged = {key: round((before[key] + after[key]) / 2, 3) for key in before if key not in _DERIVED}
    merged["ingest_floor_records_per_s"] = round(before["floor_cores"] * 1000 / merged["essential_cpu_ms"], 1)
    merged["floor_cores"] = before["floor_cores"]
    merged["essential_cpu_ms_before_ingest"] = before["essential_cpu_ms"]
    merged["essential_cpu_ms_after_ingest"] = after["essential_cpu_ms"]
    return merged


def ingest_floor_in_fresh_process(bodies: list[bytes], rpc_url: str, deployment: Any, *,
                                  settings: Settings) -> dict[str, float]:
    """``ingest_floor`` in a new interpreter connected to ``rpc_url``, as a server worker is: the benchmark's own
    process holds thousands of parsed bundles, whose garbage-collector passes would be charged to acceptance."""
    import multiprocessing
    import tempfile
    from concurrent.futures import ProcessPoolExecutor
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bodies.ndjson"
        path.write_bytes(b"\n".join(bodies))
        deployment.save(Path(folder) / "deployment.json")
        with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
            return pool.submit(_floor_from_files, str(path), rpc_url, str(Path(folder) / "deployment.json"),
                               settings.fhir_validation).result()


def _floor_from_files(bodies_path: str, rpc_url: str, deployment_path: str, fhir_validation: str) -> dict[str, float]:
    from pathlib import Path

    from bindaas.chain.client import connect
    from bindaas.chain.deployment import Deployment

    chain = ChainClient(connect(rpc_url), Deployment.load(Path(deployment_path)))
    bodies = Path(bodies_path).read_bytes().split(b"\n")
    return ingest_floor(bodies, chain, settings=Settings(fhir_validation=fhir_validation))
