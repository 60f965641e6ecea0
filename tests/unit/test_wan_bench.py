from bench.wan import MIN_BUFFER, _topology, bdp_bytes, wan_tuning, with_overrides

from streamdr.replication.mm2.config import Mm2Tuning, mm2_properties
from streamdr.settings.loader import parse_settings


def test_bdp_of_the_benchmark_link():
    # 10,000 events/s x 500 B over an 80 ms worst-case round trip (2 x (35 + 5) ms).
    assert bdp_bytes(10_000, 500, 80) == 400_000


def test_tuning_sizes_buffers_from_the_bdp_per_connection():
    t = wan_tuning(10_000, 500, 35, 5, brokers=3)
    assert t["consumer.receive.buffer.bytes"] == str(2 * 400_000 // 3)
    assert int(t["consumer.fetch.max.bytes"]) >= 2 * 400_000
    assert all(k.startswith("consumer.") for k in t)


def test_tuning_never_shrinks_below_kafka_defaults_and_caps_huge_links():
    small = wan_tuning(10, 100, 1, 0, brokers=3)
    assert int(small["consumer.receive.buffer.bytes"]) == MIN_BUFFER
    assert int(small["consumer.fetch.max.wait.ms"]) == 100
    huge = wan_tuning(10**7, 10_000, 500, 50, brokers=1)
    assert int(huge["consumer.receive.buffer.bytes"]) == 64 * 1024 * 1024


def test_the_tuning_is_applied_by_settings_and_rendered_for_the_source():
    settings = parse_settings(
        "sites:\n  primary: {bootstrap_servers: '10.0.0.1:9092'}\n"
        "  dr: {bootstrap_servers: '10.0.1.1:9092'}\n",
        "s.yaml",
    )
    for tuning in (wan_tuning(10_000, 500, 35, 5, 3), wan_tuning(10**7, 10_000, 500, 50, 1)):
        tuned = with_overrides(settings, tuning)  # inside the settings' allow-list
        props = mm2_properties(
            _topology(tuned, ["t"]),
            tuned.sites,
            Mm2Tuning.from_settings(tuned.replication, lab=True),
        )
        assert {
            k.removeprefix("primary."): v
            for k, v in props.items()
            if k.startswith("primary.consumer.")
        } == tuning
