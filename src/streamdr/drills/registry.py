"""The drills streamdr knows, by name, and running one end to end (run → judge → store)."""

from __future__ import annotations

from streamdr.clock import utcnow
from streamdr.drills.auto_failover import AutomaticSiteFailoverDrill, ObserverPartitionDrill
from streamdr.drills.broker_failover import BrokerFailoverDrill
from streamdr.drills.cdc_source_outage import CdcSourceOutageDrill
from streamdr.drills.config_rollback import ConfigRollbackDrill
from streamdr.drills.context import Drill, DrillContext
from streamdr.drills.delivery import PER_EVENT, check_delivery
from streamdr.drills.endpoint_outage import EndpointOutageDrill
from streamdr.drills.failure_note import aborted_line
from streamdr.drills.history import save_report
from streamdr.drills.metadata_db_restore import MetadataDbRestoreDrill
from streamdr.drills.repo_recovery import RepoRecoveryDrill
from streamdr.drills.report import DrillReport
from streamdr.drills.site_failover import ActiveActiveFailoverDrill, SiteFailoverDrill
from streamdr.drills.topic_restore import TopicRestoreDrill
from streamdr.drills.workflow_failure import WorkflowFailureDrill
from streamdr.errors import InputError, StreamdrError

DRILLS: dict[str, Drill] = {
    d.name: d
    for d in (
        BrokerFailoverDrill(),
        ConfigRollbackDrill(),
        RepoRecoveryDrill(),
        WorkflowFailureDrill(),
        EndpointOutageDrill(),
        CdcSourceOutageDrill(),
        TopicRestoreDrill(),
        SiteFailoverDrill(),
        ActiveActiveFailoverDrill(),
        MetadataDbRestoreDrill(),
        AutomaticSiteFailoverDrill(),
        ObserverPartitionDrill(),
    )
}


def get_drill(name: str) -> Drill:
    """Return the drill called ``name``; raises InputError listing the known ones."""
    if name not in DRILLS:
        raise InputError(f"unknown drill {name!r}", hint=f"Known drills: {', '.join(DRILLS)}.")
    return DRILLS[name]


def delivery_modes(drill: Drill) -> tuple[str, ...]:
    """Return the delivery modes ``drill`` runs in: its ``delivery_modes``, else per-event."""
    modes: tuple[str, ...] = getattr(drill, "delivery_modes", (PER_EVENT,))
    return modes


def check_drill_delivery(name: str, mode: str) -> Drill:
    """Return the drill called ``name`` when it runs in delivery ``mode``.

    Raises InputError for an unknown drill or mode, or a mode the drill does not run in.
    """
    drill = get_drill(name)
    check_delivery(drill.name, mode, delivery_modes(drill))
    return drill


def run_drill(name: str, ctx: DrillContext) -> tuple[int, DrillReport]:
    """Run a drill, store its report and return (id, report).

    Raises InputError (nothing stored) when the drill cannot run with these settings or in
    ``ctx.delivery``. Any other StreamdrError aborts the drill: its report is stored as failed,
    then the error is raised.
    """
    drill = check_drill_delivery(name, ctx.delivery)
    report = DrillReport(drill.name, ctx.site, drill.targets, on_step=ctx.on_step)
    if len(delivery_modes(drill)) > 1:  # only a drill with a workflow says how it delivered
        report.delivery_mode = ctx.delivery
    try:
        report = drill.run(ctx, report)
    except InputError:
        raise
    except StreamdrError as exc:
        report.failures.append(aborted_line(exc))
        report.passed = False
        report.finished_at = utcnow()
        save_report(ctx.store, report)
        raise
    report.finished_at = report.finished_at or utcnow()
    return save_report(ctx.store, report), report
