"""Reading a topic waits out a leadership move instead of failing (seen right after creation)."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from streamdr.kafka.clients import is_transient
from streamdr.pipeline.topics import _watermarks


class _Consumer:
    def __init__(self, failures: list[int]) -> None:
        self.failures, self.calls = list(failures), 0

    def get_watermark_offsets(self, tp: TopicPartition, timeout: float) -> tuple[int, int]:
        self.calls += 1
        if self.failures:
            raise KafkaException(KafkaError(self.failures.pop(0)))
        return 0, 5


def test_not_leader_answers_are_retried_until_the_offsets_come() -> None:
    moving = KafkaError.NOT_LEADER_FOR_PARTITION
    consumer = _Consumer([moving, KafkaError.LEADER_NOT_AVAILABLE])
    assert _watermarks(consumer, TopicPartition("t", 0)) == (0, 5)
    assert consumer.calls == 3


def test_a_listed_partition_its_leader_does_not_know_yet_is_retried() -> None:
    # Seen in CI: the checkpoint topic was in the metadata, its leader answered "unknown topic"
    # to the offsets request a moment after creation, and the CDC reader exited.
    consumer = _Consumer([KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError.UNKNOWN_TOPIC_OR_PART])
    assert _watermarks(consumer, TopicPartition("t", 0)) == (0, 5)
    assert consumer.calls == 3


def test_other_errors_are_not_retried() -> None:
    consumer = _Consumer([KafkaError.TOPIC_AUTHORIZATION_FAILED])
    with pytest.raises(KafkaException):
        _watermarks(consumer, TopicPartition("t", 0))
    assert consumer.calls == 1


def test_is_transient_reads_the_kafka_error_code() -> None:
    assert is_transient(KafkaException(KafkaError(KafkaError.NOT_COORDINATOR)))
    assert not is_transient(KafkaException(KafkaError(KafkaError._TRANSPORT)))
    assert not is_transient(KafkaException("no KafkaError inside"))
