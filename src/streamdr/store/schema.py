"""Tables of the metadata DB. Every capability's tables live here, in one MetaData."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

drill_runs = Table(
    "drill_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("scenario", String(64), nullable=False, index=True),
    Column("site", String(64)),
    Column("started_at", DateTime(timezone=True), nullable=False, index=True),
    Column("finished_at", DateTime(timezone=True), nullable=False),
    Column("passed", Boolean, nullable=False),
    Column("rto_seconds", Float),
    Column("rpo_seconds", Float),
    Column("report", JSON, nullable=False),
)

# Workflows as code (issue 3). One row per deployment: the commit, who, when, and a snapshot of
# the deployed workflow files, so workers and recovery never depend on the git repository alone.
config_deployments = Table(
    "config_deployments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("commit_sha", String(64), nullable=False, index=True),
    Column("branch", String(255), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("deployed_at", DateTime(timezone=True), nullable=False, index=True),
    Column("deployed_by", String(255), nullable=False),
    Column("previous_commit", String(64)),
    Column("files", JSON, nullable=False),
    Column("artifacts", JSON, nullable=False),
    Column("detail", JSON, nullable=False),
)

# Every config operation (deploy, rollback, recover, backup, restore, reconcile) with its steps.
config_events = Table(
    "config_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False, index=True),
    Column("started_at", DateTime(timezone=True), nullable=False, index=True),
    Column("finished_at", DateTime(timezone=True), nullable=False),
    Column("actor", String(255), nullable=False),
    Column("commit_sha", String(64)),
    Column("ok", Boolean, nullable=False),
    Column("detail", JSON, nullable=False),
)

# Artifact lifecycle: publish, archive, delete, restore.
artifact_events = Table(
    "artifact_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False, index=True),
    Column("version", String(64), nullable=False),
    Column("action", String(32), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(255), nullable=False),
    Column("store", String(128), nullable=False),
    Column("detail", JSON, nullable=False),
)

# Pipeline (issue 4): each replay of a dead letter and its result.
dlq_replays = Table(
    "dlq_replays",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("workflow", String(64), nullable=False, index=True),
    Column("event_id", String(128)),
    Column("dlq_partition", Integer, nullable=False),
    Column("dlq_offset", Integer, nullable=False),
    Column("replayed_at", DateTime(timezone=True), nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("error", String(2000)),
    # A replay asks "which of these DLQ positions were replayed?" one page at a time.
    Index("ix_dlq_replays_position", "workflow", "dlq_partition", "dlq_offset"),
)

# ----- backup and restore (issue 6) ------------------------------------------------------------
backup_runs = Table(
    "backup_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("site", String(64), nullable=False),
    Column("target", String(128), nullable=False),
    Column("prefix", String(512), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False, index=True),
    Column("finished_at", DateTime(timezone=True)),
    Column("status", String(16), nullable=False),
    Column("summary", JSON),
)

# One writer per backup prefix and store: a lease row, renewed while the run is alive.
backup_leases = Table(
    "backup_leases",
    metadata,
    Column("name", String(700), primary_key=True),
    Column("owner", String(200), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

restore_runs = Table(
    "restore_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("to_site", String(64), nullable=False),
    Column("to_topic", String(255), nullable=False, index=True),
    Column("status", String(16), nullable=False, index=True),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("request", JSON, nullable=False),
    Column("plan", JSON, nullable=False),
    Column("base_offsets", JSON),
    Column("steps", JSON),
    Column("result", JSON),
)

# ----- replication (issue 5): the active site and failover/failback runs ---------------------
site_state = Table(
    "site_state",
    metadata,
    # "platform" for the real deployment; drills use their own scope so they never flip it.
    Column("scope", String(128), primary_key=True),
    Column("active_site", String(64), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("run_id", Integer),
)

failover_runs = Table(
    "failover_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),  # failover | failback
    Column("scope", String(128), nullable=False, index=True),
    Column("from_site", String(64), nullable=False),
    Column("to_site", String(64), nullable=False),
    Column("planned", Boolean, nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False, index=True),
    Column("finished_at", DateTime(timezone=True)),
    Column("status", String(16), nullable=False),  # running | succeeded | failed
    Column("plan", JSON, nullable=False),
    Column("result", JSON),
)

failover_steps = Table(
    "failover_steps",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("failover_runs.id"), nullable=False, index=True),
    Column("seq", Integer, nullable=False),
    Column("name", String(64), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("status", String(16), nullable=False),  # running | done | failed
    Column("detail", Text, nullable=False, default=""),
)

# ----- the control plane (issue 13): `streamdr serve` job runs, pauses and leases ------------
job_runs = Table(
    "job_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job", String(64), nullable=False, index=True),
    Column("kind", String(32), nullable=False),
    Column("trigger", String(16), nullable=False),  # scheduled | manual
    Column("owner", String(200), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False, index=True),
    Column("finished_at", DateTime(timezone=True)),
    Column("status", String(16), nullable=False, index=True),  # running | succeeded | failed
    Column("duration_seconds", Float),
    Column("attempts", Integer, nullable=False, default=1),
    Column("error", String(2000)),
    Column("detail", JSON),
)

job_state = Table(
    "job_state",
    metadata,
    Column("job", String(64), primary_key=True),
    Column("paused", Boolean, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("updated_by", String(255), nullable=False),
)

# One holder per name ("scheduler" elects the serve that fires jobs, "job:<name>" guards a run);
# the holder renews ``expires_at``; anyone may take a row whose time has passed.
serve_leases = Table(
    "serve_leases",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("owner", String(200), nullable=False),
    Column("acquired_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)
