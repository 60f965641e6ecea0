"""The metadata DB on PostgreSQL: several processes creating the schema of a new database at once.

Two serve replicas started together on an empty database both found the tables missing and the
second CREATE failed on PostgreSQL's catalog ("duplicate key … pg_type_typname_nsp_index").
"""

from __future__ import annotations

import subprocess
import sys
import uuid

from sqlalchemy import inspect

from streamdr.harness.local_postgres import LocalPostgres
from streamdr.store.db import MetadataStore
from streamdr.store.schema import metadata

PROCESSES = 4
OPEN_STORE = (
    "import sys; from streamdr.store.db import MetadataStore; MetadataStore(sys.argv[1]).engine"
)


def test_processes_creating_the_schema_at_once_all_succeed(postgres: LocalPostgres):
    name = f"schema_{uuid.uuid4().hex[:8]}"
    postgres.create_database(name)
    url = f"postgresql+psycopg://postgres@127.0.0.1:{postgres.port}/{name}"
    procs = [
        subprocess.Popen([sys.executable, "-c", OPEN_STORE, url], stderr=subprocess.PIPE, text=True)
        for _ in range(PROCESSES)
    ]
    failures = [p.communicate(timeout=120)[1] for p in procs if p.wait(timeout=120) != 0]
    assert not failures, failures[0][-600:]
    tables = set(inspect(MetadataStore(url).engine).get_table_names())
    assert {t.name for t in metadata.sorted_tables} <= tables
