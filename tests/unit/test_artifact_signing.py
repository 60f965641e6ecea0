"""Signing and verification: one tampered byte, a wrong key or no signature is always refused."""

import io
import tarfile
from datetime import UTC, datetime

import pytest

from streamdr.artifacts.errors import ArtifactExistsError, ArtifactRejectedError
from streamdr.artifacts.layout import (
    ARCHIVE_FILE,
    MANIFEST_FILE,
    SIGNATURE_FILE,
    format_artifact_key,
)
from streamdr.artifacts.package import (
    build_archive,
    collect_files,
    default_entry_point,
    unpack_archive,
)
from streamdr.artifacts.publish import publish_to
from streamdr.artifacts.registry import Registry, verify_stored
from streamdr.artifacts.signing import (
    generate_key,
    key_id,
    load_private_key,
    load_trusted_keys,
    sign,
    verify,
    write_keypair,
)
from streamdr.errors import InputError
from streamdr.objectstore.store import ObjectStore
from streamdr.settings.model import StoreSettings

CODE = "from streamdr.artifacts.api import OutputEvent\n\ndef transform(event):\n    return []\n"


@pytest.fixture
def key():
    return generate_key()


@pytest.fixture
def registry(tmp_path):
    return Registry(ObjectStore("registry", StoreSettings(url=str(tmp_path / "registry"))))


@pytest.fixture
def source(tmp_path):
    src = tmp_path / "src"
    (src / "__pycache__").mkdir(parents=True)
    (src / "transform.py").write_text(CODE)
    (src / "__pycache__" / "transform.cpython-311.pyc").write_bytes(b"junk")
    return src


def _publish(registry, source, key, version="1.0.0", trusted=None):
    trusted = trusted if trusted is not None else {key_id(key.public_key()): key.public_key()}
    return publish_to(
        registry,
        source,
        "demo",
        version,
        key=key,
        trusted=trusted,
        now=datetime(2026, 1, 1, tzinfo=UTC),
    )


def _trusted(key):
    return {key_id(key.public_key()): key.public_key()}


def test_sign_and_verify_round_trip(key):
    doc = sign(key, b"manifest bytes")
    assert verify(b"manifest bytes", doc, _trusted(key), "x@1.0.0") == key_id(key.public_key())


def test_one_flipped_byte_in_signed_data_is_refused(key):
    data = bytearray(b"manifest bytes")
    doc = sign(key, bytes(data))
    data[3] ^= 0x01
    with pytest.raises(ArtifactRejectedError, match="tampered"):
        verify(bytes(data), doc, _trusted(key), "x@1.0.0")


def test_wrong_key_and_missing_signature_are_refused(key):
    other = generate_key()
    with pytest.raises(ArtifactRejectedError, match="not trusted"):
        verify(b"data", sign(other, b"data"), _trusted(key), "x@1.0.0")
    with pytest.raises(ArtifactRejectedError, match="unsigned"):
        verify(b"data", None, _trusted(key), "x@1.0.0")
    with pytest.raises(ArtifactRejectedError, match="not a valid signature"):
        verify(b"data", b"{not json", _trusted(key), "x@1.0.0")


def test_signature_of_another_key_under_a_trusted_id_is_refused(key):
    # An attacker copies a trusted key id into a signature made with their own key.
    import json

    forged = json.loads(sign(generate_key(), b"data"))
    forged["key_id"] = key_id(key.public_key())
    with pytest.raises(ArtifactRejectedError, match="does not match"):
        verify(b"data", json.dumps(forged).encode(), _trusted(key), "x@1.0.0")


def test_key_files(tmp_path, key):
    kid = write_keypair(key, tmp_path / "k.key", tmp_path / "k.pub")
    assert (tmp_path / "k.key").stat().st_mode & 0o777 == 0o600
    assert list(load_trusted_keys([tmp_path / "k.pub"])) == [kid]
    assert key_id(load_private_key(tmp_path / "k.key").public_key()) == kid
    with pytest.raises(InputError, match="refusing to overwrite"):
        write_keypair(generate_key(), tmp_path / "k.key", tmp_path / "other.pub")
    with pytest.raises(InputError):
        load_private_key(tmp_path / "k.pub")


def test_password_protected_key(tmp_path, key):
    write_keypair(key, tmp_path / "p.key", tmp_path / "p.pub", password=b"s3cret")
    with pytest.raises(InputError, match="password"):
        load_private_key(tmp_path / "p.key")
    assert key_id(load_private_key(tmp_path / "p.key", b"s3cret").public_key()) == key_id(
        key.public_key()
    )


