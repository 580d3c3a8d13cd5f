"""Prometheus metrics of one API process (``GET /metrics``). Each worker process keeps its own; a scrape reaches
one worker, whose ``pid`` is in ``bindaas_process_info``."""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, generate_latest

REGISTRY = CollectorRegistry()
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_LATENCY = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300)

process_info = Info("bindaas_process", "This API process", registry=REGISTRY)
process_info.info({"pid": str(os.getpid())})
records_accepted = Counter("bindaas_records_accepted_total", "Records accepted (stored, to be anchored)",
                           registry=REGISTRY)
records_refused = Counter("bindaas_records_refused_total", "Submissions refused, by problem type",
                          ["reason"], registry=REGISTRY)
anchor_batches = Counter("bindaas_anchor_batches_total", "Merkle batches anchored on chain", ["kind"],
                         registry=REGISTRY)
anchor_gas = Counter("bindaas_anchor_gas_total", "Gas spent by this process's anchor transactions", ["kind"],
                     registry=REGISTRY)
anchor_claims_refused = Counter("bindaas_anchor_claims_refused_total",
                                "Batches this process sealed that another anchorer had claimed first", ["kind"],
                                registry=REGISTRY)
anchor_dropped = Counter("bindaas_anchor_dropped_total", "Anchors a reorganisation dropped (then sent again)",
                         registry=REGISTRY)
submit_to_anchored = Histogram("bindaas_submit_to_anchored_seconds", "From acceptance to the anchor's receipt",
                               buckets=_LATENCY, registry=REGISTRY)
submit_to_final = Histogram("bindaas_submit_to_final_seconds", "From acceptance to the anchor being final",
                            buckets=_LATENCY, registry=REGISTRY)
chain_errors = Counter("bindaas_chain_errors_total", "Anchoring passes that failed on the chain", ["kind"],
                       registry=REGISTRY)
chain_outage = Counter("bindaas_chain_outage_seconds_total", "Time the anchorer spent waiting for the chain",
                       registry=REGISTRY)
queue_depth = Gauge("bindaas_anchor_queue_depth", "Rows accepted and waiting for a batch", ["kind"],
                    registry=REGISTRY)
verifications = Counter("bindaas_verifications_total", "Verification reports, by verdict", ["verdict"],
                        registry=REGISTRY)
signin_failures = Counter("bindaas_signin_failures_total", "Failed sign-ins", registry=REGISTRY)
rate_limited = Counter("bindaas_rate_limited_total", "Requests answered 429", ["route"], registry=REGISTRY)
prediction_seconds = Histogram("bindaas_prediction_seconds", "Time to answer one prediction",
                               buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1),
                               registry=REGISTRY)


def exposition() -> bytes:
    """The Prometheus text format of every metric above."""
    return generate_latest(REGISTRY)
