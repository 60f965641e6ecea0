"""The ``metadata_db.backup:`` section: continuous copies of the SQLite metadata DB (Litestream).

Litestream 0.5 replicates one database to one replica per process, so each replica here is one
supervised ``litestream replicate`` process with its own state directory. A replica is a local
directory (``path``) or a store of ``stores`` (``store``: an s3:// bucket, or a local one), whose
endpoint, region and credential variables are reused, so no secret is written anywhere.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

REPLICA_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}$")


def _replica_name(name: str) -> str:
    if not REPLICA_NAME.match(name):
        raise ValueError(f"replica name {name!r} must be lower-case letters, digits and '-'")
    return name


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class LitestreamReplica(_Strict):
    """One continuous copy of the metadata DB: a local directory or a store."""

    name: Annotated[str, AfterValidator(_replica_name)]
    path: str | None = Field(None, min_length=1, description="Local directory replica.")
    store: str | None = Field(None, description="A store under `stores` (s3:// or local).")
    sync_interval_seconds: float = Field(
        1.0, gt=0, le=3600, description="How often WAL changes are shipped (bounds the RPO)."
    )

    @model_validator(mode="after")
    def _one_location(self) -> LitestreamReplica:
        if (self.path is None) == (self.store is None):
            raise ValueError("give exactly one of path (a directory) or store (a stores entry)")
        return self


class MetadataBackupSettings(_Strict):
    """Continuous backup of a SQLite metadata DB with Litestream, and how serve runs it."""

    replicas: list[LitestreamReplica] = Field(..., min_length=1, max_length=8)
    supervise: bool = Field(
        True, description="`streamdr serve` starts and restarts the litestream processes."
    )
    snapshot_interval_hours: float = Field(
        1, gt=0, le=24 * 7, description="A full snapshot this often (restores replay less)."
    )
    retention_hours: float = Field(
        24 * 7, gt=0, le=24 * 366, description="How far back a point-in-time restore can go."
    )
    state_dir: str | None = Field(
        None, description="Litestream configs and state; default <db file>.litestream/."
    )

    @model_validator(mode="after")
    def _unique_names(self) -> MetadataBackupSettings:
        names = [r.name for r in self.replicas]
        if len(set(names)) != len(names):
            raise ValueError(f"replica names must be unique: {names}")
        return self


STANZA_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")


def _stanza_name(name: str) -> str:
    if not STANZA_NAME.match(name):
        raise ValueError(f"stanza {name!r} must be lower-case letters, digits, '_' and '-'")
    return name


def _no_control(value: str) -> str:
    # Values land in pgbackrest.conf lines and postgresql.conf: a newline would add a setting.
    if any(ord(c) < 0x20 or ord(c) == 0x7F or c == "'" for c in value):
        raise ValueError("must not contain control characters or quotes")
    return value


ConfText = Annotated[str, AfterValidator(_no_control)]


class PgBackRestSettings(_Strict):
    """Continuous WAL archiving, full backups and PITR of a PostgreSQL metadata DB (pgBackRest)."""

    stanza: Annotated[str, AfterValidator(_stanza_name)] = "streamdr"
    repo_path: ConfText | None = Field(
        None, min_length=1, description="Local repository directory (relative: to the config)."
    )
    store: str | None = Field(None, description="An s3:// store under `stores` as repository.")
    pg_data: ConfText = Field(..., min_length=1, description="The cluster's data directory.")
    pg_port: int = Field(5432, ge=1, le=65_535)
    pg_socket_dir: ConfText = Field(
        "/var/run/postgresql", min_length=1, description="unix_socket_directories of the cluster."
    )
    pg_bin_dir: ConfText | None = Field(
        None, description="Directory of pg_ctl (default: the newest /usr/lib/postgresql/*/bin)."
    )
    os_user: Annotated[str, AfterValidator(_replica_name)] = Field(
        "postgres", description="The cluster's OS user; commands run as it when streamdr is root."
    )
    retention_full: int = Field(2, ge=1, le=99, description="Full backups kept (repo1-retention).")
    archive_timeout_seconds: int = Field(
        60, ge=1, le=3600, description="A WAL segment is archived at least this often (the RPO)."
    )
    state_dir: ConfText | None = Field(
        None, description="pgbackrest.conf, logs and locks; default <repo_path>.state/."
    )

    @model_validator(mode="after")
    def _one_repo(self) -> PgBackRestSettings:
        if (self.repo_path is None) == (self.store is None):
            raise ValueError("give exactly one of repo_path (a directory) or store (s3://)")
        if self.store is not None and self.state_dir is None:
            raise ValueError("state_dir is required with a store repository")
        return self
