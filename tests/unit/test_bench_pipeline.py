"""The end-to-end bench's report: both delivery modes, ratios and CPU per stage (no lab)."""

from __future__ import annotations

from bench.pipeline import markdown, percentile


def _result() -> dict:
    mode = {
        "events_per_s": 1234.5,
        "drain_seconds": 4.05,
        "offered_rate_per_s": 50,
        "latency_samples": 1500,
        "latency_p50_ms": 40.0,
        "latency_p99_ms": 90.0,
        "latency_mean_ms": 45.0,
        "throughput_ratio": 0.05,
        "latency_ratio_p50": 4.0,
        "latency_ratio_p99": 3.0,
        "cpu_us_per_event": {"cdc": 100.0, "worker": 300.0, "endpoint": 200.0},
    }
    return {
        "events": 5000,
        "drill_batch": {"max_events": 50, "max_wait_ms": 20},
        "modes": {"per-event": mode, "batched": {**mode, "events_per_s": 4321.0}},
        "raw_records": 200_000,
        "raw_produce_per_s": 40_000,
        "raw_consume_per_s": 90_000,
        "raw_latency_p50_ms": 10.0,
        "raw_latency_p99_ms": 30.0,
        "load_average_1m": 1.5,
    }


def test_the_section_has_a_row_set_per_mode_with_cpu_per_stage() -> None:
    text = markdown(_result())
    assert "| per-event: sustained rate (5,000 inserts, 100/txn) | 1,234.5 events/s" in text
    assert "| batched: sustained rate (5,000 inserts, 100/txn) | 4,321.0 events/s" in text
    assert "| batched: CPU µs per event | cdc 100, worker 300, endpoint 200 |" in text
    assert "up to\n50 events, 20 ms wait" in text


def test_percentile_is_nearest_rank() -> None:
    assert percentile([5.0, 1.0, 3.0], 0.5) == 3.0
    assert percentile([5.0, 1.0, 3.0], 0.99) == 5.0
