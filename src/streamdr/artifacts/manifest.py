"""The artifact manifest: what was published, its digest, entry point and signer.

The signature covers the manifest's exact bytes, and the manifest carries the archive's sha256,
so one ed25519 verification plus one digest comparison proves the whole artifact.
"""

from __future__ import annotations

import json
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from streamdr.artifacts.api import API_VERSION
from streamdr.artifacts.errors import ArtifactRejectedError

MANIFEST_FORMAT = 1


class FileEntry(BaseModel):
    """One file inside the archive."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str
    sha256: str
    size: int


class Manifest(BaseModel):
    """``manifest.json`` of one artifact version."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: int = MANIFEST_FORMAT
    api_version: int = API_VERSION
    name: str
    version: str
    entry_point: str = Field(description="module:callable implementing TransformV1")
    sha256: str = Field(description="sha256 of artifact.tgz")
    size: int
    created_at: datetime
    signer_key_id: str
    files: list[FileEntry]

    @property
    def ref(self) -> str:
        """Return ``name@version``."""
        return f"{self.name}@{self.version}"

    def to_bytes(self) -> bytes:
        """Return the canonical JSON bytes (sorted keys, compact) that get signed."""
        doc = self.model_dump(mode="json")
        return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def parse_manifest(data: bytes, label: str) -> Manifest:
    """Return the manifest in ``data``; raises ArtifactRejectedError when it is not one."""
    try:
        return Manifest.model_validate_json(data)
    except ValidationError as exc:
        raise ArtifactRejectedError(
            f"artifact {label}: manifest.json is not a valid manifest "
            f"({exc.error_count()} problems, first: {exc.errors()[0]['msg']})",
            hint="The registry entry is corrupt; publish a new version and stop using this one.",
        ) from exc
