"""Every Prometheus metric streamdr exports, in one place.

Names follow ``streamdr_<subsystem>_<name>_<unit>``; counters end in ``_total``. Labels are
low-cardinality: source, table, workflow, outcome, stage, reason class — never event ids.
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

disable_created_metrics()  # *_created series only add noise to the scrape

REGISTRY = CollectorRegistry(auto_describe=True)

# ----- CDC ------------------------------------------------------------------------------------
CDC_CHANGES = Counter(
    "streamdr_cdc_changes_total",
    "Row changes read from a source and acknowledged by Kafka.",
    ["source", "table", "operation"],
    registry=REGISTRY,
)
CDC_TRANSACTIONS = Counter(
    "streamdr_cdc_transactions_total",
    "Source transactions fully written to Kafka and checkpointed.",
    ["source"],
    registry=REGISTRY,
)
CDC_LAG = Gauge(
    "streamdr_cdc_lag_seconds",
    "Seconds since which committed source changes may not be in Kafka yet (0 when caught up).",
    ["source"],
    registry=REGISTRY,
)
CDC_SOURCE_UP = Gauge(
    "streamdr_cdc_source_up_ratio",
    "1 when the last read from the source database succeeded, else 0.",
    ["source"],
    registry=REGISTRY,
)
CDC_ERRORS = Counter(
    "streamdr_cdc_errors_total",
    "Failed CDC cycles by kind (source, kafka).",
    ["source", "kind"],
    registry=REGISTRY,
)
CDC_ALERTS = Counter(
    "streamdr_cdc_alerts_total",
    "Alerts raised by the CDC reader (retries exhausted, lag above the threshold).",
    ["source", "alert"],
    registry=REGISTRY,
)
CDC_DEAD_LETTERS = Counter(
    "streamdr_cdc_dead_letters_total",
    "Source changes that could not become events and went to the source's dead-letter topic.",
    ["source", "reason"],
    registry=REGISTRY,
)

# ----- workers --------------------------------------------------------------------------------
WORKER_RECORDS = Counter(
    "streamdr_worker_records_total",
    "Input records finished by a worker, by outcome (delivered, filtered, dead_lettered).",
    ["workflow", "outcome"],
    registry=REGISTRY,
)
WORKER_TRANSFORM_ERRORS = Counter(
    "streamdr_worker_transform_errors_total",
    "Records the transformation raised on or returned garbage for.",
    ["workflow"],
    registry=REGISTRY,
)
WORKER_COMMITS = Counter(
    "streamdr_worker_commits_total",
    "Offset commits by result (ok, failed).",
    ["workflow", "result"],
    registry=REGISTRY,
)
WORKER_ASSIGNED = Gauge(
    "streamdr_worker_assigned_partitions_count",
    "Partitions currently assigned to this process for a workflow.",
    ["workflow"],
    registry=REGISTRY,
)

# ----- delivery -------------------------------------------------------------------------------
DELIVERY_ATTEMPTS = Counter(
    "streamdr_delivery_attempts_total",
    "Delivery attempts by result (ok, retryable, permanent, breaker_open).",
    ["workflow", "result"],
    registry=REGISTRY,
)
DELIVERY_LATENCY = Histogram(
    "streamdr_delivery_request_seconds",
    "Duration of one delivery request to the sink.",
    ["workflow"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)
DELIVERY_BREAKER_STATE = Gauge(
    "streamdr_delivery_breaker_state_code",
    "Circuit breaker of a workflow's sink: 0 closed, 1 half-open, 2 open.",
    ["workflow"],
    registry=REGISTRY,
)
DLQ_RECORDS = Counter(
    "streamdr_dlq_records_total",
    "Records written to a workflow's dead-letter topic, by stage (decode, transform, deliver).",
    ["workflow", "stage"],
    registry=REGISTRY,
)
DLQ_REPLAYED = Counter(
    "streamdr_dlq_replayed_total",
    "Dead-lettered records replayed, by result (ok, failed).",
    ["workflow", "result"],
    registry=REGISTRY,
)

# ----- the control plane (`streamdr serve`) ---------------------------------------------------
JOB_RUNS = Counter(
    "streamdr_serve_job_runs_total",
    "Scheduled or manual job runs by outcome (succeeded, failed, skipped).",
    ["job", "outcome"],
    registry=REGISTRY,
)
JOB_LAST_SUCCESS = Gauge(
    "streamdr_serve_job_last_success_timestamp_seconds",
    "Unix time at which a job last succeeded in this process.",
    ["job"],
    registry=REGISTRY,
)
JOB_DURATION = Histogram(
    "streamdr_serve_job_duration_seconds",
    "Duration of one job run, retries included.",
    ["job"],
    buckets=(0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600),
    registry=REGISTRY,
)
SERVE_LEADER = Gauge(
    "streamdr_serve_leader_ratio",
    "1 while this serve process holds the scheduler lease and fires jobs, else 0.",
    registry=REGISTRY,
)

BREAKER_CODES = {"closed": 0, "half-open": 1, "open": 2}


def exposition() -> bytes:
    """Return every metric in the Prometheus text format."""
    return generate_latest(REGISTRY)
