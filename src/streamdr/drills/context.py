"""What a drill receives: settings, the site under test, the metadata DB, progress output."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from streamdr.drills.delivery import PER_EVENT
from streamdr.drills.report import DrillReport
from streamdr.policy.tiers import Targets
from streamdr.settings.model import Settings
from streamdr.steps import Step
from streamdr.store.db import MetadataStore


def _no_progress(_step: Step) -> None:
    return None


@dataclass
class DrillContext:
    """The environment a drill runs in."""

    settings: Settings
    site: str
    store: MetadataStore
    on_step: Callable[[Step], None] = field(default=_no_progress)
    options: dict[str, str] = field(default_factory=dict)
    # How the drill's workflow delivers (drills.delivery); checked against the drill's modes.
    delivery: str = PER_EVENT


class Drill(Protocol):
    """A scenario: it injects a fault, measures and judges. Returns a finished report.

    A drill that runs a workflow may also declare ``delivery_modes`` (a tuple of
    :data:`streamdr.drills.delivery.DELIVERY_MODES`); without it a drill runs per event only.
    """

    name: str
    description: str
    targets: Targets

    def run(self, ctx: DrillContext, report: DrillReport) -> DrillReport:
        """Fill ``report`` by running the scenario and return it.

        A failed verdict is a report with ``passed`` False; StreamdrError means it was aborted.
        """
        ...
