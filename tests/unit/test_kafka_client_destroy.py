"""Clients are never destroyed on librdkafka's own threads (that aborts the whole process)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from streamdr.kafka.clients import (
    SafeAdminClient,
    SafeConsumer,
    SafeProducer,
    make_admin,
    make_consumer,
    make_producer,
)
from streamdr.settings.model import SiteSettings

# An AdminClient left in a garbage cycle with a request in flight: the request's result is
# handled on librdkafka's background thread, where (threshold 1) the cyclic collector starts
# and finds the cycle. A plain AdminClient aborts the process there (rdkafka.c
# rd_kafka_destroy_app: "calling rd_kafka_destroy() from librdkafka owned thread is prohibited").
_SCRIPT = textwrap.dedent(
    """
    import gc, time
    from streamdr.kafka.clients import SafeAdminClient, drain_deferred_clients

    class Holder:
        pass

    def abandon():
        h = Holder()
        h.self = h
        h.admin = SafeAdminClient({"bootstrap.servers": "127.0.0.1:9", "logger": None})
        return h.admin.describe_cluster(request_timeout=1)

    gc.disable()
    future = abandon()
    gc.set_threshold(1, 1, 1)
    gc.enable()
    time.sleep(4)  # in C: the main thread allocates nothing, so it does not collect first
    print("released", drain_deferred_clients())
    """
)


def test_a_client_collected_on_librdkafka_thread_is_deferred_not_destroyed() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "released 1" in done.stdout


def test_the_factories_make_the_safe_clients() -> None:
    site = SiteSettings(bootstrap_servers="127.0.0.1:9")
    assert isinstance(make_admin(site), SafeAdminClient)
    assert isinstance(make_producer(site), SafeProducer)
    consumer = make_consumer(site, "g")
    assert isinstance(consumer, SafeConsumer)
    consumer.close()
