"""Translating confluent-kafka errors at the boundary: unreachable, transient, refused."""

import pytest
from confluent_kafka import KafkaError, KafkaException

from streamdr.errors import EXIT_INPUT, EXIT_UNREACHABLE, LoginRefusedError, UnreachableError
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


def test_a_refused_sasl_login_is_named_as_such_not_as_unreachable(monkeypatch):
    from streamdr.kafka.clients import _conf

    site = SiteSettings.model_validate(
        {
            "bootstrap_servers": "127.0.0.1:2",
            "security": {
                "protocol": "SASL_PLAINTEXT",
                "sasl_mechanism": "SCRAM-SHA-512",
                "sasl_username": "svc",
                "sasl_password_env": "PW_FOR_TEST",
            },
        }
    )
    monkeypatch.setenv("PW_FOR_TEST", "wrong")
    conf = _conf(site, {})
    conf["error_cb"](KafkaError(KafkaError._AUTHENTICATION, "SASL authentication error: bad"))
    err = translate(KafkaException(KafkaError(KafkaError._TRANSPORT)), "primary", site, "x")
    assert "refused the login of SASL user 'svc'" in err.message and "bad" in err.message
    assert isinstance(err, LoginRefusedError)  # observers read it as unknown, not as down
    assert "$PW_FOR_TEST" in err.hint and err.exit_code == EXIT_UNREACHABLE
    assert "wrong" not in err.message + err.hint
    again = translate(KafkaException(KafkaError(KafkaError._TRANSPORT)), "primary", site, "x")
    assert "unreachable" in again.message  # reported once, not stuck on the site
