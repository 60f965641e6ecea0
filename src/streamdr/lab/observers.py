"""Independent observers of a lab site for automatic failover, one per network path.

``direct`` probes the brokers' own listeners, ``edge`` goes through the client proxies and
``wan`` through the proxies the other site uses. A partition of one path (``lab partition
--path edge``) blinds one observer only; a site loss blinds all three.
"""

from __future__ import annotations

from collections.abc import Callable

from streamdr.errors import StreamdrError
from streamdr.kafka.admin import KafkaAdmin
from streamdr.lab.cluster import Lab
from streamdr.lab.links import LabLinks
from streamdr.settings.model import SiteSettings

PROBE_TIMEOUT_S = 2.0


def _probe(bootstrap: Callable[[str], str]) -> Callable[[str], bool]:
    def probe(site: str) -> bool:
        admin = KafkaAdmin(
            site, SiteSettings(bootstrap_servers=bootstrap(site)), timeout=PROBE_TIMEOUT_S
        )
        try:
            return bool(admin.metadata(timeout=PROBE_TIMEOUT_S).brokers)
        except StreamdrError:
            return False

    return probe


def lab_observers(lab: Lab) -> dict[str, Callable[[str], bool]]:
    """Return observer name -> probe(site) -> up, over the lab's three network paths.

    Raises StateError when the lab has no proxied listeners (made before Toxiproxy).
    """
    links = LabLinks(lab)
    links.client()  # start the proxies now, not in the first probe
    return {
        "direct": _probe(lambda s: lab.require_layout().site(s).bootstrap_servers),
        "edge": _probe(lambda s: links.bootstrap(s, "edge")),
        "wan": _probe(lambda s: links.bootstrap(s, "wan")),
    }
