"""The raw object store: bytes under keys, on a local directory or any pyarrow.fs URI.

This is the lowest of the three storage layers (raw store → pure key layout → domain store):
it knows nothing about key shapes, but it refuses any key that could leave its root (see
``check_key``): keys come from catalogs and listings, which are hostile input. Writes never
leave a half-written object under its final key: on a local directory the bytes go to a private
(0600) temporary file that is fsynced and renamed into place, and the directory is fsynced, so
an object is durable before anything (a catalog entry) can refer to it; directories are created
0700. On object stores a PUT is atomic per object. pyarrow errors are translated here.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.fs as pafs

from streamdr.errors import InputError, StreamdrError, UnreachableError
from streamdr.fsutil import PRIVATE_DIR, PRIVATE_FILE, fsync_dir
from streamdr.settings.model import Settings, StoreSettings

_BAD_SEGMENTS = ("", ".", "..")


@dataclass(frozen=True)
class ObjectInfo:
    """One stored object."""

    key: str
    size: int
    mtime: datetime | None


class ObjectMissingError(StreamdrError):
    """The requested object does not exist."""


class UnsafeKeyError(InputError):
    """A key could name something outside the store's root (``..``, absolute, NUL, ...)."""


def check_key(key: str, what: str = "key") -> str:
    """Return ``key`` if it is a clean relative key; raises UnsafeKeyError otherwise.

    Clean means: ``/``-separated segments, none empty, ``.`` or ``..``, no leading ``/``, no
    backslash (a separator on Windows) and no NUL. The same rule holds on every backend, so a
    catalog that is refused on S3 is refused on a local directory too.
    """
    if (
        not isinstance(key, str)
        or "\\" in key
        or "\x00" in key
        or any(seg in _BAD_SEGMENTS for seg in key.split("/"))
    ):
        raise UnsafeKeyError(
            f"object {what} {key!r} is not a clean relative key",
            hint="Keys are relative paths without '..', '.', empty segments, backslashes or NUL; "
            "a catalog naming such a key was tampered with or is corrupt.",
        )
    return key


class ObjectTooLargeError(InputError):
    """An object is larger than the caller is willing to read into memory."""


def _secret(env: str | None) -> str | None:
    if env is None:
        return None
    value = os.environ.get(env)
    if value is None:
        raise InputError(
            f"environment variable {env} (object-store credential) is not set",
            hint=f"Export {env}; credentials are never read from streamdr.yaml.",
        )
    return value


def _filesystem(cfg: StoreSettings, base_dir: Path) -> tuple[pafs.FileSystem, str]:
    """Return the pyarrow filesystem and the root path inside it for ``cfg``."""
    if cfg.scheme == "file":
        raw = cfg.url.removeprefix("file://")
        root = Path(raw) if Path(raw).is_absolute() else base_dir / raw
        return pafs.LocalFileSystem(), str(root)
    if cfg.scheme == "s3":
        bucket_and_prefix = cfg.url.removeprefix("s3://").strip("/")
        fs = pafs.S3FileSystem(
            access_key=_secret(cfg.access_key_env),
            secret_key=_secret(cfg.secret_key_env),
            region=cfg.region or "us-east-1",
            endpoint_override=cfg.endpoint_override,
            connect_timeout=5,
            request_timeout=30,
            retry_strategy=pafs.AwsStandardS3RetryStrategy(max_attempts=3),
        )
        return fs, bucket_and_prefix
    try:
        fs, path = pafs.FileSystem.from_uri(cfg.url)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(
            f"store URL {cfg.url!r} is not supported: {exc}",
            hint="Use a directory, s3://bucket/prefix, gs://bucket/prefix or "
            "abfs://container@account.dfs.core.windows.net/prefix.",
        ) from exc
    return fs, path.rstrip("/")


