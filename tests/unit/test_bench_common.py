"""The benches' shared helpers: a lab always taken down unless kept (no lab here), /proc reads."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import ClassVar

import pytest
from bench._common import add_lab_arguments, bench_lab, rss_mib


class FakeLab:
    """Records what the bench did to its lab."""

    made: ClassVar[list[FakeLab]] = []

    def __init__(self, path: Path) -> None:
        self.path = path
        self.calls: list[str] = []
        FakeLab.made.append(self)

    def up(self) -> None:
        self.calls.append("up")

    def down(self, *, purge: bool = False) -> int:
        self.calls.append(f"down purge={purge}")
        return 0


def _failing_up(lab: FakeLab) -> None:
    lab.calls.append("up")
    raise RuntimeError("a broker did not start")


def test_a_temporary_lab_is_purged_and_its_directory_removed(tmp_path):
    with bench_lab(None, up=FakeLab.up, make_lab=FakeLab) as lab:  # type: ignore[arg-type]
        scratch = lab.path.parent
        assert scratch.is_dir() and lab.calls == ["up"]
    assert lab.calls == ["up", "down purge=True"]
    assert not scratch.exists()


def test_a_lab_that_fails_to_come_up_is_still_taken_down(tmp_path):
    with (
        pytest.raises(RuntimeError, match="did not start"),
        bench_lab(tmp_path / "lab", up=_failing_up, make_lab=FakeLab),  # type: ignore[arg-type]
    ):
        pytest.fail("the body must not run when the lab is not up")
    assert FakeLab.made[-1].calls == ["up", "down purge=True"]


def test_a_failing_bench_takes_the_lab_down_but_a_kept_lab_stays(tmp_path):
    with (
        pytest.raises(KeyError),
        bench_lab(tmp_path / "lab", up=FakeLab.up, make_lab=FakeLab) as lab,  # type: ignore[arg-type]
    ):
        raise KeyError("measurement failed")
    assert lab.calls[-1] == "down purge=True"
    with bench_lab(tmp_path / "kept", keep=True, up=FakeLab.up, make_lab=FakeLab) as kept:  # type: ignore[arg-type]
        pass
    assert kept.calls == ["up"] and kept.path == tmp_path / "kept"


def test_lab_arguments_default_to_the_benchs_directory():
    parser = argparse.ArgumentParser()
    add_lab_arguments(parser, Path("/tmp/bench-lab-4"))
    args = parser.parse_args([])
    assert args.lab_dir == Path("/tmp/bench-lab-4") and args.keep_lab is False
    assert parser.parse_args(["--lab-dir", "/x", "--keep-lab"]).keep_lab is True


def test_rss_of_a_live_process_and_of_one_that_is_gone():
    assert 0 < rss_mib(os.getpid()) <= rss_mib(os.getpid(), "VmHWM")
    assert rss_mib(2**22 + 12345) == 0.0  # above pid_max's default: no such process
