"""The prices file: the packaged default, and bad files reported with file:line (exit 2)."""

import pytest

from streamdr.cost.model import option_cost
from streamdr.cost.options import Option, Scenario
from streamdr.cost.prices import load_prices, parse_prices
from streamdr.yamldoc import DocumentError

GOOD = """version: 1
name: test
instances:
  c5.4xlarge: 0.68
  c5.2xlarge: 0.34
storage:
  standard: 0.023
  glacier: 0.004
transfer:
  cross_region: 0.02
"""


def test_packaged_prices_are_appendix_c():
    book = load_prices()
    assert book.instances["c5.4xlarge"] == 0.68 and book.hours_per_month == 730
    assert book.storage.glacier == 0.004 and book.transfer.cross_region == 0.02


def test_prices_file_from_disk(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(GOOD)
    assert load_prices(path).name == "test"


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        (GOOD.replace("0.023", "-0.023"), ":7:", "storage.standard"),
        (GOOD.replace("0.68", "68000"), ":4:", "instances.c5.4xlarge"),
        (GOOD.replace("  glacier: 0.004\n", ""), ":6:", "storage.glacier"),
        (GOOD.replace("name: test", "name: test\nhours_per_month: 9000"), ":3:", "hours_per_month"),
        (GOOD.replace("cross_region", "cross_regoin"), ":10:", "unknown field"),
        (GOOD.replace("0.34", '"cheap"'), ":5:", "instances.c5.2xlarge"),
    ],
)
def test_bad_prices_name_file_and_line(text, where, message):
    with pytest.raises(DocumentError) as info:
        parse_prices(text, "prices.yaml")
    listed = [str(e) for e in info.value.errors]
    assert any(f"prices.yaml{where}" in e and message in e for e in listed), listed
    assert info.value.exit_code == 2 and info.value.hint


def test_missing_instance_type_names_the_instances_line():
    book = parse_prices(GOOD.replace("  c5.2xlarge: 0.34\n", ""), "prices.yaml")
    with pytest.raises(DocumentError) as info:
        option_cost(Option.ACTIVE_PASSIVE, Scenario(), book)
    assert str(info.value).startswith("prices.yaml:3:1: instances: no price for 'c5.2xlarge'")
    assert "c5.4xlarge" in (info.value.hint or "")
