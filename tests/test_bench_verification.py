"""The bench's verification figures come from real stored, anchored records, beside the ceiling their own
signatures set and the bound their own CPU sets."""

from __future__ import annotations

import pytest

from bindaas.bench.verification import verification
from bindaas.chain.client import ChainClient
from bindaas.demo import signed_envelope


@pytest.fixture
def figures(service, settings, framingham_bundles):
    if settings.database_url:
        pytest.skip("the bench stores in SQLite in its data folder")
    envelopes = [signed_envelope(b, service.chain, service.authorities) for b in framingham_bundles[:6]]
    ids = [r["id"] for r in service.client.submit_bulk(envelopes)]
    service.client.wait_anchored(ids, timeout_s=30)
    # A reader of its own, as the bench has: the service's watcher keeps running.
    return verification(settings.data_dir, ChainClient(service.chain.w3, service.chain.deployment))


def test_verification_rates_stand_beside_the_signature_ceiling(figures, service):
    assert figures["verify_signatures_per_record"] == 1 + len(service.authorities)
    assert figures["verify_records_per_s"] > 0 and figures["verify_records_per_s_one_thread"] > 0
    assert figures["verify_signature_ceiling_records_per_s"] > 0
    assert figures["verify_vs_signature_ceiling"] == pytest.approx(
        figures["verify_records_per_s"] / figures["verify_signature_ceiling_records_per_s"], abs=0.001)


def test_verification_reports_the_bound_its_own_cpu_puts_on_the_rate(figures):
    assert figures["verify_cpu_ms_per_record"] > 0 and figures["verify_signature_cpu_ms_per_record"] > 0
    assert figures["verify_cpu_bound_records_per_s"] == pytest.approx(
        figures["verify_threads"] * 1000 / figures["verify_cpu_ms_per_record"], rel=0.01)
    # One thread's CPU never exceeds its wall time, so no core can beat the bound that CPU sets.
    assert figures["verify_cpu_bound_records_per_s"] >= figures["verify_records_per_s_one_thread"]
    assert figures["verify_vs_cpu_bound"] == pytest.approx(
        figures["verify_records_per_s"] / figures["verify_cpu_bound_records_per_s"], abs=0.001)
