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