class ObjectStore:
    """Bytes under keys below one root; keys use ``/`` whatever the backend."""

    def __init__(self, name: str, cfg: StoreSettings, base_dir: Path | None = None) -> None:
        self.name = name
        self.cfg = cfg
        self._base_dir = base_dir or Path.cwd()
        self._fs: pafs.FileSystem | None = None
        self._root = ""

    @property
    def fs(self) -> pafs.FileSystem:
        """Return the pyarrow filesystem, created on first use."""
        if self._fs is None:
            self._fs, self._root = _filesystem(self.cfg, self._base_dir)
        return self._fs

    @property
    def is_local(self) -> bool:
        """Return True for a local-directory store."""
        return self.cfg.scheme == "file"

    @property
    def supports_lifecycle_rules(self) -> bool:
        """Return True when the backend moves objects to colder classes by bucket rules (S3)."""
        return self.cfg.scheme == "s3"

    def bucket_and_prefix(self) -> tuple[str, str]:
        """Return the bucket (container) of this store and the key prefix inside it.

        ``s3://backups/dr/kafka`` gives ``("backups", "dr/kafka")``; a local directory has no
        bucket: ``("", "")``. Reads the URL only, so it makes no network call.
        """
        if self.is_local:
            return "", ""
        bucket, _, prefix = self.cfg.url.split("://", 1)[1].strip("/").partition("/")
        return bucket, prefix.strip("/")

    def path(self, key: str) -> str:
        """Return the backend path of ``key``; raises UnsafeKeyError for an unclean key."""
        check_key(key)
        _ = self.fs
        return f"{self._root}/{key}" if self._root else key

    def _root_path(self) -> str:
        _ = self.fs
        return self._root

    def root_path(self) -> str:
        """Return the backend path of the store's root (its directory, or bucket/prefix)."""
        return self._root_path()

    def _key(self, path: str) -> str:
        return path[len(self._root) + 1 :] if self._root else path

    @contextmanager
    def _errors(self, action: str, key: str = "") -> Iterator[None]:
        try:
            yield
        except FileNotFoundError as exc:
            raise ObjectMissingError(
                f"object {key!r} not found in store {self.name!r}",
                hint="Check the key; `backup list` shows what exists.",
            ) from exc
        except (OSError, pa.ArrowException) as exc:
            raise UnreachableError(
                f"store {self.name!r} ({self.cfg.url}) failed while {action} {key}: {exc}",
                hint="Check the store URL, endpoint_override, credentials and network.",
            ) from exc

    @contextmanager
    def open_output(self, key: str) -> Iterator[IO[bytes]]:
        """Yield a writable stream; the object appears under ``key`` only if the block succeeds.

        Bytes go to a temporary name that is moved into place afterwards (a durable rename
        locally, a server-side copy on object stores), so a crash never leaves a partial object.
        Raises UnsafeKeyError for an unclean key, UnreachableError when the store fails.
        """
        final = self.path(key)
        if self.is_local:
            with self._local_output(key, Path(final)) as stream:
                yield stream
            return
        tmp = f"{final}.tmp-{uuid.uuid4().hex[:8]}"
        with self._errors("writing", key):
            stream = self.fs.open_output_stream(tmp, compression=None)
        try:
            yield stream  # type: ignore[misc]
            with self._errors("writing", key):
                stream.close()
                self.fs.move(tmp, final)
        except BaseException:
            with _quiet():
                stream.close()
            with _quiet():
                self.fs.delete_file(tmp)
            raise

    @contextmanager
    def _local_output(self, key: str, final: Path) -> Iterator[IO[bytes]]:
        """Yield a 0600 temp file beside ``final``; fsync, rename and fsync the dir on success."""
        with self._errors("writing", key):
            _private_dirs(final.parent)
            fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.tmp-", dir=final.parent)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as handle:
                yield handle
                handle.flush()
                with self._errors("writing", key):
                    os.fsync(handle.fileno())
            with self._errors("writing", key):
                os.chmod(tmp, PRIVATE_FILE)
                os.replace(tmp, final)
                fsync_dir(final.parent)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def put_bytes(self, key: str, data: bytes) -> None:
        """Write ``data`` under ``key`` atomically."""
        with self.open_output(key) as out:
            out.write(data)

    def get_bytes(self, key: str, max_bytes: int | None = None) -> bytes:
        """Return the bytes under ``key``.

        Raises ObjectMissingError when absent, and ObjectTooLargeError when ``max_bytes`` is
        given and the object is larger (only ``max_bytes + 1`` bytes are ever read).
        """
        path = self.path(key)
        with (
            self._errors("reading", key),
            self.fs.open_input_stream(path, compression=None) as src,
        ):
            data = src.read() if max_bytes is None else src.read(max_bytes + 1)
        if max_bytes is not None and len(data) > max_bytes:
            raise ObjectTooLargeError(
                f"object {self.name}:{key} is larger than {max_bytes} bytes",
                hint="Documents streamdr writes are far smaller; the object was replaced or "
                "corrupted. Restore it from another copy.",
            )
        return data

    @contextmanager
    def open_input(self, key: str) -> Iterator[Any]:
        """Yield a random-access input file for ``key`` (pyarrow NativeFile)."""
        with self._errors("reading", key):
            handle = self.fs.open_input_file(self.path(key))
        try:
            yield handle
        finally:
            handle.close()

    def info(self, key: str) -> ObjectInfo | None:
        """Return the object's size and mtime, or None when it does not exist."""
        with self._errors("inspecting", key):
            fi = self.fs.get_file_info(self.path(key))
        if fi.type != pafs.FileType.File:
            return None
        return ObjectInfo(key, fi.size or 0, _utc(fi.mtime))

    def exists(self, key: str) -> bool:
        """Return True when an object exists under ``key``."""
        return self.info(key) is not None

    def list(self, prefix: str = "") -> list[ObjectInfo]:
        """Return every object whose key starts with the directory ``prefix`` (sorted by key).

        Raises UnsafeKeyError for an unclean prefix, UnreachableError when the store fails.
        """
        base = self.path(prefix.rstrip("/")) if prefix else self._root_path()
        with self._errors("listing", prefix):
            infos = self.fs.get_file_info(
                pafs.FileSelector(base, recursive=True, allow_not_found=True)
            )
        return sorted(
            (
                ObjectInfo(self._key(fi.path), fi.size or 0, _utc(fi.mtime))
                for fi in infos
                if fi.type == pafs.FileType.File and ".tmp-" not in fi.path.rsplit("/", 1)[-1]
            ),
            key=lambda o: o.key,
        )

    def delete(self, key: str) -> None:
        """Delete ``key``; deleting a missing object is not an error."""
        with self._errors("deleting", key), _quiet(FileNotFoundError):
            self.fs.delete_file(self.path(key))

    def copy_to(self, key: str, other: ObjectStore, other_key: str | None = None) -> None:
        """Copy ``key`` into ``other`` (possibly another backend) under ``other_key``."""
        target = key if other_key is None else other_key
        with self.open_input(key) as src, other.open_output(target) as dst:
            while chunk := src.read(8 << 20):
                dst.write(chunk)


def _quiet(*types: type[BaseException]) -> contextlib.suppress:
    """Return a context that swallows cleanup errors after a failure already being raised."""
    return contextlib.suppress(*(types or (OSError, pa.ArrowException)))


def _private_dirs(directory: Path) -> None:
    """Create ``directory`` and its missing parents 0700 (``mkdir -p`` ignores the mode).

    Missing parents above the store's root are created 0700 too: they hold only this store.
    """
    missing = []
    for path in (directory, *directory.parents):
        if path.is_dir():
            break
        missing.append(path)
    for path in reversed(missing):
        with contextlib.suppress(FileExistsError):
            path.mkdir(mode=PRIVATE_DIR)


def _utc(ts: datetime | None) -> datetime | None:
    if ts is None:
        return None
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def open_store(settings: Settings, name: str) -> ObjectStore:
    """Return the store called ``name`` in the settings; raises InputError if unknown."""
    if name not in settings.stores:
        known = ", ".join(settings.stores) or "none"
        raise InputError(
            f"unknown object store {name!r}",
            hint=f"Stores in streamdr.yaml: {known}. Add one under `stores:`.",
        )
    return ObjectStore(name, settings.stores[name], settings.base_dir())
