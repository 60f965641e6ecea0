"""The embedded SQLite change-table source into Kafka, malformed rows into the source's DLQ."""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid

import pytest

from streamdr.harness.derived_settings import derive
from streamdr.pipeline.cdc.checkpoint import read_checkpoint
from streamdr.pipeline.cdc.service import build_reader, run_cdc
from streamdr.pipeline.dlq import entry_from_message
from streamdr.pipeline.events import EVENT_ID_HEADER, header_map
from streamdr.pipeline.topics import read_topic
from streamdr.settings.model import SourceSettings
from tests.integration.pipeline_env import wait_until

pytestmark = pytest.mark.lab


def test_sqlite_source_streams_changes_and_dead_letters_malformed_rows(lab_settings, tmp_path):
    db = tmp_path / "shop.db"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("CREATE TABLE products (sku TEXT PRIMARY KEY, price REAL NOT NULL)")
    name, prefix = f"shop-{uuid.uuid4().hex[:6]}", f"s{uuid.uuid4().hex[:6]}"
    settings = derive(
        lab_settings,
        sources={name: SourceSettings(kind="sqlite", path=str(db), topic_prefix=prefix)},
    )
    stop = threading.Event()
    reader = build_reader(settings, name, stop)
    thread = threading.Thread(target=run_cdc, args=(reader, stop, None), daemon=True)
    thread.start()
    try:
        assert wait_until(lambda: reader.status.source_up, 60)
        conn.execute("BEGIN")
        for i in range(20):
            conn.execute("INSERT INTO products VALUES (?, ?)", (f"sku-{i}", i + 0.5))
        conn.execute("COMMIT")
        conn.execute("UPDATE products SET price = 99 WHERE sku = 'sku-3'")
        conn.execute("DELETE FROM products WHERE sku = 'sku-4'")
        conn.execute(
            "INSERT INTO _streamdr_changes(tbl, op, pk, before, after, changed_at) "
            "VALUES ('products', 'insert', '{broken', NULL, NULL, 'x')"
        )
        conn.execute("INSERT INTO products VALUES ('sku-99', 1)")
        _, site = settings.site()
        topic = f"{prefix}.main.products"
        assert wait_until(lambda: len(list(read_topic("primary", site, topic))) >= 23, 60)
    finally:
        stop.set()
        thread.join(timeout=60)
    records = list(read_topic("primary", site, topic))
    ops = [json.loads(r.value())["op"] for r in records]
    assert ops.count("insert") == 21 and ops.count("update") == 1 and ops.count("delete") == 1
    assert len({header_map(r.headers())[EVENT_ID_HEADER] for r in records}) == 23
    update = next(json.loads(r.value()) for r in records if json.loads(r.value())["op"] == "update")
    assert update["before"]["price"] == 3.5 and update["after"]["price"] == 99
    dead = [entry_from_message(m) for m in read_topic("primary", site, f"{prefix}.dlq")]
    assert len(dead) == 1 and "malformed change row" in dead[0].letter.error
    checkpoint = read_checkpoint("primary", site, name)
    assert checkpoint is not None and checkpoint.kind == "sqlite" and checkpoint.position == 24
    left = conn.execute("SELECT COUNT(*) FROM _streamdr_changes").fetchone()[0]
    assert left == 0  # acknowledged rows are pruned only after the checkpoint
