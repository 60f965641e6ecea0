"""Scenario 3: the config branch lost commits (force push, hard reset); put them back.

The plan is pure. Its inputs are the branch head, the deployed commits recorded in the metadata
DB (newest first), the reflog, and two questions to the repository (is an object present, is
one commit an ancestor of another). The last known-good commit is the newest deployed commit
(its object must still exist). When the branch no longer contains it, the target is the newest
reflog entry that descends from it (the tip the branch had before the incident, so undeployed
work is not lost either), or the deployed commit itself with ``prefer_deployed``. When the
objects are gone too (garbage collected), the deployed files are rebuilt from the metadata DB's
snapshot as a new commit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import partial
from typing import Any

from streamdr.errors import StateError
from streamdr.workflows.repo import ReflogEntry


class TargetSource(StrEnum):
    """Where the recovery target came from."""

    NONE = "none"
    REFLOG = "reflog"
    DEPLOYMENT = "deployment"
    SNAPSHOT = "snapshot"
    EXPLICIT = "explicit"


@dataclass(frozen=True)
class RecoveryPlan:
    """What `config recover` would do to the branch."""

    branch: str
    head: str | None
    last_deployed: str | None
    target: str | None
    source: TargetSource
    needed: bool
    reason: str
    candidates: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """Return the plan as a JSON-ready mapping."""
        return {
            "branch": self.branch,
            "head": self.head,
            "last_deployed": self.last_deployed,
            "target": self.target,
            "source": str(self.source),
            "needed": self.needed,
            "reason": self.reason,
            "reflog_candidates": list(self.candidates),
        }


def plan_recovery(
    branch: str,
    head: str | None,
    deployed: Sequence[str],
    reflog: Sequence[ReflogEntry],
    present: Callable[[str], bool],
    is_ancestor: Callable[[str, str], bool],
    *,
    explicit: str | None = None,
    prefer_deployed: bool = False,
) -> RecoveryPlan:
    """Return the recovery plan; raises StateError when nothing was ever deployed."""
    plan = partial(RecoveryPlan, branch, head)
    if explicit is not None:
        return plan(
            None, explicit, TargetSource.EXPLICIT, head != explicit, "target given with --to"
        )
    if not deployed:
        raise StateError(
            "no deployment is recorded, so there is no known-good commit",
            hint="Pick the commit from `git reflog` and pass it with --to REV.",
        )
    last = deployed[0]
    if not present(last):
        reason = (
            f"deployed commit {last[:12]} is gone from the repository; the deployed files will "
            "be rebuilt from the metadata DB snapshot"
        )
        return plan(last, None, TargetSource.SNAPSHOT, True, reason)
    if head is not None and is_ancestor(last, head):
        return _intact(plan, last, head, reflog, present, is_ancestor)
    candidates = tuple(_descendants(last, reflog, present, is_ancestor))
    lost = f"the branch lost the deployed commit {last[:12]}"
    if prefer_deployed or not candidates or candidates[0] == last:
        return plan(last, last, TargetSource.DEPLOYMENT, True, f"{lost}; restoring it", candidates)
    reason = f"{lost}; restoring the newest reflog tip that contains it ({candidates[0][:12]})"
    return plan(last, candidates[0], TargetSource.REFLOG, True, reason, candidates)


def _intact(
    plan: Callable[..., RecoveryPlan],
    last: str,
    head: str,
    reflog: Sequence[ReflogEntry],
    present: Callable[[str], bool],
    is_ancestor: Callable[[str, str], bool],
) -> RecoveryPlan:
    """Return the plan for a branch that still has the deployed commit.

    Newer reflog tips may have been dropped, but that can be deliberate (discarding undeployed
    work), so they are only reported.
    """
    newer = [c for c in _descendants(head, reflog, present, is_ancestor) if c != head]
    reason = f"the branch contains the deployed commit {last[:12]}; nothing deployed was lost"
    if newer:
        reason += (
            f"; the reflog holds {len(newer)} newer tips the branch no longer has "
            f"(newest {newer[0][:12]}); restore one with --to if that was not deliberate"
        )
    return plan(last, None, TargetSource.NONE, False, reason, tuple(newer))


def _descendants(
    last: str,
    reflog: Sequence[ReflogEntry],
    present: Callable[[str], bool],
    is_ancestor: Callable[[str, str], bool],
) -> list[str]:
    """Return reflog commits (newest first, once each) that contain ``last``."""
    seen: list[str] = []
    for entry in reflog:
        if entry.sha in seen or not present(entry.sha):
            continue
        if is_ancestor(last, entry.sha):
            seen.append(entry.sha)
    return seen
