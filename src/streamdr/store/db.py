"""Connecting to the metadata DB; SQLAlchemy errors become streamdr errors here."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from streamdr.errors import InputError, UnreachableError
from streamdr.store.schema import metadata


def resolve_url(url: str, base_dir: Path) -> str:
    """Return ``url`` with a relative SQLite path made absolute against ``base_dir``."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise InputError(
            f"metadata_db.url {url!r} is not a database URL",
            hint="Use sqlite:///path/to/streamdr.db or postgresql+psycopg://…",
        ) from exc
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        path = Path(parsed.database)
        if not path.is_absolute():
            path = base_dir / path
        path.parent.mkdir(parents=True, exist_ok=True)
        return parsed.set(database=str(path)).render_as_string(hide_password=False)
    return url


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets the scheduler, workers and CLI read while one of them writes.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


class MetadataStore:
    """The metadata DB; the engine is created and the schema ensured on first use."""

    def __init__(self, url: str, base_dir: Path | None = None) -> None:
        self.url = resolve_url(url, base_dir or Path.cwd())
        self._engine: Engine | None = None

    @property
    def engine(self) -> Engine:
        """Return the engine, creating tables that do not exist yet.

        Raises UnreachableError when the database cannot be reached.
        """
        if self._engine is None:
            engine = create_engine(self.url, future=True)
            if engine.dialect.name == "sqlite":
                event.listen(engine, "connect", _sqlite_pragmas)
            try:
                metadata.create_all(engine)
            except OperationalError as exc:
                raise self._unreachable(exc) from exc
            self._engine = engine
        return self._engine

    def _unreachable(self, exc: Exception) -> UnreachableError:
        shown = make_url(self.url).render_as_string(hide_password=True)
        return UnreachableError(
            f"metadata DB {shown} is unreachable: {str(exc).splitlines()[0]}",
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
        """Return the store named by ``settings.metadata_db`` (relative paths: settings' dir)."""
        return cls(settings.metadata_db.url, settings.base_dir())
