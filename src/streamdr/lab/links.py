"""Network faults between the lab's sites and between clients and brokers, via Toxiproxy.

``LabLinks`` starts the lab's Toxiproxy server on first use, creates one proxy per proxied
listener and puts the toxics of :mod:`streamdr.lab.wan` on them. Faults stay until ``heal``.
"""

from __future__ import annotations

from streamdr.errors import InputError, StateError
from streamdr.lab.cluster import Lab
from streamdr.lab.layout import LabLayout
from streamdr.lab.toxiproxy import ToxiproxyClient, ToxiproxyServer
from streamdr.lab.wan import (
    PartitionMode,
    Path_,
    Toxic,
    link_proxies,
    partition_proxies,
    partition_toxics,
    proxied_bootstrap,
    proxy_specs,
)

OLD_LAB_HINT = "Run `streamdr lab down --purge` and `lab up`: labs made before proxies have none."


class LabLinks:
    """The Toxiproxy links of the lab in ``lab``."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab

    def _layout(self) -> LabLayout:
        layout = self.lab.require_layout()
        if "toxiproxy_api_port" not in layout.extra or not proxy_specs(layout):
            raise StateError(
                f"the lab in {self.lab.dir} has no proxied listeners", hint=OLD_LAB_HINT
            )
        return layout

    def server(self) -> ToxiproxyServer:
        """Return the lab's Toxiproxy server (not started); raises StateError for an old lab."""
        return ToxiproxyServer(self.lab.dir, int(self._layout().extra["toxiproxy_api_port"]))

    def client(self) -> ToxiproxyClient:
        """Start the server if needed, create missing proxies and return a client."""
        layout = self._layout()
        client = self.server().ensure()
        client.populate(proxy_specs(layout))
        return client

    def bootstrap(self, site: str, path: str) -> str:
        """Return ``site``'s bootstrap servers through its ``wan``/``edge`` proxies (started)."""
        layout = self._layout()
        self.client()
        try:
            return proxied_bootstrap(layout, site, path)
        except KeyError as exc:
            raise _unknown_site(layout, site) from exc

    def link(self, a: str, b: str, toxics: list[Toxic]) -> list[str]:
        """Degrade the WAN between sites ``a`` and ``b``; return the proxies changed."""
        layout = self._layout()
        try:
            names = link_proxies(layout, a, b)
        except KeyError as exc:
            raise _unknown_site(layout, str(exc.args[0])) from exc
        client = self.client()
        for name in names:
            client.set_toxics(name, toxics)
        return names

    def partition(
        self,
        site: str,
        node: int | None = None,
        path: Path_ = "both",
        mode: PartitionMode = "timeout",
    ) -> list[str]:
        """Cut ``site`` (or one node) off on ``path``; return the proxies changed."""
        layout = self._layout()
        try:
            names = partition_proxies(layout, site, node, path)
        except KeyError as exc:
            raise _unknown_site(layout, site, node) from exc
        client = self.client()
        for name in names:
            client.set_toxics(name, partition_toxics(mode))
        return names

    def heal(self) -> bool:
        """Remove every fault; return False when no proxy server was running."""
        server = self.server()
        if server.pid() is None:
            return False
        server.client.reset()
        return True

    def faults(self) -> dict[str, list[str]]:
        """Return proxy name -> names of its toxics, for proxies that have any."""
        server = self.server()
        if server.pid() is None:
            return {}
        found = server.client.proxies().items()
        return {
            n: [t.get("name", "?") for t in p.get("toxics", [])]
            for n, p in found
            if p.get("toxics")
        }


def _unknown_site(layout: LabLayout, site: str, node: int | None = None) -> InputError:
    what = f"{site}/{node}" if node is not None else site
    return InputError(
        f"the lab has no site or node {what!r}",
        hint=f"Sites and nodes: {dict(layout.shape)} (nodes are numbered from 1).",
    )
