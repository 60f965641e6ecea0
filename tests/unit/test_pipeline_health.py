"""The worker probe server: /health, /ready and /metrics, and a busy port."""

import socket

import httpx
import pytest

from streamdr.errors import StateError
from streamdr.pipeline.health import HealthServer


def test_probes_answer_from_the_status():
    status = {"alive": True, "ready": False, "workflows": {}}
    server = HealthServer(lambda: status).start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        assert httpx.get(f"{base}/health").status_code == 200
        ready = httpx.get(f"{base}/ready")
        assert ready.status_code == 503 and ready.json()["ready"] is False
        status["ready"] = True
        assert httpx.get(f"{base}/ready").status_code == 200
        assert "streamdr_" in httpx.get(f"{base}/metrics").text
        assert httpx.get(f"{base}/nope").status_code == 404
    finally:
        server.close()


def test_busy_port_is_a_clear_error():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        with pytest.raises(StateError, match="cannot serve the probes"):
            HealthServer(lambda: {}, port=sock.getsockname()[1])
