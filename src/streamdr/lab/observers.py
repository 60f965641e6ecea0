"""Independent observers of a lab site for automatic failover, one per network path.

``direct`` probes the brokers' own listeners, ``edge`` goes through the client proxies and
``wan`` through the proxies the other site uses. A partition of one path (``lab partition
--path edge``) blinds one observer only; a site loss blinds all three.
"""

from __future__ import annotations

from collections.abc import Callable

from streamdr.lab.cluster import Lab
from streamdr.lab.links import LabLinks
from streamdr.replication.failover.auto_watch import Probe
from streamdr.replication.failover.observers import metadata_probe
from streamdr.settings.model import SiteSettings


def _probe(bootstrap: Callable[[str], str]) -> Probe:
    return metadata_probe(lambda site: SiteSettings(bootstrap_servers=bootstrap(site)))


def lab_observers(lab: Lab) -> dict[str, Probe]:
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
