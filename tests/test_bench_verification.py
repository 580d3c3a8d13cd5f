"""The bench's verification figures come from real stored, anchored records, beside the ceiling their own
signatures set."""

from __future__ import annotations

import pytest

from bindaas.bench.verification import verification
from bindaas.chain.client import ChainClient
from bindaas.demo import signed_envelope


def test_verification_rates_stand_beside_the_signature_ceiling(service, settings, framingham_bundles):
    if settings.database_url:
        pytest.skip("the bench stores in SQLite in its data folder")
    envelopes = [signed_envelope(b, service.chain, service.authorities) for b in framingham_bundles[:6]]
    ids = [r["id"] for r in service.client.submit_bulk(envelopes)]
    service.client.wait_anchored(ids, timeout_s=30)
    # A reader of its own, as the bench has: the service's watcher keeps running.
    reader = ChainClient(service.chain.w3, service.chain.deployment)

    figures = verification(settings.data_dir, reader)

    assert figures["verify_signatures_per_record"] == 1 + len(service.authorities)
    assert figures["verify_records_per_s"] > 0 and figures["verify_records_per_s_one_thread"] > 0
    assert figures["verify_signature_ceiling_records_per_s"] > 0
    assert figures["verify_vs_signature_ceiling"] == pytest.approx(
        figures["verify_records_per_s"] / figures["verify_signature_ceiling_records_per_s"], abs=0.001)
