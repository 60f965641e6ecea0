"""pgBackRest for a PostgreSQL metadata DB: its config, the cluster's archive lines, its commands.

The repository is a local directory or an s3:// store. Files written here hold no secret: S3
keys reach pgBackRest as ``PGBACKREST_REPO1_S3_KEY``/``PGBACKREST_REPO1_S3_KEY_SECRET`` in the
child's environment (from the store's ``access_key_env``/``secret_key_env``), never in argv.
When streamdr runs as root, every command runs as the cluster's OS user through ``runuser``
(pgBackRest must own the repository the cluster's ``archive_command`` writes to).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url

from streamdr.errors import InputError, StateError, UnreachableError
from streamdr.fsutil import atomic_write_text, ensure_dir
from streamdr.runtime import postgres
from streamdr.runtime.postgres import as_user
from streamdr.settings.metadb_backup import PgBackRestSettings
from streamdr.settings.model import Settings, StoreSettings

COMMAND_TIMEOUT = 900.0
REPO_DIR = "metadb-pgbackrest"  # below an s3 store's prefix
# Messages of pgBackRest that mean "cannot reach", as opposed to "refused to act".
UNREACHABLE_MARKERS = ("unable to connect", "HostConnectError", "connection refused", "timeout")


def pgbackrest_settings(settings: Settings) -> PgBackRestSettings:
    """Return ``metadata_db.pgbackrest``; raises InputError when it is not configured."""
    cfg = settings.metadata_db.pgbackrest
    if cfg is None:
        raise InputError(
            "metadata_db.pgbackrest is not configured",
            hint="Add metadata_db.pgbackrest (stanza, repo_path, pg_data) to streamdr.yaml.",
        )
    return cfg


def is_postgres(url: str) -> bool:
    """Return True when the metadata DB URL is a PostgreSQL database."""
    return make_url(url).get_backend_name() == "postgresql"


def _absolute(path: str, base: Path) -> Path:
    p = Path(path).expanduser()
    return p if p.is_absolute() else base / p


@dataclass(frozen=True)
class Repo:
    """Where the repository is: its pgbackrest.conf options, the child's environment, a label."""

    options: dict[str, str]
    env: dict[str, str]
    shown: str


def repo_for(settings: Settings, cfg: PgBackRestSettings) -> Repo:
    """Return the repository of ``cfg``; raises InputError for a store pgBackRest cannot use."""
    if cfg.repo_path is not None:
        path = _absolute(cfg.repo_path, settings.base_dir())
        return Repo({"repo1-path": str(path)}, {}, str(path))
    store = settings.stores[cfg.store or ""]
    if store.scheme != "s3":
        raise InputError(
            f"store {cfg.store!r} ({store.scheme}://) cannot hold a pgBackRest repository",
            hint="Use an s3:// store or repo_path (a local directory).",
        )
    return _s3_repo(store)


def _s3_repo(store: StoreSettings) -> Repo:
    bucket, _, prefix = store.url.removeprefix("s3://").strip("/").partition("/")
    path = "/" + "/".join(p for p in (prefix, REPO_DIR) if p)
    region = store.region or "us-east-1"
    options = {"repo1-type": "s3", "repo1-path": path, "repo1-s3-bucket": bucket}
    options["repo1-s3-region"] = region
    if store.endpoint_override:
        endpoint = urlsplit(store.endpoint_override)
        options["repo1-s3-endpoint"] = endpoint.hostname or ""
        if endpoint.port:
            options["repo1-storage-port"] = str(endpoint.port)
        options["repo1-s3-uri-style"] = "path"
        if endpoint.scheme == "https" and endpoint.hostname in ("127.0.0.1", "localhost"):
            options["repo1-storage-verify-tls"] = "n"  # a test server's self-signed certificate
    else:
        options["repo1-s3-endpoint"] = f"s3.{region}.amazonaws.com"
    env = {}
    for var, source in (
        ("PGBACKREST_REPO1_S3_KEY", store.access_key_env or "AWS_ACCESS_KEY_ID"),
        ("PGBACKREST_REPO1_S3_KEY_SECRET", store.secret_key_env or "AWS_SECRET_ACCESS_KEY"),
    ):
        if source not in os.environ:
            raise InputError(
                f"environment variable {source} is not set",
                hint=f"Export {source}: pgBackRest reads S3 keys from the environment only.",
            )
        env[var] = os.environ[source]
    return Repo(options, env, f"s3://{bucket}{path}")


def render_config(cfg: PgBackRestSettings, repo: Repo, state: Path) -> str:
    """Return the text of pgbackrest.conf (no secret: those come from the environment)."""
    lines = ["[global]"]
    lines += [f"{k}={v}" for k, v in repo.options.items()]
    lines += [
        f"repo1-retention-full={cfg.retention_full}",
        f"log-path={state / 'log'}",
        f"lock-path={state / 'lock'}",
        f"spool-path={state / 'spool'}",
        "log-level-console=warn",
        "log-level-file=info",
        "start-fast=y",
        # lz4 costs a fraction of gzip's CPU: archiving keeps up on a busy host (it bounds RPO).
        "compress-type=lz4",
        "process-max=2",
        "",
        # A restore's recovery prefetches WAL segments instead of one process per segment;
        # archive-push stays synchronous (fewer moving parts on the write path).
        "[global:archive-get]",
        "archive-async=y",
        "",
        f"[{cfg.stanza}]",
        f"pg1-path={cfg.pg_data}",
        f"pg1-port={cfg.pg_port}",
        f"pg1-socket-path={cfg.pg_socket_dir}",
        f"pg1-user={cfg.os_user}",
    ]
    return "\n".join(lines) + "\n"


