"""Per-partition backup leases: one writer per partition, fenced before every catalog write."""

import threading
import time
from datetime import timedelta

import pytest

from streamdr.backup.model import TopicPartition
from streamdr.backup.ownership import NotOwnerError, PartitionLeases, partition_lease_name
from streamdr.backup.service import BackupOptions
from streamdr.clock import utcnow
from streamdr.errors import InputError, StateError
from streamdr.store.db import MetadataStore

P0, P1, P2 = (TopicPartition("orders", p) for p in range(3))


@pytest.fixture
def db(tmp_path):
    return MetadataStore(f"sqlite:///{tmp_path / 'm.db'}")


def leases(db, owner, **kw):
    return PartitionLeases(db, "local", "kafka/primary", owner=owner, **kw)


def test_lease_names_keep_store_prefix_and_partition_apart():
    assert partition_lease_name("local", "kafka/a", P1) == "local:kafka/a#orders/1"
    assert partition_lease_name("local", "kafka/a", P1) != partition_lease_name("s3", "kafka/a", P1)


def test_each_partition_has_one_owner_and_is_handed_over_on_release(db):
    a, b = leases(db, "host-a:1"), leases(db, "host-b:2")
    assert a.claim([P0, P1]) == ([P0, P1], [])
    assert b.claim([P1, P2]) == ([P2], [P1])
    a.release([P1])
    assert b.claim([P1]) == ([P1], [])
    assert a.owned == {P0} and b.owned == {P1, P2}


def test_claim_all_takes_every_lease_or_none(db):
    a, b = leases(db, "host-a:1"), leases(db, "host-b:2")
    a.claim([P2])
    with pytest.raises(StateError, match=r"orders\[2\].*1 of 3"):
        b.claim_all([P0, P1, P2])
    assert b.owned == set()
    assert a.claim([P0, P1]) == ([P0, P1], [])  # b released what it had taken


def test_fence_refuses_a_writer_whose_lease_was_taken_over(db):
    ttl = timedelta(seconds=30)
    stalled, new = leases(db, "host-a:1", ttl=ttl), leases(db, "host-b:2", ttl=ttl)
    stalled.claim([P0], now=utcnow() - ttl - timedelta(seconds=1))  # it stalled: lease expired
    assert new.claim([P0]) == ([P0], [])
    with pytest.raises(NotOwnerError, match="no longer holds"):
        stalled.check(P0)
    new.check(P0)
    assert stalled.renew() == [P0] and stalled.lost == [P0]


def test_fence_refuses_a_lease_about_to_expire(db):
    a = leases(db, "host-a:1", ttl=timedelta(seconds=30), margin=timedelta(seconds=10))
    a.claim([P0], now=utcnow() - timedelta(seconds=25))  # 5 s left < 10 s margin
    with pytest.raises(NotOwnerError):
        a.check(P0)
    assert a.renew() == []
    a.check(P0)


def test_keep_alive_renews_in_its_own_thread(db):
    a = leases(db, "host-a:1", ttl=timedelta(seconds=0.6), margin=timedelta(seconds=0.1))
    a.claim([P0])
    stop = threading.Event()
    thread = a.keep_alive(stop)
    time.sleep(1.0)  # longer than the TTL: only renewal keeps it
    a.check(P0)
    stop.set()
    thread.join(2)
    assert not leases(db, "host-b:2").claim([P0])[0]


def test_scale_out_needs_continuous():
    with pytest.raises(InputError, match="--scale-out needs --continuous"):
        BackupOptions("primary", scale_out=True)
    assert BackupOptions("primary", continuous=True, scale_out=True).scale_out
