"""HMAC-SHA256 signatures of delivery bodies (the sink's secret comes from the environment).

Header ``Streamdr-Signature: t=<unix seconds>,v1=<hex>`` where the MAC covers
``"<t>." + body``. The timestamp lets a receiver refuse stale copies of a captured request; the
``Idempotency-Key`` makes an honest re-delivery harmless.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from streamdr.errors import InputError

SIGNATURE_HEADER = "Streamdr-Signature"
DEFAULT_TOLERANCE_S = 300


class SignatureError(ValueError):
    """A signature header that is missing, malformed, stale or wrong."""


def sign(secret: bytes, body: bytes, timestamp: int) -> str:
    """Return the signature header value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def parse_signature(header: str) -> tuple[int, list[str]]:
    """Return ``(timestamp, [v1 macs])`` of a header; raises SignatureError when malformed."""
    timestamp: int | None = None
    macs: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit():
            timestamp = int(value)
        elif name == "v1" and value:
            macs.append(value)
    if timestamp is None or not macs:
        raise SignatureError("signature header needs t=<unix seconds> and v1=<hex>")
    return timestamp, macs


def verify(
    secret: bytes,
    body: bytes,
    header: str | None,
    now: float,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
) -> None:
    """Check ``header`` against ``body``; raises SignatureError saying why it does not match."""
    if not header:
        raise SignatureError(f"missing {SIGNATURE_HEADER} header")
    timestamp, macs = parse_signature(header)
    if abs(now - timestamp) > tolerance_s:
        raise SignatureError(f"signature timestamp is {now - timestamp:.0f}s away from now")
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    if not any(hmac.compare_digest(expected, mac) for mac in macs):
        raise SignatureError("signature does not match the body (wrong secret?)")


def secret_from_env(env_name: str, what: str) -> bytes:
    """Return the secret in environment variable ``env_name``; raises InputError when unset."""
    value = os.environ.get(env_name)
    if not value:
        raise InputError(
            f"environment variable {env_name} ({what}) is not set",
            hint=f"Export {env_name} with the shared signing secret; secrets never live in files.",
        )
    return value.encode()
