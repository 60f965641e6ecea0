"""acks=all with min.insync.replicas=2: survives one stopped broker, refuses with two."""

import uuid

from confluent_kafka import KafkaError, Producer

from streamdr.errors import StreamdrError
from streamdr.kafka.admin import KafkaAdmin, TopicSpec
from streamdr.kafka.clients import make_producer
from streamdr.policy.quorum import describe_quorum
from streamdr.runtime.distribution import ensure_runtime


def produce_one(producer: Producer, topic: str) -> KafkaError | None:
    result: list[KafkaError | None] = []
    producer.produce(topic, b"v", partition=0, on_delivery=lambda err, _m: result.append(err))
    producer.flush(30)
    assert result, "no delivery report"
    return result[0]


def test_acks_all_survives_one_stopped_broker_and_fails_with_two(lab, lab_settings):
    site = lab_settings.sites["dr"]
    admin = KafkaAdmin("dr", site)
    topic = f"it.isr.{uuid.uuid4().hex[:6]}"
    # The lab's nodes are combined broker+controllers: with two of three stopped the quorum is
    # lost, and only a live active controller can commit the ISR shrink of the second stop. So
    # the partition leader is placed on the active controller, which stays up throughout.
    quorum = describe_quorum(ensure_runtime(), site)
    assert quorum.leader is not None, quorum.error
    controller = quorum.leader.node_id
    others = [n for n in (1, 2, 3) if n != controller]
    admin.create_topics(
        [TopicSpec(topic, 1, 3, {"min.insync.replicas": "2"}, [[controller, *others]])]
    )
    admin.wait_until(
        lambda m: topic in m.topics and not m.topics[topic].partitions[0].offline,
        timeout=30,
        what="topic",
    )
    stopped: list[int] = []
    try:
        assert admin.topic(topic).partitions[0].leader == controller
        lab.stop_broker("dr", others[0])
        stopped.append(others[0])
        admin.wait_until(
            lambda m: len(m.topics[topic].partitions[0].isr) == 2, timeout=60, what="ISR of 2"
        )
        assert produce_one(make_producer(site, **{"message.timeout.ms": 20000}), topic) is None

        lab.stop_broker("dr", others[1])
        stopped.append(others[1])
        # A clean controlled shutdown shrinks the ISR to 1 before the quorum is lost; if the
        # shutdown could not finish, the ISR still names the stopped replica. Either way an
        # acks=all write must never be acknowledged: refused (ISR 1 < min.insync.replicas 2)
        # or timed out waiting for a replica that is gone.
        try:
            admin.wait_until(
                lambda m: len(m.topics[topic].partitions[0].isr) == 1, timeout=30, what="ISR of 1"
            )
            expected = {KafkaError.NOT_ENOUGH_REPLICAS}
        except StreamdrError:
            expected = {KafkaError.REQUEST_TIMED_OUT, KafkaError._MSG_TIMED_OUT}
        strict = make_producer(
            site, **{"enable.idempotence": False, "retries": 0, "message.timeout.ms": 20000}
        )
        err = produce_one(strict, topic)
        assert err is not None, "acks=all write acknowledged with two of three replicas stopped"
        assert err.code() in expected | {KafkaError.NOT_ENOUGH_REPLICAS}, err
    finally:
        for node in stopped:
            lab.start_broker("dr", node)
        admin.wait_until(
            lambda m: all(not p.under_replicated for t in m.topics.values() for p in t.partitions),
            timeout=120,
            what="full ISR",
        )
        admin.delete_topics([topic])
