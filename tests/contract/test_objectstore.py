"""One contract, run against every backend: a local directory and a real S3 API server."""

import pytest

from streamdr.errors import UnreachableError
from streamdr.objectstore.store import ObjectMissingError, ObjectStore
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
