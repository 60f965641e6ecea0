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
from ruamel.yaml import YAML

from streamdr.artifacts.api import ChangeEvent
from streamdr.kafka.admin import KafkaAdmin
from streamdr.kafka.clients import SafeProducer
from streamdr.pipeline import replay as replay_mod
from streamdr.pipeline.dlq import OFFSET, Coordinates, DeadLetter, dead_letter_record
from streamdr.pipeline.dlq_paging import BatchPolicy
from streamdr.pipeline.events import EVENT_ID_HEADER, encode_event
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
# Measured: ~3 MB. Keeping 60,000 entries in memory (as before) costs well over 100 MB.
MAX_RSS_GROWTH_KB = 100 * 1024
EARLY = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
LATE = EARLY + timedelta(hours=1)
LATE_ONES = TOTAL // 4  # dead-lettered after --since LATE: the ones replayed
LIST_PAGE = 60_000


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


ID_MARK = "f" * 32  # replaced by each record's own event id (templates keep producing fast)


def _templates(wf: Workflow) -> dict[datetime, tuple[bytes, bytes, list[tuple[str, bytes]]]]:
    """Return (key, value, headers) of a dead letter per dead-lettering time, id ID_MARK."""
    event = ChangeEvent(
        event_id=ID_MARK,
        source="src",
        table="public.items",
        operation="insert",
        key={"id": 1},
        before=None,
        after={"id": 1, "note": "x" * 64},
        commit_time=EARLY,
        position="1",
    )
    rec = encode_event(event, wf.source.topic or "")
    found = {}
    for at in (EARLY, LATE):
        origin = Coordinates(rec.topic, 0, 0, 1_764_489_600_000)
        letter = DeadLetter(wf.name, "passthrough@1.0.0", "deliver", "HTTP 503", 3, origin, at)
        key, value, headers = dead_letter_record(rec.key, rec.value, rec.headers, letter)
        found[at] = (key or b"", value or b"", headers)
    return found


def _dead_letter(templates: dict, i: int) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    """Return dead letter ``i``: its own event id and origin offset; the first LATE_ONES late."""
    key, value, headers = templates[LATE if i < LATE_ONES else EARLY]
    event_id = f"{i:032x}".encode()
    own = [
        (k, event_id if k == EVENT_ID_HEADER else str(i).encode() if k == OFFSET else v)
        for k, v in headers
    ]
    return key, value.replace(ID_MARK.encode(), event_id), own


def _produce_dead_letters(settings: Settings, wf: Workflow) -> None:
    _, site = settings.site()
    producer = SafeProducer(
        {
            "bootstrap.servers": site.bootstrap_servers,
            "transactional.id": f"dlq-scale-{uuid.uuid4().hex[:8]}",
            "linger.ms": 50,
            "batch.size": 1_000_000,
            "compression.type": "lz4",
        }
    )
    producer.init_transactions(30)
    templates = _templates(wf)
    for i in range(TOTAL):
        if i % TXN_RECORDS == 0:
            if i:
                producer.commit_transaction(60)
            producer.begin_transaction()
            producer.produce(wf.dlq_topic, b"not a dead letter", partition=i % PARTITIONS)
        key, value, headers = _dead_letter(templates, i)
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


def _page_through(config: Path, wf: Workflow, out: Path) -> tuple[list[dict], list[dict], int]:
    """Page with --limit/--from; return (entries, page summaries, peak RSS KB of page one)."""
    entries, summaries, rss, cursor = [], [], [], None
    while True:
        page, summary, peak = _list(
            config, wf, out, "--limit", str(LIST_PAGE), *cursor_args(cursor)
        )
        entries += page
        summaries.append(summary)
        rss.append(peak)
        assert summary["count"] == len(page) <= LIST_PAGE
        cursor = summary["next"]
        if cursor is None:
            return entries, summaries, rss[0]


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
    db = MetadataDbSettings(url=f"sqlite:///{tmp_path}/m.db")
    settings = lab_settings.model_copy(update={"metadata_db": db})
    config = tmp_path / "streamdr.yaml"
    with config.open("w") as f:  # the lab's settings with this test's own metadata DB
        YAML().dump(settings.model_dump(mode="json", exclude_none=True), f)
    store = MetadataStore.from_settings(settings)
    _deploy(store, wf)
    create_topic(settings, wf.dlq_topic, PARTITIONS)
    create_topic(settings, f"out-{uid}", PARTITIONS)
    _produce_dead_letters(settings, wf)

    # An interrupted replay of the later ones: three batches are recorded, then the process dies.
    real_sender, sent = replay_mod._sender, []

    def dying_sender(*args):
        send = real_sender(*args)

        def send_batch(batch, transform):
            if len(sent) == 3:
                raise Interrupted
            sent.append(len(batch))
            return send(batch, transform)

        return send_batch

    policy = BatchPolicy(size=BATCH, seconds=600)
    monkeypatch.setattr(replay_mod, "_sender", dying_sender)
    with pytest.raises(Interrupted):
        replay_mod.replay(settings, store, wf, passthrough, None, since=LATE, policy=policy)
    monkeypatch.undo()
    assert sent == [BATCH] * 3 and _out_count(settings, f"out-{uid}") == 3 * BATCH

    report = replay_mod.replay(settings, store, wf, passthrough, None, since=LATE, policy=policy)
    assert report.selected == LATE_ONES and report.foreign_records == TOTAL // TXN_RECORDS
    assert report.skipped_already_replayed == 3 * BATCH
    assert (report.replayed, report.failed) == (LATE_ONES - 3 * BATCH, 0)
    assert _out_count(settings, f"out-{uid}") == LATE_ONES  # nothing sent twice

    _, small, base_kb = _list(config, wf, tmp_path / "one.jsonl", "--limit", "1")
    assert small["count"] == 1 and small["next"]
    entries, summaries, page_kb = _page_through(config, wf, tmp_path / "page.jsonl")
    assert len(summaries) == 2 and len(entries) == TOTAL
    assert len({(e["dlq"]["partition"], e["dlq"]["offset"]) for e in entries}) == TOTAL
    assert len({e["event_id"] for e in entries}) == TOTAL
    assert sum(s["pending"] for s in summaries) == TOTAL - LATE_ONES
    assert sum(s["foreign_records"] for s in summaries) == TOTAL // TXN_RECORDS
    growth_mb = (page_kb - base_kb) // 1024
    print(f"peak RSS: {LIST_PAGE} entries {page_kb // 1024} MB, 1 entry {base_kb // 1024} MB")
    assert page_kb - base_kb < MAX_RSS_GROWTH_KB, f"listing {LIST_PAGE} grew by {growth_mb} MB"
