"""What a failover or failback run works with (``SwitchContext``) and collects (``RunState``).

Shared by the plan executor, its steps and the post-switch validation, so none of them imports
another to name these types.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from streamdr.replication.failover.runs import StepRecord
from streamdr.replication.failover.workload import WorkloadControl
from streamdr.replication.mm2.group_positions import GroupTranslation
from streamdr.replication.mm2.runner import Mm2Runner
from streamdr.settings.model import Settings
from streamdr.store.db import MetadataStore


@dataclass
class SwitchContext:
    """Everything a switch touches; drills substitute the workload, hook and notifier."""

    settings: Settings
    store: MetadataStore
    runner: Mm2Runner
    workload: WorkloadControl
    switch_hook: Callable[[str, str], str] | None = None
    notify: Callable[[dict[str, Any]], str] | None = None
    fault_at: float | None = None
    catch_up_timeout: float = 300.0
    fence_timeout: float = 120.0
    on_step: Callable[[StepRecord], None] | None = None
    run_id: int | None = None


@dataclass
class RunState:
    """Figures the steps collect for the result document."""

    started_at: float = field(default_factory=time.time)
    restored_at: float | None = None
    translations: list[GroupTranslation] = field(default_factory=list)
    validation: dict[str, Any] = field(default_factory=dict)
    rpo_seconds: float | None = None
    messages_not_replicated: int | None = None
    lag_sample_age_seconds: float | None = None
