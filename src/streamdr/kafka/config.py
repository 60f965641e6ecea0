"""The one place where site settings become librdkafka settings."""

from __future__ import annotations

import os

from streamdr.errors import InputError
from streamdr.settings.model import SiteSettings


def _secret(env_name: str, what: str) -> str:
    value = os.environ.get(env_name)
    if value is None:
        raise InputError(
            f"environment variable {env_name} ({what}) is not set",
            hint=f"Export {env_name} before running streamdr; secrets are never read from files.",
        )
    return value


def jaas_quote(value: str, what: str) -> str:
    """Return ``value`` as a double-quoted JAAS option value (backslashes and quotes escaped).

    Raises InputError for a control character: JAAS is one line, and a newline in a password
    could end the login module's options and add new ones.
    """
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise InputError(
            f"the {what} contains a newline or another control character",
            hint="Kafka's JAAS configuration cannot carry it; change the value.",
        )
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def client_config(site: SiteSettings, **overrides: str | int | bool) -> dict[str, str | int | bool]:
    """Return librdkafka settings for ``site`` plus ``overrides``.

    Raises InputError when a secret's environment variable is missing.
    """
    sec = site.security
    conf: dict[str, str | int | bool] = {
        "bootstrap.servers": site.bootstrap_servers,
        "security.protocol": sec.protocol,
    }
    if sec.protocol.startswith("SASL"):
        conf["sasl.mechanism"] = sec.sasl_mechanism or "PLAIN"
        conf["sasl.username"] = sec.sasl_username or ""
        conf["sasl.password"] = _secret(sec.sasl_password_env or "", "SASL password")
    optional = {
        "ssl.ca.location": sec.ssl_ca_location,
        "ssl.certificate.location": sec.ssl_certificate_location,
        "ssl.key.location": sec.ssl_key_location,
    }
    conf.update({k: v for k, v in optional.items() if v})
    if sec.ssl_key_password_env:
        conf["ssl.key.password"] = _secret(sec.ssl_key_password_env, "SSL key password")
    conf.update(sec.extra)
    conf.update(overrides)
    return conf


def java_client_properties(site: SiteSettings) -> dict[str, str]:
    """Return the connection settings as Java client properties (Kafka's tools, MM2).

    Raises InputError when a secret's environment variable is missing.
    """
    sec = site.security
    props = {"bootstrap.servers": site.bootstrap_servers, "security.protocol": sec.protocol}
    if sec.protocol.startswith("SASL"):
        password = _secret(sec.sasl_password_env or "", "SASL password")
        module = (
            "org.apache.kafka.common.security.plain.PlainLoginModule"
            if sec.sasl_mechanism == "PLAIN"
            else "org.apache.kafka.common.security.scram.ScramLoginModule"
        )
        props["sasl.mechanism"] = sec.sasl_mechanism or "PLAIN"
        username = jaas_quote(sec.sasl_username or "", "SASL username")
        quoted = jaas_quote(password, f"SASL password in {sec.sasl_password_env}")
        props["sasl.jaas.config"] = f"{module} required username={username} password={quoted};"
    if sec.ssl_ca_location:
        props["ssl.truststore.type"] = "PEM"
        props["ssl.truststore.location"] = sec.ssl_ca_location
    return props


REDACTED_KEYS = ("password", "secret", "jaas")


def redact(conf: dict[str, str | int | bool]) -> dict[str, str | int | bool]:
    """Return ``conf`` with every secret value replaced by ``***`` (for logs and errors)."""
    return {k: ("***" if any(s in k for s in REDACTED_KEYS) else v) for k, v in conf.items()}
