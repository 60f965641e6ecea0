"""Switch hook, client webhook, workload commands and the active-site record (no cluster)."""

import json
import threading
import time
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

import pytest

from streamdr.errors import InputError, StateError, UnreachableError
from streamdr.policy.tiers import Tier
from streamdr.replication.failover import active_site as switching
from streamdr.replication.failover.active_site import (
    active_site,
    hook_command,
    notify_clients,
    record_active_site,
    run_switch_hook,
    webhook_request,
)
from streamdr.replication.failover.context import SwitchContext
from streamdr.replication.failover.execute import execute
from streamdr.replication.failover.plan import SwitchFacts, SwitchKind, SwitchRequest, plan_switch
from streamdr.replication.failover.runs import list_runs, load_run
from streamdr.replication.failover.workload import CommandWorkload, NoWorkload, wait_fenced
from streamdr.replication.topology import ReplicatedSet, plan_topology
from streamdr.settings.loader import parse_settings
from streamdr.settings.replication import WorkloadCommands
from streamdr.signature import SIGNATURE_HEADER, SignatureError, SignedFields, verify
from streamdr.store.db import MetadataStore


def settings(tmp_path, replication=""):
    text = (
        "version: 1\nsites:\n  primary: {bootstrap_servers: '127.0.0.1:1'}\n"
        "  dr: {bootstrap_servers: '127.0.0.1:2'}\n"
        f"metadata_db: {{url: 'sqlite:///{tmp_path}/m.db'}}\n" + replication
    )
    return parse_settings(text, "s.yaml")


def test_active_site_lives_in_the_metadata_db_per_scope(tmp_path):
    s = settings(tmp_path)
    store = MetadataStore.from_settings(s)
    assert active_site(store, s) == "primary"
    record_active_site(store, "platform", "dr", 7)
    record_active_site(store, "drill:x", "primary")
    assert active_site(store, s) == "dr"
    assert active_site(store, s, "drill:x") == "primary"


def test_switch_hook_command_gets_site_names(tmp_path):
    out = tmp_path / "hook.txt"
    s = settings(tmp_path, f"replication: {{switch_hook: 'echo {{from_site}} {{site}} > {out}'}}\n")
    assert "ran switch hook" in run_switch_hook(s, "dr", "primary")
    assert out.read_text().strip() == "primary dr"
    failing = settings(tmp_path, "replication: {switch_hook: 'exit 4'}\n")
    with pytest.raises(StateError, match="exited with 4"):
        run_switch_hook(failing, "dr", "primary")
    assert "no switch hook" in run_switch_hook(settings(tmp_path), "dr", "primary")


class Recorder(BaseHTTPRequestHandler):
    received: ClassVar[list] = []
    status = 204

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        fields = SignedFields(
            self.headers["Idempotency-Key"],
            self.headers["Streamdr-Workflow"],
            self.headers["Streamdr-Event-Time"],
        )
        # The client's check: a forged or altered switch notification is refused.
        verify(b"hook-secret", body, self.headers[SIGNATURE_HEADER], fields, time.time())
        Recorder.received.append(json.loads(body))
        self.send_response(Recorder.status)
        self.end_headers()

    def log_message(self, *args):
        pass


WEBHOOK = "replication: {{notify_webhook: '{url}', notify_secret_env: HOOK_SECRET}}\n"


def test_client_webhook_receives_the_switch_signed(tmp_path, monkeypatch):
    monkeypatch.setenv("HOOK_SECRET", "hook-secret")
    server = HTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/dr"
        s = settings(tmp_path, WEBHOOK.format(url=url))
        assert "notified" in notify_clients(s, {"event": "failover", "to": "dr"})
        assert Recorder.received[-1] == {"event": "failover", "to": "dr"}
        Recorder.status = 500
        with pytest.raises(UnreachableError, match="answered 500"):
            notify_clients(s, {"event": "failover"})
    finally:
        server.shutdown()
    s = settings(tmp_path, WEBHOOK.format(url="http://127.0.0.1:1/x"))
    with pytest.raises(UnreachableError, match="unreachable"):
        notify_clients(s, {"event": "failover"})
    monkeypatch.delenv("HOOK_SECRET")
    with pytest.raises(InputError, match="HOOK_SECRET"):
        notify_clients(s, {"event": "failover"})


def test_webhook_signature_covers_the_run_id_and_body():
    body, headers = webhook_request(b"k", {"run_id": 7, "to": "dr"}, 1_700_000_000)
    fields = SignedFields(
        headers["Idempotency-Key"], headers["Streamdr-Workflow"], headers["Streamdr-Event-Time"]
    )
    assert headers["Idempotency-Key"] == "failover-7"
    verify(b"k", body, headers[SIGNATURE_HEADER], fields, 1_700_000_000)
    with pytest.raises(SignatureError):
        verify(b"k", body.replace(b"dr", b"xx"), headers[SIGNATURE_HEADER], fields, 1_700_000_000)


