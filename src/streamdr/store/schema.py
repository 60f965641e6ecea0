"""Tables of the metadata DB. Every capability's tables live here, in one MetaData."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
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
