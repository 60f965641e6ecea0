"""Factories for confluent-kafka clients of one site.

Constructors here make no network call. librdkafka's own log lines go to the
``streamdr.librdkafka`` Python logger instead of stderr, so a down broker does not spray
"Connection refused" over the operator's terminal; ``--verbose`` shows them.
"""

from __future__ import annotations

import atexit
import logging
import threading
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient

from streamdr.errors import LoginRefusedError, StreamdrError, UnreachableError
from streamdr.kafka.config import client_config
from streamdr.settings.model import SiteSettings

LIBRDKAFKA_LOG = logging.getLogger("streamdr.librdkafka")

UNREACHABLE_CODES = frozenset(
    {
        KafkaError._TRANSPORT,
        KafkaError._TIMED_OUT,
        KafkaError._ALL_BROKERS_DOWN,
        KafkaError._RESOLVE,
        KafkaError.REQUEST_TIMED_OUT,
        KafkaError.NETWORK_EXCEPTION,
    }
)

# Leadership and coordinator changes: the cluster answers but is moving a partition or group
# (e.g. right after a topic is created or a broker died). Retrying shortly succeeds.
TRANSIENT_CODES = frozenset(
    {
        KafkaError.NOT_LEADER_FOR_PARTITION,
        KafkaError.LEADER_NOT_AVAILABLE,
        KafkaError.FENCED_LEADER_EPOCH,
        KafkaError.UNKNOWN_LEADER_EPOCH,
        KafkaError.OFFSET_NOT_AVAILABLE,
        KafkaError.NOT_COORDINATOR,
        KafkaError.COORDINATOR_NOT_AVAILABLE,
        KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
        KafkaError.NOT_CONTROLLER,
        KafkaError._WAIT_COORD,
    }
)


# A refused SASL login reaches only error_cb; the call that fails says "transport failure".
# The last one per bootstrap list lets translate() say what really happened.
_AUTH_FAILURES: dict[str, str] = {}


def _quiet_error(bootstrap_servers: str) -> Callable[[KafkaError], None]:
    def note(err: KafkaError) -> None:
        # Connection errors are reported through the calls that fail; here they are only logged.
        if err.code() == KafkaError._AUTHENTICATION:
            _AUTH_FAILURES[bootstrap_servers] = err.str()
        LIBRDKAFKA_LOG.debug("librdkafka error: %s", err)

    return note


# librdkafka aborts the process when a client is destroyed on one of its own threads. Python runs
# confluent-kafka's AdminClient result callbacks on librdkafka's background thread; an allocation
# there can start the cyclic garbage collector, which then frees any client left in a reference
# cycle (a traceback that holds a frame with a client, say) right there: SIGABRT, no exception
# (confluent-kafka-python PR #2131). Clients made here defer such a destruction instead: __del__
# on a thread Python did not start keeps the object alive until an application thread drains it.
_DEFERRED: list[object] = []


def _on_foreign_thread() -> bool:
    # threading names a thread it did not start (a librdkafka one calling back) a _DummyThread.
    return isinstance(threading.current_thread(), threading._DummyThread)


def drain_deferred_clients() -> int:
    """Destroy the clients whose destruction was deferred off librdkafka's threads.

    Returns how many were released; must be called on an application thread.
    """
    if _on_foreign_thread():
        return 0
    released = 0
    while _DEFERRED:
        _DEFERRED.pop()
        released += 1
    return released


atexit.register(drain_deferred_clients)


class _DestroyOnAppThread:
    """Mixin: never let a client's last reference go on one of librdkafka's own threads."""

    def __del__(self) -> None:
        try:
            foreign = _on_foreign_thread()
        except Exception:  # at interpreter exit threading may be half torn down
            return
        if foreign:
            _DEFERRED.append(self)  # resurrected; __del__ does not run again (PEP 442)


class SafeProducer(_DestroyOnAppThread, Producer):
    """A Producer that is never destroyed on a librdkafka thread."""


class SafeConsumer(_DestroyOnAppThread, Consumer):
    """A Consumer that is never destroyed on a librdkafka thread."""


class SafeAdminClient(_DestroyOnAppThread, AdminClient):
    """An AdminClient that is never destroyed on a librdkafka thread."""


def _conf(site: SiteSettings, overrides: dict[str, Any]) -> dict[str, Any]:
    conf: dict[str, Any] = dict(client_config(site))
    conf.setdefault("logger", LIBRDKAFKA_LOG)
    conf.setdefault("error_cb", _quiet_error(site.bootstrap_servers))
    conf.update(overrides)
    return conf


def make_producer(site: SiteSettings, **overrides: Any) -> Producer:
    """Return an idempotent acks=all producer for ``site`` (overrides win)."""
    base = {"enable.idempotence": True, "acks": "all", "linger.ms": 5}
    drain_deferred_clients()
    return SafeProducer(_conf(site, {**base, **overrides}))


def make_consumer(site: SiteSettings, group_id: str, **overrides: Any) -> Consumer:
    """Return a consumer in ``group_id`` that never auto-commits (commit after durable)."""
    base = {
        "group.id": group_id,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "enable.partition.eof": False,
    }
    drain_deferred_clients()
    return SafeConsumer(_conf(site, {**base, **overrides}))


def make_admin(site: SiteSettings, **overrides: Any) -> AdminClient:
    """Return an AdminClient for ``site``."""
    drain_deferred_clients()
    return SafeAdminClient(_conf(site, overrides))


def is_transient(exc: KafkaException) -> bool:
    """Return True for a leadership or coordinator move, which a short retry gets past."""
    err = exc.args[0] if exc.args else None
    return isinstance(err, KafkaError) and err.code() in TRANSIENT_CODES


def translate(
    exc: KafkaException, site_name: str, site: SiteSettings, action: str
) -> StreamdrError:
    """Return the streamdr error for a confluent-kafka failure while doing ``action``."""
    err = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
    login = _AUTH_FAILURES.pop(site.bootstrap_servers, None)
    if login is not None and (err is None or err.code() in UNREACHABLE_CODES):
        return LoginRefusedError(
            f"site {site_name!r} ({site.bootstrap_servers}) refused the login of SASL user "
            f"{site.security.sasl_username!r} while {action}: {login}",
            hint=f"Check sasl_username and the password in ${site.security.sasl_password_env} "
            "(sasl_password_env); a rotated Kafka user Secret needs the processes restarted.",
        )
    if err is None or err.code() in UNREACHABLE_CODES:
        return UnreachableError(
            f"site {site_name!r} ({site.bootstrap_servers}) is unreachable while {action}: "
            f"{err.str() if err else exc}",
            hint="Check that its brokers run (`streamdr lab status` for the lab) and that "
            "bootstrap_servers and security settings in streamdr.yaml are right.",
        )
    if err.code() in TRANSIENT_CODES:
        # Exit 3 like an unreachable site, and retried by the pipeline's backoff loops.
        return UnreachableError(
            f"site {site_name!r} is changing a leader or coordinator while {action}: "
            f"{err.name()}: {err.str()}",
            hint="Retry in a few seconds; if it persists, check `streamdr check` for offline "
            "partitions and the broker logs.",
        )
    return StreamdrError(
        f"Kafka refused {action} on site {site_name!r}: {err.name()}: {err.str()}",
        hint="See the broker logs; the error name is Kafka's own.",
    )
