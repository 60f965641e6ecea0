"""Bounds shared by the settings and workflow models, so a careless value is refused at load.

Without them ``partitions: 1e26`` or ``timeout_seconds: 1e300`` validate and then overflow deep
inside Kafka or ``time.sleep``; a topic name Kafka rejects would only fail at first produce.
"""

from __future__ import annotations

import re

# Kafka's own rule (org.apache.kafka.common.internals.Topic): 1-249 of these, not "." or "..".
TOPIC_NAME = re.compile(r"^[a-zA-Z0-9._-]{1,249}$")
MAX_PARTITIONS = 100_000
# replication.factor is a 16-bit short in Kafka's protocol.
MAX_REPLICATION_FACTOR = 32_767
# No interval, timeout or threshold streamdr waits on is longer than 30 days.
MAX_SECONDS = 30 * 86_400.0
MAX_PORT = 65_535


def topic_name(name: str) -> str:
    """Return ``name`` if Kafka accepts it as a topic name; raises ValueError otherwise."""
    if not TOPIC_NAME.match(name) or name in (".", ".."):
        raise ValueError(
            f"topic name {name!r} is not legal in Kafka "
            "(1-249 characters from a-z A-Z 0-9 . _ -, not '.' or '..')"
        )
    return name


def no_control_chars(value: str) -> str:
    """Return ``value`` if it holds no control character (newline, tab, NUL …).

    Raises ValueError otherwise: such values end up in JAAS lines, headers and shell commands.
    """
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise ValueError("must not contain control characters such as newlines")
    return value
