"""The bench's ingest floor is measured on both sides of the ingest phases: a floor taken at one moment of this
drifting VM's speed would be divided into rates measured at another."""

from __future__ import annotations

from bindaas.bench.floor import floor_across


def _floor(essential_ms: float, crypto_ms: float) -> dict[str, float]:
    return {"essential_cpu_ms": essential_ms, "crypto_cpu_ms": crypto_ms, "canonical_json_cpu_ms": 0.04,
            "essential_cpu_ms_one_at_a_time": round(essential_ms * 1.5, 3),
            "ingest_floor_records_per_s": round(2000 / essential_ms, 1),
            "floor_cpu_vs_crypto": round(essential_ms / crypto_ms, 3), "floor_cores": 2}


def test_a_slow_moment_after_the_phases_moves_the_floor_only_half_way():
    before, after = _floor(1.0, 0.8), _floor(1.6, 1.28)  # the machine slowed by 60% after the phases
    floor = floor_across(before, after)
    assert floor["essential_cpu_ms"] == 1.3
    assert floor["ingest_floor_records_per_s"] == round(2000 / 1.3, 1)  # cores / mean essential CPU
    assert (floor["essential_cpu_ms_before_ingest"], floor["essential_cpu_ms_after_ingest"]) == (1.0, 1.6)
    assert floor["crypto_cpu_ms"] == 1.04 and floor["floor_cpu_vs_crypto"] == 1.25
    assert floor["floor_cores"] == 2


def test_a_steady_machine_gives_the_floor_it_measured():
    same = _floor(0.95, 0.76)
    assert floor_across(same, dict(same)) == {**same, "essential_cpu_ms_before_ingest": 0.95,
                                              "essential_cpu_ms_after_ingest": 0.95}
