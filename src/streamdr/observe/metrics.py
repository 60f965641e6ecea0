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

# ----- DR readiness (set by dashboard/collect.py from the metadata DB and lag.json) ---------
# Labels stay bounded: topics are the deployed workflows' (tens), scenarios the drill registry's,
# backup kinds three, tiers three, sites a handful.
REPLICATION_LAG_SECONDS = Gauge(
    "streamdr_replication_lag_seconds",
    "Seconds the most-behind partition of a topic is behind on its standby (0 when caught up).",
    ["topic", "tier"],
    registry=REGISTRY,
)
REPLICATION_LAG_MESSAGES = Gauge(
    "streamdr_replication_lag_messages",
    "Records of a topic not yet replicated to its standby, summed over partitions.",
    ["topic", "tier"],
    registry=REGISTRY,
)
REPLICATION_SAMPLE_AGE = Gauge(
    "streamdr_replication_lag_sample_age_seconds",
    "Age of the MM2 supervisor's newest lag sample (lag.json); large when sampling stopped.",
    registry=REGISTRY,
)
SITE_UP = Gauge(
    "streamdr_site_up_ratio",
    "1 when the site's Kafka cluster answered a metadata request, else 0; role active|standby.",
    ["site", "role"],
    registry=REGISTRY,
)
BACKUP_AGE = Gauge(
    "streamdr_backup_age_seconds",
    "Age of the newest successful backup, by kind (topics, config_repository, metadata_db).",
    ["kind"],
    registry=REGISTRY,
)
BACKUP_CONFIGURED = Gauge(
    "streamdr_backup_configured_ratio",
    "1 when something backs this kind up, 0 when nothing does (then no age is exported).",
    ["kind"],
    registry=REGISTRY,
)
DRILL_LAST_RUN = Gauge(
    "streamdr_drill_last_run_timestamp_seconds",
    "Unix time the newest run of a drill scenario finished.",
    ["scenario"],
    registry=REGISTRY,
)
DRILL_LAST_PASSED = Gauge(
    "streamdr_drill_last_passed_timestamp_seconds",
    "Unix time a drill scenario last passed (absent when it never did).",
    ["scenario"],
    registry=REGISTRY,
)
DRILL_PASSED = Gauge(
    "streamdr_drill_passed_ratio",
    "1 when the newest run of a drill scenario passed, else 0.",
    ["scenario"],
    registry=REGISTRY,
)
DRILL_RTO = Gauge(
    "streamdr_drill_rto_seconds",
    "RTO measured by the newest run of a drill scenario.",
    ["scenario"],
    registry=REGISTRY,
)
DRILL_RPO = Gauge(
    "streamdr_drill_rpo_seconds",
    "RPO measured by the newest run of a drill scenario.",
    ["scenario"],
    registry=REGISTRY,
)
DRILL_RTO_TARGET = Gauge(
    "streamdr_drill_rto_target_seconds",
    "RTO target of a drill scenario.",
    ["scenario"],
    registry=REGISTRY,
)
DRILL_RPO_TARGET = Gauge(
    "streamdr_drill_rpo_target_seconds",
    "RPO target of a drill scenario.",
    ["scenario"],
    registry=REGISTRY,
)
FAILOVER_IN_PROGRESS = Gauge(
    "streamdr_failover_in_progress_ratio",
    "1 while a failover or failback run of the platform is running or failed unresolved.",
    registry=REGISTRY,
)
FAILOVER_ACTIVE_SITE = Gauge(
    "streamdr_failover_active_site_info",
    "1 for the site that is active now (home: whether it is the home site).",
    ["site", "home"],
    registry=REGISTRY,
)
READINESS = Gauge(
    "streamdr_readiness_ratio",
    "DR readiness verdict per tier: 1 ready, 0.5 at risk, 0 not ready.",
    ["tier"],
    registry=REGISTRY,
)
READINESS_COLLECTED = Gauge(
    "streamdr_readiness_collected_timestamp_seconds",
    "Unix time the readiness figures were last collected.",
    registry=REGISTRY,
)
READINESS_GAUGES = (
    REPLICATION_LAG_SECONDS,
    REPLICATION_LAG_MESSAGES,
    SITE_UP,
    BACKUP_AGE,
    BACKUP_CONFIGURED,
    DRILL_LAST_RUN,
    DRILL_LAST_PASSED,
    DRILL_PASSED,
    DRILL_RTO,
    DRILL_RPO,
    DRILL_RTO_TARGET,
    DRILL_RPO_TARGET,
    FAILOVER_ACTIVE_SITE,
    READINESS,
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
