"""Pydantic model of ``streamdr.yaml``.

Secrets are never stored in the file: a setting ending in ``_env`` names the environment
variable that holds the secret, resolved only when a client is built (see
:mod:`streamdr.kafka.config`), so printing settings can never leak one.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from streamdr.errors import InputError
from streamdr.settings.failover import FailoverSettings
from streamdr.settings.limits import (
    MAX_PARTITIONS,
    MAX_REPLICATION_FACTOR,
    bootstrap_list,
    no_control_chars,
    topic_name,
)
from streamdr.settings.metadb_backup import MetadataBackupSettings, PgBackRestSettings
from streamdr.settings.replication import ReplicationSettings
from streamdr.settings.schedule import ScheduleSettings

SITE_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
# librdkafka keys whose value is a secret: they must come from an ``_env`` setting instead.
SECRET_KEY_PARTS = ("password", "secret", "jaas", "token")
SECRET_KEY_PREFIXES = ("ssl.key.", "ssl_key")
DSN_PASSWORD = re.compile(r"(^|\s)password\s*=", re.IGNORECASE)


def _site_name(name: str) -> str:
    if not SITE_NAME.match(name):
        raise ValueError(
            f"site name {name!r} must be lower-case letters, digits and '-' "
            "(MirrorMaker 2 uses it as a topic prefix, so '.' and '_' are not allowed)"
        )
    return name


SiteName = Annotated[str, AfterValidator(_site_name)]
PlainText = Annotated[str, AfterValidator(no_control_chars)]
TopicName = Annotated[str, AfterValidator(topic_name)]


def _secret_looking(key: str) -> bool:
    low = key.lower()
    return any(p in low for p in SECRET_KEY_PARTS) or low.startswith(SECRET_KEY_PREFIXES)


def _url_password(url: str) -> str | None:
    """Return the password embedded in ``url`` (``scheme://user:pw@host``), if any."""
    try:
        return urlsplit(url).password
    except ValueError:
        return None


class _Strict(BaseModel):
    # inf/nan pass gt=0 checks and then break sleeps and arithmetic; refuse them at load.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class SecuritySettings(_Strict):
    """librdkafka security settings of one site; secrets come from environment variables."""

    protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: PlainText | None = None
    sasl_password_env: str | None = None
    ssl_ca_location: PlainText | None = None
    ssl_certificate_location: PlainText | None = None
    ssl_key_location: PlainText | None = None
    ssl_key_password_env: str | None = None
    extra: dict[str, PlainText] = Field(
        default_factory=dict, description="Further non-secret librdkafka settings."
    )

    @field_validator("extra")
    @classmethod
    def _no_secrets(cls, extra: dict[str, str]) -> dict[str, str]:
        secret = sorted(k for k in extra if _secret_looking(k))
        if secret:
            raise ValueError(
                f"extra must not hold secrets ({', '.join(secret)}): use sasl_password_env or "
                "ssl_key_password_env, which name the environment variable holding the secret"
            )
        return extra

    @model_validator(mode="after")
    def _sasl_complete(self) -> SecuritySettings:
        if self.protocol.startswith("SASL") and not (
            self.sasl_mechanism and self.sasl_username and self.sasl_password_env
        ):
            raise ValueError(
                "SASL needs sasl_mechanism, sasl_username and sasl_password_env "
                "(the name of the environment variable holding the password)"
            )
        return self


class FaultInjection(_Strict):
    """Commands a drill runs to kill and restart a broker on a site that is not the lab.

    ``{node}`` and ``{host}`` are replaced by the broker's node id and advertised host.
    """

    kill_broker: str
    start_broker: str


class SiteSettings(_Strict):
    """One Kafka cluster (a "site")."""

    bootstrap_servers: str
    security: SecuritySettings = Field(default_factory=SecuritySettings)
    lab: bool = Field(False, description="Managed by `streamdr lab` on this machine.")
    fault_injection: FaultInjection | None = None

    @field_validator("bootstrap_servers")
    @classmethod
    def _host_ports(cls, value: str) -> str:
        return bootstrap_list(value)


class StoreSettings(_Strict):
    """An object-store target: a local directory or a pyarrow.fs URI (s3://, gs://, abfs://)."""

    url: PlainText = Field(..., min_length=1)
    endpoint_override: str | None = None
    region: str | None = None
    access_key_env: str | None = None
    secret_key_env: str | None = None
    media: str | None = Field(None, description="Media kind for the 3-2-1 rule; derived if unset.")
    offsite: bool = False

    @property
    def scheme(self) -> str:
        """Return ``file``, ``s3``, ``gs`` or ``abfs``."""
        return self.url.split("://", 1)[0] if "://" in self.url else "file"

    @property
    def media_kind(self) -> str:
        """Return the media kind: explicit, else ``disk`` for local and ``object`` otherwise."""
        return self.media or ("disk" if self.scheme == "file" else "object")


DEFAULT_METADATA_URL = "sqlite:///.streamdr/streamdr.db"


class MetadataDbSettings(_Strict):
    """Where streamdr keeps deployments, drill history and run state (SQLAlchemy URL).

    A URL with a password is given as ``url_env`` (the environment variable holding the URL),
    never as ``url``, so the file holds no secret.
    """

    url: PlainText | None = Field(None, min_length=1)
    url_env: str | None = Field(
        None, description="Environment variable holding the whole URL (use when it has a password)."
    )
    backup: MetadataBackupSettings | None = Field(
        None, description="Continuous backup of a SQLite metadata DB (Litestream)."
    )
    pgbackrest: PgBackRestSettings | None = Field(
        None, description="WAL archiving, backups and PITR of a PostgreSQL metadata DB."
    )

    @model_validator(mode="after")
    def _one_source(self) -> MetadataDbSettings:
        if self.url is not None and self.url_env is not None:
            raise ValueError("give url or url_env, not both")
        if self.url is not None and _url_password(self.url):
            raise ValueError(
                "url must not contain a password: put the whole URL in an environment variable "
                "and name it in url_env"
            )
        return self

    def resolved_url(self) -> str:
        """Return the database URL: ``url``, the value of ``url_env``, or the default.

        Raises InputError when the ``url_env`` variable is not set.
        """
        if self.url_env is None:
            return self.url or DEFAULT_METADATA_URL
        value = os.environ.get(self.url_env)
        if not value:
            raise InputError(
                f"environment variable {self.url_env} (metadata_db.url_env) is not set",
                hint=f"Export {self.url_env} with the database URL before running streamdr.",
            )
        return value


class SourceFaultInjection(_Strict):
    """Shell commands that stop and start a source database (for the cdc-source-outage drill)."""

    stop: str
    start: str


class SourceSettings(_Strict):
    """A source database whose committed changes CDC streams into Kafka."""

    kind: Literal["postgres", "sqlite"] = "postgres"
    dsn: str | None = Field(
        None, description="libpq connection string without the password (postgres)."
    )
    password_env: str | None = Field(None, description="Environment variable with the password.")
    path: str | None = Field(None, description="Database file (sqlite demo source).")
    topic_prefix: TopicName = Field(
        ..., description="Changes go to <topic_prefix>.<schema>.<table>."
    )
    slot: str | None = Field(None, description="Logical replication slot; default streamdr_<name>.")
    site: str | None = Field(None, description="Kafka site to write to; default the active site.")
    tables: list[str] = Field(
        default_factory=list,
        description="schema.table names to capture; empty: every table with a primary key.",
    )
    partitions: int = Field(
        3, ge=1, le=MAX_PARTITIONS, description="Partitions of the change topics it creates."
    )
    fault_injection: SourceFaultInjection | None = Field(
        None, description="Commands the cdc-source-outage drill uses to stop and start the DB."
    )

    @field_validator("tables")
    @classmethod
    def _qualified(cls, tables: list[str]) -> list[str]:
        bad = [t for t in tables if t.count(".") != 1]
        if bad:
            raise ValueError(f"tables must be schema.table: {bad}")
        return tables

    @field_validator("dsn")
    @classmethod
    def _no_password(cls, dsn: str | None) -> str | None:
        if dsn is not None and (DSN_PASSWORD.search(dsn) or _url_password(dsn)):
            raise ValueError("dsn must not contain a password: name its variable in password_env")
        return dsn

    @model_validator(mode="after")
    def _location(self) -> SourceSettings:
        if self.kind == "postgres" and not self.dsn:
            raise ValueError("a postgres source needs dsn")
        if self.kind == "sqlite" and not self.path:
            raise ValueError("a sqlite source needs path")
        return self


class TopicDeclaration(_Strict):
    """A topic streamdr keeps present and compliant with the HA policy (`topics ensure`)."""

    name: TopicName
    partitions: int = Field(3, ge=1, le=MAX_PARTITIONS)
    replication_factor: int = Field(3, ge=1, le=MAX_REPLICATION_FACTOR)
    config: dict[str, str] = Field(default_factory=dict)
    sites: list[str] | None = Field(None, description="Sites to ensure it on; default: all.")


class ConfigRepoSettings(_Strict):
    """The git repository holding workflow configs (``workflows/<client>/<name>.yaml``)."""

    path: str = Field(
        ..., min_length=1, description="Repository directory (bare or with a work tree)."
    )
    branch: str = Field("main", description="The branch that is deployed.")
    backup_store: str | None = Field(
        None, description="Store (under `stores`) receiving git bundles from `config backup`."
    )


class ArtifactSettings(_Strict):
    """The transformation artifact registry, its archive, and the keys trusted to sign."""

    registry_store: str = Field(..., description="Store (under `stores`) holding the registry.")
    archive_store: str | None = Field(
        None, description="Store receiving versions past the historical window (retention)."
    )
    trusted_keys: list[str] = Field(
        default_factory=list, description="Public key files (PEM); only these may sign artifacts."
    )
    signing_key: str | None = Field(
        None, description="Private key file `artifacts publish` signs with (or pass --key)."
    )
    signing_key_password_env: str | None = Field(
        None, description="Environment variable holding the private key's password, if any."
    )
    cache_dir: str | None = Field(
        None, description="Where verified artifacts are unpacked; default .streamdr/artifact-cache."
    )
    historical_days: int = Field(
        90, ge=1, le=36_500, description="Unreferenced versions stay this long."
    )
    archive_years: int = Field(
        7, ge=1, le=100, description="Archived versions are deleted after this."
    )


class Settings(_Strict):
    """The whole ``streamdr.yaml``."""

    version: Literal[1] = 1
    sites: dict[SiteName, SiteSettings]
    active_site: str | None = None
    stores: dict[str, StoreSettings] = Field(default_factory=dict)
    metadata_db: MetadataDbSettings = Field(default_factory=MetadataDbSettings)
    topics: list[TopicDeclaration] = Field(default_factory=list)
    sources: dict[str, SourceSettings] = Field(default_factory=dict)
    config_repo: ConfigRepoSettings | None = None
    artifacts: ArtifactSettings | None = None
    lab_dir: str | None = Field(None, description="Set in the file `streamdr lab up` writes.")
    replication: ReplicationSettings = Field(default_factory=ReplicationSettings)
    schedule: ScheduleSettings = Field(default_factory=ScheduleSettings)
    failover: FailoverSettings = Field(default_factory=FailoverSettings)

    _source: Path | None = PrivateAttr(default=None)

    @field_validator("sites")
    @classmethod
    def _some_site(cls, sites: dict[str, SiteSettings]) -> dict[str, SiteSettings]:
        if not sites:
            raise ValueError("at least one site is required")
        return sites

    @model_validator(mode="after")
    def _references(self) -> Settings:
        if self.active_site is not None and self.active_site not in self.sites:
            raise ValueError(f"active_site {self.active_site!r} is not one of the sites")
        for name, source in self.sources.items():
            if source.site is not None and source.site not in self.sites:
                raise ValueError(f"source {name!r} names unknown site {source.site!r}")
        home = self.replication.home_site
        if home is not None and home not in self.sites:
            raise ValueError(f"replication.home_site {home!r} is not one of the sites")
        target = self.failover.automatic.target_site
        if target is not None and target not in self.sites:
            raise ValueError(f"failover.automatic.target_site {target!r} is not one of the sites")
        self._observer_sites()
        for field, store in self._store_references():
            if store not in self.stores:
                raise ValueError(f"{field} {store!r} is not one of the stores")
        for topic in self.topics:
            unknown = set(topic.sites or []) - set(self.sites)
            if unknown:
                raise ValueError(f"topic {topic.name!r} names unknown sites {sorted(unknown)}")
        return self

    def _observer_sites(self) -> None:
        """Raise ValueError unless each kafka observer has a path to every site, and only those.

        The watch follows the active site across a failover, so an observer without a path to
        the new active site would silently lose its vote.
        """
        for obs in self.failover.observers:
            if obs.kind != "kafka":
                continue
            missing = sorted(set(self.sites) - set(obs.bootstrap_servers))
            unknown = sorted(set(obs.bootstrap_servers) - set(self.sites))
            if missing or unknown:
                raise ValueError(
                    f"failover.observers {obs.name!r}: bootstrap_servers must name every site "
                    f"and only those (missing {missing}, unknown {unknown})"
                )

    def _store_references(self) -> list[tuple[str, str]]:
        """Return ``(field, store name)`` for every setting that names a store."""
        refs = []
        if self.config_repo and self.config_repo.backup_store:
            refs.append(("config_repo.backup_store", self.config_repo.backup_store))
        backup = self.metadata_db.backup
        for replica in backup.replicas if backup else []:
            if replica.store is not None:
                refs.append((f"metadata_db.backup replica {replica.name!r} store", replica.store))
        pgbr = self.metadata_db.pgbackrest
        if pgbr is not None and pgbr.store is not None:
            refs.append(("metadata_db.pgbackrest.store", pgbr.store))
        if self.artifacts:
            refs.append(("artifacts.registry_store", self.artifacts.registry_store))
            if self.artifacts.archive_store:
                refs.append(("artifacts.archive_store", self.artifacts.archive_store))
        return refs

    @property
    def source(self) -> Path | None:
        """Return the file these settings were loaded from, if any."""
        return self._source

    @property
    def primary_site(self) -> str:
        """Return the active site, or the first site when none is set."""
        return self.active_site or next(iter(self.sites))

    def site(self, name: str | None = None) -> tuple[str, SiteSettings]:
        """Return ``(name, settings)`` of the named site or the active one.

        Raises InputError for an unknown site name.
        """
        from streamdr.errors import InputError

        chosen = name or self.primary_site
        if chosen not in self.sites:
            raise InputError(
                f"unknown site {chosen!r}",
                hint=f"Known sites: {', '.join(self.sites)}.",
            )
        return chosen, self.sites[chosen]

    def base_dir(self) -> Path:
        """Return the directory relative paths in the settings are resolved against."""
        return self._source.parent if self._source else Path.cwd()
