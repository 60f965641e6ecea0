"""Test-only helpers for the pipeline: a real server in a thread, in-test transformations.

Transformations here are plain callables handed to workers directly — only tests do that; the
production path loads signed artifacts (streamdr.pipeline.deployed.signed_transform_loader).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from streamdr.artifacts.api import ChangeEvent, OutputEvent
from streamdr.runtime.ports import free_ports


@contextmanager
def serve_in_thread(app: Any) -> Iterator[str]:
    """Serve an ASGI app with uvicorn on a free loopback port; yield its base URL."""
    port = free_ports(1)[0]
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def passthrough(event: ChangeEvent) -> list[OutputEvent]:
    """Deliver the row after the change (or the key for deletes) with the change's identity."""
    return [
        OutputEvent(
            {
                "table": event.table,
                "op": event.operation,
                "key": dict(event.key),
                "row": dict(event.after or event.before or {}),
            }
        )
    ]


def buggy(event: ChangeEvent) -> list[OutputEvent]:
    """A transformation with a bug: it raises on every event."""
    raise KeyError("customer_id")


def garbage(event: ChangeEvent) -> list[OutputEvent]:
    """A transformation that returns something that is not a list of OutputEvent."""
    return {"not": "a list"}  # type: ignore[return-value]


TRANSFORMS = {"passthrough": passthrough, "buggy": buggy, "garbage": garbage}


def in_test_loader(ref: Any) -> Any:
    """Return the in-test transformation named by a TransformationRef (tests only)."""
    return TRANSFORMS[ref.name]
