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
)
