"""The cost model against Appendix C line by line, the options, and Appendix C's optimisations."""

import pytest

from streamdr.cost.model import APPENDIX_C, appendix_comparison, optimisations, option_cost
from streamdr.cost.options import Option, Scenario, TierMix, parse_option
from streamdr.cost.prices import load_prices
from streamdr.errors import InputError

PRICES = load_prices()


def lines(option, **kw):
    cost = option_cost(option, Scenario(**kw), PRICES)
    return cost, {line.component.key: line for line in cost.lines}


def test_option_2_reproduces_appendix_c_line_by_line():
    cost, by_key = lines(Option.ACTIVE_PASSIVE)
    expected = {  # quantity, monthly: the model's exact arithmetic on Appendix C's inputs
        "primary_brokers": (9, 9 * 0.68 * 730),
        "dr_brokers": (5, 5 * 0.68 * 730),
        "mirrormaker": (2, 2 * 0.34 * 730),
        "s3_standard": (500, 500 * 0.023),
        "s3_glacier": (9500, 9500 * 0.004),
        "transfer": (1000, 1000 * 0.02),
    }
    assert set(by_key) == set(expected)
    for key, (quantity, monthly) in expected.items():
        assert by_key[key].component.quantity == quantity, key
        assert by_key[key].monthly == pytest.approx(monthly), key
    assert cost.monthly == pytest.approx(7515.50)
    assert cost.annual == pytest.approx(90186.0)


def test_appendix_differences_are_its_rounding_only():
    rows = {r["row"]: r for r in appendix_comparison(option_cost(Option(2), Scenario(), PRICES))}
    assert set(rows) == set(APPENDIX_C)
    assert rows["s3_standard"]["difference"] == 0 and rows["transfer"]["difference"] == 0
    assert rows["primary_brokers"]["difference"] == pytest.approx(3.40)
    assert rows["mirrormaker"]["difference"] == pytest.approx(-0.40)
    assert rows["s3_glacier"]["difference"] == pytest.approx(0.96)
    # Every line within 0.1 % or $1 of what the appendix printed; the total within 0.1 %.
    for row in rows.values():
        assert abs(row["difference"]) <= max(1.0, row["appendix"] * 0.001), row
    # The appendix's breakdown: primary 59 %, DR 33 %, the rest 8 %.
    cost, by_key = lines(Option.ACTIVE_PASSIVE)
    assert round(by_key["primary_brokers"].monthly / cost.monthly * 100) == 59
    assert round(by_key["dr_brokers"].monthly / cost.monthly * 100) == 33


def test_option_bills():
    _, one = lines(Option.SINGLE_SITE)
    assert "dr_brokers" not in one and "mirrormaker" not in one
    _, three = lines(Option.ACTIVE_ACTIVE)
    assert three["dr_brokers"].component.quantity == 9
    assert three["mirrormaker"].component.quantity == 4
    _, four = lines(Option.HYBRID, tier_mix=TierMix(0.1, 0.6, 0.3))
    assert four["dr_brokers"].component.quantity == 4  # ceil(9 x (0.1 + 0.6 x 0.5))
    assert four["mirrormaker"].component.quantity == 3  # 2 forward + 1 back for critical
    assert four["transfer"].component.quantity == pytest.approx(700)
    totals = [option_cost(o, Scenario(), PRICES).monthly for o in Option]
    assert totals[0] < totals[3] < totals[1] < totals[2]


def test_hybrid_all_standard_equals_active_passive_and_all_critical_active_active():
    standard = option_cost(Option.HYBRID, Scenario(tier_mix=TierMix(0, 1, 0)), PRICES)
    assert standard.monthly == pytest.approx(option_cost(Option(2), Scenario(), PRICES).monthly)
    critical = option_cost(Option.HYBRID, Scenario(tier_mix=TierMix(1, 0, 0)), PRICES)
    assert critical.monthly == pytest.approx(option_cost(Option(3), Scenario(), PRICES).monthly)


def test_scaling_reserved_and_cumulative():
    _, by_key = lines(Option.ACTIVE_PASSIVE, workflows=200)
    assert by_key["primary_brokers"].component.quantity == 18
    assert by_key["transfer"].component.quantity == pytest.approx(2000)
    _, small = lines(Option.ACTIVE_PASSIVE, workflows=1)
    assert small["primary_brokers"].component.quantity == 3  # never below RF 3
    _, reserved = lines(Option.ACTIVE_PASSIVE, reserved=True)
    assert reserved["primary_brokers"].monthly == pytest.approx(9 * 0.68 * 0.65 * 730)
    series = option_cost(Option(2), Scenario(), PRICES).cumulative(3)
    assert len(series) == 36 and series[-1] == pytest.approx(7515.5 * 36)


def test_optimisations_quantified():
    saves = {s.name: s for s in optimisations(Scenario(), PRICES)}
    assert saves["reserved-instances-primary"].monthly_saving == pytest.approx(4467.6 * 0.35)
    # Two brokers fewer, not the appendix's $1,490 (which is three brokers).
    assert saves["dr-cluster-3-brokers"].monthly_saving == pytest.approx(2 * 0.68 * 730)
    assert saves["backup-retention-2-years"].monthly_saving == pytest.approx(28.13, abs=0.01)


@pytest.mark.parametrize(
    "make",
    [
        lambda: TierMix(0.5, 0.6, 0.3),
        lambda: TierMix(-0.1, 0.8, 0.3),
        lambda: Scenario(workflows=0),
        lambda: Scenario(dr_ratio=1.5),
        lambda: parse_option("5"),
        lambda: parse_option("two"),
    ],
)
def test_bad_inputs_are_input_errors(make):
    with pytest.raises(InputError):
        make()


def test_parse_option():
    assert parse_option("all") == list(Option)
    assert parse_option("4") == [Option.HYBRID]
