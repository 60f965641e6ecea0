"""Free loopback ports for lab nodes.

Ports are drawn below Linux's ephemeral range (32768+) so that a client connection's local port
can never take a lab port between two starts of the same lab.
"""

from __future__ import annotations

import random
import socket

PORT_RANGE = (20000, 32000)


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Return True when a listener could bind ``host:port`` now (SO_REUSEADDR, as Java does)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_ports(
    count: int, *, rng: random.Random | None = None, port_range: tuple[int, int] = PORT_RANGE
) -> list[int]:
    """Return ``count`` distinct ports that are free right now.

    Raises RuntimeError when the range has too few free ports.
    """
    rng = rng or random.Random()
    lo, hi = port_range
    candidates = rng.sample(range(lo, hi), k=min(hi - lo, count * 20))
    chosen = [p for p in candidates if port_is_free(p)][:count]
    if len(chosen) < count:
        raise RuntimeError(f"only {len(chosen)} free ports in {lo}-{hi}, need {count}")
    return chosen
