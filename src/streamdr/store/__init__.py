"""The metadata DB (SQLAlchemy Core): SQLite by default, PostgreSQL in production."""

from streamdr.store.db import MetadataStore

__all__ = ["MetadataStore"]
