"""MaxStartups and per-source penalties: pure bookkeeping, the clock and the dice passed in."""

from __future__ import annotations

import pytest

from gitward.errors import ConfigurationError
from gitward.settings import Settings
from gitward.sshd.limits import PenaltyBox, SourceStartups, StartupLimit, parse_networks


@pytest.mark.parametrize(
    "spec, expected",
    [("10:30:100", StartupLimit(10, 30, 100)), ("5", StartupLimit(5, 100, 5))],
)
def test_ok_max_startups_forms(spec: str, expected: StartupLimit) -> None:
    assert StartupLimit.parse(spec) == expected


@pytest.mark.parametrize("spec", ["", "a:b:c", "10:30", "0", "10:130:100", "20:30:10"])
def test_fail_bad_max_startups(spec: str) -> None:
    with pytest.raises(ConfigurationError, match="max_startups must be N or start:rate:full"):
        StartupLimit.parse(spec)


def test_ok_startups_admit_below_start_drop_at_full_and_ramp_between() -> None:
    limit = StartupLimit(10, 30, 100)
    assert limit.admits(9, draw=0.0)
    assert not limit.admits(100, draw=0.999)
    # At start the drop chance is rate (30%); halfway to full it is 65%.
    assert not limit.admits(10, draw=0.29) and limit.admits(10, draw=0.30)
    assert not limit.admits(55, draw=0.64) and limit.admits(55, draw=0.66)


def test_ok_penalty_grows_with_failures_and_runs_down() -> None:
    box = PenaltyBox()
    for _ in range(3):
        box.penalise("192.0.2.7", now=100.0)
    assert not box.refuses("192.0.2.7", 100.0)  # 15 s owed: at the threshold, not over it
    box.penalise("192.0.2.7", now=100.0)
    assert box.refuses("192.0.2.7", 100.0)  # 20 s owed
    assert not box.refuses("192.0.2.7", 106.0)  # 14 s left
    assert not box.refuses("198.51.100.1", 100.0)  # others are not affected


def test_ok_connections_that_never_tried_cost_little() -> None:
    # ssh-keyscan, or a client that rejected the host key: OpenSSH's noauth penalty (1 s).
    box = PenaltyBox()
    for _ in range(15):
        box.penalise("192.0.2.8", now=0.0, tried=False)
    assert not box.refuses("192.0.2.8", 0.0)
    box.penalise("192.0.2.8", now=0.0, tried=False)
    assert box.refuses("192.0.2.8", 0.0)


def test_ok_penalty_is_capped_and_exempt_sources_are_never_penalised() -> None:
    box = PenaltyBox(exempt=parse_networks("127.0.0.0/8, ::1/128"))
    for _ in range(1000):
        box.penalise("192.0.2.9", now=0.0)
        box.penalise("127.0.0.1", now=0.0)
        box.penalise("::ffff:127.0.0.2", now=0.0)
    # Capped at 600 s; refused while more than the 15 s threshold is still owed.
    assert box.refuses("192.0.2.9", 584.0) and not box.refuses("192.0.2.9", 586.0)
    assert not box.refuses("127.0.0.1", 0.0)
    assert not box.refuses("::ffff:127.0.0.2", 0.0)


def test_fail_bad_exempt_list() -> None:
    with pytest.raises(ConfigurationError, match="penalty_exempt must be a CIDR list"):
        parse_networks("127.0.0.0/8, not-an-address")


def test_ok_one_source_holds_at_most_its_share_of_startups() -> None:
    per_source = SourceStartups(limit=2)
    for _ in range(2):
        assert per_source.admits("192.0.2.7")
        per_source.opened("192.0.2.7")
    assert not per_source.admits("192.0.2.7")
    assert per_source.admits("192.0.2.8")  # another address is not affected
    per_source.closed("192.0.2.7")
    assert per_source.admits("192.0.2.7")


def test_ok_exempt_sources_and_limit_zero_are_not_capped_per_source() -> None:
    exempt = SourceStartups(limit=1, exempt=parse_networks("10.0.0.0/8"))
    unlimited = SourceStartups(limit=0)
    for _ in range(5):
        exempt.opened("10.1.2.3")
        unlimited.opened("192.0.2.7")
    assert exempt.admits("10.1.2.3")
    assert unlimited.admits("192.0.2.7")


def test_ok_default_limits_admit_a_hundred_simultaneous_logins_from_one_address() -> None:
    settings = Settings()
    limit = StartupLimit.parse(settings.max_startups)
    per_source = SourceStartups(settings.per_source_max_startups)
    for held in range(100):
        assert limit.admits(held, draw=0.0)  # below `start`: no drop, whatever the dice
        assert per_source.admits("192.0.2.7")
        per_source.opened("192.0.2.7")


def test_ok_penalties_in_force_count_the_addresses_refused_now() -> None:
    box = PenaltyBox()
    for _ in range(4):  # 20 s owed: over the 15 s threshold
        box.penalise("192.0.2.1", 0.0)
    box.penalise("192.0.2.2", 0.0)  # 5 s: charged, not refused
    assert box.in_force(0.0) == 1
    assert box.refuses("192.0.2.1", 0.0) and not box.refuses("192.0.2.2", 0.0)
    assert box.in_force(6.0) == 0  # 14 s left: below the threshold again


# -- several worker processes (serve --workers N): each keeps its own books -------------


def test_ok_startup_limits_are_divided_between_workers_rounding_up() -> None:
    assert StartupLimit(256, 30, 1024).per_worker(2) == StartupLimit(128, 30, 512)
    assert StartupLimit(5, 100, 5).per_worker(2) == StartupLimit(3, 100, 3)
    assert StartupLimit(1, 100, 1).per_worker(4) == StartupLimit(1, 100, 1)
    assert SourceStartups(128).per_worker(3).limit == 43
    assert SourceStartups(0).per_worker(2).limit == 0  # still no limit


def test_ok_spread_failures_reach_the_penalty_threshold_as_with_one_process() -> None:
    """Four failed logins spread over two workers (the kernel's hash) are refused like
    four in one process: each worker charges its two at twice the price."""
    single = PenaltyBox()
    workers = [PenaltyBox().per_worker(2), PenaltyBox().per_worker(2)]
    for i in range(4):
        single.penalise("192.0.2.7", now=0.0)
        workers[i % 2].penalise("192.0.2.7", now=0.0)
    assert single.refuses("192.0.2.7", 0.0)
    assert all(box.refuses("192.0.2.7", 0.0) for box in workers)
    one_each = [PenaltyBox().per_worker(2), PenaltyBox().per_worker(2)]
    for box in one_each:
        box.penalise("192.0.2.8", now=0.0)
    assert not any(box.refuses("192.0.2.8", 0.0) for box in one_each)  # 10 s owed each


def test_ok_exempt_sources_stay_exempt_in_every_worker() -> None:
    box = PenaltyBox(exempt=parse_networks("10.0.0.0/8")).per_worker(2)
    for _ in range(100):
        box.penalise("10.1.2.3", now=0.0)
    assert not box.refuses("10.1.2.3", 0.0)
    assert SourceStartups(1, parse_networks("10.0.0.0/8")).per_worker(2).admits("10.1.2.3")
