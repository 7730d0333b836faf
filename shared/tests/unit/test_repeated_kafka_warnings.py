"""While the broker is away, the Kafka client's repeated warnings are logged once a window."""

import logging

from helpline_shared.runtime.telemetry import RepeatsOnce


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def record(name: str, message: str, *args: object, level: int = logging.ERROR) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, message, args, None)


def test_a_repeated_kafka_error_passes_once_a_window_with_the_count_dropped() -> None:
    clock = Clock()
    repeats = RepeatsOnce(window=30.0, clock=clock)
    connect = 'Unable connect to "%s:%s": %s'
    passed = []
    for attempt in range(300):  # 30 s of retries every 100 ms
        clock.now = attempt / 10
        passed.append(repeats.filter(record("aiokafka.client", connect, "h", attempt, "refused")))
    assert passed.count(True) == 1 and passed[0]

    clock.now = 30.0
    after = record("aiokafka.client", connect, "h", 1, "refused")
    assert repeats.filter(after) and after.repeated == 299


def test_other_kinds_loggers_and_levels_are_not_held_back() -> None:
    repeats = RepeatsOnce(window=30.0, clock=Clock())
    assert repeats.filter(record("aiokafka.client", "Unable connect to %s", 1))
    assert repeats.filter(record("aiokafka.client", "Unable to update metadata from %s", 1))
    assert repeats.filter(record("aiokafka.consumer.fetcher", "Unable connect to %s", 1))
    for _ in range(3):
        assert repeats.filter(record("helpline.consumer", "batch failed", level=logging.WARNING))
        assert repeats.filter(record("aiokafka.conn", "connected", level=logging.INFO))