def test_archive_is_deterministic_and_skips_caches(source):
    one, two = build_archive(collect_files(source)), build_archive(collect_files(source))
    assert one.sha256 == two.sha256 and one.data == two.data
    assert [f.path for f in one.files] == ["transform.py"]
    assert default_entry_point([f.path for f in one.files]) == "transform:transform"


def test_default_entry_point_rules():
    assert default_entry_point(["pkg/__init__.py", "pkg/rules.py"]) == "pkg:transform"
    with pytest.raises(InputError, match="entry point"):
        default_entry_point(["a/__init__.py", "b/__init__.py"])


def test_symlinks_are_refused(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "transform.py").write_text(CODE)
    (tmp_path / "d" / "link.py").symlink_to(tmp_path / "d" / "transform.py")
    with pytest.raises(InputError, match="symlink"):
        collect_files(tmp_path / "d")


def _tar(members):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return raw.getvalue()


def test_unpack_refuses_unexpected_members(tmp_path, source):
    built = build_archive(collect_files(source))
    evil = _tar([("transform.py", CODE.encode()), ("../escape.py", b"x")])
    with pytest.raises(ArtifactRejectedError, match="differ"):
        unpack_archive(evil, tmp_path / "out", list(built.files), "demo@1.0.0")
    assert not (tmp_path / "escape.py").exists()


def test_publish_then_verify(registry, source, key):
    manifest = _publish(registry, source, key)
    stored = registry.read("demo", "1.0.0")
    assert verify_stored(stored, _trusted(key)) == manifest
    assert manifest.entry_point == "transform:transform"
    assert registry.versions() == [("demo", "1.0.0")]


def test_republishing_a_version_is_refused(registry, source, key):
    _publish(registry, source, key)
    with pytest.raises(ArtifactExistsError):
        _publish(registry, source, key)


def test_publishing_with_an_untrusted_key_is_refused(registry, source, key):
    with pytest.raises(InputError, match="not among the trusted keys"):
        _publish(registry, source, key, trusted={})
    assert registry.versions() == []


@pytest.mark.parametrize("file", [ARCHIVE_FILE, MANIFEST_FILE])
def test_one_tampered_byte_in_the_registry_is_refused(registry, source, key, file):
    _publish(registry, source, key)
    k = format_artifact_key("demo", "1.0.0", file)
    data = bytearray(registry.store.get_bytes(k))
    data[len(data) // 2] ^= 0x01
    registry.store.put_bytes(k, bytes(data))
    with pytest.raises(ArtifactRejectedError):
        verify_stored(registry.read("demo", "1.0.0"), _trusted(key))


def test_removed_signature_and_wrong_trust_are_refused(registry, source, key):
    _publish(registry, source, key)
    with pytest.raises(ArtifactRejectedError, match="not trusted"):
        verify_stored(registry.read("demo", "1.0.0"), _trusted(generate_key()))
    registry.store.delete(format_artifact_key("demo", "1.0.0", SIGNATURE_FILE))
    with pytest.raises(ArtifactRejectedError, match="unsigned"):
        verify_stored(registry.read("demo", "1.0.0"), _trusted(key))


def test_signed_manifest_moved_to_another_version_is_refused(registry, source, key):
    _publish(registry, source, key, "1.0.0")
    for file in (ARCHIVE_FILE, SIGNATURE_FILE, MANIFEST_FILE):
        data = registry.store.get_bytes(format_artifact_key("demo", "1.0.0", file))
        registry.store.put_bytes(format_artifact_key("demo", "2.0.0", file), data)
    with pytest.raises(ArtifactRejectedError, match=r"describes demo@1\.0\.0"):
        verify_stored(registry.read("demo", "2.0.0"), _trusted(key))


def test_interrupted_publish_is_not_a_version(registry, key):
    registry.store.put_bytes(format_artifact_key("demo", "3.0.0", ARCHIVE_FILE), b"partial")
    assert registry.versions() == []
    assert registry.incomplete() == [("demo", "3.0.0")]


def test_write_keypair_leaves_no_half_pair_when_the_public_half_fails(tmp_path) -> None:
    """A failure writing the .pub file removes the .key written before it."""
    from streamdr.artifacts.signing import generate_key, write_keypair

    blocker = tmp_path / "pub-dir"
    blocker.write_text("a file where a directory is needed")
    with pytest.raises(OSError):
        write_keypair(generate_key(), tmp_path / "k.key", blocker / "k.pub")
    assert not (tmp_path / "k.key").exists()
