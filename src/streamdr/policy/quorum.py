"""The KRaft controller quorum, described by Kafka's own MetadataQuorumCommand.

confluent-kafka has no DescribeQuorum call, so streamdr runs the official tool from the runtime
jars (``describe --replication``) and parses its table. Staleness is judged on the leader's clock
(its own LastFetchTimestamp), never this machine's, so clock skew cannot fake a healthy voter.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from streamdr.kafka.config import java_client_properties
from streamdr.runtime.distribution import QUORUM_TOOL_MAIN, KafkaRuntime
from streamdr.settings.model import SiteSettings

STALE_AFTER_MS = 10_000


@dataclass(frozen=True)
class QuorumMember:
    """One row of ``describe --replication``."""

    node_id: int
    log_end_offset: int
    lag: int
    last_fetch_ms: int
    last_caught_up_ms: int
    status: str  # Leader, Follower or Observer


@dataclass(frozen=True)
class QuorumStatus:
    """The quorum as the leader sees it, or the error that prevented describing it."""

    members: tuple[QuorumMember, ...] = ()
    error: str | None = None

    @property
    def leader(self) -> QuorumMember | None:
        """Return the leader row, if any."""
        return next((m for m in self.members if m.status == "Leader"), None)

    @property
    def voters(self) -> tuple[QuorumMember, ...]:
        """Return the voter rows (leader and followers)."""
        return tuple(m for m in self.members if m.status in ("Leader", "Follower"))

    def lagging_voters(self, stale_after_ms: int = STALE_AFTER_MS) -> list[int]:
        """Return ids of voters that have not caught up within ``stale_after_ms`` of the leader."""
        leader = self.leader
        if leader is None:
            return [m.node_id for m in self.voters]
        return [
            m.node_id
            for m in self.voters
            if m.lag > 0 and leader.last_fetch_ms - m.last_caught_up_ms > stale_after_ms
        ]


def parse_replication_table(text: str) -> tuple[QuorumMember, ...]:
    """Return the rows of MetadataQuorumCommand ``describe --replication`` output.

    Raises ValueError when the header is missing.
    """
    lines = [line for line in text.splitlines() if line.strip()]
    header_at = next((i for i, line in enumerate(lines) if line.startswith("NodeId")), None)
    if header_at is None:
        raise ValueError("no NodeId header in quorum tool output")
    header = [h.strip() for h in lines[header_at].split("\t") if h.strip()]
    rows = []
    for line in lines[header_at + 1 :]:
        cells = dict(zip(header, (c.strip() for c in line.split("\t")), strict=False))
        if not cells.get("NodeId", "").lstrip("-").isdigit():
            continue
        rows.append(
            QuorumMember(
                node_id=int(cells["NodeId"]),
                log_end_offset=int(cells.get("LogEndOffset") or -1),
                lag=int(cells.get("Lag") or 0),
                last_fetch_ms=int(cells.get("LastFetchTimestamp") or -1),
                last_caught_up_ms=int(cells.get("LastCaughtUpTimestamp") or -1),
                status=cells.get("Status", ""),
            )
        )
    return tuple(rows)


def describe_quorum(
    runtime: KafkaRuntime, site: SiteSettings, *, timeout: float = 90.0
) -> QuorumStatus:
    """Return the quorum of ``site`` (never raises: failures are in ``error``).

    The limit is generous because the tool is a fresh JVM: on a busy 2-vCPU host its start-up
    alone took 37 to 49 s, and a 30 s limit failed `check` on a healthy quorum.
    """
    props = java_client_properties(site)
    with tempfile.TemporaryDirectory() as tmp:
        conf = Path(tmp) / "client.properties"
        # Holds a SASL password when the site uses one: private to this user.
        conf.touch(mode=0o600)
        conf.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        cmd = runtime.command(
            QUORUM_TOOL_MAIN,
            [
                "--bootstrap-server",
                site.bootstrap_servers,
                "--command-config",
                str(conf),
                "describe",
                "--replication",
            ],
            heap_mb=128,
            log_dir=Path(tmp),
        )
        try:
            done = subprocess.run(
                cmd,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
                env={**os.environ, "KAFKA_LOG4J_OPTS": ""},
            )
        except subprocess.TimeoutExpired:
            return QuorumStatus(error=f"quorum tool timed out after {timeout:.0f}s")
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return QuorumStatus(error=f"quorum tool failed: {last[:300]}")
    try:
        return QuorumStatus(parse_replication_table(done.stdout))
    except ValueError as exc:
        return QuorumStatus(error=str(exc))
