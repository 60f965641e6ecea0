"""A DLQ after a long outage: 100,000 dead letters are listed page by page in flat memory and
replayed in recorded batches, resuming after an interruption without sending anything twice.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from confluent_kafka import Producer
from ruamel.yaml import YAML

from streamdr.artifacts.api import ChangeEvent
from streamdr.kafka.admin import KafkaAdmin
from streamdr.pipeline import replay as replay_mod
from streamdr.pipeline.dlq import Coordinates, DeadLetter, dead_letter_record
from streamdr.pipeline.dlq_paging import BatchPolicy
from streamdr.pipeline.events import encode_event
from streamdr.pipeline.sandbox import derive, write_settings
from streamdr.settings.model import MetadataDbSettings, Settings
from streamdr.store.db import MetadataStore
from streamdr.workflows.deployments import record_deployment
from streamdr.workflows.model import Workflow
from tests.integration.kafka_data import create_topic
from tests.pipeline_helpers import passthrough

pytestmark = pytest.mark.lab

TOTAL = 100_000
PARTITIONS = 3
TXN_RECORDS = 5_000  # transactional: commit markers sit between and after the records
BATCH = 1_000
MAX_RSS_GROWTH_KB = 200 * 1024
EARLY = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
LATE = EARLY + timedelta(hours=1)


def _workflow(uid: str) -> Workflow:
    return Workflow.model_validate(
        {
            "name": f"scale-{uid}",
            "client": "client-a",
            "tier": "standard",
            "source": {"topic": f"in-{uid}"},
            "transformation": {"name": "passthrough", "version": "1.0.0"},
            "sink": {"kind": "kafka", "topic": f"out-{uid}"},
        }
    )


def _deploy(store: MetadataStore, wf: Workflow) -> None:
    buf = io.StringIO()
    YAML().dump(wf.model_dump(mode="json", exclude_none=True, exclude_defaults=True), buf)
    record_deployment(
        store,
        commit="0" * 40,
        branch="main",
        kind="deploy",
        deployed_by="test",
        previous_commit=None,
        files={f"workflows/{wf.name}.yaml": buf.getvalue()},
        artifacts=[],
    )


def _dead_letter(wf: Workflow, i: int) -> tuple[bytes | None, bytes | None, list]:
    event = ChangeEvent(
        event_id=uuid.uuid4().hex,
        source="src",
        table="public.items",
        operation="insert",
        key={"id": i},
        before=None,
        after={"id": i, "note": "x" * 64},
        commit_time=EARLY,
        position=str(i),
    )
    rec = encode_event(event, wf.source.topic or "")
    letter = DeadLetter(
        wf.name,
        "passthrough@1.0.0",
        "deliver",
        "HTTP 503 from the client endpoint",
        3,
        Coordinates(rec.topic, i % PARTITIONS, i, 1_764_489_600_000),
        EARLY if i < TOTAL // 2 else LATE,
    )
    return dead_letter_record(rec.key, rec.value, rec.headers, letter)


def _produce_dead_letters(settings: Settings, wf: Workflow) -> None:
    _, site = settings.site()
    producer = Producer(
        {
            "bootstrap.servers": site.bootstrap_servers,
            "transactional.id": f"dlq-scale-{uuid.uuid4().hex[:8]}",
            "linger.ms": 50,
            "batch.size": 1_000_000,
            "compression.type": "lz4",
        }
    )
    producer.init_transactions(30)
    for i in range(TOTAL):
        if i % TXN_RECORDS == 0:
            if i:
                producer.commit_transaction(60)
            producer.begin_transaction()
            producer.produce(wf.dlq_topic, b"not a dead letter", partition=i % PARTITIONS)
        key, value, headers = _dead_letter(wf, i)
        while True:
            try:
                producer.produce(
                    wf.dlq_topic, value, key, headers=headers, partition=i % PARTITIONS
                )
                break
            except BufferError:
                producer.poll(0.05)
    producer.commit_transaction(60)
    assert producer.flush(60) == 0


def _list(config: Path, wf: Workflow, out: Path, *args: str) -> tuple[list[dict], dict, int]:
    """Run `streamdr dlq list --json` and return (entries, summary, peak RSS in KB)."""
    cmd = [sys.executable, "-m", "streamdr", "--config", str(config), "dlq", "list", wf.name]
    with out.open("w") as stdout:
        proc = subprocess.Popen([*cmd, "--json", *args], stdout=stdout, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.returncode == 0, proc.stderr.read().decode() if proc.stderr else ""
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert "summary" in lines[-1] and all("summary" not in row for row in lines[:-1])
    return lines[:-1], lines[-1]["summary"], usage.ru_maxrss


def _page_through(config: Path, wf: Workflow, out: Path, limit: int) -> tuple[int, set, int]:
    """Page with --limit/--from; return (entries, distinct DLQ positions, pages)."""
    seen: set[tuple[int, int]] = set()
    count, pages, cursor = 0, 0, None
    while True:
        entries, summary, _ = _list(config, wf, out, "--limit", str(limit), *cursor_args(cursor))
        pages += 1
        count += len(entries)
        seen |= {(e["dlq"]["partition"], e["dlq"]["offset"]) for e in entries}
        assert summary["count"] == len(entries) <= limit
        cursor = summary["next"]
        if cursor is None:
            return count, seen, pages


def cursor_args(cursor: str | None) -> list[str]:
    return ["--from", cursor] if cursor else []


def _out_count(settings: Settings, topic: str) -> int:
    site_name, site = settings.site()
    return sum(KafkaAdmin(site_name, site).end_offsets(topic).values())


class Interrupted(Exception):
    """The replay process dying between two batches."""


def test_a_hundred_thousand_dead_letters_page_in_flat_memory_and_replay_resumes(
    lab, lab_settings, tmp_path, monkeypatch
):
    uid = uuid.uuid4().hex[:8]
    wf = _workflow(uid)
    settings = derive(
        lab_settings, metadata_db=MetadataDbSettings(url=f"sqlite:///{tmp_path}/m.db")
    )
    config = write_settings(settings, tmp_path / "streamdr.yaml")
    store = MetadataStore.from_settings(settings)
    _deploy(store, wf)
    create_topic(settings, wf.dlq_topic, PARTITIONS)
    create_topic(settings, f"out-{uid}", PARTITIONS)
    _produce_dead_letters(settings, wf)

    count, seen, pages = _page_through(config, wf, tmp_path / "page.jsonl", limit=40_000)
    assert (count, len(seen), pages) == (TOTAL, TOTAL, 3)

    # An interrupted replay of the later half: three batches are recorded, then the process dies.
    real_sender, sent = replay_mod._sender, []

    def dying_sender(*args):
        send = real_sender(*args)

        def send_batch(batch, transform):
            if len(sent) == 3:
                raise Interrupted
            sent.append(len(batch))
            return send(batch, transform)

        return send_batch

    monkeypatch.setattr(replay_mod, "_sender", dying_sender)
    with pytest.raises(Interrupted):
        replay_mod.replay(
            settings, store, wf, passthrough, None, since=LATE, policy=BatchPolicy(BATCH)
        )
    monkeypatch.undo()
    assert sent == [BATCH] * 3 and _out_count(settings, f"out-{uid}") == 3 * BATCH

    report = replay_mod.replay(
        settings, store, wf, passthrough, None, since=LATE, policy=BatchPolicy(BATCH)
    )
    assert report.selected == TOTAL // 2 and report.foreign_records == TOTAL // TXN_RECORDS
    assert report.skipped_already_replayed == 3 * BATCH
    assert (report.replayed, report.failed) == (TOTAL // 2 - 3 * BATCH, 0)
    assert _out_count(settings, f"out-{uid}") == TOTAL // 2  # nothing sent twice

    _, small, base_kb = _list(config, wf, tmp_path / "one.jsonl", "--limit", "1")
    entries, summary, full_kb = _list(config, wf, tmp_path / "all.jsonl")
    assert small["count"] == 1 and small["next"]
    assert len(entries) == summary["count"] == TOTAL and summary["next"] is None
    assert summary["pending"] == TOTAL // 2 and summary["foreign_records"] == TOTAL // TXN_RECORDS
    assert full_kb - base_kb < MAX_RSS_GROWTH_KB, (
        f"listing grew by {(full_kb - base_kb) // 1024} MB"
    )
