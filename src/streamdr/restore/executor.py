"""The restore executor: prepare the target, produce, read back, restore group offsets.

Each step is recorded with timestamps in the metadata DB. A run that dies (killed, a site
or store unreachable) stays resumable: rerunning the same command continues it, and the
records already in the target are not produced again (see :mod:`streamdr.restore.produce`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from streamdr.backup.model import GroupsSnapshot
from streamdr.backup.records import gc_paused
from streamdr.backup.store import BackupStore
from streamdr.clock import utcnow
from streamdr.errors import InputError, StateError, StreamdrError
from streamdr.kafka.admin import ClusterMetadata, KafkaAdmin, TopicSpec
from streamdr.restore import state
from streamdr.restore.group_offsets import (
    GroupOffsetChange,
    apply_group_offsets,
    find_groups_snapshot,
    groups_to_restore,
    plan_group_offsets,
)
from streamdr.restore.groups import GroupAdmin
from streamdr.restore.plan import (
    PartitionPlan,
    RestorePlan,
    RestoreRequest,
    plan_from_dict,
    plan_restore,
)
from streamdr.restore.produce import (
    PartitionOutcome,
    PartitionRestorer,
    RecordProducer,
    window_filter,
)
from streamdr.restore.readback import ReadBack, ReadBackThread
from streamdr.settings.model import Settings
from streamdr.steps import Step, record_step
from streamdr.store.db import MetadataStore


class Progress(Protocol):
    """Where the executor reports progress (a rich progress bar in the CLI)."""

    def phase(self, name: str, total: int | None) -> Callable[[int], None]:
        """Start a phase with ``total`` records; return the function that counts records done.

        Phases may run at the same time (restore and read-back do).
        """
        ...


class NoProgress:
    """Progress that goes nowhere."""

    def phase(self, name: str, total: int | None) -> Callable[[int], None]:
        """Return a counter that ignores the records."""
        return lambda _records: None


@dataclass
class RestoreResult:
    """What a restore did and whether the read-back matched."""

    restore_id: int
    resumed: bool
    target_site: str
    target_topic: str
    created_topic: bool = False
    outcomes: list[PartitionOutcome] = field(default_factory=list)
    verification: dict[int, dict[str, Any]] = field(default_factory=dict)
    groups: list[GroupOffsetChange] = field(default_factory=list)
    steps: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def verified(self) -> bool:
        """Return True when every partition read back with the expected count and digest."""
        return bool(self.verification) and all(v["ok"] for v in self.verification.values())

    def as_dict(self) -> dict[str, Any]:
        """Return the result as one JSON-ready mapping."""
        return {
            "restore_id": self.restore_id,
            "resumed": self.resumed,
            "target_site": self.target_site,
            "target_topic": self.target_topic,
            "created_topic": self.created_topic,
            "verified": self.verified,
            "records": sum(o.planned for o in self.outcomes),
            "produced": sum(o.produced for o in self.outcomes),
            "skipped_already_restored": sum(o.skipped for o in self.outcomes),
            "seconds": round(self.seconds, 3),
            "partitions": [
                {
                    "partition": o.partition,
                    "base_offset": o.base,
                    "records": o.planned,
                    "produced": o.produced,
                    "skipped": o.skipped,
                    "digest": o.digest,
                    "offset_map": [r.as_list() for r in o.runs],
                    "verification": self.verification.get(o.partition),
                }
                for o in self.outcomes
            ],
            "groups": [g.as_dict() for g in self.groups],
            "steps": self.steps,
        }


class RestoreExecutor:
    """Plans and runs restores from one backup store."""

    def __init__(
        self,
        settings: Settings,
        db: MetadataStore,
        store: BackupStore,
        progress: Progress | None = None,
        *,
        parallel: int = 1,
    ) -> None:
        if parallel < 1:
            raise InputError(f"--parallel must be at least 1, not {parallel}")
        self.settings = settings
        self.db = db
        self.store = store
        self.progress = progress or NoProgress()
        self.parallel = parallel

    # ----- planning ----------------------------------------------------------------------
    def prepare(self, request: RestoreRequest, now: datetime | None = None) -> RestorePlan:
        """Return the plan with exact expected counts; raises InputError for bad requests."""
        now = now or utcnow()
        self.settings.site(request.to_site)
        entries = self.store.manifests(request.topic)
        if not entries:
            known = self.store.topics()
            raise InputError(
                f"there is no backup of topic {request.topic!r} in "
                f"{self.store.name}:{self.store.prefix}",
                hint=f"Backed-up topics: {', '.join(known[:20]) or 'none'} (`backup list`).",
            )
        info = self.store.latest_topic_info(request.topic)
        bounds = {tp.partition: b for tp, b in self.store.bounds(request.topic).items()}
        where = {"store": self.store.name, "prefix": self.store.prefix}
        rough = plan_restore(entries, request, info, now=now, bounds=bounds, **where)
        counts = self._count_in_window(rough)
        plan = plan_restore(entries, request, info, now=now, counts=counts, bounds=bounds, **where)
        groups_to_restore(
            self._snapshot(request), request.topic, request.groups, request.all_groups
        )
        return plan

    def _count_in_window(self, plan: RestorePlan) -> dict[str, int]:
        """Return the in-window record count of each file only partly inside the window."""
        window = plan.request.window
        counts = {}
        for planned in plan.files:
            if planned.whole or planned.entry.key is None:
                continue
            n = 0
            for batch in self.store.batches(planned.entry, columns=["timestamp"]):
                n += window_filter(batch, window).num_rows
            counts[planned.entry.key] = n
        return counts

    # ----- execution ---------------------------------------------------------------------
    def execute(self, plan: RestorePlan, *, restart: bool = False) -> RestoreResult:
        """Run ``plan`` (or resume the unfinished run of the same request).

        With ``restart`` an unfinished run into the same topic is abandoned instead. Raises
        StateError for a non-empty target without --force, or when an unfinished restore of
        another request targets the same topic.
        """
        request = plan.request
        _, site = self.settings.site(request.to_site)
        admin = KafkaAdmin(request.to_site, site)
        started = time.monotonic()
        unfinished = state.find_unfinished(self.db, request.to_site, request.target_topic)
        if unfinished is not None and restart:
            state.update_run(self.db, unfinished.id, status="abandoned")
            unfinished = None
        if unfinished is not None and unfinished.request != request.as_dict():
            raise StateError(
                f"restore #{unfinished.id} into {request.target_topic!r} on {request.to_site!r} "
                "is unfinished and was asked with other arguments",
                hint="Rerun it with the same arguments to finish it, or pass --restart to "
                "abandon it (delete what it wrote to the topic first, or add --force).",
            )
        result = RestoreResult(0, unfinished is not None, request.to_site, request.target_topic)
        if unfinished is not None:
            result.restore_id, base = unfinished.id, unfinished.base_offsets
            plan = plan_from_dict(unfinished.plan, request)
            result.steps = unfinished.steps
        else:
            with self._step(result, "prepare target topic") as st:
                base, result.created_topic = self._prepare_target(admin, plan)
                st.detail = ("created" if result.created_topic else "existing") + f", base {base}"
            result.restore_id = state.create_run(self.db, request.as_dict(), plan.as_dict(), base)
            state.update_run(self.db, result.restore_id, steps=result.steps)
        try:
            self._run(admin, plan, base, result)
        except BaseException:
            state.update_run(self.db, result.restore_id, status="interrupted", steps=result.steps)
            raise
        result.seconds = time.monotonic() - started
        status = "done" if result.verified else "failed"
        state.finish_run(self.db, result.restore_id, status, result.as_dict())
        return result

    def _run(
        self, admin: KafkaAdmin, plan: RestorePlan, base: dict[int, int], result: RestoreResult
    ) -> None:
        # The read-back runs while records are produced: it follows them as they are
        # acknowledged, so verification costs little extra time when a core is free.
        ranges = {
            p.partition: (base[p.partition], base[p.partition] + (p.expected or 0))
            for p in plan.partitions
        }
        _, site = self.settings.site(plan.request.to_site)
        reader = ReadBackThread(
            site, plan.request.target_topic, ranges, self.progress.phase("verify", plan.expected)
        )
        reader.start()
        try:
            with self._step(result, "produce records") as st:
                result.outcomes = self._produce(admin, plan, base)
                st.detail = (
                    f"{sum(o.produced for o in result.outcomes)} produced, "
                    f"{sum(o.skipped for o in result.outcomes)} already restored"
                )
        except BaseException:
            reader.stop.set()
            raise
        finally:
            reader.writing.clear()
        with self._step(result, "read back and verify") as st:
            back = reader.result()
            result.verification = self._verify(admin, plan, result.outcomes, back)
            bad = [p for p, v in result.verification.items() if not v["ok"]]
            st.detail = f"mismatch on partitions {bad}" if bad else "counts and digests match"
        if not result.verified:
            return
        request = plan.request
        if request.groups or request.all_groups:
            with self._step(result, "restore consumer-group offsets") as st:
                result.groups = self._restore_groups(admin, plan, result.outcomes)
                st.detail = f"{len({g.group for g in result.groups})} groups"

    def _prepare_target(self, admin: KafkaAdmin, plan: RestorePlan) -> tuple[dict[int, int], bool]:
        """Create the target if missing, refuse a non-empty one; return base offsets."""
        name = plan.request.target_topic
        need = max(p.partition for p in plan.partitions) + 1
        existing = admin.topic(name)
        created = existing is None
        if existing is None:
            brokers = len(admin.metadata().brokers)
            rf = max(1, min(plan.topic.replication_factor, brokers))
            admin.create_topics([TopicSpec(name, plan.topic.partitions, rf, plan.topic.config)])
            admin.wait_until(
                lambda md: _ready(md, name, plan.topic.partitions), timeout=60, what=f"topic {name}"
            )
        elif len(existing.partitions) < need:
            raise InputError(
                f"target topic {name!r} has {len(existing.partitions)} partitions; the restore "
                f"needs partition {need - 1}",
                hint="Records keep their partition number: add partitions or use --to-topic.",
            )
        else:
            starts, ends = admin.start_offsets(name), admin.end_offsets(name)
            held = sum(ends[p] - starts[p] for p in ends)
            if held and not plan.request.force:
                raise StateError(
                    f"target topic {name!r} on site {plan.request.to_site!r} is not empty "
                    f"({held} records)",
                    hint="Restore into another --to-topic, delete the topic, or pass --force to "
                    "append after its current records.",
                )
        return _end_offsets_when_ready(admin, name), created

    def _produce(
        self, admin: KafkaAdmin, plan: RestorePlan, base: dict[int, int]
    ) -> list[PartitionOutcome]:
        name = plan.request.target_topic
        ends = admin.end_offsets(name)
        _, site = self.settings.site(plan.request.to_site)
        producer = RecordProducer(site, name)
        advance = self.progress.phase("restore", plan.expected)
        restorer = PartitionRestorer(self.store, producer, plan.request.window, advance)
        already = {}
        for part in plan.partitions:
            already[part.partition] = ends.get(part.partition, 0) - base[part.partition]
            if already[part.partition] < 0:
                raise StateError(
                    f"target partition {part.partition} ends before the restore's base "
                    "offset: the topic was deleted or truncated since the restore began",
                    hint="Restore again into a new --to-topic.",
                )

        def one(part: PartitionPlan) -> PartitionOutcome:
            return restorer.restore(part, base[part.partition], already[part.partition])

        # One thread per partition at a time: a partition's records are still produced in
        # order by one thread, which is what keeps the i-th record at base + i (resumable).
        with gc_paused(), ThreadPoolExecutor(self.parallel, "restore") as pool:
            outcomes = list(pool.map(one, plan.partitions))
            producer.flush()
        return outcomes

    def _verify(
        self,
        admin: KafkaAdmin,
        plan: RestorePlan,
        outcomes: list[PartitionOutcome],
        back: dict[int, ReadBack],
    ) -> dict[int, dict[str, Any]]:
        ends = admin.end_offsets(plan.request.target_topic)
        report = {}
        for o in outcomes:
            rb = back.get(o.partition) or ReadBack(o.partition, 0, "")
            extra = ends.get(o.partition, 0) - o.restored_end
            ok = rb.count == o.planned and rb.digest == o.digest and extra == 0
            report[o.partition] = {
                "ok": ok,
                "expected": o.planned,
                "read_back": rb.count,
                "digest_match": rb.digest == o.digest,
                "records_after_restore": extra,
            }
        return report

    def _restore_groups(
        self, admin: KafkaAdmin, plan: RestorePlan, outcomes: list[PartitionOutcome]
    ) -> list[GroupOffsetChange]:
        request = plan.request
        snapshot = self._snapshot(request)
        groups = groups_to_restore(snapshot, request.topic, request.groups, request.all_groups)
        if snapshot is None or not groups:
            return []
        maps = {o.partition: (o.runs, o.restored_end) for o in outcomes}
        changes = plan_group_offsets(snapshot, groups, request.topic, request.target_topic, maps)
        apply_group_offsets(GroupAdmin(admin), changes)
        return changes

    def _snapshot(self, request: RestoreRequest) -> GroupsSnapshot | None:
        if not (request.groups or request.all_groups):
            return None
        return find_groups_snapshot(
            self.store, request.topic, request.groups, request.all_groups, request.groups_snapshot
        )

    @contextmanager
    def _step(self, result: RestoreResult, name: str) -> Iterator[Step]:
        """Record a step of the restore, saved with the run when it ends (failed or not)."""

        def save(step: Step) -> None:
            result.steps.append(step.as_dict())
            if result.restore_id:
                state.update_run(self.db, result.restore_id, steps=result.steps)

        with record_step([], name, save, describe=str) as step:
            yield step


def _end_offsets_when_ready(
    admin: KafkaAdmin, name: str, timeout_s: float = 30.0
) -> dict[int, int]:
    """Return the end offsets of a topic, retrying while a new topic is still propagating."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return admin.end_offsets(name)
        except StreamdrError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _ready(md: ClusterMetadata, name: str, partitions: int) -> bool:
    topic = md.topics.get(name)
    return (
        topic is not None
        and len(topic.partitions) == partitions
        and all(not p.offline for p in topic.partitions)
    )
