"""Benchmark results read as hostile input; sizing cites its measurement or says there is none."""

import json

import pytest

from streamdr.cost.capacity import size_backup_workers, size_dr_cluster, size_mirrormaker
from streamdr.cost.measurements import read_measurements

REPLICATION = {
    "at": "2026-11-29T10:48:35+00:00",
    "benchmark": "replication",
    "mm2_tasks_max": 6,
    "drain": {"mm2_drain_per_s": 12000},
}
BACKUP = {
    "at": "2026-11-29T11:20:31+00:00",
    "benchmark": "backup_restore",
    "record_bytes": 500,
    "rounds": [{"backup": {"records_per_s": r}} for r in (10000, 20000, 40000)],
}
LAB = {"at": "2026-11-29T10:39:37+00:00", "benchmark": "lab_baseline", "produce_mb_per_s": 20.0}


def write(directory, name, *docs):
    lines = [d if isinstance(d, str) else json.dumps(d) for d in docs]
    (directory / name).write_text("\n".join(lines) + "\n")


def test_sizing_from_measurements_cites_file_line_and_date(tmp_path):
    write(
        tmp_path, "replication.jsonl", {**REPLICATION, "drain": {"mm2_drain_per_s": 1}}, REPLICATION
    )
    write(tmp_path, "backup_restore.jsonl", BACKUP)
    write(tmp_path, "lab_baseline.jsonl", LAB)
    m = read_measurements(tmp_path)
    assert m.problems == ()
    assert m.mm2_task_records_per_s.value == 2000 and m.mm2_task_records_per_s.line == 2
    tasks, instances = size_mirrormaker(10_000, m, headroom=0.3)
    assert tasks.needed == 7 and instances.needed == 2  # ceil(13000 / 2000), ceil(7 / 6)
    assert f"{tmp_path}/replication.jsonl:2 (2026-11-29T10:48:35+00:00)" in tasks.used[0].cite()
    rule, load = size_dr_cluster(9, 50e6, m, headroom=0.0)
    assert rule.needed == 6 and load.needed == 3  # ceil(50 / 20) = 3
    (workers,) = size_backup_workers(500e9, 4.0, m, headroom=0.0)
    assert workers.needed == 4  # 10 MB/s median x 4 h = 144 GB per worker; 500 / 144
    assert workers.used[0].at == "2026-11-29T11:20:31+00:00"


def test_no_measurement_sizes_nothing(tmp_path):
    m = read_measurements(tmp_path / "none")
    (mm2,) = size_mirrormaker(10_000, m, headroom=0.3)
    assert mm2.needed is None and "python -m bench.replication" in mm2.reasoning
    _rule, load = size_dr_cluster(9, 1e6, m, headroom=0.3)
    assert load.needed is None
    assert size_backup_workers(1e9, 4, m, 0.3)[0].needed is None


@pytest.mark.parametrize(
    "bad",
    [
        "{not json",
        json.dumps({"benchmark": "pipeline"}),
        json.dumps({**REPLICATION, "mm2_tasks_max": -6}),
        json.dumps({**REPLICATION, "mm2_tasks_max": True}),
        json.dumps({**REPLICATION, "drain": "fast"}),
        json.dumps([1, 2]),
    ],
)
def test_hostile_records_are_reported_and_not_used(tmp_path, bad):
    write(tmp_path, "replication.jsonl", bad)
    m = read_measurements(tmp_path)
    assert m.mm2_task_records_per_s is None
    assert any("replication.jsonl:1:" in p for p in m.problems), m.problems
