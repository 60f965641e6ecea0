"""The reference endpoint app: signature, idempotency, counts (in-process ASGI client)."""

import asyncio
import json
import stat
import time
from pathlib import Path

import httpx

from streamdr.pipeline.endpoint.app import EndpointState, create_app
from streamdr.pipeline.endpoint.client import EndpointClient
from streamdr.pipeline.endpoint.store import IdempotencyStore
from streamdr.signature import SIGNATURE_HEADER, SignedFields, sign
from tests.pipeline_helpers import serve_in_thread


def _signed(raw, key="k1", secret=b"s", workflow="wf", event_time="2026-01-01T00:00:00+00:00"):
    fields = SignedFields(key, workflow, event_time)
    return {
        "Idempotency-Key": key,
        "Streamdr-Workflow": workflow,
        "Streamdr-Event-Time": event_time,
        SIGNATURE_HEADER: sign(secret, raw, int(time.time()), fields),
    }


def _post(client, body, key="k1", secret=b"s", channel="a"):
    raw = json.dumps(body).encode()
    return client.post(f"/events/{channel}", content=raw, headers=_signed(raw, key, secret))


def test_applies_each_key_once_and_counts(tmp_path):
    store = IdempotencyStore(tmp_path / "ep.db")
    state = EndpointState(b"s")
    with serve_in_thread(create_app(store, state)) as url, httpx.Client(base_url=url) as client:
        _check_apply_once(client)


def _check_apply_once(client):
    assert _post(client, {"n": 1}).json() == {"applied": True, "duplicate": False}
    assert _post(client, {"n": 1}).json() == {"applied": False, "duplicate": True}
    assert _post(client, {"n": 2}, key="k2", channel="b").status_code == 200
    assert _post(client, {"n": 3}, key="k3", secret=b"wrong").status_code == 401
    assert client.post("/events", content=b"{}").status_code == 401
    stats = client.get("/stats").json()
    assert (stats["received"], stats["applied"], stats["duplicates"]) == (3, 2, 1)
    assert stats["rejected_signature"] == 2
    assert stats["channels"]["a"]["applied"] == 1 and stats["channels"]["b"]["applied"] == 1
    items = client.get("/applied").json()["items"]
    assert [i["idempotency_key"] for i in items] == ["k1", "k2"]
    assert json.loads(items[0]["payload"]) == {"n": 1}


def test_down_and_injected_failures_answer_503_and_apply_nothing(tmp_path):
    store = IdempotencyStore(tmp_path / "ep.db")
    state = EndpointState(b"s", fail_rate=1.0, admin_token=b"adm")
    with serve_in_thread(create_app(store, state)) as url, httpx.Client(base_url=url) as client:
        _check_down(client, state)


def _check_down(client, state):
    assert _post(client, {"n": 1}).status_code == 503
    admin = {"Authorization": "Bearer adm"}
    assert client.post("/admin/down", headers=admin).json() == {"down": True}
    assert _post(client, {"n": 1}).status_code == 503
    assert client.post("/admin/up", headers=admin).json() == {"down": False}
    state.fail_rate = 0.0
    assert _post(client, {"n": 1}).status_code == 200
    stats = client.get("/stats").json()
    assert stats["failed_injected"] == 1 and stats["refused_down"] == 1 and stats["applied"] == 1


def test_bad_requests_are_refused(tmp_path):
    app = create_app(IdempotencyStore(tmp_path / "ep.db"), EndpointState(None))
    with serve_in_thread(app) as url, httpx.Client(base_url=url) as client:
        assert client.post("/events", content=b"{}").status_code == 400  # no key
        bad = client.post("/events", content=b"nope", headers={"Idempotency-Key": "x"})
        assert bad.status_code == 400


def test_counts_survive_a_restart(tmp_path):
    store = IdempotencyStore(tmp_path / "ep.db")
    store.apply("k", "c", None, None, "{}")
    store.close()
    again = IdempotencyStore(tmp_path / "ep.db")
    assert not again.apply("k", "c", None, None, "{}")
    assert again.stats()["applied"] == 1 and again.stats()["duplicates"] == 1


def test_records_which_site_delivered_and_upgrades_old_files(tmp_path):
    import sqlite3

    old = tmp_path / "old.db"
    with sqlite3.connect(old) as db:  # a file from before the site column
        db.execute(
            "CREATE TABLE applied (seq INTEGER PRIMARY KEY AUTOINCREMENT, idempotency_key TEXT "
            "NOT NULL UNIQUE, channel TEXT NOT NULL, workflow TEXT, event_time TEXT, "
            "applied_at REAL NOT NULL, payload TEXT NOT NULL)"
        )
        db.execute("INSERT INTO applied VALUES (1, 'k0', 'a', NULL, NULL, 1.0, '{}')")
    store = IdempotencyStore(old)
    app = create_app(store, EndpointState(None))
    with serve_in_thread(app) as url, httpx.Client(base_url=url) as client:
        raw = b'{"n": 1}'
        headers = {"Idempotency-Key": "k1", "Streamdr-Site": "dr"}
        assert client.post("/events/a", content=raw, headers=headers).status_code == 200
        items = client.get("/applied").json()["items"]
    assert [(i["idempotency_key"], i["site"]) for i in items] == [("k0", None), ("k1", "dr")]


