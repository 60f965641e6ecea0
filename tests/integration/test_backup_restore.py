"""Backup and restore on the real lab, through the CLI: exactness, time windows, groups, faults."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from streamdr.clock import datetime_to_ms
from streamdr.kafka.admin import KafkaAdmin
from streamdr.restore.groups import GroupAdmin
from tests.conftest import run_cli
from tests.integration.kafka_data import (
    create_topic,
    odd_record,
    produce,
    read_topic,
    records_only,
)

pytestmark = pytest.mark.lab


def cli(lab, *args, code=0):
    proc = run_cli(*args, config=lab.settings_file)
    assert proc.returncode == code, proc.stdout + proc.stderr
    return proc


def cli_json(lab, *args, code=0):
    return json.loads(cli(lab, *args, "--json", code=code).stdout)


def names():
    uid = uuid.uuid4().hex[:8]
    return f"it.br.{uid}", f"it/{uid}"


def now_ms():
    return datetime_to_ms(datetime.now(UTC))


def test_round_trip_is_byte_exact_with_nulls_tombstones_and_headers(lab, lab_settings):
    topic, prefix = names()
    create_topic(lab_settings, topic, 8, {"min.insync.replicas": "2", "retention.ms": "86400000"})
    t0 = now_ms() - 60_000
    original = produce(lab_settings, topic, [(i % 8, odd_record(i, t0 + i)) for i in range(4000)])

    summary = cli_json(
        lab, "backup", "run", "--topics", topic.replace(".", r"\."), "--prefix", prefix
    )
    assert (
        summary["records"] == 4000 and summary["partitions"] == 8 and summary["gaps_recorded"] == []
    )
    listing = cli_json(lab, "backup", "list", "--prefix", prefix)
    (t,) = listing["topics"]
    assert t["topic"] == topic and t["records"] == 4000 and len(t["partitions"]) == 8
    assert 0 <= t["newest_data_age_seconds"] < 3600
    assert cli_json(lab, "backup", "verify", "--deep", "--prefix", prefix)["passed"]

    target = topic + ".restored"
    plan = cli_json(lab, "restore", "--topic", topic, "--to-topic", target, "--prefix", prefix)
    assert plan["plan"]["expected_records"] == 4000
    assert plan["plan"]["target_topic"]["partitions"] == 8
    assert plan["plan"]["target_topic"]["config"]["retention.ms"] == "86400000"

    doc = cli_json(
        lab, "restore", "--execute", "--topic", topic, "--to-topic", target, "--prefix", prefix
    )
    result = doc["result"]
    assert result["verified"] and result["records"] == 4000 and result["created_topic"]
    restored = read_topic(lab_settings, target, 8)
    assert records_only(restored) == records_only(original)
    # A plain topic restores offset for offset: one run per partition in the offset map.
    for p in result["partitions"]:
        assert p["offset_map"] == [[0, 0, len(original[p["partition"]])]]

    site_name, site = lab_settings.site()
    configs = KafkaAdmin(site_name, site).topic_configs([target])[target]
    assert configs["retention.ms"] == "86400000" and configs["min.insync.replicas"] == "2"


def test_point_in_time_window_across_midnight_and_partition_subset(lab, lab_settings):
    topic, prefix = names()
    create_topic(lab_settings, topic, 3)
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(
        days=1
    )
    start = datetime_to_ms(midnight) - 3_600_000  # 23:00 the day before yesterday's midnight
    recs = [(i % 3, odd_record(i, start + i * 3_000)) for i in range(2400)]  # two hours
    original = produce(lab_settings, topic, recs)
    cli_json(
        lab,
        "backup",
        "run",
        "--topics",
        topic.replace(".", r"\."),
        "--prefix",
        prefix,
        "--max-file-records",
        "150",
    )
    listing = cli_json(lab, "backup", "list", "--prefix", prefix)
    files = listing["topics"][0]["files"]
    assert files >= 18  # rolled by count and at the UTC day boundary

    lo, hi = midnight - timedelta(minutes=20), midnight + timedelta(minutes=25)
    target = topic + ".window"
    doc = cli_json(
        lab,
        "restore",
        "--execute",
        "--topic",
        topic,
        "--to-topic",
        target,
        "--prefix",
        prefix,
        "--partitions",
        "0,2",
        "--from-time",
        lo.isoformat(),
        "--to-time",
        hi.isoformat(),
    )
    lo_ms, hi_ms = datetime_to_ms(lo), datetime_to_ms(hi)
    expected = {
        p: [r for _o, r in original[p] if lo_ms <= r[3] < hi_ms] if p in (0, 2) else []
        for p in range(3)
    }
    assert doc["plan"]["expected_records"] == sum(len(v) for v in expected.values()) > 0
    assert doc["result"]["verified"]
    assert records_only(read_topic(lab_settings, target, 3)) == expected


def test_group_resumes_at_the_same_record_despite_offset_holes(lab, lab_settings):
    topic, prefix = names()
    group = f"g-{uuid.uuid4().hex[:6]}"
    create_topic(lab_settings, topic, 3)
    t0 = now_ms() - 10_000
    # Transactions leave a commit marker after every 50 records: original offsets have holes.
    original = produce(
        lab_settings,
        topic,
        [(i % 3, odd_record(i, t0 + i)) for i in range(900)],
        transactional=True,
    )
    positions = {0: original[0][100][0], 1: original[1][-1][0] + 1, 2: original[2][0][0]}
    site_name, site = lab_settings.site()
    admin = KafkaAdmin(site_name, site)
    groups = GroupAdmin(admin)
    from streamdr.backup.model import TopicPartition

    groups.alter(group, {TopicPartition(topic, p): o for p, o in positions.items()})
    cli_json(lab, "backup", "run", "--topics", topic.replace(".", r"\."), "--prefix", prefix)

    admin.delete_topics([topic])
    admin.wait_until(lambda md: topic not in md.topics, timeout=60, what="deletion")
    time.sleep(1)
    doc = cli_json(
        lab,
        "restore",
        "--execute",
        "--topic",
        topic,
        "--prefix",
        prefix,
        "--restore-offsets",
        group,
        "--config",
        "retention.ms=-1",
    )
    result = doc["result"]
    assert result["verified"]
    assert any(len(p["offset_map"]) > 1 for p in result["partitions"])  # holes were remapped
    moved = {g["partition"]: g for g in result["groups"]}
    assert moved[0]["original_offset"] == positions[0] and moved[0]["restored_offset"] == 100
    assert moved[1]["restored_offset"] == len(original[1])  # was at the end: stays at the end
    assert moved[2]["restored_offset"] == 0

    from streamdr.kafka.clients import make_consumer

    consumer = make_consumer(site, group)
    consumer.subscribe([topic])
    got: dict[int, list] = {0: [], 1: [], 2: []}
    deadline = time.monotonic() + 60
    want = {0: len(original[0]) - 100, 1: 0, 2: len(original[2])}
    while time.monotonic() < deadline and any(len(got[p]) < want[p] for p in got):
        msg = consumer.poll(0.5)
        if msg is not None and not msg.error():
            got[msg.partition()].append((msg.key(), msg.value(), msg.headers(), msg.timestamp()[1]))
    consumer.close()
    assert got[0] == [r for _o, r in original[0][100:]]
    assert got[1] == []
    assert got[2] == [r for _o, r in original[2]]


def test_bad_input_is_one_error_line_with_a_hint(lab, lab_settings):
    topic, prefix = names()
    create_topic(lab_settings, topic, 2)
    produce(lab_settings, topic, [(i % 2, odd_record(i, now_ms())) for i in range(50)])
    cli_json(lab, "backup", "run", "--topics", topic.replace(".", r"\."), "--prefix", prefix)

    def refused(*args, code=2, text=""):
        proc = cli(lab, *args, code=code)
        assert "Error:" in proc.stderr and "Hint:" in proc.stderr and "Traceback" not in proc.stderr
        assert text in proc.stderr
        return proc

    refused(
        "restore", "--execute", "--topic", "nope", "--prefix", prefix, text="no backup of topic"
    )
    refused("restore", "--execute", "--topic", topic, "--prefix", prefix, text="not empty")
    refused(
        "restore",
        "--execute",
        "--topic",
        topic,
        "--prefix",
        prefix,
        "--to-topic",
        "x.y",
        "--from-time",
        "2025-01-02T00:00:00Z",
        "--to-time",
        "2025-01-01T00:00:00Z",
        text="empty",
    )
    refused(
        "restore",
        "--execute",
        "--topic",
        topic,
        "--prefix",
        prefix,
        "--from-time",
        "yesterday",
        text="ISO",
    )
    refused(
        "restore",
        "--execute",
        "--topic",
        topic,
        "--prefix",
        prefix,
        "--partitions",
        "0,9",
        text="[9]",
    )
    refused("backup", "run", "--topics", "no-such-topic-.*", "--prefix", prefix, text="no topic")
    refused(
        "restore",
        "--execute",
        "--topic",
        topic,
        "--prefix",
        prefix,
        "--to-topic",
        topic + ".g",
        "--restore-offsets",
        "no-such-group",
        text="no-such-group",
    )
    # --force appends after the current records and still verifies what it restored
    doc = cli_json(lab, "restore", "--execute", "--topic", topic, "--prefix", prefix, "--force")
    assert doc["result"]["verified"] and doc["result"]["partitions"][0]["base_offset"] > 0

    # A corrupted file is named in the error and verify --deep counts it.
    entry = json.loads(
        next((lab.dir / "backups" / prefix / "catalog" / topic).rglob("0*.json")).read_text()
    )
    path = lab.dir / "backups" / entry["key"]
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    refused(
        "restore",
        "--execute",
        "--topic",
        topic,
        "--prefix",
        prefix,
        "--to-topic",
        topic + ".c",
        text=entry["key"],
    )
    report = cli_json(lab, "backup", "verify", "--deep", "--prefix", prefix, code=1)
    (copy,) = report["copies"]
    assert copy["errors"] == 1 and copy["findings"][0]["where"].endswith(entry["key"])


def test_offsets_rewind_snapshot_and_restore(lab, lab_settings):
    topic, prefix = names()
    group = f"g-{uuid.uuid4().hex[:6]}"
    create_topic(lab_settings, topic, 2)
    t0 = now_ms() - 100_000
    original = produce(
        lab_settings, topic, [(i % 2, odd_record(i, t0 + i * 100)) for i in range(400)]
    )
    site_name, site = lab_settings.site()
    groups = GroupAdmin(KafkaAdmin(site_name, site))
    from streamdr.backup.model import TopicPartition
    from streamdr.clock import ms_to_datetime

    ends = {p: v[-1][0] + 1 for p, v in original.items()}
    groups.alter(group, {TopicPartition(topic, p): o for p, o in ends.items()})
    snap = cli_json(lab, "offsets", "snapshot", "--prefix", prefix)

    when = ms_to_datetime(t0 + 150 * 100)  # record 150 and later
    dry = cli_json(
        lab,
        "offsets",
        "rewind",
        "--group",
        group,
        "--topic",
        topic,
        "--to-datetime",
        when.isoformat(),
    )
    assert not dry["executed"]
    new = {c["partition"]: c["new_offset"] for c in dry["changes"]}
    assert new == {p: next(o for o, r in original[p] if r[3] >= t0 + 15_000) for p in (0, 1)}
    assert groups.committed(group)[TopicPartition(topic, 0)] == ends[0]  # dry run changed nothing
    cli_json(
        lab,
        "offsets",
        "rewind",
        "--group",
        group,
        "--topic",
        topic,
        "--to-datetime",
        when.isoformat(),
        "--execute",
    )
    assert groups.committed(group)[TopicPartition(topic, 0)] == new[0]

    restored = cli_json(
        lab,
        "offsets",
        "restore",
        "--execute",
        "--snapshot",
        snap["id"],
        "--group",
        group,
        "--prefix",
        prefix,
    )
    assert restored["executed"]
    assert groups.committed(group) == {TopicPartition(topic, p): o for p, o in ends.items()}

    from streamdr.kafka.clients import make_consumer

    consumer = make_consumer(site, group)
    consumer.subscribe([topic])
    deadline = time.monotonic() + 30
    while not consumer.assignment() and time.monotonic() < deadline:
        consumer.poll(0.2)
    try:
        proc = cli(
            lab, "offsets", "rewind", "--group", group, "--to-datetime", when.isoformat(), code=2
        )
        assert "is active" in proc.stderr and "Hint:" in proc.stderr
    finally:
        consumer.close()


def test_three_two_one_rule_and_retention(lab, lab_settings, s3_server, s3_bucket, tmp_path):
    topic, prefix = names()
    create_topic(lab_settings, topic, 2)
    produce(lab_settings, topic, [(i % 2, odd_record(i, now_ms())) for i in range(100)])
    text = lab.settings_file.read_text().replace(
        "stores:\n",
        "stores:\n"
        f"  tape:\n    url: {tmp_path / 'tape'}\n    media: tape\n"
        f"  offsite:\n    url: s3://{s3_bucket}/backups\n    endpoint_override: {s3_server}\n"
        "    offsite: true\n"
        f"  archive:\n    url: {tmp_path / 'archive'}\n    media: archive\n",
    )
    config = tmp_path / "streamdr.yaml"
    config.write_text(text)

    def run(*args, code=0):
        proc = run_cli(*args, "--json", config=config)
        assert proc.returncode == code, proc.stdout + proc.stderr
        return json.loads(proc.stdout)

    regex = topic.replace(".", r"\.")
    run("backup", "run", "--topics", regex, "--prefix", prefix)
    one = run(
        "backup",
        "verify",
        "--rule",
        "3-2-1",
        "--prefix",
        prefix,
        "--target",
        "local",
        "--target",
        "offsite",
        code=1,
    )
    assert not one["rule"]["passed"] and one["rule"]["complete_verified_copies"] == ["local"]

    # A second run with more targets copies the existing backup to them first.
    run(
        "backup",
        "run",
        "--topics",
        regex,
        "--prefix",
        prefix,
        "--target",
        "local",
        "--target",
        "offsite",
    )
    two = run(
        "backup",
        "verify",
        "--rule",
        "3-2-1",
        "--deep",
        "--prefix",
        prefix,
        "--target",
        "local",
        "--target",
        "offsite",
    )
    assert two["passed"] and two["rule"]["media_kinds"] == ["disk", "object"]
    assert two["rule"]["offsite_copies"] == ["offsite"]

    # Retention with a fixed clock: after 100 days to the archive store, after 8 years gone.
    later = (datetime.now(UTC) + timedelta(days=100)).isoformat()
    dry = run("backup", "apply-retention", "--prefix", prefix, "--now", later, "--dry-run")
    assert dry["archive"] == 2 and dry["done"] == {}
    done = run("backup", "apply-retention", "--prefix", prefix, "--now", later, "--execute")
    assert done["done"] == {"archive": 2, "delete": 0}
    assert run("backup", "list", "--prefix", prefix)["topics"] == []
    archived = run("backup", "list", "--prefix", prefix, "--target", "archive")
    assert archived["topics"][0]["records"] == 100
    assert run("backup", "verify", "--deep", "--prefix", prefix, "--target", "archive")["passed"]
    much_later = (datetime.now(UTC) + timedelta(days=8 * 365)).isoformat()
    gone = run("backup", "apply-retention", "--execute", "--prefix", prefix, "--now", much_later)
    assert gone["done"]["delete"] == 2
    assert run("backup", "list", "--prefix", prefix, "--target", "archive")["topics"] == []

    rules = json.loads(
        run_cli(
            "backup",
            "lifecycle",
            "--format",
            "s3",
            "--target",
            "offsite",
            "--prefix",
            prefix,
            config=config,
        ).stdout
    )
    assert rules["Rules"][0]["Filter"]["Prefix"] == f"backups/{prefix}/"
