"""The lab's SCRAM user: its password file and its credential in the KRaft metadata.

One site of the lab has an extra SASL_PLAINTEXT listener (``layout.with_sasl_ports``) so that the
security settings of a production site can be shown working against real brokers. The password
lives only in a 0600 file under the lab directory; nothing here prints it.
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)

from streamdr.errors import StateError
from streamdr.fsutil import atomic_write_text, ensure_dir
from streamdr.kafka.clients import SafeAdminClient
from streamdr.lab.layout import SASL_MECHANISM, LabLayout, SiteLayout

SCRAM_ITERATIONS = 8192  # Kafka's minimum for SCRAM-SHA-512 is 4096
VERIFY_TIMEOUT_S = 30.0


def read_or_create_password(path: Path) -> str:
    """Return the lab's SCRAM password from ``path``, creating a random one (0600) if missing.

    Raises StateError when the file exists but is empty or unreadable.
    """
    if not path.exists():
        ensure_dir(path.parent)
        atomic_write_text(path, secrets.token_urlsafe(24) + "\n")
    try:
        password = path.read_text().strip()
    except OSError as exc:
        raise StateError(
            f"the lab's SASL password file {path} is unreadable: {exc}",
            hint="Delete it; the next `streamdr lab up` writes a new password.",
        ) from exc
    if not password:
        raise StateError(
            f"the lab's SASL password file {path} is empty",
            hint="Delete it; the next `streamdr lab up` writes a new password.",
        )
    return password


def sasl_site(layout: LabLayout) -> tuple[SiteLayout, dict[str, Any]] | None:
    """Return the site with the SCRAM listener and its ``extra["sasl"]`` record, or None."""
    record = layout.extra.get("sasl")
    if not isinstance(record, dict):
        return None
    try:
        return layout.site(str(record["site"])), record
    except KeyError:
        return None


def ensure_scram_user(site: SiteLayout, username: str, password: str) -> None:
    """Create or update ``username``'s SCRAM-SHA-512 credential, then log in over SASL once.

    Goes through the site's PLAINTEXT listener (the lab has no authorizer). Raises StateError
    when the broker refuses the credential or a SASL login does not work within 30 s.
    """
    admin = SafeAdminClient({"bootstrap.servers": site.bootstrap_servers})
    upsert = UserScramCredentialUpsertion(
        username,
        ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, SCRAM_ITERATIONS),
        password.encode(),
    )
    try:
        for future in admin.alter_user_scram_credentials([upsert], request_timeout=15).values():
            future.result()
    except KafkaException as exc:
        raise StateError(
            f"site {site.name!r} refused the lab's SCRAM user {username!r}: {_reason(exc)}",
            hint="See the broker logs; `streamdr lab down --purge` and `lab up` reset the lab.",
        ) from exc
    _wait_sasl_login(site, username, password)


def _wait_sasl_login(site: SiteLayout, username: str, password: str) -> None:
    # The credential reaches every broker through the metadata log; wait until one login works.
    conf = {
        "bootstrap.servers": site.sasl_bootstrap_servers,
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": SASL_MECHANISM,
        "sasl.username": username,
        "sasl.password": password,
        "error_cb": lambda _err: None,
    }
    deadline = time.monotonic() + VERIFY_TIMEOUT_S
    last = ""
    while time.monotonic() < deadline:
        try:
            SafeAdminClient(conf).list_topics(timeout=5)
            return
        except KafkaException as exc:
            last = _reason(exc)
            time.sleep(0.5)
    raise StateError(
        f"no SASL login to site {site.name!r} ({site.sasl_bootstrap_servers}) within "
        f"{VERIFY_TIMEOUT_S:.0f}s: {last}",
        hint="See the broker logs (listener SASL); `streamdr lab down --purge` resets the lab.",
    )


def _reason(exc: KafkaException) -> str:
    err = exc.args[0] if exc.args else None
    return f"{err.name()}: {err.str()}" if isinstance(err, KafkaError) else str(exc)
