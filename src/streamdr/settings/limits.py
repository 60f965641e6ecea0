"""Bounds shared by the settings and workflow models, so a careless value is refused at load.

Without them ``partitions: 1e26`` or ``timeout_seconds: 1e300`` validate and then overflow deep
inside Kafka or ``time.sleep``; a topic name Kafka rejects would only fail at first produce.
"""

from __future__ import annotations

import ipaddress
import re

# Kafka's own rule (org.apache.kafka.common.internals.Topic): 1-249 of these, not "." or "..".
TOPIC_NAME = re.compile(r"^[a-zA-Z0-9._-]{1,249}$")
MAX_PARTITIONS = 100_000
# replication.factor is a 16-bit short in Kafka's protocol.
MAX_REPLICATION_FACTOR = 32_767
# No interval, timeout or threshold streamdr waits on is longer than 30 days.
MAX_SECONDS = 30 * 86_400.0
MAX_PORT = 65_535
HOST_PORT = re.compile(r"^[A-Za-z0-9.\-\[\]:]+:(\d{1,5})$")
# An environment variable's name (settings ending in ``_env`` hold one, never the secret).
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


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


def bootstrap_list(value: str) -> str:
    """Return ``value`` (``host:port[,host:port…]``) normalised, without blanks around commas.

    Raises ValueError when it is empty or an entry is not ``host:port`` with a port 1-65535.
    """
    servers = [s.strip() for s in value.split(",") if s.strip()]
    bad = [s for s in servers if not _valid_host_port(s)]
    if not servers or bad:
        raise ValueError(f"expected host:port[,host:port…], got {value!r}")
    return ",".join(servers)


def _valid_host_port(server: str) -> bool:
    match = HOST_PORT.match(server)
    return match is not None and 1 <= int(match.group(1)) <= MAX_PORT


def is_loopback(host: str) -> bool:
    """Return True for ``localhost`` or a loopback IP address (plain http stays on the host)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
