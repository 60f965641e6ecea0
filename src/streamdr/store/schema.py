"""Tables of the metadata DB. Every capability's tables live here, in one MetaData."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    Integer,
    MetaData,
    String,
    Table,
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
