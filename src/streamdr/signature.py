"""HMAC-SHA256 signatures of deliveries (the sink's secret comes from the environment).

Header ``Streamdr-Signature: t=<unix seconds>,v2=<hex>``. The v2 MAC covers every field a
receiver acts on, one field per line, the body last (it is the only field that may hold a
newline, so the string cannot be read two ways)::

    v2\\n<t>\\n<Idempotency-Key>\\n<Streamdr-Workflow>\\n<Streamdr-Event-Time>\\n<body bytes>

A captured request therefore cannot be replayed under a new idempotency key, workflow or event
time, and the timestamp bounds how long a copy stays usable (in the past and in the future).
v1 (``t=…,v1=…`` over ``"<t>." + body``) covered only the body; receivers refuse it unless
told to accept it while senders are upgraded. The verification recipe and test vectors are in
docs/pipeline.md ("Signature v2").
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from dataclasses import dataclass

from streamdr.errors import InputError

SIGNATURE_HEADER = "Streamdr-Signature"
SIGNATURE_VERSION = "v2"
DEFAULT_MAX_AGE_S = 300
# A sender's clock may run a little ahead of the receiver's; more than this is not skew.
DEFAULT_MAX_FUTURE_S = 60
# Bounds on what a hostile header can make the parser do.
MAX_HEADER_CHARS = 1024
MAX_HEADER_PARTS = 8
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_HEX_MAC = re.compile(r"[0-9a-f]{64}")
# Header fields in the signed string: printable ASCII, so no newline can shift a field.
_FIELD = re.compile(r"[\x20-\x7e]*")


class SignatureError(ValueError):
    """A signature header that is missing, malformed, stale, from the future or wrong."""


@dataclass(frozen=True)
class SignedFields:
    """The request headers a v2 signature covers besides the timestamp and the body."""

    idempotency_key: str
    workflow: str
    event_time: str


def signing_input(timestamp: int, fields: SignedFields, body: bytes) -> bytes:
    """Return the exact bytes a v2 MAC covers; raises SignatureError for an unsafe field."""
    parts = [SIGNATURE_VERSION, str(timestamp)]
    for name, value in (
        ("idempotency key", fields.idempotency_key),
        ("workflow", fields.workflow),
        ("event time", fields.event_time),
    ):
        if not _FIELD.fullmatch(value):
            raise SignatureError(f"the {name} must be printable ASCII without line breaks")
        parts.append(value)
    return "\n".join(parts).encode("ascii") + b"\n" + body


def _mac_v2(secret: bytes, timestamp: int, fields: SignedFields, body: bytes) -> str:
    return hmac.new(secret, signing_input(timestamp, fields, body), hashlib.sha256).hexdigest()


def _mac_v1(secret: bytes, timestamp: int, body: bytes) -> str:
    return hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: bytes, body: bytes, timestamp: int, fields: SignedFields) -> str:
    """Return the v2 header value for ``body`` with ``fields`` sent at ``timestamp``.

    Raises SignatureError when a field holds a character that is not printable ASCII.
    """
    return f"t={timestamp},{SIGNATURE_VERSION}={_mac_v2(secret, timestamp, fields, body)}"


def parse_signature(header: str) -> tuple[int, dict[str, list[str]]]:
    """Return ``(timestamp, {"v1": [...], "v2": [...]})`` of a header.

    Unknown schemes are ignored (a later version can be sent beside v2). Raises SignatureError
    when the header is too long, ``t`` is missing, repeated or not decimal seconds, or a MAC is
    not 64 lower-case hex digits.
    """
    if len(header) > MAX_HEADER_CHARS or header.count(",") >= MAX_HEADER_PARTS:
        raise SignatureError("signature header is too long")
    timestamp: int | None = None
    macs: dict[str, list[str]] = {"v1": [], "v2": []}
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t":
            if timestamp is not None or not _TIMESTAMP.fullmatch(value):
                raise SignatureError("signature header needs one t=<unix seconds>")
            timestamp = int(value)
        elif name in macs:
            if not _HEX_MAC.fullmatch(value):
                raise SignatureError(f"signature {name}= must be 64 lower-case hex digits")
            macs[name].append(value)
    if timestamp is None or not (macs["v1"] or macs["v2"]):
        raise SignatureError("signature header needs t=<unix seconds> and v2=<hex>")
    return timestamp, macs


def check_timestamp(
    timestamp: int, now: float, max_age_s: float, max_future_s: float = DEFAULT_MAX_FUTURE_S
) -> None:
    """Return when ``timestamp`` is within the window around ``now``; raises SignatureError."""
    if now - timestamp > max_age_s:
        raise SignatureError(f"signature timestamp is {now - timestamp:.0f}s old")
    if timestamp - now > max_future_s:
        raise SignatureError(f"signature timestamp is {timestamp - now:.0f}s in the future")


def verify(
    secret: bytes,
    body: bytes,
    header: str | None,
    fields: SignedFields,
    now: float,
    *,
    max_age_s: float = DEFAULT_MAX_AGE_S,
    max_future_s: float = DEFAULT_MAX_FUTURE_S,
    accept_v1: bool = False,
) -> None:
    """Check ``header`` against ``fields`` and ``body``; returns None when it matches.

    Raises SignatureError saying why not: missing, malformed, outside the time window, v1 only
    (unless ``accept_v1``), or no MAC matches (wrong secret, or a changed field or body).
    """
    if not header:
        raise SignatureError(f"missing {SIGNATURE_HEADER} header")
    timestamp, macs = parse_signature(header)
    check_timestamp(timestamp, now, max_age_s, max_future_s)
    if macs["v2"]:
        expected = _mac_v2(secret, timestamp, fields, body)
        candidates = macs["v2"]
    elif accept_v1:
        expected, candidates = _mac_v1(secret, timestamp, body), macs["v1"]
    else:
        raise SignatureError("signature v1 is refused: it does not cover the headers; send v2")
    # Every candidate is compared in constant time; there are at most MAX_HEADER_PARTS.
    matches = [hmac.compare_digest(expected.encode(), mac.encode()) for mac in candidates]
    if not any(matches):
        raise SignatureError("signature does not match (wrong secret, or a changed field/body)")


def secret_from_env(env_name: str, what: str, *, hint: str | None = None) -> bytes:
    """Return the secret in environment variable ``env_name``; raises InputError when unset
    (with ``hint``, or one about the shared signing secret)."""
    value = os.environ.get(env_name)
    if not value:
        raise InputError(
            f"environment variable {env_name} ({what}) is not set",
            hint=hint
            or f"Export {env_name} with the shared signing secret; secrets never live in files.",
        )
    return value.encode()
