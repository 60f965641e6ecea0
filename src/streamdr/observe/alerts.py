"""Prometheus alert rules for the strategy's Appendix B alerts and Appendix A's watchable items.

Every rule reads metrics of :mod:`streamdr.observe.metrics`; thresholds are one dataclass so that
the rules, the web dashboard's alert list and the readiness verdicts judge with the same numbers.
``render_rules`` returns a rule file that ``promtool check rules`` accepts.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from ruamel.yaml import YAML

DAY = 86400


@dataclass(frozen=True)
class AlertThresholds:
    """The numbers the alerts fire at (strategy defaults; replication ones from the settings)."""

    lag_warning_seconds: float = 300.0  # Appendix B: lag > 5 minutes (warning)
    lag_critical_seconds: float = 600.0  # Appendix B: lag > 10 minutes (critical)
    lag_alert_seconds: float = 60.0  # Appendix A: alerts for replication lag > 1 minute
    lag_sample_max_age_seconds: float = 300.0
    backup_max_age_seconds: float = DAY  # Appendix B: last backup > 24 hours
    config_backup_max_age_seconds: float = 5400.0  # Appendix A: hourly, 30 min of slack
    metadata_db_backup_max_age_seconds: float = 600.0  # Appendix A: every 5 minutes
    drill_max_age_days: float = 90.0  # Appendix B: last drill > 90 days ago
    monthly_drill_max_age_days: float = 31.0  # Appendix A: monthly failover / rollback drills
    quarterly_drill_max_age_days: float = 92.0  # Appendix A: point-in-time restore quarterly
    cdc_lag_seconds: float = 600.0  # Appendix A: alert if CDC lag > 10 minutes
    worker_min_replicas: int = 3  # Appendix A: worker services >= 3 replicas


@dataclass(frozen=True)
class DrillRequirement:
    """One row of the strategy's drill table and the drill scenarios that carry it out."""

    drill: str
    frequency: str
    scenarios: tuple[str, ...]


# "DR Drill Procedures" (Chaos Engineering is continuous: `streamdr chaos`, not a drill run).
REQUIRED_DRILLS = (
    DrillRequirement("node-failover", "monthly", ("broker-failover",)),
    DrillRequirement("configuration-rollback", "monthly", ("config-rollback",)),
    DrillRequirement("transformation-rollback", "monthly", ("workflow-failure",)),
    DrillRequirement("database-restore", "quarterly", ("metadata-db-restore",)),
    DrillRequirement(
        "full-site-failover",
        "annually",
        ("site-failover", "site-failover-active-active", "site-failover-automatic"),
    ),
)


@dataclass(frozen=True)
class AlertRule:
    """One Prometheus alerting rule and the strategy line it implements."""

    name: str
    severity: str
    expr: str
    summary: str
    source: str
    for_: str = "0m"
    labels: tuple[tuple[str, str], ...] = ()  # fixed labels beside severity (absent() has none)

    def as_rule(self) -> dict[str, object]:
        """Return the rule as a Prometheus rule-file mapping."""
        return {
            "alert": self.name,
            "expr": self.expr,
            "for": self.for_,
            "labels": {"severity": self.severity, **dict(self.labels)},
            "annotations": {"summary": self.summary, "source": self.source},
        }


def _age(metric: str, scenarios: str) -> str:
    return f'time() - max({metric}{{scenario=~"{scenarios}"}})'


