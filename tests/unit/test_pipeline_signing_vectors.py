"""Signature v2: the documented test vectors and recipe, replays, time window, bad headers."""

import json
import re
from pathlib import Path

import pytest

from streamdr.signature import (
    SignatureError,
    SignedFields,
    parse_signature,
    sign,
    signing_input,
    verify,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "pipeline.md"
SECRET = b"streamdr-test-vector-secret"
T = 1_768_469_400
FIELDS = SignedFields(
    "9b1c7f0e4a2d4c3b8e5f6a7b8c9d0e1f", "orders-to-client-a", "2026-01-15T09:30:00.123456+00:00"
)
BODY = b'{"order_id":42,"status":"paid"}'
# The first documented vector, repeated here so a change of the algorithm fails even if the doc
# were edited along with it.
FIRST_MAC = "8c4f3598dd4876ad6de897ef4376594f27bcc9d0d9faf176e53230db84295175"


def _doc_block(marker: str) -> str:
    text = DOC.read_text()
    match = re.search(re.escape(marker) + r"[^\n]*\n```[a-z]*\n(.*?)\n```", text, re.S)
    assert match, f"{marker} block missing from {DOC}"
    return match.group(1)


def _doc_vectors() -> list[dict[str, str]]:
    vectors = []
    for chunk in _doc_block("<!-- signature-test-vectors").split("\n\n"):
        fields = dict(line.split(None, 1) for line in chunk.strip().splitlines())
        vectors.append(fields)
    return vectors


def _vector_inputs(v: dict[str, str]) -> tuple[bytes, int, SignedFields, bytes]:
    body = json.loads(v["body_json"]).encode() if "body_json" in v else v["body"].encode()
    fields = SignedFields(v["key"], v["workflow"], v["event_time"])
    return v["secret"].encode(), int(v["t"]), fields, body


def test_documented_vectors_match_the_code():
    vectors = _doc_vectors()
    assert len(vectors) == 3
    assert vectors[0]["signature"] == f"t={T},v2={FIRST_MAC}"
    for v in vectors:
        secret, t, fields, body = _vector_inputs(v)
        assert sign(secret, body, t, fields) == v["signature"]
        verify(secret, body, v["signature"], fields, now=t + 1)


def test_documented_recipe_accepts_the_vectors_and_refuses_changes():
    namespace: dict = {}
    exec(_doc_block("<!-- signature-recipe"), namespace)  # the client recipe, as documented
    recipe = namespace["verify_streamdr"]
    for v in _doc_vectors():
        secret, t, fields, body = _vector_inputs(v)
        headers = {
            "Streamdr-Signature": v["signature"],
            "Idempotency-Key": fields.idempotency_key,
            "Streamdr-Workflow": fields.workflow,
            "Streamdr-Event-Time": fields.event_time,
        }
        assert recipe(secret, headers, body, now=t + 1)
        assert not recipe(secret, {**headers, "Idempotency-Key": "other"}, body, now=t + 1)
        assert not recipe(secret, headers, body + b" ", now=t + 1)
        assert not recipe(secret, headers, body, now=t + 301)
        assert not recipe(secret, headers, body, now=t - 61)


def test_signed_string_is_one_field_per_line_body_last():
    assert signing_input(T, FIELDS, b"x\ny") == (
        b"v2\n1768469400\n9b1c7f0e4a2d4c3b8e5f6a7b8c9d0e1f\norders-to-client-a\n"
        b"2026-01-15T09:30:00.123456+00:00\nx\ny"
    )


@pytest.mark.parametrize(
    "changed",
    [
        SignedFields("another-key", FIELDS.workflow, FIELDS.event_time),
        SignedFields(FIELDS.idempotency_key, "another-workflow", FIELDS.event_time),
        SignedFields(FIELDS.idempotency_key, FIELDS.workflow, "2026-01-15T09:31:00+00:00"),
        SignedFields(FIELDS.idempotency_key, FIELDS.workflow, ""),
    ],
)
def test_a_replay_with_a_changed_header_is_refused(changed):
    header = sign(SECRET, BODY, T, FIELDS)
    with pytest.raises(SignatureError, match="does not match"):
        verify(SECRET, BODY, header, changed, now=T)


def test_time_window_refuses_old_and_future_timestamps():
    header = sign(SECRET, BODY, T, FIELDS)
    verify(SECRET, BODY, header, FIELDS, now=T + 300)
    verify(SECRET, BODY, header, FIELDS, now=T - 60)
    with pytest.raises(SignatureError, match="old"):
        verify(SECRET, BODY, header, FIELDS, now=T + 301)
    with pytest.raises(SignatureError, match="in the future"):
        verify(SECRET, BODY, header, FIELDS, now=T - 61)


@pytest.mark.parametrize(
    "header",
    [
        "garbage",
        f"t=²,v2={FIRST_MAC}",  # a Unicode digit: str.isdigit() says yes, int() says no
        f"t=-5,v2={FIRST_MAC}",
        f"t=1e9,v2={FIRST_MAC}",
        f"t=1234567890123,v2={FIRST_MAC}",
        f"t={T},t={T},v2={FIRST_MAC}",
        f"t={T}",
        f"t={T},v2=zz",
        f"t={T},v2={FIRST_MAC.upper()}",
        f"t={T}," + ",".join([f"v2={FIRST_MAC}"] * 8),
        "t=" + "1" * 2000,
    ],
)
def test_malformed_headers_raise_signature_error(header):
    with pytest.raises(SignatureError):
        verify(SECRET, BODY, header, FIELDS, now=T)


def test_v1_is_refused_unless_accepted_and_unknown_schemes_are_ignored():
    import hashlib
    import hmac

    v1 = hmac.new(SECRET, f"{T}.".encode() + BODY, hashlib.sha256).hexdigest()
    with pytest.raises(SignatureError, match="v1 is refused"):
        verify(SECRET, BODY, f"t={T},v1={v1}", FIELDS, now=T)
    verify(SECRET, BODY, f"t={T},v1={v1}", FIELDS, now=T, accept_v1=True)
    verify(SECRET, BODY, f"t={T},v3=future,v2={FIRST_MAC}", FIELDS, now=T)
    assert parse_signature(f"t={T},v2={FIRST_MAC}") == (T, {"v1": [], "v2": [FIRST_MAC]})


def test_any_of_several_v2_macs_matches_for_secret_rotation():
    old = sign(b"old-secret", BODY, T, FIELDS).split("v2=")[1]
    verify(SECRET, BODY, f"t={T},v2={old},v2={FIRST_MAC}", FIELDS, now=T)
    with pytest.raises(SignatureError, match="does not match"):
        verify(SECRET, BODY, f"t={T},v2={old}", FIELDS, now=T)


@pytest.mark.parametrize("bad", ["a\nb", "a\rb", "caf\u00e9", "tab\there"])
def test_fields_that_could_shift_a_line_cannot_be_signed_or_verified(bad):
    fields = SignedFields(bad, FIELDS.workflow, FIELDS.event_time)
    with pytest.raises(SignatureError, match="printable ASCII"):
        sign(SECRET, BODY, T, fields)
    with pytest.raises(SignatureError, match="printable ASCII"):
        verify(SECRET, BODY, f"t={T},v2={FIRST_MAC}", fields, now=T)
