from bench.wan import MIN_BUFFER, bdp_bytes, wan_tuning


def test_bdp_of_the_benchmark_link():
    # 10,000 events/s x 500 B over an 80 ms worst-case round trip (2 x (35 + 5) ms).
    assert bdp_bytes(10_000, 500, 80) == 400_000


def test_tuning_sizes_buffers_from_the_bdp_per_connection():
    t = wan_tuning("primary", 10_000, 500, 35, 5, brokers=3)
    assert t["primary.consumer.receive.buffer.bytes"] == str(2 * 400_000 // 3)
    assert int(t["primary.consumer.fetch.max.bytes"]) >= 2 * 400_000
    assert all(k.startswith("primary.consumer.") for k in t)


def test_tuning_never_shrinks_below_kafka_defaults_and_caps_huge_links():
    small = wan_tuning("primary", 10, 100, 1, 0, brokers=3)
    assert int(small["primary.consumer.receive.buffer.bytes"]) == MIN_BUFFER
    assert int(small["primary.consumer.fetch.max.wait.ms"]) == 100
    huge = wan_tuning("primary", 10**7, 10_000, 500, 50, brokers=1)
    assert int(huge["primary.consumer.receive.buffer.bytes"]) == 64 * 1024 * 1024
