"""The raw object store: bytes under keys, on a local directory or any pyarrow.fs URI.

This is the lowest of the three storage layers (raw store → pure key layout → domain store):
it knows nothing about key shapes. Writes never leave a half-written object under its final
key: on a local directory the bytes go to a temporary name that is renamed into place; on object
stores a PUT is atomic per object. pyarrow errors are translated to streamdr errors here.
"""

from __future__ import annotations

import contextlib
import os
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
from streamdr.settings.model import Settings, StoreSettings


@dataclass(frozen=True)
class ObjectInfo:
    """One stored object."""

    key: str
    size: int
    mtime: datetime | None


class ObjectMissingError(StreamdrError):
    """The requested object does not exist."""


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

    def path(self, key: str) -> str:
        """Return the backend path of ``key``."""
        _ = self.fs
        return f"{self._root}/{key.lstrip('/')}" if self._root else key.lstrip("/")

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

        Bytes go to a temporary key that is moved into place afterwards (a rename locally, a
        server-side copy on object stores), so a crash never leaves a partial object.
        """
        final = self.path(key)
        tmp = f"{final}.tmp-{uuid.uuid4().hex[:8]}"
        with self._errors("writing", key):
            if self.is_local:
                self.fs.create_dir(final.rsplit("/", 1)[0], recursive=True)
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

    def put_bytes(self, key: str, data: bytes) -> None:
        """Write ``data`` under ``key`` atomically."""
        with self.open_output(key) as out:
            out.write(data)

    def get_bytes(self, key: str) -> bytes:
        """Return the bytes under ``key``; raises ObjectMissingError when absent."""
        with (
            self._errors("reading", key),
            self.fs.open_input_stream(self.path(key), compression=None) as src,
        ):
            return src.read()

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
        """Return every object whose key starts with the directory ``prefix`` (sorted by key)."""
        base = self.path(prefix.rstrip("/")) if prefix else (self._root or "")
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
        with self.open_input(key) as src, other.open_output(other_key or key) as dst:
            while chunk := src.read(8 << 20):
                dst.write(chunk)


def _quiet(*types: type[BaseException]) -> contextlib.suppress:
    """Return a context that swallows cleanup errors after a failure already being raised."""
    return contextlib.suppress(*(types or (OSError, pa.ArrowException)))


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
