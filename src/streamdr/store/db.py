"""Connecting to the metadata DB; SQLAlchemy errors become streamdr errors here."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DatabaseError, NoSuchModuleError, OperationalError

from streamdr.errors import InputError, UnreachableError
from streamdr.fsutil import create_private_file, ensure_dir
from streamdr.store.schema import metadata

# Any constant shared by every streamdr process: PostgreSQL advisory lock held while creating
# the schema (two serve replicas starting on a new database would both CREATE the same table).
SCHEMA_LOCK_KEY = 0x5354_5244_5343  # "STRDSC"


def resolve_url(url: str, base_dir: Path, *, create_parent: bool = False) -> str:
    """Return ``url`` with a relative SQLite path made absolute against ``base_dir``.

    The directory of a SQLite file must exist (a typo must not silently start an empty
    history); only ``create_parent`` (streamdr's own default location) creates it.
    Raises InputError for a malformed URL or a missing directory.
    """
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:
        raise InputError(
            "metadata_db.url is not a database URL",
            hint="Use sqlite:///path/to/streamdr.db or postgresql+psycopg://…",
        ) from exc
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        path = Path(parsed.database)
        if not path.is_absolute():
            path = base_dir / path
        if path.is_dir():
            raise InputError(
                f"metadata DB {path} is a directory",
                hint="Point metadata_db.url at a file, e.g. sqlite:///.streamdr/streamdr.db.",
            )
        if create_parent:
            ensure_dir(path.parent)
        elif not path.parent.is_dir():
            raise InputError(
                f"the directory of metadata DB {path} does not exist",
                hint="Create the directory, or fix metadata_db.url in streamdr.yaml.",
            )
        _private(path)
        return parsed.set(database=str(path)).render_as_string(hide_password=False)
    return url


def _private(path: Path) -> None:
    """Create the SQLite file 0600 before SQLAlchemy opens it: it holds deployments and runs."""
    try:
        create_private_file(path)
    except OSError as exc:
        raise InputError(
            f"cannot create metadata DB {path}: {exc.strerror or exc}",
            hint="Point metadata_db.url at a file in a directory you can write to.",
        ) from exc


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets the scheduler, workers and CLI read while one of them writes.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


class MetadataStore:
    """The metadata DB; the engine is created and the schema ensured on first use."""

    def __init__(
        self, url: str, base_dir: Path | None = None, *, create_parent: bool = False
    ) -> None:
        self.url = resolve_url(url, base_dir or Path.cwd(), create_parent=create_parent)
        self._engine: Engine | None = None

    @property
    def engine(self) -> Engine:
        """Return the engine, creating tables that do not exist yet.

        Raises InputError when the URL's driver is not installed or the database is not one
        streamdr can use, UnreachableError when it cannot be reached.
        """
        if self._engine is None:
            engine = self._create_engine()
            if engine.dialect.name == "sqlite":
                event.listen(engine, "connect", _sqlite_pragmas)
            try:
                _create_schema(engine)
            except OperationalError as exc:
                raise self._unreachable(exc) from exc
            except DatabaseError as exc:
                # e.g. SQLite's "file is not a database": retrying will not help.
                raise InputError(
                    f"metadata DB {self._shown()} is not usable: {_first_line(exc)}",
                    hint="Point metadata_db.url at a streamdr metadata database or a new file.",
                ) from exc
            self._engine = engine
        return self._engine

    def _create_engine(self) -> Engine:
        try:
            return create_engine(self.url, future=True)
        except (NoSuchModuleError, ImportError) as exc:
            raise InputError(
                f"metadata DB {self._shown()}: the database driver is not installed "
                f"({_first_line(exc)})",
                hint="Install the driver named in metadata_db.url (e.g. psycopg) or use sqlite.",
            ) from exc
        except (ArgumentError, ValueError, TypeError) as exc:
            raise InputError(
                f"metadata DB {self._shown()}: {_first_line(exc)}",
                hint="Fix metadata_db.url in streamdr.yaml.",
            ) from exc

    def _shown(self) -> str:
        return make_url(self.url).render_as_string(hide_password=True)

    def _unreachable(self, exc: Exception) -> UnreachableError:
        return UnreachableError(
            f"metadata DB {self._shown()} is unreachable: {_first_line(exc)}",
            hint="Check metadata_db.url in streamdr.yaml and that the database server runs.",
        )

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """Yield a connection inside a transaction that commits on success."""
        try:
            with self.engine.begin() as conn:
                yield conn
        except OperationalError as exc:
            raise self._unreachable(exc) from exc

    @classmethod
    def from_settings(cls, settings: Any) -> MetadataStore:
        """Return the store named by ``settings.metadata_db`` (relative paths: settings' dir).

        Raises InputError when ``url_env`` is unset or the URL is malformed.
        """
        db = settings.metadata_db
        default = db.url is None and db.url_env is None
        return cls(db.resolved_url(), settings.base_dir(), create_parent=default)


def _create_schema(engine: Engine) -> None:
    """Create missing tables; on PostgreSQL one process at a time (DDL is transactional there).

    Without the lock, concurrent ``create_all`` calls both find a table missing and the second
    CREATE fails on a unique violation of PostgreSQL's catalog.
    """
    if engine.dialect.name != "postgresql":
        metadata.create_all(engine)
        return
    with engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK_KEY})
        metadata.create_all(conn)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
