"""Faults on the lab: endpoint outage with breaker, DLQ and replay; bad input; CDC restarts."""

from __future__ import annotations

import os
import signal
import time

import pytest

from streamdr.kafka.clients import SafeProducer
from streamdr.pipeline.cdc.checkpoint import read_checkpoint
from streamdr.pipeline.replay import list_dlq, replay
from streamdr.store.db import MetadataStore
from tests.conftest import run_cli
from tests.integration.pipeline_env import (
    SECRET_ENV,
    Writer,
    duplicates_applied,
    probe,
    wait_until,
)
from tests.pipeline_helpers import passthrough

pytestmark = pytest.mark.lab


@pytest.fixture
def env(pipeline_env):
    return pipeline_env


def test_endpoint_outage_opens_breaker_keeps_backlog_and_replay_fills_the_gap(env):
    wf = env.workflow(
        retry={"max_attempts": 2, "initial_backoff_seconds": 0.2, "max_backoff_seconds": 0.5},
        breaker={"failure_threshold": 2, "reset_timeout_seconds": 1.5},
    )
    port = env.free_port()
    env.start_cdc_process()
    env.start_worker_process([wf], port=port)
    before = env.write(inserts=40)
    assert set(before) <= set(env.wait_applied(before))
    env.endpoint.kill()
    during = env.write(inserts=60)
    assert wait_until(
        lambda: probe(port)[1].get("workflows", {}).get(wf.name, {}).get("breaker") == "open", 60
    )
    assert probe(port)[0] == 503  # not ready while the breaker is open
    assert wait_until(lambda: len(list_dlq(env.settings, wf)[0]) >= 1, 60)
    env.endpoint.start()
    after = env.write(inserts=20)
    assert wait_until(lambda: probe(port)[0] == 200, 60)
    entries, foreign = list_dlq(env.settings, wf)
    assert foreign == 0 and entries
    assert all(e.letter.stage == "deliver" and e.letter.attempts == 2 for e in entries)
    assert all(e.letter.origin.topic == env.topic for e in entries)
    dead = {e.event_id for e in entries}
    applied = env.applied()
    assert wait_until(lambda: len(env.endpoint.client.stats()["channels"]) > 0, 10)

    store = MetadataStore(f"sqlite:///{env.tmp / 'meta.db'}")
    report = replay(env.settings, store, wf, passthrough, os.environ[SECRET_ENV].encode())
    assert not report.failed and report.replayed == len(entries)
    again = replay(env.settings, store, wf, passthrough, os.environ[SECRET_ENV].encode())
    assert again.skipped_already_replayed == len(entries) and not again.replayed

    everything = before | during | after
    applied = env.wait_applied(everything)
    assert not everything - set(applied), "events lost"
    assert duplicates_applied(applied) == 0
    assert dead  # the outage really dead-lettered something


def test_bad_input_goes_to_the_dlq_and_the_worker_keeps_running(env, monkeypatch):
    good = env.workflow("good")
    raising = env.workflow("raising", transform="buggy")
    garbage = env.workflow("garbage", transform="garbage")
    wrong_secret = env.workflow("wrongsecret", sink={"signing_secret_env": "WRONG_SECRET_ENV"})
    monkeypatch.setenv("WRONG_SECRET_ENV", "not-the-secret")
    port = env.free_port()
    env.start_cdc_process()
    env.start_worker_process([good, raising, garbage, wrong_secret], port=port)
    rows = env.write(inserts=5)
    _, site = env.settings.site()
    producer = SafeProducer({"bootstrap.servers": site.bootstrap_servers})
    producer.produce(env.topic, key=b"poison", value=b"\x00not json at all")
    producer.flush(10)
    more = env.write(inserts=5)
    applied = env.wait_applied(rows | more, channel="good")
    assert (rows | more) <= set(applied)

    def dlq_count(wf, n):
        return wait_until(lambda: len(list_dlq(env.settings, wf)[0]) >= n, 60)

    assert dlq_count(good, 1)
    poison = list_dlq(env.settings, good)[0]
    assert [e.letter.stage for e in poison] == ["decode"] and "not JSON" in poison[0].letter.error
    assert dlq_count(raising, 11)
    assert {e.letter.stage for e in list_dlq(env.settings, raising)[0]} == {"decode", "transform"}
    assert any("KeyError" in e.letter.error for e in list_dlq(env.settings, raising)[0])
    assert dlq_count(garbage, 11)
    assert any("returned dict" in e.letter.error for e in list_dlq(env.settings, garbage)[0])
    assert dlq_count(wrong_secret, 11)
    signed = [e for e in list_dlq(env.settings, wrong_secret)[0] if e.letter.stage == "deliver"]
    assert len(signed) == 10 and all("HTTP 401" in e.letter.error for e in signed)
    assert all(e.letter.attempts == 1 for e in signed)  # permanent: no pointless retries
    status, doc = probe(port)
    assert status == 200 and all(w["running"] for w in doc["workflows"].values())
    metrics = probe(port, "/metrics")[1]["text"]
    assert (
        f'streamdr_dlq_records_total{{stage="transform",workflow="{raising.name}"}} 10.0' in metrics
    )
    assert env.endpoint.client.stats()["rejected_signature"] >= 10