def appendix_b_rules(t: AlertThresholds) -> list[AlertRule]:
    """Return the Appendix B dashboard alerts."""
    lag = "streamdr_replication_lag_seconds"
    return [
        AlertRule(
            "StreamdrReplicationLagWarning",
            "warning",
            f"{lag} > {t.lag_warning_seconds:g} and {lag} <= {t.lag_critical_seconds:g}",
            "{{ $labels.topic }} ({{ $labels.tier }}) is {{ $value | humanizeDuration }} behind",
            "Appendix B: Kafka replication lag > 5 minutes (warning)",
        ),
        AlertRule(
            "StreamdrReplicationLagCritical",
            "critical",
            f"{lag} > {t.lag_critical_seconds:g}",
            "{{ $labels.topic }} ({{ $labels.tier }}) is {{ $value | humanizeDuration }} behind",
            "Appendix B: Kafka replication lag > 10 minutes (critical)",
        ),
        AlertRule(
            "StreamdrDrClusterUnavailable",
            "critical",
            'streamdr_site_up_ratio{role="standby"} == 0',
            "DR site {{ $labels.site }} does not answer",
            "Appendix B: DR cluster unavailable",
            "1m",
        ),
        AlertRule(
            "StreamdrBackupStale",
            "warning",
            f"streamdr_backup_age_seconds > {t.backup_max_age_seconds:g}",
            "Newest {{ $labels.kind }} backup is {{ $value | humanizeDuration }} old",
            "Appendix B: last backup > 24 hours",
        ),
        AlertRule(
            "StreamdrDrillOverdue",
            "warning",
            f"time() - streamdr_drill_last_run_timestamp_seconds > {t.drill_max_age_days * DAY:g}",
            "Drill {{ $labels.scenario }} last ran {{ $value | humanizeDuration }} ago",
            "Appendix B: last DR drill > 90 days ago",
        ),
        AlertRule(
            "StreamdrDrillRtoAboveTarget",
            "warning",
            "streamdr_drill_rto_seconds > on(scenario) streamdr_drill_rto_target_seconds",
            "Drill {{ $labels.scenario }} measured RTO {{ $value }}s, above its target",
            "Appendix B: RTO historical trend (degrading)",
        ),
        AlertRule(
            "StreamdrDrillRpoAboveTarget",
            "warning",
            "streamdr_drill_rpo_seconds > on(scenario) streamdr_drill_rpo_target_seconds",
            "Drill {{ $labels.scenario }} measured RPO {{ $value }}s, above its target",
            "Appendix B: RPO historical trend (degrading)",
        ),
    ]


def appendix_a_rules(t: AlertThresholds) -> list[AlertRule]:
    """Return the Appendix A checklist items a metric can watch."""
    month, quarter = t.monthly_drill_max_age_days * DAY, t.quarterly_drill_max_age_days * DAY
    passed = "streamdr_drill_last_passed_timestamp_seconds"
    return [
        AlertRule(
            "StreamdrReplicationLagAboveOneMinute",
            "info",
            f"streamdr_replication_lag_seconds > {t.lag_alert_seconds:g}",
            "{{ $labels.topic }} is more than a minute behind",
            "Appendix A Kafka: monitoring alerts for replication lag > 1 minute",
            "1m",
        ),
        AlertRule(
            "StreamdrLagSamplesStale",
            "warning",
            f"streamdr_replication_lag_sample_age_seconds > {t.lag_sample_max_age_seconds:g}",
            "No lag sample for {{ $value | humanizeDuration }}: is MirrorMaker 2 supervised?",
            "Appendix A Kafka: MirrorMaker 2 replicating to DR cluster",
        ),
        AlertRule(
            "StreamdrFailoverDrillOverdue",
            "warning",
            f"{_age(passed, 'broker-failover|site-failover')} > {month:g}",
            "No failover drill passed in the last month",
            "Appendix A Kafka: monthly failover drill",
        ),
        AlertRule(
            "StreamdrConfigBackupOverdue",
            "warning",
            'streamdr_backup_age_seconds{kind="config_repository"} > '
            f"{t.config_backup_max_age_seconds:g}",
            "Config repository backup is {{ $value | humanizeDuration }} old",
            "Appendix A Metadata: Git repository backed up hourly",
        ),
        AlertRule(
            "StreamdrRollbackDrillOverdue",
            "warning",
            f"{_age(passed, 'config-rollback|workflow-failure')} > {month:g}",
            "No rollback drill passed in the last month",
            "Appendix A: rollback procedure tested (monthly)",
        ),
        AlertRule(
            "StreamdrMetadataDbBackupOverdue",
            "critical",
            'streamdr_backup_age_seconds{kind="metadata_db"} > '
            f"{t.metadata_db_backup_max_age_seconds:g}",
            "Metadata DB backup is {{ $value | humanizeDuration }} old",
            "Appendix A Execution: database backups every 5 minutes",
        ),
        AlertRule(
            "StreamdrRestoreDrillOverdue",
            "warning",
            f"{_age(passed, 'topic-restore')} > {quarter:g}",
            "No restore drill passed this quarter",
            "Appendix A Execution: point-in-time restore tested quarterly",
        ),
        AlertRule(
            "StreamdrWorkersBelowMinimum",
            "warning",
            "count by (workflow) (streamdr_worker_assigned_partitions_count) "
            f"< {t.worker_min_replicas}",
            "Workflow {{ $labels.workflow }} runs on {{ $value }} workers",
            "Appendix A Execution: worker services running >= 3 replicas",
            "5m",
        ),
        AlertRule(
            "StreamdrCdcLagHigh",
            "critical",
            f"streamdr_cdc_lag_seconds > {t.cdc_lag_seconds:g}",
            "CDC source {{ $labels.source }} is {{ $value | humanizeDuration }} behind",
            "Appendix A CDC: alert if CDC lag > 10 minutes",
        ),
        AlertRule(
            "StreamdrCdcSourceDown",
            "warning",
            "streamdr_cdc_source_up_ratio == 0",
            "CDC source {{ $labels.source }} does not answer (retrying with backoff)",
            "Appendix A CDC: retry logic with exponential backoff",
            "5m",
        ),
        AlertRule(
            "StreamdrDeliveryBreakerOpen",
            "warning",
            "streamdr_delivery_breaker_state_code == 2",
            "The circuit breaker of {{ $labels.workflow }}'s endpoint is open",
            "Appendix A Client endpoints: circuit breaker pattern",
            "5m",
        ),
        AlertRule(
            "StreamdrDeadLetters",
            "warning",
            "increase(streamdr_dlq_records_total[15m]) > 0",
            "{{ $labels.workflow }} dead-lettered records at stage {{ $labels.stage }}",
            "Appendix A Client endpoints: dead letter queue for failed deliveries",
        ),
        AlertRule(
            "StreamdrFailoverInProgress",
            "warning",
            "streamdr_failover_in_progress_ratio == 1",
            "A failover or failback run is in progress or failed unresolved",
            "Strategy: full site failover",
            "0m",
        ),
        AlertRule(
            "StreamdrTierNotReady",
            "critical",
            "streamdr_readiness_ratio == 0",
            "Tier {{ $labels.tier }} could not be recovered within its targets now",
            "Strategy: tiered RTO/RPO targets",
            "5m",
        ),
    ]


