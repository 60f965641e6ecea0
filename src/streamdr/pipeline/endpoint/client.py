"""A small client of the reference endpoint's read and admin API (drills, tests, bench)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx

from streamdr.errors import UnreachableError


class EndpointClient:
    """Reads ``/stats`` and ``/applied`` and flips ``/admin/down|up``."""

    def __init__(
        self, base_url: str, timeout: float = 10.0, *, admin_token: str | None = None
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = httpx.Client(base_url=self.base_url, timeout=timeout)
        self.admin_token = admin_token  # for /admin (Authorization: Bearer)

    def _get(self, path: str, **params: Any) -> Any:
        try:
            resp = self.http.get(path, params=params)
            resp.raise_for_status()
        except httpx.HTTPError as exc:
            raise UnreachableError(
                f"reference endpoint {self.base_url} does not answer {path}: {exc}",
                hint="Start it with `streamdr endpoint serve`.",
            ) from exc
        return resp.json()

    def alive(self) -> bool:
        """Return True when the endpoint answers /health."""
        try:
            return self.http.get("/health", timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    def stats(self) -> dict[str, Any]:
        """Return the endpoint's counters."""
        return dict(self._get("/stats"))

    def applied(self, channel: str | None = None, page: int = 5000) -> Iterator[dict[str, Any]]:
        """Yield every applied event (oldest first), payloads parsed."""
        after = 0
        while True:
            params: dict[str, Any] = {"after": after, "limit": page}
            if channel is not None:
                params["channel"] = channel
            doc = self._get("/applied", **params)
            for item in doc["items"]:
                item["payload"] = json.loads(item["payload"])
                yield item
            if len(doc["items"]) < page:
                return
            after = doc["next"]

    def set_down(self, down: bool) -> None:
        """Switch the endpoint to answer 503 to every event (``down``) or back.

        Raises UnreachableError when the endpoint does not answer or refuses the admin token.
        """
        headers = {"Authorization": f"Bearer {self.admin_token}"} if self.admin_token else {}
        try:
            path = "/admin/down" if down else "/admin/up"
            self.http.post(path, headers=headers).raise_for_status()
        except httpx.HTTPError as exc:
            raise UnreachableError(f"reference endpoint {self.base_url}: {exc}") from exc

    def close(self) -> None:
        """Close the connection pool."""
        self.http.close()
