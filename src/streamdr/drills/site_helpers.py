"""Helpers of the site-failover drills: lab access, waiting, site health, loop checks."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streamdr.drills.context import DrillContext
from streamdr.drills.pipeline_rig import PipelineRig
from streamdr.drills.site_pipeline import SitePipeline
from streamdr.errors import InputError, StreamdrError
from streamdr.harness.source_db import current_wal_lsn, slot_confirmed_past
from streamdr.kafka.admin import KafkaAdmin
from streamdr.lab.cluster import Lab
from streamdr.replication.mm2.internal_topics import describe_group, read_checkpoints
from streamdr.replication.mm2.offset_translation import last_checkpoints
from streamdr.replication.mm2.runner import Mm2Runner
from streamdr.replication.topology import Topology, existing_only

ISR_TIMEOUT_S = 300.0
LOOP_REST_S = 5.0  # several MM2 refresh and emit intervals of the lab


@dataclass
class DrillEnv:
    """Names and handles of one site-failover drill run."""

    victim: str
    survivor: str
    topic: str
    group: str
    scope: str
    runner: Mm2Runner
    rig: PipelineRig
    workload: SitePipeline
    topology: Topology
    mm2_since_ms: int = 0  # when the drill's MM2 was started (its heartbeats count from there)


def lab_of(ctx: DrillContext) -> Lab:
    """Return the lab of ``ctx``; raises InputError when the sites are not two lab sites."""
    site = ctx.settings.sites.get(ctx.site)
    if not ctx.settings.lab_dir or site is None or not site.lab or len(ctx.settings.sites) != 2:
        raise InputError(
            "the site-failover drills kill a whole site, which streamdr can only do on the lab "
            "(two lab sites)",
            hint="Run it against `streamdr lab up`'s settings (or use `streamdr failover` "
            "by hand on real sites).",
        )
    if ctx.settings.source is None:
        raise InputError("the drill needs settings loaded from a file", hint="Pass --config.")
    return Lab(Path(ctx.settings.lab_dir))


def site_admin(ctx: DrillContext, site: str) -> KafkaAdmin:
    """Return an admin client of ``site``."""
    return KafkaAdmin(site, ctx.settings.sites[site], timeout=10.0)


def checkpointed(ctx: DrillContext, env: DrillEnv) -> bool:
    """Return True once MM2 checkpointed the drill group on the survivor."""
    topic = env.topology.names.checkpoints_topic(env.victim)
    try:
        cps = read_checkpoints(env.survivor, ctx.settings.sites[env.survivor], topic).records
    except StreamdrError:
        return False
    return bool(last_checkpoints(cps, env.group))


def group_empty(ctx: DrillContext, site: str, group: str) -> bool:
    """Return True when ``group`` has no members on ``site``."""
    try:
        return not describe_group(site_admin(ctx, site), group).active
    except StreamdrError:
        return False


def survivor_drained(ctx: DrillContext, env: DrillEnv) -> bool:
    """Return True when the survivor's group committed the end of the victim's remote copy."""
    remote = env.topology.names.remote_topic(env.victim, env.topic)
    admin = site_admin(ctx, env.survivor)
    try:
        ends = admin.end_offsets(remote)
        committed = describe_group(admin, env.group).offsets
    except StreamdrError:
        return False
    return all(committed.get((remote, p), 0) >= end for p, end in ends.items() if end > 0)


def wal_marks(env: DrillEnv) -> dict[str, str | None]:
    """Return each source database's current WAL position (None: the server did not answer)."""
    return {
        src.dbname: current_wal_lsn(env.rig.db.dsn(src.dbname)) for src in env.rig.sources.values()
    }


def cdc_passed(env: DrillEnv, marks: dict[str, str | None]) -> bool:
    """Return True when every source's slot is confirmed past its mark (Kafka has those rows)."""
    return all(
        lsn is not None and slot_confirmed_past(env.rig.db.dsn(db), db, lsn)
        for db, lsn in marks.items()
    )


def survivor_ends(ctx: DrillContext, env: DrillEnv) -> dict[tuple[str, int], int] | None:
    """Return the end offsets of every copy of the drill topic on the survivor (None: no answer)."""
    admin = site_admin(ctx, env.survivor)
    names = env.topology.names
    try:
        topics = [t for t in admin.metadata().topics if names.original_topic(t) == env.topic]
        return {(t, p): end for t in topics for p, end in admin.end_offsets(t).items()}
    except StreamdrError:
        return None


def survivor_reached(ctx: DrillContext, env: DrillEnv, ends: dict[tuple[str, int], int]) -> bool:
    """Return True when the survivor's group committed at least ``ends`` (commit after durable)."""
    try:
        committed = describe_group(site_admin(ctx, env.survivor), env.group).offsets
    except StreamdrError:
        return False
    return all(committed.get(tp, 0) >= end for tp, end in ends.items() if end > 0)


def present(ctx: DrillContext, site: str, subs: dict[str, list[str]]) -> dict[str, list[str]]:
    """Return ``subs`` keeping only topics that exist on ``site``."""
    existing = set(site_admin(ctx, site).metadata().topics)
    return existing_only(subs, existing)


def wait_isr(ctx: DrillContext, site: str) -> None:
    """Wait until ``site`` has 3 brokers and no partition is under-replicated or offline."""
    admin = site_admin(ctx, site)
    admin.wait_until(
        lambda md: (
            len(md.brokers) >= 3
            and all(
                not p.under_replicated and not p.offline
                for t in md.topics.values()
                for p in t.partitions
            )
        ),
        timeout=ISR_TIMEOUT_S,
        what=f"full ISR on {site}",
    )


def loop_check(ctx: DrillContext, env: DrillEnv) -> list[str]:
    """Return loop topics, or a note when drill topics keep growing at rest (empty: fine)."""
    names, sites = env.topology.names, env.topology.sites
    problems, counts = [], []
    for i in range(2):
        if i:
            time.sleep(LOOP_REST_S)  # between the two counts only: nothing to wait for after
        total = 0
        for site in sites:
            admin = site_admin(ctx, site)
            topics = admin.metadata().topics
            problems += [f"{site}:{t}" for t in topics if names.is_loop_topic(t, site, sites)]
            for t in topics:
                if names.original_topic(t) == env.topic:
                    total += sum(admin.end_offsets(t).values())
        counts.append(total)
    if counts[0] != counts[1]:
        problems.append(f"drill topics still growing at rest: {counts[0]} → {counts[1]} records")
    return sorted(set(problems))


def steps_line(result: dict[str, Any]) -> str:
    """Return the executor's steps and durations on one line; a failed step says why."""
    return ", ".join(_step_text(s) for s in result["steps"])


def _step_text(step: dict[str, Any]) -> str:
    text = f"{step['name']} {step['seconds']}s"
    return text if step["status"] != "failed" else f"{text} FAILED ({step['detail']})"


def summary(result: dict[str, Any]) -> dict[str, Any]:
    """Return the parts of an executor result a drill report keeps."""
    keys = (
        "run_id",
        "passed",
        "rto_seconds",
        "rpo_seconds_estimate",
        "messages_not_replicated_estimate",
        "lag_sample_age_seconds",
    )
    return {k: result.get(k) for k in keys} | {
        "steps": [
            {k: s[k] for k in ("name", "seconds", "status")}
            | ({"detail": s["detail"]} if s["status"] == "failed" else {})
            for s in result["steps"]
        ],
        "validation_failures": result.get("validation", {}).get("failures", []),
    }
