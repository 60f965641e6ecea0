"""Planning and applying `topics ensure` against live sites."""

from __future__ import annotations

from streamdr.kafka.admin import KafkaAdmin, TopicSpec
from streamdr.policy.topic_policy import (
    ActionKind,
    TopicAction,
    TopicPolicy,
    plan_policy_fixes,
    plan_topics,
)
from streamdr.settings.model import Settings


def plan_topic_changes(
    settings: Settings,
    *,
    site: str | None = None,
    include_all: bool = False,
    policy: TopicPolicy | None = None,
) -> list[TopicAction]:
    """Return the actions for declared topics (and every topic with ``include_all``).

    Raises UnreachableError when a site does not answer, InputError for an unknown site.
    """
    policy = policy or TopicPolicy()
    names = [settings.site(site)[0]] if site else list(settings.sites)
    plan: list[TopicAction] = []
    for name in names:
        admin = KafkaAdmin(name, settings.sites[name])
        live = admin.metadata().topics
        declared = {d.name for d in settings.topics}
        configs = admin.topic_configs(n for n in live if n in declared or include_all)
        plan += plan_topics(name, settings.topics, live, configs, policy)
        if include_all:
            others = {k: v for k, v in configs.items() if k not in declared}
            plan += plan_policy_fixes(name, others, policy)
    return plan


def apply_topic_plan(settings: Settings, plan: list[TopicAction]) -> list[TopicAction]:
    """Execute every non-manual action in order; return those applied.

    Raises StreamdrError at the first refusal (earlier actions stay applied and are idempotent,
    so running `topics ensure` again completes the plan).
    """
    applied = []
    for action in plan:
        admin = KafkaAdmin(action.site, settings.sites[action.site])
        if action.kind is ActionKind.CREATE:
            admin.create_topics(
                [
                    TopicSpec(
                        action.topic, action.partitions, action.replication_factor, action.config
                    )
                ]
            )
        elif action.kind is ActionKind.ALTER_CONFIG:
            admin.alter_topic_config(action.topic, action.config)
        elif action.kind is ActionKind.ADD_PARTITIONS:
            admin.add_partitions(action.topic, action.partitions)
        else:
            continue
        applied.append(action)
    return applied
