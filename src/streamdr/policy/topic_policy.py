"""The topic HA policy and the pure plan `streamdr topics ensure` executes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from streamdr.kafka.admin import TopicState
from streamdr.settings.model import TopicDeclaration


@dataclass(frozen=True)
class TopicPolicy:
    """The strategy's "Kafka Broker Configuration for High Availability", per topic."""

    min_replication_factor: int = 3
    min_insync_replicas: int = 2
    unclean_leader_election: bool = False

    def required_config(self) -> dict[str, str]:
        """Return the topic config keys the policy pins."""
        return {
            "min.insync.replicas": str(self.min_insync_replicas),
            "unclean.leader.election.enable": str(self.unclean_leader_election).lower(),
        }

    def config_violations(self, config: Mapping[str, str]) -> dict[str, str]:
        """Return ``{key: required value}`` for every policy key ``config`` violates."""
        out = {}
        isr = config.get("min.insync.replicas", "1")
        if not isr.isdigit() or int(isr) < self.min_insync_replicas:
            out["min.insync.replicas"] = str(self.min_insync_replicas)
        unclean = config.get("unclean.leader.election.enable", "false").lower()
        if unclean != str(self.unclean_leader_election).lower():
            out["unclean.leader.election.enable"] = str(self.unclean_leader_election).lower()
        return out


class ActionKind(StrEnum):
    """What `topics ensure` does to one topic."""

    CREATE = "create"
    ALTER_CONFIG = "alter-config"
    ADD_PARTITIONS = "add-partitions"
    MANUAL = "manual"


@dataclass(frozen=True)
class TopicAction:
    """One step of a topics plan; MANUAL steps are reported, never executed."""

    site: str
    topic: str
    kind: ActionKind
    partitions: int = 0
    replication_factor: int = 0
    config: Mapping[str, str] = field(default_factory=dict)
    reason: str = ""

    def as_dict(self) -> dict[str, object]:
        """Return the action as a JSON-ready mapping."""
        return {
            "site": self.site,
            "topic": self.topic,
            "action": str(self.kind),
            "partitions": self.partitions,
            "replication_factor": self.replication_factor,
            "config": dict(self.config),
            "reason": self.reason,
        }


def desired_config(decl: TopicDeclaration, policy: TopicPolicy) -> dict[str, str]:
    """Return the config a declared topic must have: its own keys, the policy's winning ties."""
    config = {**policy.required_config(), **decl.config}
    config.update(policy.config_violations(config))
    return config


def plan_topics(
    site: str,
    declared: Iterable[TopicDeclaration],
    live: Mapping[str, TopicState],
    live_configs: Mapping[str, Mapping[str, str]],
    policy: TopicPolicy,
) -> list[TopicAction]:
    """Return the actions that make ``live`` match ``declared`` and the policy on ``site``."""
    actions: list[TopicAction] = []
    for decl in declared:
        if decl.sites is not None and site not in decl.sites:
            continue
        want = desired_config(decl, policy)
        rf = max(decl.replication_factor, policy.min_replication_factor)
        state = live.get(decl.name)
        if state is None:
            actions.append(
                TopicAction(
                    site, decl.name, ActionKind.CREATE, decl.partitions, rf, want, "missing"
                )
            )
            continue
        actions += _existing_topic_actions(
            site, decl, state, live_configs.get(decl.name, {}), want, rf
        )
    return actions


def _existing_topic_actions(
    site: str,
    decl: TopicDeclaration,
    state: TopicState,
    config: Mapping[str, str],
    want: Mapping[str, str],
    rf: int,
) -> list[TopicAction]:
    out = []
    diff = {k: v for k, v in want.items() if config.get(k) != v}
    if diff:
        out.append(
            TopicAction(
                site,
                decl.name,
                ActionKind.ALTER_CONFIG,
                config=diff,
                reason="config differs from declaration/policy",
            )
        )
    count = len(state.partitions)
    if count < decl.partitions:
        out.append(
            TopicAction(
                site,
                decl.name,
                ActionKind.ADD_PARTITIONS,
                decl.partitions,
                reason=f"has {count} partitions, declared {decl.partitions}",
            )
        )
    elif count > decl.partitions:
        out.append(
            TopicAction(
                site,
                decl.name,
                ActionKind.MANUAL,
                count,
                reason=f"has {count} partitions, declared {decl.partitions}; "
                "Kafka cannot remove partitions",
            )
        )
    if state.replication_factor < rf:
        out.append(
            TopicAction(
                site,
                decl.name,
                ActionKind.MANUAL,
                replication_factor=rf,
                reason=f"replication factor {state.replication_factor} < {rf}; "
                "reassign replicas with kafka-reassign-partitions",
            )
        )
    return out


def plan_policy_fixes(
    site: str, live_configs: Mapping[str, Mapping[str, str]], policy: TopicPolicy
) -> list[TopicAction]:
    """Return config fixes bringing every listed (non-internal) topic up to the policy."""
    return [
        TopicAction(site, name, ActionKind.ALTER_CONFIG, config=fix, reason="violates HA policy")
        for name, cfg in sorted(live_configs.items())
        if not name.startswith("__") and (fix := policy.config_violations(cfg))
    ]
