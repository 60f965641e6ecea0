"""The Grafana "Disaster Recovery Readiness" dashboard of the strategy's Appendix B.

Built with Grafana's typed Foundation SDK, so panel and field names are checked by the library
rather than hand-written JSON. Queries read the gauges of :mod:`streamdr.observe.metrics`; the
thresholds drawn on the panels are the alert rules' (:mod:`streamdr.observe.alerts`).
"""

from __future__ import annotations

import json

from grafana_foundation_sdk.builders import dashboard as gd
from grafana_foundation_sdk.builders import prometheus, stat, timeseries
from grafana_foundation_sdk.builders.common import ReduceDataOptions
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import (
    DataSourceRef,
    GridPos,
    Threshold,
    ThresholdsMode,
    ValueMap,
    ValueMappingResult,
)

from streamdr.observe.alerts import DAY, REQUIRED_DRILLS, AlertThresholds

UID = "streamdr-dr-readiness"
DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")


def _query(expr: str, legend: str) -> prometheus.Dataquery:
    return prometheus.Dataquery().expr(expr).legend_format(legend).ref_id("A")


def _steps(*steps: tuple[float | None, str]) -> gd.ThresholdsConfig:
    return (
        gd.ThresholdsConfig()
        .mode(ThresholdsMode.ABSOLUTE)
        .steps([Threshold(value=v, color=c) for v, c in steps])
    )


def _series(title: str, expr: str, legend: str, unit: str, pos: GridPos) -> timeseries.Panel:
    return (
        timeseries.Panel()
        .title(title)
        .datasource(DATASOURCE)
        .with_target(_query(expr, legend))
        .unit(unit)
        .grid_pos(pos)
    )


def _stat(title: str, expr: str, legend: str, unit: str, pos: GridPos) -> stat.Panel:
    return (
        stat.Panel()
        .title(title)
        .datasource(DATASOURCE)
        .with_target(_query(expr, legend))
        .unit(unit)
        .reduce_options(ReduceDataOptions().calcs(["lastNotNull"]))
        .grid_pos(pos)
    )


def _panels(t: AlertThresholds) -> list[object]:
    lag = (
        _series(
            "Kafka replication lag (by topic)",
            "max by (topic, tier) (streamdr_replication_lag_seconds)",
            "{{topic}} ({{tier}})",
            "s",
            GridPos(h=8, w=12, x=0, y=4),
        )
        .thresholds(
            _steps(
                (None, "green"),
                (t.lag_warning_seconds, "orange"),
                (t.lag_critical_seconds, "red"),
            )
        )
        .description("Alert: lag > 5 minutes (warning), > 10 minutes (critical).")
    )
    return [
        _stat(
            "Readiness per tier (1 ready, 0.5 at risk, 0 not ready)",
            "streamdr_readiness_ratio",
            "{{tier}}",
            "none",
            GridPos(h=4, w=12, x=0, y=0),
        ).thresholds(_steps((None, "red"), (0.5, "orange"), (1, "green"))),
        _stat(
            "Failover in progress",
            "streamdr_failover_in_progress_ratio",
            "failover",
            "none",
            GridPos(h=4, w=12, x=12, y=0),
        ).thresholds(_steps((None, "green"), (1, "red"))),
        lag,
        _series(
            "Replication lag (messages)",
            "sum by (topic) (streamdr_replication_lag_messages)",
            "{{topic}}",
            "short",
            GridPos(h=8, w=12, x=12, y=4),
        ),
        _stat(
            "DR cluster health",
            "streamdr_site_up_ratio",
            "{{site}} ({{role}})",
            "none",
            GridPos(h=6, w=8, x=0, y=12),
        )
        .thresholds(_steps((None, "red"), (1, "green")))
        .description("Alert: DR cluster unavailable."),
        _stat(
            "Backup age (topics, config repository, metadata DB)",
            "streamdr_backup_age_seconds",
            "{{kind}}",
            "s",
            GridPos(h=6, w=8, x=8, y=12),
        )
        .thresholds(_steps((None, "green"), (t.backup_max_age_seconds, "red")))
        .description(
            "Alert: last backup > 24 hours (metadata DB: > 10 minutes). The metadata DB's age is "
            "0 while its Litestream replica holds every write. A kind with no known age is in "
            "'Backups with no known age'."
        ),
        _stat(
            "Last DR drill (age)",
            "time() - streamdr_drill_last_run_timestamp_seconds",
            "{{scenario}}",
            "s",
            GridPos(h=6, w=8, x=16, y=12),
        )
        .thresholds(_steps((None, "green"), (t.drill_max_age_days * DAY, "red")))
        .description("Alert: last drill > 90 days ago."),
        _series(
            "Recovery Time Objective (RTO) - historical",
            "streamdr_drill_rto_seconds",
            "{{scenario}}",
            "s",
            GridPos(h=8, w=12, x=0, y=18),
        ).description("Trend: are RTO targets improving or degrading?"),
        _series(
            "Recovery Point Objective (RPO) - historical",
            "streamdr_drill_rpo_seconds",
            "{{scenario}}",
            "s",
            GridPos(h=8, w=12, x=12, y=18),
        ).description("Trend: are RPO targets improving or degrading?"),
        _unknown_backups(GridPos(h=4, w=24, x=0, y=26)),
        _stat(
            "Required drills never run",
            f"count({_never_run_expr()}) or vector(0)",
            "drills never run",
            "none",
            GridPos(h=4, w=24, x=0, y=30),
        )
        .thresholds(_steps((None, "green"), (1, "orange")))
        .description("Rows of the strategy's drill table with no recorded run of any scenario."),
    ]


def _unknown_backups(pos: GridPos) -> stat.Panel:
    """Return the panel of backup kinds without an age: none found (red) or not configured."""
    missing = ValueMappingResult(text="configured, none found", color="red")
    unconfigured = ValueMappingResult(text="not configured", color="orange")
    return (
        _stat(
            "Backups with no known age",
            "streamdr_backup_configured_ratio unless on(kind) streamdr_backup_age_seconds",
            "{{kind}}",
            "none",
            pos,
        )
        .mappings([ValueMap(options={"1": missing, "0": unconfigured})])
        .description("Unknown is not 0 s old: a kind listed here has no backup age at all.")
    )


def _never_run_expr() -> str:
    """Return one absent() per row of the drill table, or-ed (each is 1 while it never ran)."""
    last = "streamdr_drill_last_run_timestamp_seconds"
    return " or ".join(
        f'label_replace(absent({last}{{scenario=~"{"|".join(r.scenarios)}"}}), '
        f'"drill", "{r.drill}", "", "")'
        for r in REQUIRED_DRILLS
    )


def build_dashboard(t: AlertThresholds | None = None) -> gd.Dashboard:
    """Return the dashboard builder with every Appendix B panel."""
    board = (
        gd.Dashboard("Disaster Recovery Readiness")
        .uid(UID)
        .tags(["streamdr", "disaster-recovery"])
        .refresh("30s")
        .time("now-7d", "now")
        .with_variable(gd.DatasourceVariable("datasource").label("Prometheus").type("prometheus"))
    )
    for panel in _panels(t or AlertThresholds()):
        board = board.with_panel(panel)  # type: ignore[arg-type]
    return board


def render_dashboard(t: AlertThresholds | None = None) -> str:
    """Return the dashboard as Grafana's JSON model (importable as is)."""
    return json.dumps(build_dashboard(t).build(), cls=JSONEncoder, indent=2, sort_keys=True)