def test_unsigned_webhook_is_refused_in_settings(tmp_path):
    with pytest.raises(InputError, match="notify_secret_env"):
        settings(tmp_path, "replication: {notify_webhook: 'https://x.example/hook'}\n")


def test_command_workload(tmp_path):
    state = tmp_path / "running"
    commands = WorkloadCommands(
        stop=f"rm -f {state}",
        start=f"echo {{site}} {{subscriptions}} > {state}",
        fenced=f"test ! -e {state}",
        timeout_seconds=10,
    )
    work = CommandWorkload(commands)
    work.start("dr", {"wf": ["t", "primary_t"]})
    assert json.loads(state.read_text().split(" ", 1)[1]) == {"wf": ["t", "primary_t"]}
    assert not work.fenced("dr")
    work.stop("dr")
    assert wait_fenced(work, "dr", 5) < 5
    broken = CommandWorkload(WorkloadCommands(stop="exit 2", start="true"))
    with pytest.raises(StateError, match="exited with 2"):
        broken.stop("dr")
    assert NoWorkload().fenced("dr") and "no workload" in NoWorkload().stop("dr")


def test_switch_hook_that_times_out_is_a_state_error(tmp_path, monkeypatch):
    monkeypatch.setattr(switching, "HOOK_TIMEOUT_S", 0.2)
    s = settings(tmp_path, "replication: {switch_hook: 'sleep 5'}\n")
    with pytest.raises(StateError, match=r"did not finish within 0\.2s") as caught:
        run_switch_hook(s, "dr", "primary")
    assert "switch_hook" in caught.value.hint


def test_switch_hook_with_stray_braces_is_an_input_error(tmp_path):
    s = settings(tmp_path, """replication: {switch_hook: 'echo {"site": "{site}"}'}\n""")
    with pytest.raises(InputError, match="cannot be filled in") as caught:
        run_switch_hook(s, "dr", "primary")
    assert "{{" in caught.value.hint
    literal = settings(tmp_path, """replication: {switch_hook: 'echo {{"site": {site}}}'}\n""")
    assert hook_command(literal.replication.switch_hook, "dr", "primary") == 'echo {"site": dr}'


def _switch_only_plan():
    request = SwitchRequest(SwitchKind.FAILOVER, "dr", False, "platform")
    sets = [ReplicatedSet("orders", Tier.STANDARD, ("retail.orders",), ("orders",), 300.0)]
    before = plan_topology(
        sets,
        ["primary", "dr"],
        home="primary",
        active="primary",
        separator="_",
        emit_interval=lambda r: 1.0,
    )
    facts = SwitchFacts("primary", False, True, True, (), "DrillWorkload")
    plan = plan_switch(request, facts, before)
    return replace(plan, steps=tuple(s for s in plan.steps if s.name == "switch-active"))


def _run_status(store):
    (row,) = list_runs(store, "platform")
    _, steps = load_run(store, row["id"])
    return row["status"], [(s.name, s.status) for s in steps]


@pytest.mark.parametrize(
    ("hook", "error", "text"),
    [("sleep 5", StateError, "did not finish"), ("echo {oops}", InputError, "cannot be filled")],
)
def test_failing_switch_hook_ends_the_run_failed(tmp_path, monkeypatch, hook, error, text):
    monkeypatch.setattr(switching, "HOOK_TIMEOUT_S", 0.2)
    s = settings(tmp_path, f"replication: {{switch_hook: '{hook}'}}\n")
    store = MetadataStore.from_settings(s)
    ctx = SwitchContext(s, store, None, NoWorkload())  # switch-active needs no MM2
    with pytest.raises(error, match=f"stopped at step 'switch-active'.*{text}") as caught:
        execute(ctx, _switch_only_plan())
    assert "--resume" in caught.value.hint
    assert _run_status(store) == ("failed", [("switch-active", "failed")])


def test_a_bug_in_a_step_still_ends_the_run_failed(tmp_path):
    s = settings(tmp_path)
    store = MetadataStore.from_settings(s)

    def broken(site, old):
        raise RuntimeError("bug")

    ctx = SwitchContext(s, store, None, NoWorkload(), switch_hook=broken)
    with pytest.raises(RuntimeError):
        execute(ctx, _switch_only_plan())
    assert _run_status(store) == ("failed", [("switch-active", "failed")])