def test_cdc_resumes_from_its_checkpoint_after_kill_and_database_restart(env):
    wf = env.workflow()
    cdc = env.start_cdc_process()
    env.start_worker_process([wf])
    writer = Writer(env).start()
    assert wait_until(lambda: env.endpoint.client.stats()["applied"] >= 100, 90)
    os.kill(cdc.pid, signal.SIGKILL)
    cdc.wait(timeout=10)
    time.sleep(2)
    env.start_cdc_process()
    assert wait_until(lambda: env.endpoint.client.stats()["applied"] >= 300, 90)
    env.pg.stop("immediate")  # a crash of the source database during load
    time.sleep(3)
    env.pg.start()
    n = len(writer.written)
    assert wait_until(lambda: len(writer.written) >= n + 100, 90)
    written = writer.stop()
    applied = env.wait_applied(written, timeout=120)
    assert not written - set(applied), f"lost: {len(written - set(applied))}"
    assert duplicates_applied(applied) == 0
    _, site = env.settings.site()
    checkpoint = read_checkpoint("primary", site, env.source)
    assert (
        checkpoint is not None and checkpoint.kind == "postgres" and "/" in checkpoint.position_text
    )
    proc = run_cli("cdc", "status", env.source, "--json", config=env.settings_file)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_checkpoint_behind_the_slot_alerts_unless_an_answering_site_holds_it(env):
    from dataclasses import replace

    from streamdr.kafka.admin import KafkaAdmin
    from streamdr.kafka.clients import make_producer
    from streamdr.pipeline.cdc.checkpoint import CheckpointWriter
    from streamdr.pipeline.topics import checkpoint_want, ensure_topics

    env.start_cdc_thread()
    env.write(inserts=20)
    _, site = env.settings.site()

    def checkpointed() -> bool:
        cp = read_checkpoint("primary", site, env.source)
        return cp is not None and cp.position > 0

    assert wait_until(checkpointed, 60)
    env.close_threads()
    cp = read_checkpoint("primary", site, env.source)
    # As after a failover to a site whose replicated checkpoint lagged behind the slot.
    CheckpointWriter(make_producer(site)).write(replace(cp, position=cp.position - 1), env.source)
    env.start_cdc_thread()
    reader = env.readers[-1]
    assert wait_until(
        lambda: any("checkpoint-behind-source" in a for a in reader.status.alerts), 60
    )
    # As after a failback: the other site acknowledged the changes in between and answers, so
    # this is a note, not an alert.
    env.close_threads()
    dr = env.settings.sites["dr"]
    ensure_topics(KafkaAdmin("dr", dr), [checkpoint_want()])
    CheckpointWriter(make_producer(dr)).write(cp, env.source)
    CheckpointWriter(make_producer(site)).write(replace(cp, position=cp.position - 1), env.source)
    try:
        env.start_cdc_thread()
        reader = env.readers[-1]
        assert wait_until(lambda: reader.status.source_up, 60)
        assert not any("checkpoint-behind-source" in a for a in reader.status.alerts)
        assert any("site dr answers" in n for n in reader.status.notes), reader.status.notes
    finally:
        CheckpointWriter(make_producer(dr)).write(None, env.source)
