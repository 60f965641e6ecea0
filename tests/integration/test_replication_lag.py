"""Lag measured on the lab for a topic MirrorMaker 2 has not copied yet: every record is behind."""

import time
import uuid

from streamdr.kafka.admin import KafkaAdmin, TopicSpec
from streamdr.kafka.clients import make_producer
from streamdr.policy.tiers import Tier
from streamdr.replication.lag.arithmetic import LagStatus
from streamdr.replication.lag.monitor import measure_lag
from streamdr.replication.topology import explicit_set, plan_topology


def test_unreplicated_records_are_behind_with_the_age_of_the_oldest(lab, lab_settings):
    topic = f"lagprobe-{uuid.uuid4().hex[:8]}"
    primary = lab_settings.sites["primary"]
    admin = KafkaAdmin("primary", primary)
    admin.create_topics([TopicSpec(topic, 3, 3)])
    try:
        _check_lag(lab_settings, topic)
    finally:
        admin.delete_topics([topic])


def _check_lag(lab_settings, topic):
    primary = lab_settings.sites["primary"]
    producer = make_producer(primary)
    written_ms = int(time.time() * 1000) - 30_000  # record time 30 s ago
    for part in range(3):
        for i in range(part + 1):
            producer.produce(topic, value=b"x", partition=part, timestamp=written_ms + i)
    producer.flush(30)
    topology = plan_topology(
        [explicit_set([topic], ["g"], Tier.STANDARD)],
        ["primary", "dr"],
        home="primary",
        active="primary",
        separator="_",
        emit_interval=lambda _rpo: 1.0,
    )
    flow = measure_lag(lab_settings, topology).flows[0]
    assert flow.error is None
    by_part = {p.partition: p for p in flow.partitions}
    assert {p: by_part[p].messages_behind for p in by_part} == {0: 1, 1: 2, 2: 3}
    # Each partition's figure is the age of its own first record, read in one batch.
    for p in by_part.values():
        assert p.seconds_behind is not None and 30 <= p.seconds_behind < 90, p
        assert p.status is LagStatus.OK
