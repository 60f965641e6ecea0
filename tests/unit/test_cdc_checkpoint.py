"""CDC checkpoints: encoding, and which site holds changes the source already forgot."""

from streamdr.pipeline.cdc.checkpoint import Checkpoint, newest_past


def cp(position):
    return Checkpoint("orders", "postgres", position, f"0/{position:X}", None, "2026-11-29T00:00")


def test_a_checkpoint_round_trips_through_its_record_value():
    assert Checkpoint.from_json(cp(42).to_json()) == cp(42)


def test_the_newest_checkpoint_past_the_position_names_its_site():
    found = {"dr": cp(90), "eu": cp(120), "us": None}
    assert newest_past(found, 80) == ("eu", cp(120))
    assert newest_past(found, 100) == ("eu", cp(120))


def test_no_site_past_the_position_holds_nothing():
    assert newest_past({"dr": cp(80), "eu": None}, 80) is None
    assert newest_past({}, 0) is None
