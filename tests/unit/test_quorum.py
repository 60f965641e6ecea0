from streamdr.policy.quorum import QuorumStatus, parse_replication_table

# Captured from MetadataQuorumCommand `describe --replication` on the lab, node 2 SIGKILLed.
ROWS = [
    ("1", "81", "0", "1795933122338", "1795933122338", "Leader  "),
    ("2", "68", "13", "1795933116175", "1795933105702", "Follower"),
    ("3", "81", "0", "1795933122202", "1795933122202", "Follower"),
]
CAPTURED = (
    "NodeId\tDirectoryId           \tLogEndOffset\tLag\tLastFetchTimestamp\t"
    "LastCaughtUpTimestamp\tStatus  \t\n"
    + "".join(
        f"{n}     \t{'A' * 22}\t{leo}          \t{lag}  \t{f}     \t{c}    \t{st}\t\n"
        for n, leo, lag, f, c, st in ROWS
    )
)


def test_parse_replication_table():
    rows = parse_replication_table(CAPTURED)
    assert [r.node_id for r in rows] == [1, 2, 3]
    assert rows[1].lag == 13 and rows[1].status == "Follower"


def test_lagging_voter_judged_on_leader_clock():
    status = QuorumStatus(parse_replication_table(CAPTURED))
    assert status.leader.node_id == 1
    assert status.lagging_voters(stale_after_ms=10_000) == [2]
    assert status.lagging_voters(stale_after_ms=60_000) == []


def test_no_leader_means_every_voter_lags():
    rows = parse_replication_table(CAPTURED.replace("Leader  ", "Follower"))
    assert QuorumStatus(rows).lagging_voters() == [1, 2, 3]
