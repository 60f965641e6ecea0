"""Which object stores and prefix a backup command works on (from settings and options)."""

from __future__ import annotations

from streamdr.backup.layout import LayoutError, check_prefix
from streamdr.backup.store import BackupStore
from streamdr.errors import InputError
from streamdr.objectstore.store import open_store
from streamdr.settings.model import Settings

DEFAULT_STORE = "local"


def default_prefix(site: str) -> str:
    """Return the default backup prefix of a site's topics."""
    return f"kafka/{site}"


def resolve_prefix(site: str, prefix: str | None) -> str:
    """Return ``prefix`` (or the site's default) after checking its shape; raises InputError."""
    try:
        return check_prefix(prefix or default_prefix(site))
    except LayoutError as exc:
        raise InputError(str(exc), hint="Use a relative path such as kafka/primary.") from exc


def default_target(settings: Settings) -> str:
    """Return the store backups go to by default: ``local`` if defined, else the first one."""
    if not settings.stores:
        raise InputError(
            "streamdr.yaml defines no object store for backups",
            hint="Add one under `stores:`, e.g. `local: {url: ./backups}` or an s3:// URL.",
        )
    return DEFAULT_STORE if DEFAULT_STORE in settings.stores else next(iter(settings.stores))


def backup_stores(
    settings: Settings, site: str, targets: list[str] | None, prefix: str | None
) -> list[BackupStore]:
    """Return the backup stores named by ``targets`` (default: the default one), primary first."""
    names = list(dict.fromkeys(targets or [default_target(settings)]))
    chosen = resolve_prefix(site, prefix)
    return [BackupStore(open_store(settings, name), chosen) for name in names]
