"""Observers beyond the lab: `failover.observers` settings, the http probe against serve's real
`/observe` over uvicorn, and how `failover watch` picks its observers."""

from __future__ import annotations

import time

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError

from streamdr.cli import failover_watch
from streamdr.errors import InputError, LoginRefusedError, StateError, UnreachableError
from streamdr.kafka.admin import KafkaAdmin
from streamdr.replication.failover.observers import (
    MAX_ANSWER_BYTES,
    configured_observers,
    http_observer,
    metadata_probe,
    parse_observe_answer,
)
from streamdr.serve.app import build_app
from streamdr.serve.observe import observe_router
from streamdr.settings import parse_settings
from streamdr.settings.failover import HttpObserver
from streamdr.settings.model import SiteSettings
from tests.conftest import run_cli
from tests.pipeline_helpers import serve_in_thread
from tests.unit.test_cli_errors import assert_clean_error

SITES = "sites: {primary: {bootstrap_servers: 'a:1'}, dr: {bootstrap_servers: 'b:1'}}\n"
TOKEN = "s3cret-token"


def _settings(failover: str = "{}"):
    return parse_settings(SITES + f"failover: {failover}\n", "streamdr.yaml")


def _http(name: str, url: str, **extra: object) -> str:
    fields = ", ".join(f"{k}: {v}" for k, v in {"url": f"'{url}'", **extra}.items())
    return f"{{name: {name}, kind: http, {fields}}}"


def _with_observers(*observers: str):
    return _settings("{observers: [" + ", ".join(observers) + "]}")


# --- settings ---------------------------------------------------------------------------------


def test_observers_settings_parse_both_kinds():
    s = _with_observers(
        "{name: vpc, kind: kafka, bootstrap_servers: {primary: 'p2:9093', dr: ' d2:9093 '}}",
        _http("region-b", "https://observer-b.example:8080/", token_env="OBS_B_TOKEN"),
    )
    kafka, http = s.failover.observers
    assert kafka.bootstrap_servers == {"primary": "p2:9093", "dr": "d2:9093"}
    assert http.url == "https://observer-b.example:8080" and http.timeout_seconds == 2.0
    assert http.token_env == "OBS_B_TOKEN"
    assert _settings().failover.observers == []  # the default keeps the lab-only behaviour


@pytest.mark.parametrize(
    "url",
    [
        "ftp://observer.example",
        "https://",
        "https://user:pw@observer.example",
        "https://user@observer.example",
        "https://observer.example/?site=x",
        "https://observer.example/#top",
        "https://observer.example:99999",
        "observer.example:8080",
    ],
)
def test_bad_observer_urls_are_refused(url):
    with pytest.raises(InputError):
        _with_observers(_http("b", url))


def test_control_characters_in_an_observer_url_are_refused():
    with pytest.raises(ValidationError):
        HttpObserver(kind="http", name="b", url="https://observer.example/\nHost: evil")


@pytest.mark.parametrize(
    "observers",
    [
        # the same name twice
        [_http("b", "https://x.example"), _http("b", "https://y.example")],
        # the token itself in YAML: no such key, only token_env
        [_http("b", "https://x.example", token="abc")],
        [_http("b", "https://x.example", token_env="'not a var'")],
        # a bearer token over plain http to another host
        [_http("b", "http://x.example", token_env="TOK")],
        # a kafka observer without a path to every site, or naming an unknown site
        ["{name: k, kind: kafka, bootstrap_servers: {primary: 'p:1'}}"],
        ["{name: k, kind: kafka, bootstrap_servers: {primary: 'p:1', dr: 'd:1', x: 'e:1'}}"],
        ["{name: k, kind: kafka, bootstrap_servers: {primary: 'nohostport', dr: 'd:1'}}"],
        ["{name: k, kind: carrier-pigeon}"],
        [_http(f"o{i}", "https://x.example") for i in range(10)],
        [_http("Bad Name", "https://x.example")],
        [_http("b", "https://x.example", timeout_seconds=0)],
    ],
)
def test_bad_observer_settings_are_refused(observers):
    with pytest.raises(InputError):
        _with_observers(*observers)


