"""The pipeline end to end on the lab: PostgreSQL → CDC → Kafka → worker → reference endpoint."""

from __future__ import annotations

import json
import os
import signal

import pytest

from streamdr.pipeline.events import (
    COMMIT_TIME_HEADER,
    EVENT_ID_HEADER,
    OPERATION_HEADER,
    header_map,
)
from streamdr.pipeline.topics import read_topic
from streamdr.runtime.ports import free_ports
from tests.integration.pipeline_env import (
    Writer,
    duplicates_applied,
    probe,
    wait_until,
)

pytestmark = pytest.mark.lab


@pytest.fixture
def env(pipeline_env):
    return pipeline_env


def test_end_to_end_delivery_counts_and_record_format(env):
    wf = env.workflow()
    env.start_cdc_process()
    env.start_worker_process([wf])
    expected = env.write(inserts=150)
    expected |= env.write(updates=list(range(1, 41)))
    expected |= env.write(deletes=list(range(141, 151)))
    applied = env.wait_applied(expected)
    assert expected <= set(applied), f"missing: {sorted(expected - set(applied))[:10]}"
    assert len(expected) == 200
    assert duplicates_applied(applied) == 0
    stats = env.endpoint.client.stats()
    assert stats["applied"] == 200
    assert stats["received"] == stats["applied"] + stats["duplicates"]
    assert stats["rejected_signature"] == 0

    _, site = env.settings.site()
    records = list(read_topic("primary", site, env.topic))
    assert len(records) >= 200
    first = records[0]
    headers = header_map(first.headers())
    assert {EVENT_ID_HEADER, OPERATION_HEADER, COMMIT_TIME_HEADER} <= set(headers)
    value = json.loads(first.value())
    assert first.key() == json.dumps(value["key"], separators=(",", ":")).encode()
    assert headers[EVENT_ID_HEADER] == value["event_id"]
    assert len({header_map(r.headers())[EVENT_ID_HEADER] for r in records}) == 200


def test_kill_9_of_a_worker_mid_stream_loses_nothing(env):
    wf = env.workflow()
    env.start_cdc_process()
    first = env.start_worker_process([wf])
    writer = Writer(env).start()
    assert wait_until(lambda: env.endpoint.client.stats()["applied"] >= 150, 90)
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    env.start_worker_process([wf])
    assert wait_until(lambda: len(writer.written) >= 600, 120)
    written = writer.stop()
    applied = env.wait_applied(written, timeout=120)
    assert not written - set(applied), f"lost: {len(written - set(applied))}"
    assert duplicates_applied(applied) == 0


def test_worker_processes_share_a_workflow_through_the_consumer_group(env):
    wf = env.workflow()
    env.start_cdc_process()
    ports = free_ports(2)
    for port in ports:
        env.start_worker_process([wf], port=port)

    def both_assigned() -> bool:
        docs = [probe(p)[1] for p in ports]
        return all(d and d["workflows"][wf.name]["assigned"] for d in docs)

    assert wait_until(both_assigned, 90), [probe(p) for p in ports]
    assigned = [set(probe(p)[1]["workflows"][wf.name]["assigned"]) for p in ports]
    assert not assigned[0] & assigned[1]
    assert len(assigned[0] | assigned[1]) == 3
    expected = env.write(inserts=300)
    applied = env.wait_applied(expected)
    assert expected <= set(applied) and duplicates_applied(applied) == 0
    status, doc = probe(ports[0])
    assert status == 200 and doc["ready"] is True


def test_exactly_once_kafka_sink_survives_kill_9_without_duplicates(env):
    out = f"out-{env.uid}"
    wf = env.workflow(
        "eos", sink={"kind": "kafka", "topic": out, "url": None}, delivery="exactly-once"
    )
    env.start_cdc_process()
    first = env.start_worker_process([wf])
    writer = Writer(env).start()
    _, site = env.settings.site()

    def outputs():
        return [header_map(r.headers())[EVENT_ID_HEADER] for r in read_topic("primary", site, out)]

    assert wait_until(lambda: len(outputs()) >= 100, 90)
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    env.start_worker_process([wf])
    assert wait_until(lambda: len(writer.written) >= 500, 120)
    written = writer.stop()
    assert wait_until(lambda: len(set(outputs())) >= len(written), 150)
    ids = outputs()
    assert len(ids) == len(set(ids)), (
        f"{len(ids) - len(set(ids))} duplicates in a read_committed view"
    )
    source_ids = {
        header_map(r.headers())[EVENT_ID_HEADER] for r in read_topic("primary", site, env.topic)
    }
    assert set(ids) == source_ids


def test_flaky_endpoint_is_retried_until_everything_is_applied(env):
    env.endpoint.stop()
    env.endpoint.fail_rate = 0.2
    env.endpoint.start()
    wf = env.workflow(
        retry={"max_attempts": 10, "initial_backoff_seconds": 0.05, "max_backoff_seconds": 0.2},
        breaker={"failure_threshold": 20, "reset_timeout_seconds": 1},
    )
    env.start_cdc_process()
    env.start_worker_process([wf])
    expected = env.write(inserts=100)
    applied = env.wait_applied(expected)
    assert expected <= set(applied) and duplicates_applied(applied) == 0
    stats = env.endpoint.client.stats()
    assert stats["failed_injected"] > 0 and stats["applied"] == 100
