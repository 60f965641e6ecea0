"""MirrorMaker 2 on the lab: records intact, real internal records parsed, translation bounds,
supervision, and a planned failover and failback through the CLI with zero loss."""

import json
import os
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import TopicPartition

from streamdr.kafka.admin import KafkaAdmin, TopicSpec
from streamdr.kafka.clients import make_consumer, make_producer
from streamdr.replication.mm2.internal_topics import read_raw
from streamdr.replication.mm2.records import (
    encode_checkpoint,
    encode_heartbeat,
    encode_offset_sync,
    parse_checkpoint,
    parse_heartbeat,
    parse_offset_sync,
)
from streamdr.replication.mm2.runner import Mm2Runner
from streamdr.replication.naming import ReplicationNames
from streamdr.runtime import process
from tests.conftest import run_cli

NAMES = ReplicationNames("_")
RECORDS = 900
# Explicit CreateTimes a little in the past: a fixed date (2023 once) is older than the topic's
# 7-day retention, and the brokers' retention check deleted the records between produce and
# consume (CI: a partition's log start offset jumped to its end).
TS_BASE = int(time.time() * 1000) - 3_600_000
OFFSET_LAG_MAX = 100
FIXTURE = Path(__file__).parents[1] / "unit" / "fixtures" / "mm2_records.json"


