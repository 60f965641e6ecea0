"""MirrorMaker 2 over a WAN: replication lag through the lab's Toxiproxy link.

The strategy's open question 3 ("what is acceptable latency for MirrorMaker replication?"),
measured on the lab with the link shaped like us-west-2 <-> us-east-1: ``--latency`` one way
(default 35 ms, so a 70 ms round trip) with ``--jitter`` (default 5 ms). MM2 (primary -> dr,
running next to dr) reads primary through the WAN proxies; the producer writes to primary and
the lag reader reads dr directly, so the lag measured is the WAN's effect on replication.

1. Peer baseline, same run: MM2 reading primary directly (no proxy, default settings): steady
   lag at ``--rate``, then rate steps — the machine's own ceiling without a WAN.
2. MM2 with Kafka's default client settings over the link: steady lag at ``--rate``.
3. MM2 tuned from the bandwidth-delay product (:func:`wan_tuning`): steady lag at ``--rate``,
   then rate steps (x1.5 up while p99 < 5 s, halving down while it is not; dr catches up
   between steps): the highest sustained rate with p99 < 5 s, and its ratio to the baseline's.

The tuning rule (documented in docs/replication.md): a TCP connection carries at most one
socket buffer per round trip, so each fetch connection needs a receive buffer of at least the
bandwidth-delay product of its share of the traffic (rate x size x RTT / brokers), doubled for
jitter and bursts; a fetch must be allowed to return at least that much, and the producer on the
target side (local, no WAN) keeps its defaults.

Usage: python -m bench.wan [--lab-dir DIR] [--rate 10000] [--latency-ms 35] [--jitter-ms 5]
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import time
import uuid
from typing import Any

from bench._common import add_lab_arguments, bench_lab
from bench.replication import PARTITIONS, highest_holding, rate_steps, steady
from bench.report import emit
from streamdr.harness.derived_settings import derive
from streamdr.kafka.admin import KafkaAdmin, TopicSpec
from streamdr.lab.cluster import Lab
from streamdr.lab.links import LabLinks
from streamdr.lab.wan import link_toxics
from streamdr.policy.tiers import Tier
from streamdr.replication.mm2.runner import Mm2Runner
from streamdr.replication.service import wait_ready
from streamdr.replication.topology import Topology, explicit_set, plan_topology
from streamdr.settings import load_settings
from streamdr.settings.model import Settings

MIN_BUFFER = 64 * 1024  # Kafka's consumer default receive.buffer.bytes
MAX_BUFFER = 64 * 1024 * 1024


def bdp_bytes(rate: float, size: int, rtt_ms: float) -> int:
    """Return the bandwidth-delay product in bytes of ``rate`` records/s of ``size`` bytes."""
    return math.ceil(rate * size * rtt_ms / 1000.0)


def wan_tuning(
    rate: float, size: int, one_way_ms: float, jitter_ms: float, brokers: int
) -> dict[str, str]:
    """Return ``replication.mm2.client_overrides`` for reading across the WAN (see module doc).

    Per connection: receive buffer = 2 x BDP / brokers (at least Kafka's 64 KiB, at most 64 MiB);
    a fetch may return 2 x BDP in total and 2 x BDP / brokers per partition leader; the broker
    waits up to one RTT to fill a fetch rather than answering many small ones.
    """
    rtt = 2 * (one_way_ms + jitter_ms)
    bdp = bdp_bytes(rate, size, rtt)
    per_conn = min(MAX_BUFFER, max(MIN_BUFFER, 2 * bdp // max(1, brokers)))
    fetch = min(MAX_BUFFER, max(1024 * 1024, 2 * bdp))
    prefix = "consumer."
    return {
        prefix + "receive.buffer.bytes": str(per_conn),
        prefix + "fetch.max.bytes": str(fetch),
        prefix + "max.partition.fetch.bytes": str(max(1024 * 1024, per_conn)),
        prefix + "fetch.max.wait.ms": str(max(100, math.ceil(rtt))),
        prefix + "fetch.min.bytes": "1",
        prefix + "max.poll.records": "5000",
    }


def with_overrides(settings: Settings, overrides: dict[str, str]) -> Settings:
    """Return ``settings`` with ``replication.mm2.client_overrides`` set (validated again).

    Raises InputError when a key or value is off the settings' allow-list.
    """
    mm2 = settings.replication.mm2.model_copy(update={"client_overrides": overrides})
    return derive(settings, replication=settings.replication.model_copy(update={"mm2": mm2}))


def _over_wan(settings: Settings, links: LabLinks) -> Settings:
    """Return settings whose primary site is reached through its WAN proxies (MM2's view)."""
    sites = dict(settings.sites)
    wan = links.bootstrap("primary", "wan")
    sites["primary"] = sites["primary"].model_copy(update={"bootstrap_servers": wan})
    return derive(settings, sites=sites)


def _topology(settings: Settings, topics: list[str]) -> Topology:
    return plan_topology(
        [explicit_set(topics, [], Tier.STANDARD)],
        list(settings.sites),
        home="primary",
        active="primary",
        separator="_",
        emit_interval=lambda r: 1.0,
    )


def measure(
    lab: Lab,
    settings: Settings,
    args: argparse.Namespace,
    extra: dict[str, str],
    name: str,
    *,
    over_wan: bool = True,
    search: bool = False,
) -> dict[str, Any]:
    """Run one MM2 instance (over the link unless ``over_wan`` is False) with ``extra``
    properties: steady lag at ``--rate``, then with ``search`` the rate steps of
    :func:`bench.replication.rate_steps`. Returns its figures."""
    topic = f"bench.wan.{name}.{uuid.uuid4().hex[:6]}"
    KafkaAdmin("primary", settings.sites["primary"]).create_topics(
        [TopicSpec(topic, PARTITIONS, 3)]
    )
    base = _over_wan(settings, LabLinks(lab)) if over_wan else settings
    topology = _topology(settings, [topic])
    runner = Mm2Runner(with_overrides(base, extra), f"wan-{name}")
    remote = f"primary_{topic}"
    try:
        started = time.time()
        runner.apply(topology)
        ready = wait_ready(settings, runner, topology, int(started * 1000), timeout=600)
        steady(settings, topic, remote, args.rate, args.warmup_seconds, args.size)
        caught_up(settings, topic, remote)
        main = steady(settings, topic, remote, args.rate, args.seconds, args.size)
        steps = []
        if search:
            caught_up(settings, topic, remote)
            steps = rate_steps(
                settings, topic, remote, args, settle=lambda: caught_up(settings, topic, remote)
            )
    finally:
        runner.stop()
    return {
        "over_wan": over_wan,
        "mm2_ready_s": ready,
        "steady": main,
        "steps": steps,
        "highest_ok_rate": highest_holding(steps),
    }


def caught_up(settings: Settings, topic: str, remote: str, timeout: float = 180.0) -> float:
    """Wait until dr holds every record of ``topic`` (so a step does not start behind a backlog
    the previous one left); return the seconds waited (``timeout`` if it never caught up)."""
    primary = KafkaAdmin("primary", settings.sites["primary"])
    dr = KafkaAdmin("dr", settings.sites["dr"])
    start = time.monotonic()
    want = sum(primary.end_offsets(topic).values())
    while time.monotonic() - start < timeout:
        if sum(dr.end_offsets(remote).values()) >= want:
            break
        time.sleep(1.0)
    return round(time.monotonic() - start, 1)


ROWS = (
    ("direct", "direct (no WAN), default"),
    ("default", "WAN, default"),
    ("tuned", "WAN, tuned"),
)


def markdown_of(r: dict[str, Any]) -> str:
    """Return the docs section of a WAN run."""
    lines = [
        "## MirrorMaker 2 over a WAN (Toxiproxy link)",
        "",
        f"`bench/wan.py`: MM2 primary → dr reading primary through the lab's WAN proxies, "
        f"{r['latency_ms']} ms one way ± {r['jitter_ms']} ms jitter (RTT ≈ "
        f"{2 * r['latency_ms']} ms), {r['rate']:g} events/s x {r['size']} B offered for "
        f"{r['seconds']:g} s; the peer baseline is the same MM2 reading primary directly "
        "(no proxy) in the same run.",
        "",
        "| MM2 reads primary | p50 lag s | p99 lag s | max s | replicated/s | complete "
        "| highest rate p99 < 5 s |",
        "|---|---|---|---|---|---|---|",
    ]
    for key, label in ROWS:
        m = r[key]
        s = m["steady"]
        lines.append(
            f"| {label} | {s['lag_p50_s']} | {s['lag_p99_s']} | {s['lag_max_s']} | "
            f"{s['replicated_per_s']} | {s['complete']} | {_rate(m)} |"
        )
    ratio = r.get("ratio_wan_to_direct_highest_rate")
    lines += [
        "",
        f"Highest rate with p99 < 5 s over the WAN (tuned) / directly: **{ratio or '-'}**.",
        "",
        f"Rate steps ({r['step_seconds']:g} s each; a step holds when p99 < 5 s, ≥ 95 % of the "
        "offered rate was produced and every record reached dr):",
        "",
        "| MM2 reads primary | offered/s | achieved/s | p50 s | p99 s | read on dr / sent |",
        "|---|---|---|---|---|---|",
    ]
    for key, label in ROWS:
        for st in r[key]["steps"]:
            lines.append(
                f"| {label} | {st['rate']:g} | {st['achieved_rate']} | {st['lag_p50_s']} | "
                f"{st['lag_p99_s']} | {st['replicated']} / {st['sent']} |"
            )
    lines += [
        "",
        "Tuned consumer settings (from the bandwidth-delay product), as "
        "`replication.mm2.client_overrides`:",
        "",
    ]
    lines += [f"- `{k}={v}`" for k, v in r["tuning"].items()]
    return "\n".join(lines) + "\n"


def _rate(m: dict[str, Any]) -> str:
    if not m["steps"]:
        return "not searched"
    return f"{m['highest_ok_rate']:,.0f}/s" if m["highest_ok_rate"] else "none held"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=10_000)
    parser.add_argument("--size", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--warmup-seconds", type=float, default=20)
    parser.add_argument("--step-seconds", type=float, default=30)
    parser.add_argument("--min-rate", type=float, default=500)
    parser.add_argument("--max-rate", type=float, default=40_000)
    parser.add_argument("--latency-ms", type=int, default=35)
    parser.add_argument("--jitter-ms", type=int, default=5)
    parser.add_argument("--steps", action=argparse.BooleanOptionalAction, default=True)
    add_lab_arguments(parser, None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with bench_lab(args.lab_dir, keep=args.keep_lab, prefix="streamdr-bench-wan-") as lab:
        links = LabLinks(lab)
        try:
            settings = load_settings(lab.settings_file)
            toxics = link_toxics(latency_ms=args.latency_ms, jitter_ms=args.jitter_ms)
            links.link("primary", "dr", toxics)
            brokers = len(lab.require_layout().site("primary").nodes)
            tuning = wan_tuning(args.rate, args.size, args.latency_ms, args.jitter_ms, brokers)
            direct = measure(lab, settings, args, {}, "direct", over_wan=False, search=args.steps)
            default = measure(lab, settings, args, {}, "default")
            tuned = measure(lab, settings, args, tuning, "tuned", search=args.steps)
        finally:
            links.heal()
    wan_best, direct_best = tuned["highest_ok_rate"], direct["highest_ok_rate"]
    result = {
        "rate": args.rate,
        "size": args.size,
        "seconds": args.seconds,
        "step_seconds": args.step_seconds,
        "latency_ms": args.latency_ms,
        "jitter_ms": args.jitter_ms,
        "tuning": tuning,
        "direct": direct,
        "default": default,
        "tuned": tuned,
        "ratio_wan_to_direct_highest_rate": (
            round(wan_best / direct_best, 3) if wan_best and direct_best else None
        ),
        "load_average_1m": round(os.getloadavg()[0], 1),
    }
    emit("wan", result, markdown_of(result))


if __name__ == "__main__":
    main()
