"""Where the site-failover drills run CDC and workers as the failover moves them (no Kafka)."""

from dataclasses import dataclass, field

from streamdr.drills.pipeline_rig import RigSource
from streamdr.drills.site_pipeline import SitePipeline, cdc_sites
from streamdr.replication.naming import ReplicationNames

NAMES = ReplicationNames("_")
TOPIC = "drill1.public.drill_events"


@dataclass
class FakeRig:
    """Records the processes the workload starts and stops instead of spawning them."""

    sources: dict[str, RigSource]
    workflow_name: str = "wf"
    topic: str = TOPIC
    procs: dict[str, list[str]] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)

    def running(self, key: str) -> bool:
        return key in self.procs

    def stop_many(self, keys: list[str], grace: float = 30.0) -> None:
        for key in keys:
            if self.procs.pop(key, None) is not None:
                self.log.append(f"stop {key}")

    def start_worker(self, wait_ready, *, site, subscriptions, key):
        self.procs[key] = ["run", "--site", site, str(subscriptions)]
        self.log.append(f"start {key}")

    def start_cdc(self, source, *, site, key):
        self.procs[key] = ["cdc", "run", source, "--site", site]
        self.log.append(f"start {key}@{site}")


def _rig(*homes: str) -> FakeRig:
    sources = {
        f"s{i}": RigSource(f"s{i}", f"db{i}", home, 1 + i * 10**9) for i, home in enumerate(homes)
    }
    return FakeRig(sources)


def test_cdc_writes_home_unless_the_site_serves_the_homes_copy():
    homes = {"a": "primary", "b": "dr"}
    assert cdc_sites(homes, "primary", {TOPIC}, NAMES, TOPIC) == ["a"]
    assert cdc_sites(homes, "dr", {TOPIC}, NAMES, TOPIC) == ["b"]
    # dr stands in for primary once its workers read primary's copy.
    assert cdc_sites(homes, "dr", {TOPIC, f"primary_{TOPIC}"}, NAMES, TOPIC) == ["a", "b"]


def test_active_passive_failover_moves_worker_and_cdc_to_the_survivor():
    rig = _rig("primary")
    work = SitePipeline(rig, NAMES)  # type: ignore[arg-type]
    work.start("primary", {"wf": [TOPIC]})
    assert work.start("dr", {}) == "nothing to run on dr"  # standby: nothing runs there
    assert work.fenced("dr") and not work.fenced("primary")

    assert "CDC stopped for ['s0']" in work.stop("primary")
    assert work.fenced("primary")
    done = work.start("dr", {"wf": [TOPIC, f"primary_{TOPIC}"]})
    assert "CDC s0 → dr" in done and work.cdc_at == {"s0": "dr"}
    assert rig.procs["cdc-s0"][-1] == "dr" and rig.procs["worker-dr"][1:3] == ["--site", "dr"]


def test_failback_to_a_critical_home_keeps_each_database_on_its_own_site():
    rig = _rig("primary", "dr")
    work = SitePipeline(rig, NAMES)  # type: ignore[arg-type]
    work.start("dr", {"wf": [TOPIC, f"primary_{TOPIC}"]})  # dr stands in for both
    assert work.cdc_at == {"s0": "dr", "s1": "dr"}
    work.stop("dr")
    work.start("primary", {"wf": [TOPIC, f"dr_{TOPIC}"]})
    work.start("dr", {"wf": [TOPIC]})
    assert work.cdc_at == {"s0": "primary", "s1": "dr"}
    # Starting again where CDC already runs does not restart it.
    before = list(rig.log)
    work.start("dr", {"wf": [TOPIC]})
    assert [e for e in rig.log[len(before) :] if e.startswith("start cdc")] == []


def test_rig_sources_own_disjoint_change_numbers():
    a, b = RigSource("a", "d", "primary", 1), RigSource("b", "d2", "dr", 1 + 10**9)
    assert a.owns(1) and a.owns(10**9) and not a.owns(10**9 + 1)
    assert b.owns(10**9 + 1) and not b.owns(5)
