"""Class archives (AppCDS) of the lab's JVMs: when a command maps one, records one, or neither."""

from pathlib import Path

from streamdr.lab.class_archive import ArchiveResult, _mm2_properties, ensure_class_archives
from streamdr.runtime.distribution import (
    BROKER_MAIN,
    MIRROR_MAKER_MAIN,
    STORAGE_TOOL_MAIN,
    KafkaRuntime,
    java_fingerprint,
)


def _runtime(tmp_path: Path, **kw) -> KafkaRuntime:
    java = tmp_path / "jdk" / "bin" / "java"
    java.parent.mkdir(parents=True, exist_ok=True)
    java.write_text("#!/bin/sh\n")
    return KafkaRuntime("4.1.2", tmp_path / "home", str(java), **kw)


def test_a_command_maps_its_main_class_archive_only_when_the_file_exists(tmp_path):
    runtime = _runtime(tmp_path)
    archive = runtime.class_archive(BROKER_MAIN)
    assert not any("SharedArchiveFile" in a for a in runtime.command(BROKER_MAIN, []))

    archive.parent.mkdir(parents=True)
    archive.write_bytes(b"archive")
    cmd = runtime.command(BROKER_MAIN, ["server.properties"])
    assert f"-XX:SharedArchiveFile={archive}" in cmd
    assert cmd.index(f"-XX:SharedArchiveFile={archive}") < cmd.index("-cp")  # a JVM option
    # Another main class has its own archive, not the broker's.
    assert not any("SharedArchiveFile" in a for a in runtime.command(STORAGE_TOOL_MAIN, []))


def test_a_training_runtime_records_only_the_main_classes_it_names(tmp_path):
    staging = tmp_path / "broker.jsa.tmp"
    runtime = _runtime(tmp_path, record=((BROKER_MAIN, staging),))
    runtime.class_archive(BROKER_MAIN).parent.mkdir(parents=True)
    runtime.class_archive(BROKER_MAIN).write_bytes(b"old")  # recording wins over mapping
    broker = runtime.command(BROKER_MAIN, [])
    assert f"-XX:ArchiveClassesAtExit={staging}" in broker
    assert not any("SharedArchiveFile" in a for a in broker)
    assert not any("ArchiveClassesAtExit" in a for a in runtime.command(STORAGE_TOOL_MAIN, []))
    assert not any("ArchiveClassesAtExit" in a for a in runtime.command(MIRROR_MAKER_MAIN, []))


def test_the_archive_name_changes_with_the_jvm(tmp_path):
    runtime = _runtime(tmp_path)
    before = runtime.class_archive(BROKER_MAIN)
    assert before.name.startswith(f"{BROKER_MAIN}-") and before.suffix == ".jsa"
    Path(runtime.java).write_text("#!/bin/sh\n# a JDK update\n")
    assert runtime.class_archive(BROKER_MAIN) != before
    assert java_fingerprint(runtime.java) == java_fingerprint(runtime.java)


def test_archives_in_place_are_returned_without_a_training_run(tmp_path):
    runtime = _runtime(tmp_path)
    for main in (BROKER_MAIN, MIRROR_MAKER_MAIN):
        runtime.class_archive(main).parent.mkdir(parents=True, exist_ok=True)
        runtime.class_archive(main).write_bytes(b"archive")
    # No jars and a fake java: a training run would fail, so none ran.
    assert ensure_class_archives(runtime) == [
        ArchiveResult(BROKER_MAIN, runtime.class_archive(BROKER_MAIN), recorded=False),
        ArchiveResult(MIRROR_MAKER_MAIN, runtime.class_archive(MIRROR_MAKER_MAIN), recorded=False),
    ]


def test_the_training_mm2_mirrors_one_single_broker_cluster_onto_itself():
    text = _mm2_properties("127.0.0.1:9092")
    props = dict(line.split(" = ", 1) for line in text.splitlines())
    assert props["src.bootstrap.servers"] == props["dst.bootstrap.servers"] == "127.0.0.1:9092"
    assert props["src->dst.enabled"] == "true" and props["dst->src.enabled"] == "false"
    assert props["plugin.discovery"] == "service_load"  # as the lab's MM2 runs
    assert all(v == "1" for k, v in props.items() if k.endswith("replication.factor"))


def test_the_benchs_baseline_runtime_maps_no_archive(tmp_path):
    runtime = _runtime(tmp_path, map_archives=False)
    runtime.class_archive(BROKER_MAIN).parent.mkdir(parents=True)
    runtime.class_archive(BROKER_MAIN).write_bytes(b"archive")
    assert not any("SharedArchiveFile" in a for a in runtime.command(BROKER_MAIN, []))
