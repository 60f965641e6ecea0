"""A small Chrome DevTools Protocol client over ``--remote-debugging-pipe`` (no websockets).

Chromium reads NUL-terminated JSON commands on fd 3 and writes replies and events on fd 4. One
page target is created and attached in flat mode; commands for it carry its session id.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest


class Browser:
    """Headless Chromium with one page, driven through the DevTools protocol."""

    def __init__(self, profile: Path, width: int = 1400, height: int = 1800) -> None:
        exe = shutil.which("chromium")
        if exe is None:
            pytest.fail("chromium is missing: run scripts/ensure-debian-packages")
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()

        def _fds() -> None:  # in the child: the protocol's fixed descriptors 3 and 4
            # Copy both ends above 4 first: a pipe end may itself be 3 or 4.
            high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_child_r, from_child_w)]
            for target, fd in zip((3, 4), high, strict=True):
                os.dup2(fd, target)
                os.set_inheritable(target, True)

        self.proc = subprocess.Popen(
            [
                exe,
                "--headless=new",
                "--remote-debugging-pipe",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                f"--user-data-dir={profile}",
                "about:blank",
            ],
            preexec_fn=_fds,
            close_fds=False,  # only the inheritable 3 and 4 (dup2) survive exec; pipes are not
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_child_r)
        os.close(from_child_w)
        self._buf = b""
        self._next_id = 0
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)[
            "sessionId"
        ]
        self.page("Page.enable")
        self.page(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )

    def _send(self, msg: dict[str, Any]) -> int:
        self._next_id += 1
        msg["id"] = self._next_id
        os.write(self._to_child, json.dumps(msg).encode() + b"\0")
        return self._next_id

    def _read(self) -> dict[str, Any]:
        while b"\0" not in self._buf:
            chunk = os.read(self._from_child, 1 << 16)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)

    def _wait(self, msg_id: int) -> dict[str, Any]:
        while True:
            msg = self._read()
            if msg.get("id") == msg_id:
                if "error" in msg:
                    raise RuntimeError(f"DevTools error: {msg['error']}")
                return msg.get("result", {})

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send a browser-level command and return its result."""
        return self._wait(self._send({"method": method, "params": params}))

    def page(self, method: str, **params: Any) -> dict[str, Any]:
        """Send a command to the page and return its result."""
        return self._wait(
            self._send({"method": method, "params": params, "sessionId": self.session})
        )

    def evaluate(self, expression: str) -> Any:
        """Return the value of a JavaScript expression in the page."""
        result = self.page("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def open(self, url: str, ready: str, timeout: float = 20.0) -> None:
        """Navigate to ``url`` and wait until the expression ``ready`` is truthy."""
        self.page("Page.navigate", url=url)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            # Mid-navigation the document may have no body yet: not ready, not an error.
            if self.evaluate(
                f"(() => {{ try {{ return Boolean({ready}); }} catch (e) {{ return false; }} }})()"
            ):
                return
            time.sleep(0.1)
        raise AssertionError(f"{url}: {ready} never became true")

    def screenshot(self, path: Path) -> None:
        """Save a PNG of the whole page at ``path``."""
        data = self.page("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data["data"]))

    def close(self) -> None:
        """Close the browser (SIGKILL when it does not exit)."""
        with contextlib.suppress(RuntimeError, OSError):
            self.call("Browser.close")
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_child)
        os.close(self._from_child)