def backup_presence_rules() -> list[AlertRule]:
    """Return the rules for a backup kind with no known age: none found, or none configured.

    ``streamdr_backup_age_seconds`` is absent for both, so the configured gauge tells them apart.
    """
    configured = "streamdr_backup_configured_ratio"
    return [
        AlertRule(
            "StreamdrBackupMissing",
            "critical",
            f"{configured} == 1 unless on(kind) streamdr_backup_age_seconds",
            "A {{ $labels.kind }} backup is configured but none was found",
            "Appendix B: backup age (S3, Git, Database) — no backup at all",
            "10m",
        ),
        AlertRule(
            "StreamdrBackupNotConfigured",
            "warning",
            f"{configured} == 0",
            "Nothing backs up the {{ $labels.kind }} (its age is unknown, not zero)",
            "Appendix B: backup age (S3, Git, Database)",
            "15m",
        ),
    ]


def drill_never_run_rules() -> list[AlertRule]:
    """Return one rule per row of the drill table that fires while none of its scenarios ran."""
    return [
        AlertRule(
            "StreamdrDrillNeverRun",
            "warning",
            "absent(streamdr_drill_last_run_timestamp_seconds"
            f'{{scenario=~"{"|".join(req.scenarios)}"}})',
            f"The {req.frequency} {req.drill} drill ({', '.join(req.scenarios)}) has never run",
            f"DR Drill Procedures: {req.drill} ({req.frequency})",
            "15m",
            (("drill", req.drill),),
        )
        for req in REQUIRED_DRILLS
    ]


def alert_rules(t: AlertThresholds | None = None) -> list[AlertRule]:
    """Return every alert rule (Appendix B first)."""
    t = t or AlertThresholds()
    presence = backup_presence_rules() + drill_never_run_rules()
    return appendix_b_rules(t) + appendix_a_rules(t) + presence


def render_rules(t: AlertThresholds | None = None) -> str:
    """Return the Prometheus rule file (YAML) of every alert rule."""
    doc = {
        "groups": [
            {
                "name": "streamdr-dr-readiness",
                "interval": "30s",
                "rules": [r.as_rule() for r in alert_rules(t)],
            }
        ]
    }
    dumper = YAML(typ="safe", pure=True)
    dumper.default_flow_style = False
    dumper.width = 1000  # one line per expression: easier to read and to grep
    buf = io.StringIO()
    dumper.dump(doc, buf)
    return buf.getvalue()
