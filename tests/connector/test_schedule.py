"""When a repository is synced next: interval with jitter, capped exponential backoff."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gitward.connector.schedule import next_attempt, parse_sync_interval
from gitward.errors import InvalidInput

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _delay(interval: int, failures: int, rand: float = 0.5, cap: int = 3600) -> float:
    return (next_attempt(NOW, interval, failures, cap, rand) - NOW).total_seconds()


def test_ok_interval_then_doubling_then_the_cap() -> None:
    assert _delay(300, 0) == 300
    assert [_delay(300, n) for n in (1, 2, 3, 4, 5, 9)] == [300, 600, 1200, 2400, 3600, 3600]
    assert _delay(7200, 3) == 7200  # never sooner than one interval


@given(st.integers(60, 86400), st.integers(0, 100), st.floats(0, 1), st.integers(60, 86400))
def test_jitter_stays_within_ten_percent_and_the_cap(
    interval: int, failures: int, rand: float, cap: int
) -> None:
    delay = _delay(interval, failures, rand, cap)
    base = _delay(interval, failures, 0.5, cap)
    assert 0.9 * base - 1e-6 <= delay <= 1.1 * base + 1e-6
    assert base <= max(cap, interval) and base >= interval


def test_intervals() -> None:
    assert parse_sync_interval("5m") == 300 and parse_sync_interval("1h30m") == 5400
    for bad in ("30s", "8d", "soon", ""):
        with pytest.raises(InvalidInput):
            parse_sync_interval(bad)
