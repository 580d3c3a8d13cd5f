"""Every API worker runs an anchorer over the one store: rows that fall due are sealed and claimed by one of them,
and the others find them claimed, rather than sealing them too for the claim to be refused."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

from bindaas.demo import signed_envelope
from bindaas.ledger.anchorer import Anchorer
from bindaas.observability import metrics
from bindaas.store.database import make_engine, make_sessionmaker


def _refused_claims() -> float:
    return metrics.REGISTRY.get_sample_value("bindaas_anchor_claims_refused_total", {"kind": "records"}) or 0.0


def test_rows_due_at_once_are_sealed_by_one_anchorer_of_many(service, settings, framingham_bundles):
    service.services.anchorer.stop()  # the workers' anchorers below take its place
    envelopes = [signed_envelope(b, service.chain, service.authorities) for b in framingham_bundles[:8]]
    with ThreadPoolExecutor(max_workers=len(envelopes)) as pool:
        ids = [receipt["id"] for receipt in pool.map(service.client.submit, envelopes)]
    time.sleep(settings.batch_max_delay_s + 0.1)  # all eight are due
    engines = [make_engine(settings.resolved_database_url()) for _ in range(4)]  # four workers' worth
    anchorers = [Anchorer(chain=service.chain, sessions=make_sessionmaker(engine), settings=settings)
                 for engine in engines]
    refused_before = _refused_claims()
    together = Barrier(len(anchorers))

    def one_pass(anchorer: Anchorer) -> int:
        together.wait()
        return anchorer.run_once()

    with ThreadPoolExecutor(max_workers=len(anchorers)) as pool:
        anchored = list(pool.map(one_pass, anchorers))
    for engine in engines:
        engine.dispose()
    assert sorted(anchored) == [0, 0, 0, 8]
    assert _refused_claims() == refused_before
    service.client.wait_anchored(ids, timeout_s=30)
    assert len({service.client.status(rid)["anchor"]["root"] for rid in ids}) == 1
    assert all(service.client.verify(rid)["verdict"] == "valid" for rid in ids)
