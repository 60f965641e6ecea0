"""CDC checkpoints in a compacted Kafka topic on the same site as the change topics.

Key: the source name. Value: JSON with the last position whose changes Kafka acknowledged, the
commit time of that transaction and when it was written. Compaction keeps the newest per source.
Each site keeps its own (the topic is not replicated): CDC moved to another site resumes from the
source's slot, which only advances after a checkpoint, and the other sites' checkpoints tell
whether changes the slot already forgot are on a site that answers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime

from confluent_kafka import KafkaError, Message, Producer

from streamdr.errors import StreamdrError, UnreachableError
from streamdr.kafka.admin import KafkaAdmin
from streamdr.pipeline.topics import CHECKPOINT_TOPIC, read_topic
from streamdr.settings.model import SiteSettings


@dataclass(frozen=True)
class Checkpoint:
    """Everything up to ``position`` of ``source`` is acknowledged by Kafka."""

    source: str
    kind: str
    position: int
    position_text: str
    commit_time: str | None  # ISO; commit time of the last change covered
    written_at: str  # ISO

    def to_json(self) -> bytes:
        """Return the record value."""
        return json.dumps(asdict(self), sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Checkpoint:
        """Return a checkpoint from a record value; raises ValueError when malformed."""
        doc = json.loads(raw)
        return cls(**{k: doc[k] for k in cls.__dataclass_fields__})

    def commit_datetime(self) -> datetime | None:
        """Return the commit time as a datetime."""
        return datetime.fromisoformat(self.commit_time) if self.commit_time else None


PROBE_TIMEOUTS_S = (2.0, 5.0)  # a site that is up but slow (a loaded host) gets a second try


def checkpoints_elsewhere(
    sites: Mapping[str, SiteSettings],
    source: str,
    *,
    timeouts: Sequence[float] = PROBE_TIMEOUTS_S,
) -> dict[str, Checkpoint | None] | None:
    """Return each of ``sites``' newest checkpoint of ``source`` (None: it has none).

    Each site is asked once per entry of ``timeouts``. Returns None as a whole when one site
    never answers: that site may hold the newest checkpoint, so nothing can be concluded.
    """
    found: dict[str, Checkpoint | None] = {}
    for name, site in sites.items():
        answered = _checkpoint_of(name, site, source, timeouts)
        if answered is None:
            return None
        found[name] = answered[0]
    return found


def _checkpoint_of(
    name: str, site: SiteSettings, source: str, timeouts: Sequence[float]
) -> tuple[Checkpoint | None] | None:
    """Return (the site's checkpoint,) or None when no attempt got an answer."""
    for timeout in timeouts:
        try:
            KafkaAdmin(name, site, timeout=timeout).metadata(timeout=timeout)
            return (read_checkpoint(name, site, source),)
        except StreamdrError:
            continue
    return None


def newest_past(
    found: Mapping[str, Checkpoint | None], position: int
) -> tuple[str, Checkpoint] | None:
    """Return the site whose checkpoint is the newest and past ``position`` (None: none is)."""
    past = [(cp.position, name, cp) for name, cp in found.items() if cp and cp.position > position]
    if not past:
        return None
    _, name, cp = max(past)
    return name, cp


def read_checkpoint(site_name: str, site: SiteSettings, source: str) -> Checkpoint | None:
    """Return the newest checkpoint of ``source``, or None when it has none (or reset).

    Raises UnreachableError when the site does not answer.
    """
    latest: Checkpoint | None = None
    for msg in read_topic(site_name, site, CHECKPOINT_TOPIC):
        if msg.key() != source.encode():
            continue
        value = msg.value()
        latest = None if value is None else Checkpoint.from_json(value)
    return latest


class CheckpointWriter:
    """Writes checkpoints through the reader's acks=all producer and waits for the ack."""

    def __init__(self, producer: Producer) -> None:
        self.producer = producer

    def write(self, checkpoint: Checkpoint | None, source: str, *, timeout: float = 30.0) -> None:
        """Produce ``checkpoint`` (None: a tombstone resetting it) and flush.

        Raises UnreachableError when Kafka does not acknowledge it.
        """
        errors: list[KafkaError | None] = []

        def done(err: KafkaError | None, _msg: Message) -> None:
            errors.append(err)

        self.producer.produce(
            CHECKPOINT_TOPIC,
            key=source.encode(),
            value=checkpoint.to_json() if checkpoint else None,
            on_delivery=done,
        )
        self.producer.flush(timeout)
        if not errors or errors[0] is not None:
            reason = errors[0].str() if errors and errors[0] else "no acknowledgement"
            raise UnreachableError(f"writing the checkpoint of {source!r} failed: {reason}")