def archive_conf_lines(cfg: PgBackRestSettings, config: Path, binary: str) -> str:
    """Return the postgresql.conf lines that archive every WAL segment with pgBackRest.

    ``archive_mode`` takes effect at the cluster's next start; ``wal_level`` must be ``replica``
    or ``logical`` (the default ``replica`` is fine).
    """
    command = f"{binary} --config={config} --stanza={cfg.stanza} archive-push %p"
    return (
        f"# streamdr: WAL archiving to pgBackRest (stanza {cfg.stanza})\n"
        "archive_mode = on\n"
        f"archive_command = '{command}'\n"
        f"archive_timeout = {cfg.archive_timeout_seconds}\n"
    )


def pgbackrest_binary() -> str:
    """Return the pgbackrest executable; raises UnreachableError when it is not installed."""
    found = shutil.which("pgbackrest")
    if not found:
        raise UnreachableError(
            "the pgbackrest binary is not installed",
            hint="Run scripts/ensure-debian-packages (Debian package pgbackrest).",
        )
    return found


@dataclass(frozen=True)
class PgBackRest:
    """A prepared pgBackRest: settings, written config, repository and how to run commands."""

    cfg: PgBackRestSettings
    config: Path
    state: Path
    repo: Repo
    binary: str
    run_as: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)

    def argv(self, *args: str) -> list[str]:
        """Return the argv of ``pgbackrest`` with ``args`` (through runuser when root)."""
        cmd = [self.binary, f"--config={self.config}", f"--stanza={self.cfg.stanza}", *args]
        return as_user(self.run_as, cmd)

    def env(self) -> dict[str, str]:
        """Return the child's environment: this one plus the repository's secrets."""
        return {**os.environ, **self.repo.env, **self.extra_env}


def run_user(cfg: PgBackRestSettings) -> str | None:
    """Return the OS user commands run as: the cluster's when streamdr is root, else None."""
    return cfg.os_user if os.geteuid() == 0 else None


def prepare(settings: Settings) -> PgBackRest:
    """Write pgbackrest.conf and its directories; return the runtime.

    Raises InputError for missing settings, UnreachableError when pgbackrest is not installed.
    """
    cfg = pgbackrest_settings(settings)
    repo = repo_for(settings, cfg)
    base = settings.base_dir()
    state = _absolute(cfg.state_dir or f"{cfg.repo_path}.state", base)
    user = run_user(cfg)
    dirs = [state, state / "log", state / "lock", state / "spool"]
    if cfg.repo_path is not None:
        dirs.append(Path(repo.options["repo1-path"]))
    for directory in dirs:
        ensure_dir(directory)
        give_to_user(user, directory)
    config = state / "pgbackrest.conf"
    atomic_write_text(config, render_config(cfg, repo, state))
    give_to_user(user, config)
    return PgBackRest(cfg, config, state, repo, pgbackrest_binary(), user)


def give_to_user(user: str | None, path: Path) -> None:
    """Hand ``path`` to the cluster's OS user: the archive_command it runs writes there."""
    postgres.give_to_user(
        user, path, hint="Set metadata_db.pgbackrest.os_user to the user the cluster runs as."
    )


def run_pgbackrest(rt: PgBackRest, args: list[str], timeout: float = COMMAND_TIMEOUT) -> str:
    """Run one pgbackrest command and return its stdout.

    Raises UnreachableError when the repository or cluster cannot be reached (or on timeout),
    StateError when pgBackRest refuses (its message is in the error).
    """
    what = " ".join(args[:1])
    try:
        done = subprocess.run(
            rt.argv(*args),
            capture_output=True,
            text=True,
            timeout=timeout,
            env=rt.env(),
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise UnreachableError(
            f"pgbackrest {what} did not finish within {timeout:.0f}s",
            hint=f"See the logs in {rt.state / 'log'}; is the repository reachable?",
        ) from exc
    if done.returncode == 0:
        return done.stdout
    message = _error_text(done.stderr or done.stdout)
    error = UnreachableError if _unreachable(message) else StateError
    hint = f"See {rt.state / 'log'}; `streamdr db backup setup` prints the expected setup."
    if "unable to find backup set" in message:
        # A time target needs a backup that stopped before it; pgBackRest compares whole
        # seconds, so a target in the newest backup's last second has none.
        hint = (
            "Pick a --to-time at least a second after a backup's stop time "
            "(`streamdr db backup status` lists the backups)."
        )
    raise error(f"pgbackrest {what} failed (exit {done.returncode}): {message}", hint=hint)


def _error_text(output: str) -> str:
    lines = [ln.strip() for ln in output.strip().splitlines() if ln.strip()]
    errors = [ln for ln in lines if "ERROR" in ln] or lines
    return " | ".join(errors[:3])[:600] or "no output"


def _unreachable(message: str) -> bool:
    lowered = message.lower()
    return any(marker.lower() in lowered for marker in UNREACHABLE_MARKERS)


def info(rt: PgBackRest) -> dict[str, Any]:
    """Return pgBackRest's ``info`` of the stanza (backups and archive range) as a mapping."""
    docs = json.loads(run_pgbackrest(rt, ["info", "--output=json"], timeout=120) or "[]")
    return docs[0] if docs else {}