def wait(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(1.0)
    raise AssertionError(f"timed out waiting for {what}")


def consume(site, group, topics, want, timeout=90, commit=True):
    """Read ``want`` records (or until timeout); return them as (topic, partition, offset, msg)."""
    consumer = make_consumer(site, group)
    consumer.subscribe(topics)
    out, deadline = [], time.monotonic() + timeout
    try:
        while len(out) < want and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and not msg.error():
                out.append(msg)
        if commit and out:
            consumer.commit(asynchronous=False)
    finally:
        consumer.close()
    return out


def drain(site, group, topics, timeout=180):
    """Read every record below the topics' end offsets at the call; commit; return the values.

    Callers drain after the producers flushed and after a switch that waited for replication
    lag 0, so these ends hold every record the test expects (no idle wait needed).
    """
    admin = KafkaAdmin("drain", site)
    ends = {(t, p): end for t in topics for p, end in admin.end_offsets(t).items() if end > 0}
    consumer = make_consumer(site, group)
    consumer.subscribe(topics)
    out, deadline = [], time.monotonic() + timeout
    try:
        start = consumer.committed([TopicPartition(t, p) for t, p in ends], timeout=30)
        reached = {(tp.topic, tp.partition): tp.offset for tp in start if tp.offset >= 0}
        while time.monotonic() < deadline and any(reached.get(tp, 0) < e for tp, e in ends.items()):
            msg = consumer.poll(0.5)
            if msg is not None and not msg.error():
                out.append(msg.value().decode())
                tp = (msg.topic(), msg.partition())
                reached[tp] = max(reached.get(tp, 0), msg.offset() + 1)
        consumer.commit(asynchronous=False) if out else None
    finally:
        consumer.close()
    return out


def end_total(admin, topic):
    return sum(admin.end_offsets(topic).values()) if admin.topic(topic) else 0


@pytest.fixture(scope="module")
def replicated(lab, lab_settings):
    """The default MM2 instance replicating two fresh topics (and their groups) primary→dr."""
    run = uuid.uuid4().hex[:6]
    names = {
        "topic": f"it.rep.{run}",
        "group": f"it-rep-{run}",
        "ftopic": f"it.fo.{run}",
        "fgroup": f"it-fo-{run}",
    }
    primary = KafkaAdmin("primary", lab_settings.sites["primary"])
    dr = KafkaAdmin("dr", lab_settings.sites["dr"])
    primary.create_topics([TopicSpec(names["topic"], 3, 3), TopicSpec(names["ftopic"], 3, 3)])
    dr.create_topics([TopicSpec(names["ftopic"], 3, 3)])
    proc = run_cli(
        "replicate",
        "start",
        "--topics",
        f"{names['topic']},{names['ftopic']}",
        "--groups",
        f"{names['group']},{names['fgroup']}",
        "--json",
        config=lab.settings_file,
        timeout=400,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    yield names
    run_cli("replicate", "stop", "--forget", config=lab.settings_file)


def test_records_replicate_with_keys_headers_and_timestamps_intact(replicated, lab_settings):
    topic = replicated["topic"]
    producer = make_producer(lab_settings.sites["primary"])
    for i in range(RECORDS):
        producer.produce(
            topic,
            key=f"key-{i}".encode(),
            value=f"value-{i}".encode(),
            headers=[("event-id", f"id-{i}".encode()), ("h", b"\x00\x01")],
            partition=i % 3,
            timestamp=TS_BASE + i,
        )
    producer.flush(30)
    remote = NAMES.remote_topic("primary", topic)
    dr = KafkaAdmin("dr", lab_settings.sites["dr"])
    wait(lambda: end_total(dr, remote) >= RECORDS, 180, "replication to dr")
    got = consume(
        lab_settings.sites["dr"],
        f"it-check-{uuid.uuid4().hex[:6]}",
        [remote],
        RECORDS,
        commit=False,
    )
    assert len(got) == RECORDS
    for msg in got:
        i = int(msg.key().decode().split("-")[1])
        assert msg.value() == f"value-{i}".encode()
        assert msg.partition() == i % 3
        assert msg.timestamp()[1] == TS_BASE + i
        assert dict(msg.headers()) == {"event-id": f"id-{i}".encode(), "h": b"\x00\x01"}


def test_internal_records_written_by_mm2_parse_and_translate_within_lag_max(
    replicated, lab, lab_settings
):
    topic, group = replicated["topic"], replicated["group"]
    primary_site, dr_site = lab_settings.sites["primary"], lab_settings.sites["dr"]
    # The group reads 617 records on primary and commits.
    consumed = consume(primary_site, group, [topic], 617)
    assert len(consumed) == 617
    committed = {}
    for msg in consumed:
        committed[msg.partition()] = max(committed.get(msg.partition(), 0), msg.offset() + 1)
    cp_topic = NAMES.checkpoints_topic("primary")

    def checkpointed():
        raw = read_raw("dr", dr_site, cp_topic)
        cps = [parse_checkpoint(r.key, r.value) for r in raw]
        mine = {c.partition: c for c in cps if c.group == group}
        return all(mine.get(p) and mine[p].upstream_offset == o for p, o in committed.items())

    wait(checkpointed, 120, "checkpoints of the group's commit")
    # Every record of MM2's internal topics is real MM2 output: parse and re-encode exactly.
    captured = {}
    for site, name, parse, encode in (
        ("dr", cp_topic, parse_checkpoint, encode_checkpoint),
        ("primary", NAMES.offset_syncs_topic("dr"), parse_offset_sync, encode_offset_sync),
        ("dr", "heartbeats", parse_heartbeat, encode_heartbeat),
        ("dr", NAMES.remote_heartbeats_topic("primary"), parse_heartbeat, encode_heartbeat),
    ):
        raw = read_raw(site, lab_settings.sites[site], name)
        assert raw, name
        for r in raw:
            assert encode(parse(r.key, r.value)) == (r.key, r.value)
        captured[name] = raw
    if os.environ.get("STREAMDR_RECAPTURE_MM2_FIXTURE"):
        _write_fixture(captured)
    # Translated offsets (checkpoints) are never past, and at most offset.lag.max before, the
    # exact position: the downstream offset of the record at the group's upstream offset.
    proc = run_cli(
        "offsets",
        "translate",
        "--group",
        group,
        "--from",
        "primary",
        "--to",
        "dr",
        "--method",
        "checkpoints",
        "--json",
        config=lab.settings_file,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    remote = NAMES.remote_topic("primary", topic)
    exact = _exact_positions(dr_site, remote, committed)
    assert {p["partition"] for p in doc["partitions"]} == set(committed)
    for p in doc["partitions"]:
        assert p["source_offset"] == committed[p["partition"]]
        assert exact[p["partition"]] - OFFSET_LAG_MAX <= p["offset"] <= exact[p["partition"]]
    assert doc["sources"][0]["topic"] == cp_topic
    # With the source answering, offset syncs give the same bound.
    proc = run_cli("offsets", "translate", "--group", group, "--json", config=lab.settings_file)
    syncs = json.loads(proc.stdout)
    assert syncs["method"] == "offset-syncs"
    for p in syncs["partitions"]:
        assert exact[p["partition"]] - OFFSET_LAG_MAX <= p["offset"] <= exact[p["partition"]]


def _exact_positions(site, remote, committed):
    """Return, per partition, the downstream offset holding the group's next upstream record."""
    out = {}
    ends = KafkaAdmin("dr", site).end_offsets(remote)
    consumer = make_consumer(site, f"it-exact-{uuid.uuid4().hex[:6]}")
    try:
        for part, upstream in committed.items():
            if upstream == RECORDS // 3:  # the group is at the end: the exact position is the end
                out[part] = ends[part]
                continue
            consumer.assign([TopicPartition(remote, part, 0)])
            while True:
                msg = consumer.poll(5.0)
                assert msg is not None and not msg.error()
                # Values are value-<i> with i % 3 == partition, written in order.
                i = int(msg.value().decode().split("-")[1])
                if i // 3 == upstream:
                    out[part] = msg.offset()
                    break
    finally:
        consumer.close()
    return out


def _write_fixture(captured):
    doc = {"captured_with": "MirrorMaker 2 on the streamdr lab (integration test recapture)"}
    for key, name in (
        ("checkpoints", NAMES.checkpoints_topic("primary")),
        ("offset_syncs", NAMES.offset_syncs_topic("dr")),
        ("heartbeats", "heartbeats"),
        ("replicated_heartbeats", NAMES.remote_heartbeats_topic("primary")),
    ):
        doc[key] = {
            "topic": name,
            "records": [
                {
                    "offset": r.offset,
                    "key": r.key.hex(),
                    "value": r.value.hex(),
                    "timestamp_ms": r.timestamp_ms,
                }
                for r in captured[name][:12]
            ],
        }
    FIXTURE.write_text(json.dumps(doc, indent=1) + "\n")


def test_status_reports_lag_and_mm2_is_restarted_when_it_dies(replicated, lab, lab_settings):
    proc = run_cli("replicate", "status", "--json", config=lab.settings_file)
    doc = json.loads(proc.stdout)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert doc["supervisor"]["running"] and all(p["running"] for p in doc["processes"])
    assert {p["topic"] for p in doc["partitions"]} == {replicated["topic"], replicated["ftopic"]}
    assert doc["workflows"][0]["name"] == "explicit" and doc["tiers"][0]["name"] == "standard"
    assert doc["thresholds"] == {"warning_seconds": 300.0, "critical_seconds": 600.0}
    items = {
        i["id"]: i
        for i in json.loads(run_cli("check", "--json", config=lab.settings_file).stdout)["items"]
    }
    assert items["replication.mm2-to-dr"]["status"] == "pass", items["replication.mm2-to-dr"]
    assert items["replication.lag-alert"]["status"] == "pass", items["replication.lag-alert"]
    runner = Mm2Runner(lab_settings)
    victim = next(c for c in runner.status().children if c["target"] == "dr")
    process.kill(victim["pid"], runner.child_marker("dr"))

    def restarted():
        child = next(c for c in runner.status().children if c["target"] == "dr")
        return child["running"] and child["restarts"] >= 1 and child["pid"] != victim["pid"]

    wait(restarted, 60, "the supervisor to restart MM2")
    doc = json.loads(run_cli("replicate", "status", "--json", config=lab.settings_file).stdout)
    assert doc["restarts"] >= 1
    assert any(e["event"] == "died" for e in doc["events"])


def test_planned_failover_and_failback_lose_nothing(replicated, lab, lab_settings):
    topic, group = replicated["ftopic"], replicated["fgroup"]
    sites = lab_settings.sites
    produced = set()
    producer = make_producer(sites["primary"])
    for i in range(300):
        producer.produce(topic, value=f"p-{i}".encode(), partition=i % 3)
        produced.add(f"p-{i}")
    producer.flush(30)
    seen = [m.value().decode() for m in consume(sites["primary"], group, [topic], 200)]
    # Planned failover: MM2 catches up, offsets are translated, the lab file is switched.
    proc = run_cli(
        "failover",
        "--to",
        "dr",
        "--planned",
        "--execute",
        "--json",
        config=lab.settings_file,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["passed"] and doc["rpo_seconds_estimate"] == 0.0
    assert doc["messages_not_replicated_estimate"] == 0
    assert {s["name"] for s in doc["steps"]} >= {"fence-source", "commit-offsets", "switch-active"}
    assert all(s["started_at"] and s["finished_at"] for s in doc["steps"])
    assert "active_site: dr" in lab.settings_file.read_text()
    remote = NAMES.remote_topic("primary", topic)
    # Workers on dr read the replicated backlog from the translated position, and new events.
    producer = make_producer(sites["dr"])
    for i in range(150):
        producer.produce(topic, value=f"d-{i}".encode(), partition=i % 3)
        produced.add(f"d-{i}")
    producer.flush(30)
    seen += drain(sites["dr"], group, [topic, remote])
    assert {f"p-{i}" for i in range(200, 300)} <= set(seen)
    # Events written on dr that its workers never read before the failback.
    for i in range(150, 200):
        producer.produce(topic, value=f"d-{i}".encode(), partition=i % 3)
        produced.add(f"d-{i}")
    producer.flush(30)
    proc = run_cli("failback", "--execute", "--json", config=lab.settings_file, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    back = json.loads(proc.stdout)
    assert back["passed"] and back["kind"] == "failback" and back["to"] == "primary"
    assert "active_site: primary" in lab.settings_file.read_text()
    # Back home: the rest of dr's events arrive through dr_<topic>; nothing is missing.
    home_remote = NAMES.remote_topic("dr", topic)
    late = drain(sites["primary"], group, [topic, home_remote])
    assert {f"d-{i}" for i in range(150, 200)} <= set(late)
    seen += late
    assert produced <= set(seen), sorted(produced - set(seen))[:10]
    # Offsets were translated, not reset: re-reads stay within offset.lag.max per partition.
    assert len(seen) - len(set(seen)) <= 2 * 3 * OFFSET_LAG_MAX
    assert not back["validation"]["loop_topics"]
    history = json.loads(
        run_cli("failover", "--history", "--json", config=lab.settings_file).stdout
    )
    assert [h["kind"] for h in history[:2]] == ["failback", "failover"]
