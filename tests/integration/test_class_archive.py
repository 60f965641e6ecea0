"""The class archives `make setup` records are complete and mapped by the lab's JVMs."""

from pathlib import Path

from streamdr.lab.class_archive import _check
from streamdr.runtime.distribution import BROKER_MAIN, MIRROR_MAKER_MAIN, ensure_runtime


def _cmdline(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")


def test_the_session_labs_brokers_map_the_recorded_broker_archive(lab):
    archive = lab.runtime.class_archive(BROKER_MAIN)
    assert archive.is_file(), "`streamdr lab install` (make setup) records it"
    pids = [n.pid for n in lab.status() if n.pid]
    assert pids and all(f"-XX:SharedArchiveFile={archive}" in _cmdline(p) for p in pids)


def test_recorded_archives_pass_the_check_and_a_truncated_one_does_not(tmp_path):
    runtime = ensure_runtime()
    for main in (BROKER_MAIN, MIRROR_MAKER_MAIN):
        assert _check(runtime, main, runtime.class_archive(main)) is None
    # A JVM that maps a truncated archive crashes: such a file must never be renamed in place.
    truncated = tmp_path / "truncated.jsa"
    truncated.write_bytes(runtime.class_archive(BROKER_MAIN).read_bytes()[:100_000])
    problem = _check(runtime, BROKER_MAIN, truncated)
    assert problem is not None and "could not map" in problem