def test_a_token_over_http_to_loopback_is_allowed():
    s = _with_observers(_http("b", "http://127.0.0.1:8470", token_env="TOK"))
    assert s.failover.observers[0].url == "http://127.0.0.1:8470"


# --- the answering side and the http probe, over a real server --------------------------------


class SiteProbe:
    """Stands in for this process's Kafka probe: what it sees per site, and how often asked."""

    def __init__(self, seen: dict[str, bool | None]) -> None:
        self.seen = seen
        self.calls = 0

    def __call__(self, site: str) -> bool | None:
        self.calls += 1
        return self.seen[site]


@pytest.fixture()
def observe_server(monkeypatch):
    monkeypatch.setenv("SERVE_OBSERVE_TOKEN", TOKEN)
    settings = _settings("{observe_endpoint: {token_env: SERVE_OBSERVE_TOKEN, name: region-c}}")
    probe = SiteProbe({"primary": False, "dr": True})
    router = observe_router(settings, probe, min_interval=60)
    app = build_app(lambda: {}, lambda: None, [router])
    with serve_in_thread(app) as url:
        yield url, probe


def _probe(url: str, token: str | None = TOKEN, timeout: float = 2.0):
    observer = HttpObserver(
        kind="http",
        name="b",
        url=url,
        token_env="OBS_TOKEN" if token else None,
        timeout_seconds=timeout,
    )
    with pytest.MonkeyPatch.context() as mp:
        if token:
            mp.setenv("OBS_TOKEN", token)
        return http_observer(observer)


def test_http_probe_reads_up_and_down_from_serve(observe_server):
    url, site_probe = observe_server
    probe = _probe(url)
    assert probe("primary") is False
    assert probe("dr") is True
    answer = httpx.get(f"{url}/observe/dr", headers={"Authorization": f"Bearer {TOKEN}"}).json()
    assert answer["observer"] == "region-c" and answer["site"] == "dr" and answer["up"] is True
    assert answer["observed_at"].startswith("20")
    # Repeated asks within min_interval share one probe of the site (no flood of Kafka calls).
    assert site_probe.calls == 2


def test_unknown_site_is_404_and_never_echoed(observe_server):
    url, site_probe = observe_server
    headers = {"Authorization": f"Bearer {TOKEN}"}
    resp = httpx.get(f"{url}/observe/%3Cscript%3Ealert(1)%3C%2Fscript%3E", headers=headers)
    assert resp.status_code == 404 and "script" not in resp.text
    assert _probe(url)("elsewhere") is None
    assert site_probe.calls == 0


def test_wrong_or_missing_token_is_401_and_unknown(observe_server):
    url, site_probe = observe_server
    assert httpx.get(f"{url}/observe/primary").status_code == 401
    wrong = httpx.get(f"{url}/observe/primary", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
    # Unauthenticated callers do not learn which sites exist either.
    assert httpx.get(f"{url}/observe/nowhere").status_code == 401
    assert _probe(url, token="nope")("primary") is None
    assert _probe(url, token=None)("primary") is None
    assert site_probe.calls == 0


def test_serve_that_cannot_tell_answers_null_which_is_unknown(monkeypatch):
    settings = _settings()
    app = build_app(lambda: {}, lambda: None, [observe_router(settings, SiteProbe({"dr": None}))])
    with serve_in_thread(app) as url:
        assert httpx.get(f"{url}/observe/dr").json()["up"] is None
        assert _probe(url, token=None)("dr") is None


def _garbled_app() -> FastAPI:
    app = FastAPI()
    answers = {
        "other-site": JSONResponse({"site": "dr", "up": False}),
        "string-up": JSONResponse({"site": "string-up", "up": "false"}),
        "not-json": Response(b"down!", media_type="text/plain"),
        "a-list": JSONResponse([{"site": "a-list", "up": False}]),
        "server-error": JSONResponse({"site": "server-error", "up": False}, status_code=500),
        "huge": JSONResponse({"site": "huge", "up": False, "pad": "x" * MAX_ANSWER_BYTES}),
        "redirect": Response(status_code=302, headers={"Location": "/observe/fine"}),
        "fine": JSONResponse({"site": "fine", "up": False, "extra": 1}),
    }

    @app.get("/observe/{site}")
    def observe(site: str) -> Response:
        if site == "slow":
            time.sleep(1.0)
        return answers.get(site, JSONResponse({"site": site, "up": True}))

    return app


def test_garbled_slow_or_unreachable_observers_are_unknown():
    with serve_in_thread(_garbled_app()) as url:
        probe = _probe(url, token=None, timeout=0.3)
        for site in ("other-site", "string-up", "not-json", "a-list", "server-error", "huge"):
            assert probe(site) is None, site
        assert probe("redirect") is None  # redirects are not followed
        assert probe("slow") is None
        assert probe("fine") is False  # a well-formed answer still counts
    assert probe("fine") is None  # the server is gone: unreachable observer, not a down site


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"site": "dr", "up": true}', True),
        (b'{"site": "dr", "up": false, "observer": "x"}', False),
        (b'{"site": "dr", "up": null}', None),
        (b'{"site": "dr", "up": 0}', None),
        (b'{"site": "primary", "up": false}', None),
        (b'{"up": false}', None),
        (b"\xff\xfe", None),
        (b"[]", None),
        (b"", None),
    ],
)
def test_parse_observe_answer(body, expected):
    assert parse_observe_answer(body, "dr") is expected