def test_replays_with_changed_headers_future_and_malformed_signatures_are_401(tmp_path):
    store = IdempotencyStore(tmp_path / "ep.db")
    app = create_app(store, EndpointState(b"s"))
    with serve_in_thread(app) as url, httpx.Client(base_url=url) as client:
        _check_signature_refusals(client)
    assert store.stats()["rejected_signature"] == 7 and store.stats()["applied"] == 1


def _check_signature_refusals(client):
    raw = b'{"n": 1}'
    captured = _signed(raw)
    assert client.post("/events/a", content=raw, headers=captured).status_code == 200
    for name, value in [
        ("Idempotency-Key", "k-new"),
        ("Streamdr-Workflow", "other-wf"),
        ("Streamdr-Event-Time", "2026-01-02T00:00:00+00:00"),
    ]:
        replay = client.post("/events/a", content=raw, headers={**captured, name: value})
        assert replay.status_code == 401, name
    future = SignedFields("k2", "wf", "2026-01-01T00:00:00+00:00")
    ahead = sign(b"s", raw, int(time.time()) + 3600, future)
    headers = {**_signed(raw, key="k2"), SIGNATURE_HEADER: ahead}
    assert client.post("/events/a", content=raw, headers=headers).status_code == 401
    # b"\xb2" arrives as "²", which str.isdigit() accepts and int() refuses (it gave a 500).
    for bad in (b"t=\xb2,v2=" + b"0" * 64, b"t=abc", b"t=1,t=2,v2=" + b"0" * 64):
        headers = {**_signed(raw, key="k3"), SIGNATURE_HEADER: bad}
        answer = client.post("/events/a", content=raw, headers=headers)
        assert answer.status_code == 401 and "signature rejected" in answer.json()["error"]


def test_applied_limit_must_be_within_1_and_the_cap(tmp_path):
    app = create_app(IdempotencyStore(tmp_path / "ep.db"), EndpointState(None))
    with serve_in_thread(app) as url, httpx.Client(base_url=url) as client:
        for limit in (-1, 0, 10001):
            assert client.get("/applied", params={"limit": limit}).status_code == 422, limit
        assert client.get("/applied", params={"after": -1}).status_code == 422
        assert client.get("/applied", params={"limit": 10000}).status_code == 200


def test_admin_needs_the_token_and_is_off_without_one(tmp_path):
    state = EndpointState(None, admin_token=b"adm")
    app = create_app(IdempotencyStore(tmp_path / "ep.db"), state)
    with serve_in_thread(app) as url, httpx.Client(base_url=url) as client:
        assert client.post("/admin/down").status_code == 401
        wrong = {"Authorization": "Bearer nope"}
        assert client.post("/admin/down", headers=wrong).status_code == 401
        assert client.post("/admin/down", headers={"Authorization": "Basic adm"}).status_code == 401
        assert not state.down
        EndpointClient(url, admin_token="adm").set_down(True)
        assert state.down
        state.admin_token = None
        right = {"Authorization": "Bearer adm"}
        assert client.post("/admin/up", headers=right).status_code == 403
        assert state.down


def _stream_post(app, headers, chunks, pulled):
    """POST ``chunks`` through the in-process ASGI transport, recording each chunk it pulls."""

    async def body():
        for chunk in chunks:
            pulled.append(len(chunk))
            yield chunk

    async def go():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://ep") as client:
            return await client.post("/events/a", content=body(), headers=headers)

    return asyncio.run(go())


def test_a_body_over_the_limit_is_413_without_reading_it_all(tmp_path):
    store = IdempotencyStore(tmp_path / "ep.db")
    app = create_app(store, EndpointState(b"s"))
    chunk = b" " * (64 * 1024)
    chunks = [chunk] * 32  # 2 MiB
    declared, pulled = {"Content-Length": str(2 * 1024 * 1024)}, []
    assert _stream_post(app, {**_signed(b""), **declared}, chunks, pulled).status_code == 413
    assert sum(pulled) <= 64 * 1024  # refused on the declared length, before the body
    chunked: list[int] = []
    assert _stream_post(app, _signed(b""), chunks, chunked).status_code == 413
    assert 1024 * 1024 < sum(chunked) <= 1024 * 1024 + len(chunk)  # stopped at the cap
    assert store.stats()["rejected_bad_request"] == 2 and store.stats()["received"] == 0


def test_a_body_within_a_configured_limit_is_still_verified_and_applied(tmp_path):
    app = create_app(IdempotencyStore(tmp_path / "ep.db"), EndpointState(b"s", max_body_bytes=9))
    with serve_in_thread(app) as url, httpx.Client(base_url=url) as client:
        raw = b'{"n": 1}'
        assert client.post("/events/a", content=raw, headers=_signed(raw)).status_code == 200
        big = b'{"n": 10}'
        assert client.post("/events/a", content=big, headers=_signed(big)).status_code == 200
        bigger = b'{"n": 100}'
        answer = client.post("/events/a", content=bigger, headers=_signed(bigger, key="k2"))
        assert answer.status_code == 413


def test_store_file_is_private_in_a_private_new_directory(tmp_path):
    path = tmp_path / "new" / "ep.db"
    store = IdempotencyStore(path)
    store.apply("k", "c", None, None, "{}")
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    for name in ("ep.db", "ep.db-wal"):
        assert stat.S_IMODE((path.parent / name).stat().st_mode) == 0o600, name
    store.close()
    path.chmod(0o644)
    wal = Path(f"{path}-wal")
    wal.touch()
    wal.chmod(0o644)
    again = IdempotencyStore(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(wal.stat().st_mode) == 0o600
    again.close()
