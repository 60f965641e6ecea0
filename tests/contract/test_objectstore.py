"""One contract, run against every backend: a local directory and a real S3 API server."""

import stat

import pytest

from streamdr.errors import UnreachableError
from streamdr.objectstore.store import (
    ObjectMissingError,
    ObjectStore,
    ObjectTooLargeError,
    UnsafeKeyError,
)
from streamdr.settings.model import StoreSettings


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    if request.param == "local":
        return ObjectStore("local", StoreSettings(url=str(tmp_path / "objects")))
    bucket = request.getfixturevalue("s3_bucket")
    endpoint = request.getfixturevalue("s3_server")
    return ObjectStore("s3", StoreSettings(url=f"s3://{bucket}/prefix", endpoint_override=endpoint))


def test_put_get_info_list_delete(store):
    store.put_bytes("a/b/one.bin", b"1" * 10)
    store.put_bytes("a/two.bin", b"22")
    store.put_bytes("other/x", b"")
    assert store.get_bytes("a/b/one.bin") == b"1" * 10
    assert store.info("a/two.bin").size == 2
    assert store.info("missing") is None
    assert [o.key for o in store.list("a")] == ["a/b/one.bin", "a/two.bin"]
    assert [o.key for o in store.list()] == ["a/b/one.bin", "a/two.bin", "other/x"]
    store.delete("a/two.bin")
    store.delete("a/two.bin")  # idempotent
    assert not store.exists("a/two.bin")


def test_failed_write_leaves_nothing(store):
    with pytest.raises(RuntimeError), store.open_output("half/written.bin") as out:
        out.write(b"partial")
        raise RuntimeError("crash mid-write")
    assert store.list("half") == []
    assert not store.exists("half/written.bin")


def test_overwrite_and_missing(store):
    store.put_bytes("k", b"old")
    store.put_bytes("k", b"new")
    assert store.get_bytes("k") == b"new"
    with pytest.raises(ObjectMissingError):
        store.get_bytes("nope")


def test_copy_between_backends(store, tmp_path):
    local = ObjectStore("copy", StoreSettings(url=str(tmp_path / "copy")))
    store.put_bytes("src.bin", bytes(range(256)) * 100)
    store.copy_to("src.bin", local, "dst.bin")
    assert local.get_bytes("dst.bin") == bytes(range(256)) * 100


def test_unreachable_s3_endpoint_is_exit_3_error():
    store = ObjectStore(
        "dead", StoreSettings(url="s3://bucket/p", endpoint_override="http://127.0.0.1:1")
    )
    with pytest.raises(UnreachableError):
        store.put_bytes("x", b"y")


def test_bytes_are_stored_verbatim_whatever_the_key_suffix(store):
    # pyarrow would (de)compress ".gz"/".zst" keys by default; a store must never do that.
    import gzip

    data = gzip.compress(b"payload")
    store.put_bytes("archive/x.tar.gz", data)
    assert store.get_bytes("archive/x.tar.gz") == data


UNSAFE_KEYS = [
    "../victims/precious.txt",
    "a/../../b",
    "a/./b",
    ".",
    "",
    "a//b",
    "/etc/passwd",
    "a/b/",
    "a\\..\\b",
    "a/b\x00c",
]


@pytest.mark.parametrize("key", UNSAFE_KEYS)
def test_unsafe_keys_are_refused_by_every_operation(store, tmp_path, key):
    outside = tmp_path / "victims" / "precious.txt"
    outside.parent.mkdir()
    outside.write_bytes(b"keep me")
    local = ObjectStore("copy", StoreSettings(url=str(tmp_path / "copy")))
    local.put_bytes("ok", b"x")
    calls = [
        lambda: store.put_bytes(key, b"x"),
        lambda: store.get_bytes(key),
        lambda: store.info(key),
        lambda: store.exists(key),
        lambda: store.delete(key),
        lambda: store.copy_to(key, local, "dst"),
        lambda: local.copy_to("ok", store, key),
    ]
    if key.rstrip("/") not in ("", "a/b"):  # list() takes a directory: "" is the whole store
        calls.append(lambda: store.list(key))
    for call in calls:
        with pytest.raises(UnsafeKeyError, match="not a clean relative key"):
            call()
    assert outside.read_bytes() == b"keep me"
    assert [o.key for o in store.list()] == []


def test_get_bytes_refuses_objects_over_the_cap(store):
    store.put_bytes("big", b"x" * 100)
    assert store.get_bytes("big", max_bytes=100) == b"x" * 100
    with pytest.raises(ObjectTooLargeError, match="larger than 99 bytes"):
        store.get_bytes("big", max_bytes=99)


def test_local_objects_are_private_and_leave_no_temp_files(tmp_path):
    store = ObjectStore("local", StoreSettings(url=str(tmp_path / "objects")))
    store.put_bytes("a/b/one.bin", b"1")
    with store.open_output("a/c/two.bin") as out:
        out.write(b"2")
    for rel in ("objects", "objects/a", "objects/a/b", "objects/a/c"):
        assert stat.S_IMODE((tmp_path / rel).stat().st_mode) == 0o700, rel
    for rel in ("objects/a/b/one.bin", "objects/a/c/two.bin"):
        assert stat.S_IMODE((tmp_path / rel).stat().st_mode) == 0o600, rel
    assert sorted(p.name for p in (tmp_path / "objects/a/b").iterdir()) == ["one.bin"]
