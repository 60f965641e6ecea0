"""Scale-out hand-over without Kafka: claims resume at the catalog, revocation is durable first.

The group protocol itself runs against the real lab in
tests/integration/test_backup_scale_out.py; here the claim and revoke logic is driven directly
with a stand-in consumer (it only records what was assigned) and a local backup store.
"""

from types import SimpleNamespace

import pytest
from confluent_kafka import TopicPartition as KafkaTP

from streamdr.backup import layout
from streamdr.backup.model import GAP_RETENTION, ManifestEntry, TopicPartition
from streamdr.backup.ownership import NotOwnerError, PartitionLeases
from streamdr.backup.records import ColumnBuffer
from streamdr.backup.scaleout import GroupPartitionWriter, PartitionClaims
from streamdr.backup.store import BackupStore
from streamdr.backup.writer import FileWriter, RollPolicy
from streamdr.objectstore.store import ObjectStore
from streamdr.settings.model import SiteSettings, StoreSettings
from streamdr.store.db import MetadataStore

PREFIX = "kafka/primary"
T = "orders"
P0, P1 = TopicPartition(T, 0), TopicPartition(T, 1)


class Admin:
    """Log start and end offsets of the topic's two partitions."""

    def __init__(self, starts, ends):
        self.starts, self.ends = starts, ends

    def start_offsets(self, topic):
        return dict(self.starts)

    def end_offsets(self, topic):
        return dict(self.ends)


class Consumer:
    """Records incremental (un)assignments as (partition, offset)."""

    def __init__(self):
        self.assigned, self.unassigned = [], []

    def incremental_assign(self, tps):
        self.assigned += [(tp.partition, tp.offset) for tp in tps]

    def incremental_unassign(self, tps):
        self.unassigned += [tp.partition for tp in tps]


@pytest.fixture
def env(tmp_path):
    db = MetadataStore(f"sqlite:///{tmp_path / 'm.db'}")
    store = BackupStore(ObjectStore("local", StoreSettings(url=str(tmp_path / "b"))), PREFIX)
    return SimpleNamespace(db=db, store=store)


def leases(env, owner):
    return PartitionLeases(env.db, "local", PREFIX, owner=owner)


def buffer(partition, first, n, ts0=1_700_000_000_000):
    buf = ColumnBuffer(T, partition)
    for i in range(n):
        buf.append(first + i, ts0 + i, 1, b"k", b"v%d" % i, None)
    return buf


def write(store, partition, first, n, ts0=1_700_000_000_000):
    entry = ManifestEntry(T, partition, first, first + n, n, first, first + n - 1, ts0, ts0 + n - 1)
    return store.write_segment(buffer(partition, first, n, ts0).to_table(), entry)


def test_claims_resume_at_the_catalog_clean_up_and_skip_partitions_leased_elsewhere(env):
    write(env.store, 1, 0, 100)
    # A dead writer's file beyond the catalog of partition 1: data written, entry never was.
    orphan = layout.format_segment_key(PREFIX, layout.SegmentKey(T, 1, 100, 149, 2023, 11, 14))
    env.store.objects.put_bytes(orphan, b"half")
    leases(env, "other-host:1").claim([P0])
    claims = PartitionClaims([env.store], Admin({0: 0, 1: 0}, {0: 50, 1: 300}), leases(env, "me:2"))
    starts, blocked = claims.claim([P0, P1])
    assert blocked == [P0]
    assert [(s.tp, s.offset, s.stop_at) for s in starts] == [(P1, 100, None)]
    assert claims.log.removed_uncommitted == [f"local:{orphan}"]


def test_a_claim_records_what_retention_deleted_before_it_resumed(env):
    write(env.store, 0, 0, 100)
    claims = PartitionClaims([env.store], Admin({0: 250}, {0: 400}), leases(env, "me:2"))
    (start,), _ = claims.claim([P0])
    assert start.offset == 250
    (gap,) = claims.log.gaps
    assert (gap.start_offset, gap.end_offset, gap.gaps[0].reason) == (100, 250, GAP_RETENTION)
    assert [e.end_offset for e in env.store.manifests(T)] == [100, 250]


def group_writer(env, owner):
    claims = PartitionClaims([env.store], Admin({0: 0, 1: 0}, {0: 99, 1: 99}), leases(env, owner))
    site = SiteSettings(bootstrap_servers="127.0.0.1:1")
    writer = GroupPartitionWriter(site, [env.store], RollPolicy(), claims)
    writer._writer = FileWriter([env.store], writer.stats, writer.fence)
    writer._writer.start()
    return writer


def test_revoked_partitions_are_written_before_their_lease_is_released(env):
    a, consumer = group_writer(env, "host-a:1"), Consumer()
    a._on_assign(consumer, [KafkaTP(T, 0), KafkaTP(T, 1)])
    assert consumer.assigned == [(0, 0), (1, 0)]
    part = a._parts[(T, 1)]
    part.buf, part.expected, part.day = buffer(1, 0, 40), 40, 0  # read, not yet a file

    b, consumer_b = group_writer(env, "host-b:2"), Consumer()
    b._on_assign(consumer_b, [KafkaTP(T, 1)])  # the group moved it, but A still holds it
    assert consumer_b.assigned == [] and b._pending == {P1}

    a._on_revoke(consumer, [KafkaTP(T, 1)])
    assert consumer.unassigned == [1] and (T, 1) not in a._parts
    (entry,) = env.store.manifests(T)
    assert (entry.partition, entry.start_offset, entry.end_offset) == (1, 0, 40)

    b._take(consumer_b, sorted(b._pending))  # what B's housekeeping retries
    assert consumer_b.assigned == [(1, 40)] and not b._pending  # resumes after A's file
    for w in (a, b):
        w._writer.finish()


def test_a_fenced_writer_writes_nothing(env):
    a, consumer = group_writer(env, "host-a:1"), Consumer()
    a._on_assign(consumer, [KafkaTP(T, 0)])
    a.claims.leases.release([P0])  # as if its lease had expired and been taken over
    leases(env, "host-b:2").claim([P0])
    part = a._parts[(T, 0)]
    part.buf, part.expected, part.day = buffer(0, 0, 10), 10, 0
    a._roll(part, a._writer)
    with pytest.raises(NotOwnerError):
        a._writer.finish()
    assert env.store.manifests(T) == [] and env.store.data_objects(T) == []
