"""The reference endpoint app: signature, idempotency, counts (in-process ASGI client)."""

import json
import time

import httpx

from streamdr.pipeline.endpoint.app import EndpointState, create_app
from streamdr.pipeline.endpoint.store import IdempotencyStore
from streamdr.pipeline.signing import SIGNATURE_HEADER, sign
from tests.pipeline_helpers import serve_in_thread


def _post(client, body, key="k1", secret=b"s", channel="a"):
    raw = json.dumps(body).encode()
    headers = {"Idempotency-Key": key, SIGNATURE_HEADER: sign(secret, raw, int(time.time()))}
    return client.post(f"/events/{channel}", content=raw, headers=headers)


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
    state = EndpointState(b"s", fail_rate=1.0)
    with serve_in_thread(create_app(store, state)) as url, httpx.Client(base_url=url) as client:
        _check_down(client, state)


def _check_down(client, state):
    assert _post(client, {"n": 1}).status_code == 503
    client.post("/admin/down")
    assert _post(client, {"n": 1}).status_code == 503
    client.post("/admin/up")
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
