"""When a connected repository is synced next. Pure: times and a random number in.

After a success: one interval later, give or take 10 % (jitter: repositories added together
drift apart instead of fetching in lockstep forever). After the n-th failure in a row:
the interval times 2**(n-1), capped at ``max_backoff`` (but never sooner than one interval),
with the same jitter, so a host that is down is not hammered and one that is back is
retried within the cap.
"""

from __future__ import annotations

import datetime as dt
from typing import Final

from gitward.ca.validity import parse_interval
from gitward.errors import InvalidInput

JITTER: Final = 0.10
MIN_INTERVAL: Final = 60
MAX_INTERVAL: Final = 7 * 86400


def next_attempt(
    now: dt.datetime,
    interval: int,
    consecutive_failures: int,
    max_backoff: int,
    rand: float,
) -> dt.datetime:
    """``rand`` in [0, 1): where in the jitter window this attempt falls."""
    if consecutive_failures <= 0:
        delay = float(interval)
    else:
        cap = max(max_backoff, interval)
        delay = min(float(cap), interval * 2.0 ** min(consecutive_failures - 1, 30))
    factor = 1.0 + JITTER * (2.0 * min(max(rand, 0.0), 1.0) - 1.0)
    return now + dt.timedelta(seconds=delay * factor)


def parse_sync_interval(text: str) -> int:
    """``5m``, ``1h``, ``90s`` (ssh-keygen's units) -> seconds, from 1 minute to 7 days."""
    value = text.strip()
    try:
        seconds = parse_interval(value.lstrip("+"), value)
    except InvalidInput as exc:
        shown = value[:20] if value.isprintable() else repr(value[:20])
        raise InvalidInput(
            f"invalid interval {shown!r}: write it like 5m, 1h or 1d", cause=exc.cause
        ) from exc
    if not MIN_INTERVAL <= seconds <= MAX_INTERVAL:
        raise InvalidInput("the sync interval must be between 1m and 7d")
    return seconds
