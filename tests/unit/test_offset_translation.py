"""Offset translation rules: last checkpoint wins; sync.downstream + (equal ? 0 : 1); reverse."""

from streamdr.replication.mm2.offset_translation import (
    from_checkpoints,
    from_offset_syncs,
    from_reverse_syncs,
    last_checkpoints,
    sync_history,
    translate_downstream,
    translate_upstream,
)
from streamdr.replication.mm2.records import Checkpoint, OffsetSync

SYNCS = [OffsetSync("t", 0, 0, 0), OffsetSync("t", 0, 101, 101), OffsetSync("t", 0, 166, 166)]


def test_last_checkpoint_per_partition_wins_even_when_it_goes_back():
    cps = [
        Checkpoint("g", "p_t", 0, 10, 10),
        Checkpoint("other", "p_t", 0, 99, 99),
        Checkpoint("g", "p_t", 1, 5, 5),
        Checkpoint("g", "p_t", 0, 50, 40),
        Checkpoint("g", "p_t", 0, 30, 25),  # a rewind upstream: the last record still wins
    ]
    last = last_checkpoints(cps, "g")
    assert last[("p_t", 0)].downstream_offset == 25
    assert last[("p_t", 1)].downstream_offset == 5
    out = from_checkpoints(last, {"p_t": "t"})
    assert [(t.topic, t.partition, t.offset, t.source_topic) for t in out] == [
        ("p_t", 0, 25, "t"),
        ("p_t", 1, 5, "t"),
    ]


def test_downstream_is_exact_on_a_sync_and_one_past_it_otherwise():
    assert translate_downstream(SYNCS, 101) == 101
    assert translate_downstream(SYNCS, 133) == 102
    assert translate_downstream(SYNCS, 166) == 166
    assert translate_downstream(SYNCS, 167) == 167
    assert translate_downstream(SYNCS, 0) == 0


def test_offsets_before_every_sync_cannot_be_translated():
    assert translate_downstream([OffsetSync("t", 0, 50, 20)], 10) is None
    assert translate_downstream([], 10) is None


def test_translation_never_claims_more_than_was_read():
    # With gaps upstream (e.g. compaction), downstream offsets are denser than upstream ones.
    syncs = [OffsetSync("t", 0, 0, 0), OffsetSync("t", 0, 1000, 10)]
    for group in range(0, 1200, 7):
        translated = translate_downstream(syncs, group)
        assert translated is not None and translated <= 11


def test_reverse_translation_mirrors_the_forward_rule():
    syncs = [OffsetSync("t", 0, 5, 0), OffsetSync("t", 0, 300, 200)]
    assert translate_upstream(syncs, 0) == 5
    assert translate_upstream(syncs, 150) == 6
    assert translate_upstream(syncs, 200) == 300
    assert translate_upstream(syncs, 201) == 301
    assert translate_upstream([OffsetSync("t", 0, 5, 10)], 3) is None


def test_sync_history_drops_syncs_contradicted_by_a_restart():
    history = sync_history(
        [
            OffsetSync("t", 0, 0, 0),
            OffsetSync("t", 0, 100, 100),
            OffsetSync("t", 0, 200, 200),
            # MM2 restarted from its committed position and re-replicated from 150.
            OffsetSync("t", 0, 150, 260),
            OffsetSync("t", 1, 7, 3),
        ]
    )
    assert [(s.upstream_offset, s.downstream_offset) for s in history[("t", 0)]] == [
        (0, 0),
        (100, 100),
        (150, 260),
    ]
    assert translate_downstream(history[("t", 0)], 180) == 261


def test_from_offset_syncs_and_reverse_report_method_and_basis():
    hist = sync_history(SYNCS)
    fwd = from_offset_syncs({("t", 0): 133}, hist, {"t": "primary_t"})
    assert fwd[0].topic == "primary_t" and fwd[0].offset == 102
    assert fwd[0].method == "offset-sync"
    assert fwd[0].basis == {"sync_upstream": 101, "sync_downstream": 101}
    rev = from_reverse_syncs({("primary_t", 0): 150}, hist, {"primary_t": "t"})
    assert (rev[0].topic, rev[0].offset, rev[0].method) == ("t", 102, "offset-sync-reverse")
    none = from_offset_syncs({("u", 0): 5}, hist, {"u": "primary_u"})
    assert none[0].offset is None and none[0].method == "none"
