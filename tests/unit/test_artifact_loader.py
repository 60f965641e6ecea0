"""Loading artifacts for execution: verified every time, isolated per version, cache untrusted."""

import sys
from datetime import UTC, datetime

import pytest

from streamdr.artifacts.api import ChangeEvent
from streamdr.artifacts.errors import (
    ArtifactLoadError,
    ArtifactNotFoundError,
    ArtifactRejectedError,
)
from streamdr.artifacts.layout import ARCHIVE_FILE, format_artifact_key
from streamdr.artifacts.loader import load_artifact, load_transform
from streamdr.artifacts.publish import publish_artifact
from streamdr.artifacts.service import open_registry
from streamdr.artifacts.signing import generate_key, write_keypair
from streamdr.settings.model import ArtifactSettings, Settings, SiteSettings, StoreSettings
from streamdr.workflows.model import TransformationRef

PACKAGE_INIT = "from .rules import label\n\ndef transform(event):\n    return label(event)\n"
RULES = (
    "from streamdr.artifacts.api import OutputEvent\n\n"
    "VERSION = {version!r}\n\n"
    "def label(event):\n"
    "    return [OutputEvent(payload={{'v': VERSION, 'id': event.event_id}})]\n"
)
EVENT = ChangeEvent(
    "e1",
    "src",
    "public.t",
    "insert",
    {"id": 1},
    None,
    {"id": 1},
    datetime(2026, 1, 1, tzinfo=UTC),
    "0/1",
)


@pytest.fixture
def settings(tmp_path):
    write_keypair(generate_key(), tmp_path / "k.key", tmp_path / "k.pub")
    return Settings(
        sites={"primary": SiteSettings(bootstrap_servers="127.0.0.1:1")},
        stores={"registry": StoreSettings(url=str(tmp_path / "registry"))},
        artifacts=ArtifactSettings(
            registry_store="registry",
            trusted_keys=[str(tmp_path / "k.pub")],
            signing_key=str(tmp_path / "k.key"),
            cache_dir=str(tmp_path / "cache"),
        ),
    )


def _source(tmp_path, version, init=PACKAGE_INIT):
    pkg = tmp_path / f"src-{version}" / "labeller"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(init)
    (pkg / "rules.py").write_text(RULES.format(version=version))
    return pkg.parent


def test_two_versions_in_one_process(settings, tmp_path):
    for version in ("1.0.0", "2.0.0"):
        publish_artifact(settings, _source(tmp_path, version), "labeller", version)
    one = load_transform(settings, TransformationRef(name="labeller", version="1.0.0"))
    two = load_transform(settings, TransformationRef(name="labeller", version="2.0.0"))
    assert one(EVENT)[0].payload == {"v": "1.0.0", "id": "e1"}
    assert two(EVENT)[0].payload == {"v": "2.0.0", "id": "e1"}
    assert "labeller" not in sys.modules  # never under the artifact's own top-level name
    assert (tmp_path / "src-1.0.0" / "labeller" / "__pycache__").exists() is False


def test_tampered_cache_is_rebuilt_from_the_verified_archive(settings, tmp_path):
    publish_artifact(settings, _source(tmp_path, "1.0.0"), "labeller", "1.0.0")
    loaded = load_artifact(settings, "labeller", "1.0.0")
    (loaded.directory / "labeller" / "rules.py").write_text("VERSION = 'evil'\n")
    for name in [n for n in sys.modules if n.startswith(loaded.package)]:
        del sys.modules[name]
    again = load_artifact(settings, "labeller", "1.0.0")
    assert again.transform(EVENT)[0].payload["v"] == "1.0.0"
    assert (again.directory / "labeller" / "rules.py").read_text() == RULES.format(version="1.0.0")


def test_tampered_registry_archive_is_refused(settings, tmp_path):
    publish_artifact(settings, _source(tmp_path, "1.0.0"), "labeller", "1.0.0")
    store = open_registry(settings).store
    key = format_artifact_key("labeller", "1.0.0", ARCHIVE_FILE)
    data = bytearray(store.get_bytes(key))
    data[-5] ^= 0xFF
    store.put_bytes(key, bytes(data))
    with pytest.raises(ArtifactRejectedError) as info:
        load_transform(settings, TransformationRef(name="labeller", version="1.0.0"))
    assert info.value.exit_code == 2


def test_missing_version(settings):
    with pytest.raises(ArtifactNotFoundError):
        load_transform(settings, TransformationRef(name="labeller", version="9.9.9"))


def test_broken_entry_point_is_refused_at_publish(settings, tmp_path):
    src = _source(tmp_path, "1.0.0", init="import labeller.rules\n")  # absolute self-import
    with pytest.raises(ArtifactLoadError, match="No module named 'labeller'") as info:
        publish_artifact(settings, src, "labeller", "1.0.0")
    assert "relatively" in info.value.hint
    src2 = _source(tmp_path, "1.0.1", init="transform = 42\n")
    with pytest.raises(ArtifactLoadError, match="not a callable"):
        publish_artifact(settings, src2, "labeller", "1.0.1")
    assert open_registry(settings).versions() == []
