"""Pure rules of the lab's Toxiproxy links: proxy names, durations and the toxics of each fault.

Every lab node has two proxied listeners (see ``layout._listeners``): WAN, the path the other
site (MirrorMaker 2) takes, and EDGE, the path clients take. Each has one Toxiproxy proxy, named
``wan-<site>-<node>`` or ``edge-<site>-<node>``. A fault is a set of toxics on a set of proxies.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from streamdr.lab.layout import LAB_HOST, LabLayout, NodeLayout

Path_ = Literal["wan", "edge", "both"]
PartitionMode = Literal["timeout", "reset"]
STREAMS = ("upstream", "downstream")
DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*$")
MAX_DELAY_MS = 600_000  # ten minutes: anything longer is a typo, not a WAN


@dataclass(frozen=True)
class ProxySpec:
    """One Toxiproxy proxy: where it listens and the broker listener it forwards to."""

    name: str
    listen: str
    upstream: str

    def as_json(self) -> dict[str, Any]:
        """Return the proxy as Toxiproxy's ``/populate`` wants it."""
        return {"name": self.name, "listen": self.listen, "upstream": self.upstream}


@dataclass(frozen=True)
class Toxic:
    """One toxic on one direction of a proxy (``upstream`` = towards the broker)."""

    name: str
    type: str
    stream: str
    attributes: dict[str, int] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """Return the toxic as Toxiproxy's ``/proxies/<p>/toxics`` wants it."""
        return {
            "name": self.name,
            "type": self.type,
            "stream": self.stream,
            "toxicity": 1.0,
            "attributes": dict(self.attributes),
        }


def proxy_name(path: str, node: NodeLayout) -> str:
    """Return the name of ``node``'s proxy on ``path`` (``wan`` or ``edge``)."""
    return f"{path}-{node.site}-{node.node_id}"


def proxy_specs(layout: LabLayout) -> list[ProxySpec]:
    """Return every proxy of a lab with proxied listeners (none for an older lab)."""
    out = []
    for node in (n for s in layout.sites for n in s.nodes if n.proxied):
        out.append(
            ProxySpec(proxy_name("wan", node), _addr(node.wan_proxy_port), _addr(node.wan_port))
        )
        out.append(
            ProxySpec(proxy_name("edge", node), _addr(node.edge_proxy_port), _addr(node.edge_port))
        )
    return out


def _addr(port: int) -> str:
    return f"{LAB_HOST}:{port}"


def proxied_bootstrap(layout: LabLayout, site: str, path: str) -> str:
    """Return ``site``'s bootstrap servers through its ``wan`` or ``edge`` proxies.

    Raises KeyError for an unknown site, ValueError when the lab has no proxied listeners.
    """
    nodes = layout.site(site).nodes
    if not all(n.proxied for n in nodes):
        raise ValueError("the lab has no proxied listeners")
    return ",".join(_addr(n.wan_proxy_port if path == "wan" else n.edge_proxy_port) for n in nodes)


def link_proxies(layout: LabLayout, a: str, b: str) -> list[str]:
    """Return the WAN proxies between sites ``a`` and ``b`` (both ends); raises KeyError."""
    return [proxy_name("wan", n) for site in (a, b) for n in layout.site(site).nodes if n.proxied]


def partition_proxies(
    layout: LabLayout, site: str, node: int | None = None, path: Path_ = "both"
) -> list[str]:
    """Return the proxies cutting ``site`` (or one node of it) off on ``path``; raises KeyError."""
    nodes = [layout.site(site).node(node)] if node is not None else list(layout.site(site).nodes)
    paths = ("wan", "edge") if path == "both" else (path,)
    return [proxy_name(p, n) for n in nodes if n.proxied for p in paths]


def parse_duration_ms(text: str) -> int:
    """Return ``35ms``, ``1.5s``, ``2m`` or a bare ``250`` (ms) in milliseconds.

    Raises ValueError for anything else, a negative value or more than ten minutes.
    """
    match = DURATION.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a duration like 35ms, 2s or 1m")
    scale = {"ms": 1, None: 1, "s": 1000, "m": 60_000}[match.group(2)]
    ms = round(float(match.group(1)) * scale)
    if ms > MAX_DELAY_MS:
        raise ValueError(f"{text!r} is longer than {MAX_DELAY_MS // 60_000} minutes")
    return ms


def link_toxics(
    *,
    latency_ms: int = 0,
    jitter_ms: int = 0,
    bandwidth_kbps: int = 0,
    reset_after_ms: int | None = None,
    slow_close_ms: int = 0,
) -> list[Toxic]:
    """Return the toxics of a degraded link, in both directions.

    ``latency_ms`` is one-way (a round trip costs twice), ``jitter_ms`` its +/- spread,
    ``bandwidth_kbps`` the cap in KB/s, ``reset_after_ms`` resets every connection (TCP RST)
    that long after data, ``slow_close_ms`` delays closing. Raises ValueError when jitter
    exceeds latency (Toxiproxy would send data before it was due) or a value is negative.
    """
    if min(latency_ms, jitter_ms, bandwidth_kbps, slow_close_ms, reset_after_ms or 0) < 0:
        raise ValueError("link settings cannot be negative")
    if jitter_ms > latency_ms:
        raise ValueError(f"jitter {jitter_ms}ms is larger than latency {latency_ms}ms")
    out = []
    for stream in STREAMS:
        if latency_ms:
            attrs = {"latency": latency_ms, "jitter": jitter_ms}
            out.append(Toxic(f"link-latency-{stream}", "latency", stream, attrs))
        if bandwidth_kbps:
            out.append(
                Toxic(f"link-bandwidth-{stream}", "bandwidth", stream, {"rate": bandwidth_kbps})
            )
        if slow_close_ms:
            out.append(
                Toxic(f"link-slow-close-{stream}", "slow_close", stream, {"delay": slow_close_ms})
            )
    if reset_after_ms is not None:
        out.append(Toxic("link-reset", "reset_peer", "upstream", {"timeout": reset_after_ms}))
    return out


def partition_toxics(mode: PartitionMode = "timeout") -> list[Toxic]:
    """Return the toxics of a full partition.

    ``timeout`` drops all data and holds connections open until healed, as a silent network
    partition does; ``reset`` answers every connection with a TCP reset.
    """
    if mode == "reset":
        return [Toxic("partition-reset", "reset_peer", "upstream", {"timeout": 0})]
    return [Toxic(f"partition-{s}", "timeout", s, {"timeout": 0}) for s in STREAMS]
