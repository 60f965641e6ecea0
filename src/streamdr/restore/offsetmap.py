"""The offset map of a restore: original offset → restored offset, per partition, as runs.

Original offsets may have holes (compaction, transaction markers, a time window); restored
offsets are dense (``base + i`` for the i-th restored record of a partition). A run is a
stretch where both grow by one, so an ordinary topic maps with one run per partition.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class OffsetRun:
    """``count`` records: original ``original + i`` was restored at ``restored + i``."""

    original: int
    restored: int
    count: int

    def as_list(self) -> list[int]:
        """Return ``[original, restored, count]`` (the stored form)."""
        return [self.original, self.restored, self.count]


class OffsetMapBuilder:
    """Collects the runs of one partition while records are restored in order."""

    def __init__(self) -> None:
        self.runs: list[OffsetRun] = []

    def add_range(self, originals: Iterable[int], restored_start: int) -> None:
        """Add records whose original offsets are ``originals`` (ascending), restored densely."""
        restored = restored_start
        run = self.runs.pop() if self.runs else None
        for original in originals:
            if (
                run is not None
                and original == run.original + run.count
                and (restored == run.restored + run.count)
            ):
                run = OffsetRun(run.original, run.restored, run.count + 1)
            else:
                if run is not None:
                    self.runs.append(run)
                run = OffsetRun(original, restored, 1)
            restored += 1
        if run is not None:
            self.runs.append(run)

    def add_contiguous(self, first_original: int, restored_start: int, count: int) -> None:
        """Add ``count`` records with consecutive original offsets (the common, fast case)."""
        if count <= 0:
            return
        last = self.runs[-1] if self.runs else None
        if (
            last
            and first_original == last.original + last.count
            and (restored_start == last.restored + last.count)
        ):
            self.runs[-1] = OffsetRun(last.original, last.restored, last.count + count)
        else:
            self.runs.append(OffsetRun(first_original, restored_start, count))


def translate_offset(runs: list[OffsetRun], committed: int, restored_end: int) -> int:
    """Return the restored position matching a group's committed (next-to-read) offset.

    The group resumes at the first restored record whose original offset is >= ``committed``;
    when every restored record is before it, at ``restored_end`` (the end of the restore).
    """
    starts = [r.original for r in runs]
    i = bisect.bisect_right(starts, committed) - 1
    if i >= 0 and committed < runs[i].original + runs[i].count:
        return runs[i].restored + (committed - runs[i].original)
    nxt = i + 1
    return runs[nxt].restored if nxt < len(runs) else restored_end


def runs_from_lists(items: Iterable[Iterable[int]]) -> list[OffsetRun]:
    """Return runs stored as ``[original, restored, count]`` lists."""
    return [OffsetRun(*(int(v) for v in item)) for item in items]
