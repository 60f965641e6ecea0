"""Drill ``cdc-source-outage``: the source database crashes under load; CDC resumes, 0 lost.

Steady inserts flow PostgreSQL → CDC → Kafka → worker → endpoint. PostgreSQL is stopped with an
immediate shutdown (a crash) for a while; writes fail meanwhile. A write whose commit reached the
disk but whose acknowledgement was lost in the crash is committed all the same: the ground truth is
every acknowledged write plus every such write found in the table after the restart (reported as
``commits_in_doubt``). PostgreSQL restarts, CDC reconnects with backoff and resumes
from its Kafka checkpoint. Every committed change — before and after the crash — must be
applied exactly once. RTO = database back → first change committed after the restart applied.
"""

from __future__ import annotations

import time
from datetime import timedelta

from streamdr.drills.context import DrillContext
from streamdr.drills.delivery import DELIVERY_MODES
from streamdr.drills.pipeline_rig import (
    PipelineRig,
    exactly_once_checks,
    run_on_rig,
    steady_load,
    verify_exactly_once,
)
from streamdr.drills.report import DrillReport
from streamdr.policy.tiers import Targets

RATE = 40.0
WARMUP_S = 5.0
OUTAGE_S = 10.0
AFTER_S = 3.0  # steady traffic after the resume was proven (the first change after it applied)


class CdcSourceOutageDrill:
    """Crash the source database under load, restart it, verify CDC resumed losslessly."""

    name = "cdc-source-outage"
    description = "source PostgreSQL crashes under load; CDC resumes from its checkpoint; 0 lost"
    targets = Targets(rpo=timedelta(0), rto=timedelta(minutes=2))
    delivery_modes = DELIVERY_MODES

    def run(self, ctx: DrillContext, report: DrillReport) -> DrillReport:
        """Run the drill and fill ``report``."""
        return run_on_rig(ctx, report, "drill-cdc", lambda rig: self._exercise(rig, report))

    def _exercise(self, rig: PipelineRig, report: DrillReport) -> None:
        load = steady_load(rig, report, RATE, WARMUP_S, "steady load, events applied")
        with report.step(f"crash PostgreSQL (immediate stop) for {OUTAGE_S:.0f}s") as st:
            fault_at = time.time()
            rig.db.stop()
            time.sleep(OUTAGE_S)
            st.detail = f"{load.failures} writes refused while down"
        with report.step("restart PostgreSQL; CDC reconnects and resumes") as st:
            back_at = time.time()
            rig.db.start_again()
            rig.wait(
                lambda: any(t > back_at for t in load.committed.values()),
                60,
                "the first write after the restart",
            )
            first_after = min(n for n, t in load.committed.items() if t > back_at)
            resumed = rig.wait_quietly(lambda: first_after in set(rig.applied()), 90)
            resumed_at = time.time()
            st.ok = resumed
            st.detail = f"change {first_after} applied {resumed_at - back_at:.1f}s after restart"
            time.sleep(AFTER_S)
        in_doubt: set[int] = set()

        def truth() -> set[int]:
            acknowledged = set(load.stop())
            in_doubt.update(rig.rows_in_source() - acknowledged)
            return acknowledged | in_doubt

        _done, _at, verdict = verify_exactly_once(
            rig, report, "stop load; verify every committed change applied once", truth, 300
        )
        rto = (rig.applied_times().get(first_after, resumed_at) - back_at) if resumed else None
        checks = exactly_once_checks(report, verdict, rto, self.targets)
        report.figures.update(
            {
                **verdict,
                "outage_seconds": round(back_at - fault_at, 3),
                "writes_refused_while_down": load.failures,
                "commits_in_doubt": len(in_doubt),
            }
        )
        report.judge(
            {
                "CDC resumed after the restart": resumed,
                **checks,
            }
        )