def test_observe_endpoint_token_variable_must_be_set(monkeypatch):
    monkeypatch.delenv("SERVE_OBSERVE_TOKEN", raising=False)
    settings = _settings("{observe_endpoint: {token_env: SERVE_OBSERVE_TOKEN}}")
    with pytest.raises(InputError) as exc:
        observe_router(settings, SiteProbe({}))
    assert exc.value.hint and "SERVE_OBSERVE_TOKEN" in exc.value.message


# --- which observers `failover watch` uses ----------------------------------------------------


def test_watch_uses_configured_observers_off_the_lab(monkeypatch):
    monkeypatch.setenv("OBS_B_TOKEN", TOKEN)
    s = _with_observers(
        "{name: vpc, kind: kafka, bootstrap_servers: {primary: 'p2:9093', dr: 'd2:9093'}}",
        _http("region-b", "https://observer-b.example", token_env="OBS_B_TOKEN"),
    )
    assert list(failover_watch.observers_for(s)) == ["vpc", "region-b"]
    three = _settings(
        "{automatic: {require_observers: 3}, observers: ["
        + _http("b", "https://x.example")
        + ", "
        + _http("c", "https://y.example")
        + "]}"
    )
    with pytest.raises(InputError, match="require_observers is 3"):
        failover_watch.observers_for(three)


def test_an_http_observer_whose_token_is_unset_is_refused(monkeypatch):
    monkeypatch.delenv("OBS_B_TOKEN", raising=False)
    s = _with_observers(
        _http("b", "https://x.example", token_env="OBS_B_TOKEN"), _http("c", "https://y.example")
    )
    with pytest.raises(InputError) as exc:
        configured_observers(s)
    assert "OBS_B_TOKEN" in exc.value.message and exc.value.hint


def test_watch_without_observers_off_the_lab_says_how_to_configure(tmp_path):
    cfg = tmp_path / "s.yaml"
    cfg.write_text(SITES)
    proc = run_cli("failover", "watch", config=cfg)
    assert_clean_error(proc, 2)
    assert "failover.observers" in proc.stderr


@pytest.mark.parametrize(
    ("raised", "seen"),
    [
        (UnreachableError("no broker answered"), False),
        (LoginRefusedError("refused the login of SASL user 'svc'"), None),
        (StateError("the password variable is not set"), None),
    ],
)
def test_a_refused_login_is_unknown_not_down(monkeypatch, raised, seen):
    # Every observer sharing a wrong or rotated secret would otherwise agree the site is down.
    def metadata(self, timeout):
        raise raised

    monkeypatch.setattr(KafkaAdmin, "metadata", metadata)
    probe = metadata_probe(lambda site: SiteSettings(bootstrap_servers="127.0.0.1:1"))
    assert probe("primary") is seen
