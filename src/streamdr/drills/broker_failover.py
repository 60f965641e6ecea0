"""Drill ``broker-failover``: SIGKILL the leader of a live partition; RTO < 60 s, RPO = 0.

Steady acks=all idempotent traffic runs through a fresh RF-3 topic while a consumer reads it.
The leader of partition 0 is killed; RTO is kill → first acknowledged produce and first consume
of a record sent after the kill, on the partitions that broker led. After a short steady period
the producer stops, the consumer drains, and every acknowledged record must have been consumed.
The broker is then restarted and ``catch_up_seconds`` measures until the ISR is full again.
"""

from __future__ import annotations

import time
import uuid

from streamdr.drills.context import DrillContext
from streamdr.drills.faults import BrokerFaults, faults_for
from streamdr.drills.measure import (
    duplicate_count,
    first_ack_after,
    lost_records,
    recovery_time,
    rpo_seconds,
)
from streamdr.drills.report import DrillReport
from streamdr.drills.traffic import Traffic
from streamdr.errors import StateError
from streamdr.kafka.admin import ClusterMetadata, KafkaAdmin, TopicSpec
from streamdr.policy.tiers import DRILL_TARGETS

PARTITIONS = 3
RATE_PER_S = 200.0
WARMUP_S = 3.0
RECOVERY_TIMEOUT_S = 90.0
STEADY_AFTER_RECOVERY_S = 3.0
CATCH_UP_TIMEOUT_S = 120.0


class BrokerFailoverDrill:
    """Kill the leader broker of partition 0 under load and measure recovery."""

    name = "broker-failover"
    description = "SIGKILL the leader of a partition under acks=all load; RTO < 60 s, RPO = 0"
    targets = DRILL_TARGETS["broker-failover"]

    def run(self, ctx: DrillContext, report: DrillReport) -> DrillReport:
        """Run the drill on ``ctx.site`` and fill ``report``."""
        _, site = ctx.settings.site(ctx.site)
        faults = faults_for(ctx.settings, ctx.site)
        admin = KafkaAdmin(ctx.site, site)
        topic = f"streamdr.drill.broker-failover.{uuid.uuid4().hex[:8]}"
        with report.step("preflight: all brokers up, create RF-3 topic") as st:
            md = admin.metadata()
            _require_healthy(md)
            admin.create_topics([TopicSpec(topic, PARTITIONS, 3, {"min.insync.replicas": "2"})])
            admin.wait_until(lambda m: _topic_ready(m, topic), timeout=30, what=f"topic {topic}")
            st.detail = f"topic {topic}, {len(md.brokers)} brokers"
        try:
            self._fault_and_measure(ctx, report, admin, faults, topic)
        finally:
            with report.step("clean up drill topic"):
                admin.delete_topics([topic])
        return report

    def _fault_and_measure(
        self,
        ctx: DrillContext,
        report: DrillReport,
        admin: KafkaAdmin,
        faults: BrokerFaults,
        topic: str,
    ) -> None:
        _, site = ctx.settings.site(ctx.site)
        traffic = Traffic(site, topic, PARTITIONS, rate=RATE_PER_S)
        with report.step("start steady traffic (acks=all, idempotent)") as st:
            traffic.start()
            time.sleep(WARMUP_S)
            st.detail = f"{len(traffic.received())} records consumed during warm-up"
        state = admin.topic(topic)
        if state is None:
            raise StateError(f"drill topic {topic} disappeared", hint="Check the broker logs.")
        victim = state.partitions[0].leader
        affected = {p.partition for p in state.partitions if p.leader == victim}
        host = next((b.host for b in admin.metadata().brokers if b.node_id == victim), "")
        with report.step(f"SIGKILL broker {victim} (leader of partition 0)") as st:
            fault_at = time.time()
            faults.kill(victim, host)
            st.detail = f"partitions led by it: {sorted(affected)}"
        try:
            rto = self._recover(report, traffic, fault_at, affected)
        except BaseException:
            # Never leave the site a broker short because the drill itself failed.
            faults.start(victim, host)
            traffic.stop_producing()
            traffic.drain(timeout=0)
            raise
        with report.step(f"restart broker {victim}, wait for full ISR") as st:
            restart_at = time.time()
            faults.start(victim, host)
            admin.wait_until(
                lambda m: _isr_full(m, topic),
                timeout=CATCH_UP_TIMEOUT_S,
                what=f"full ISR of {topic}",
            )
            catch_up = time.time() - restart_at
            st.detail = f"ISR full after {catch_up:.2f}s"
        self._figures(report, traffic, fault_at, affected, rto, catch_up, victim)

    def _recover(
        self, report: DrillReport, traffic: Traffic, fault_at: float, affected: set[int]
    ) -> float | None:
        """Wait for recovery, keep traffic steady briefly, then drain; return the RTO."""
        with report.step("wait for produce and consume to recover") as st:
            recovered = traffic.wait_until(
                lambda t: recovery_time(fault_at, t.sent(), t.received(), affected) is not None,
                RECOVERY_TIMEOUT_S,
            )
            rto = recovery_time(fault_at, traffic.sent(), traffic.received(), affected)
            st.ok = recovered
            st.detail = f"RTO {rto:.2f}s" if rto is not None else "did not recover"
            time.sleep(STEADY_AFTER_RECOVERY_S)
        with report.step("stop producing, drain the consumer") as st:
            traffic.stop_producing()
            drained = traffic.drain(timeout=60)
            st.detail = "all acknowledged records consumed" if drained else "drain timed out"
        return rto

    def _figures(
        self,
        report: DrillReport,
        traffic: Traffic,
        fault_at: float,
        affected: set[int],
        rto: float | None,
        catch_up: float,
        victim: int,
    ) -> None:
        sent, received = traffic.sent(), traffic.received()
        lost = lost_records(sent, received)
        first_ack = first_ack_after(fault_at, sent, affected)
        report.rto_seconds = round(rto, 3) if rto is not None else None
        report.rpo_seconds = round(rpo_seconds(lost, sent), 3)
        report.figures.update(
            {
                "rpo_messages_lost": len(lost),
                "acked": sum(1 for s in sent if s.acked_at is not None),
                "consumed": len({r.seq for r in received}),
                "sent": len(sent),
                "produce_errors": sum(1 for s in sent if s.error),
                "duplicates_consumed": duplicate_count(received),
                "catch_up_seconds": round(catch_up, 3),
                "killed_broker": victim,
                "affected_partitions": sorted(affected),
                "produce_recovered_seconds": round(first_ack - fault_at, 3) if first_ack else None,
                "lost_sample": lost[:20],
            }
        )
        report.judge(
            {
                f"RTO < {self.targets.rto.total_seconds():.0f}s": rto is not None
                and rto < self.targets.rto.total_seconds(),
                "RPO = 0 (no acknowledged record lost)": not lost,
            }
        )


def _require_healthy(md: ClusterMetadata) -> None:
    if len(md.brokers) < 3:
        raise StateError(
            f"the site has {len(md.brokers)} live brokers; the drill needs 3 (RF 3 with min ISR 2)",
            hint="Start the missing brokers (`streamdr lab up` on the lab), then drill again.",
        )


def _topic_ready(md: ClusterMetadata, topic: str) -> bool:
    state = md.topics.get(topic)
    return (
        state is not None
        and len(state.partitions) == PARTITIONS
        and all(not p.offline and not p.under_replicated for p in state.partitions)
    )


def _isr_full(md: ClusterMetadata, topic: str) -> bool:
    state = md.topics.get(topic)
    return state is not None and all(not p.under_replicated for p in state.partitions)
