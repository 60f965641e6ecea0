"""Translating confluent-kafka errors at the boundary: unreachable, transient, refused."""

import pytest
from confluent_kafka import KafkaError, KafkaException

from streamdr.errors import EXIT_INPUT, EXIT_UNREACHABLE, UnreachableError
from streamdr.kafka.clients import translate
from streamdr.settings.model import SiteSettings

SITE = SiteSettings(bootstrap_servers="127.0.0.1:1")


@pytest.mark.parametrize(
    ("code", "exit_code", "words"),
    [
        (KafkaError._TRANSPORT, EXIT_UNREACHABLE, "unreachable"),
        (KafkaError.NOT_LEADER_FOR_PARTITION, EXIT_UNREACHABLE, "changing a leader"),
        (KafkaError.COORDINATOR_LOAD_IN_PROGRESS, EXIT_UNREACHABLE, "changing a leader"),
        (KafkaError.TOPIC_AUTHORIZATION_FAILED, EXIT_INPUT, "Kafka refused"),
    ],
)
def test_errors_are_classified_by_what_helps(code, exit_code, words):
    err = translate(KafkaException(KafkaError(code)), "primary", SITE, "reading t")
    assert err.exit_code == exit_code and words in err.message
    assert err.hint
    # Only unreachable and transient errors are retried by the pipeline's backoff loops.
    assert isinstance(err, UnreachableError) == (exit_code == EXIT_UNREACHABLE)
