"""Certificate validity periods, written the way ``ssh-keygen -V`` takes them.

Pure: the current time (``now``, Unix seconds) and the local time zone (``tz``) are
parameters, so the same spec always gives the same interval in tests. The grammar and
meaning follow ssh-keygen 9.2 (``parse_cert_times``, ``convtime``, ``parse_absolute_time``),
checked live by signing and reading the result back with ``ssh-keygen -L``:

    +INTERVAL          from the start of the minute at least 59 s ago, to now + INTERVAL.
                       ssh-keygen backdates on purpose ("hosts with poorly-synchronised
                       clocks"): valid_after = floor((now - 59) / 60) * 60. Seen live:
                       now 20:47:38 gives "from 20:46:00 to <tomorrow> 20:47:38".
    FROM:TO            both ends, each one of:
        +INTERVAL / -INTERVAL   now plus/minus the interval (either end)
        always                  (FROM only) 0, no start
        forever                 (TO only) 0xFFFFFFFFFFFFFFFF, no end
        0xHEX                   raw Unix seconds (lower-case "0x" only, as ssh-keygen)
        YYYYMMDD[Z]  YYYYMMDDHHMM[Z]  YYYYMMDDHHMMSS[Z]
                                a date/time; "Z" or "UTC" (any case) means UTC, without it
                                the local zone ``tz`` (see the DST note below)

An INTERVAL is one or more NUMBER[UNIT] with units s m h d w (any case; no unit means
seconds), e.g. ``1h30m``, ``52w1d``; its total must stay below 2**31 seconds (ssh-keygen
refuses ``+4000w``). TO must be after FROM.

DST note (ssh-keygen 9.2 behaviour, mirrored so the same -V gives the same certificate):
ssh-keygen calls mktime() with tm_isdst = 0, so a local date is read with the zone's
*standard* offset even in summer. Live, TZ=Europe/Paris, ``-V 20260701:20260702`` prints
"from 2026-07-01T01:00:00". We do the same: offset = utcoffset - dst at that wall time.

Deliberately stricter than ssh-keygen (it accepts these by accident of strtol/strptime;
we refuse them as typos): impossible dates that mktime would roll over (``20260230`` is
March 2nd to ssh-keygen), second 60, and signs or spaces inside an interval
(``++5m``, ``+ 5m``). Years before 1970 or after 9999 are refused too.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Final

from gitward.ca.certificate import FOREVER
from gitward.errors import InvalidInput

# convtime() keeps the total in an int: the largest interval ssh-keygen accepts.
MAX_INTERVAL: Final = 2**31 - 1

_UNITS: Final = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_INTERVAL_PART: Final = re.compile(r"([0-9]+)([smhdw]?)", re.IGNORECASE | re.ASCII)
_ABSOLUTE: Final = re.compile(r"([0-9]{8}|[0-9]{12}|[0-9]{14})(z|utc)?", re.IGNORECASE | re.ASCII)
_HEX: Final = re.compile(r"0x([0-9a-fA-F]+)")
_MAX_SPEC: Final = 256  # far longer than any real spec; keeps int() away from huge digit runs


def parse_validity(spec: str, now: int, tz: tzinfo = UTC) -> tuple[int, int]:
    """``(valid_after, valid_before)`` for an ``ssh-keygen -V`` spec; InvalidInput if bad."""
    if len(spec) > _MAX_SPEC:
        raise _invalid(spec, "the validity is too long")
    if spec.startswith("+") and ":" not in spec:
        seconds = parse_interval(spec[1:], spec)
        return ((now - 59) // 60) * 60, now + seconds
    start, sep, end = spec.partition(":")
    if not sep or not start or not end:
        raise _invalid(spec, "write +INTERVAL or FROM:TO (for example +52w or always:forever)")
    valid_after = _parse_end(start, now, tz, open_word="always", open_value=0)
    valid_before = _parse_end(end, now, tz, open_word="forever", open_value=FOREVER)
    if valid_before <= valid_after:
        raise _invalid(spec, "the end of the validity period is not after its start")
    return valid_after, valid_before


def parse_interval(text: str, spec: str | None = None) -> int:
    """Seconds in an interval like ``1h30m`` or ``52w1d`` (sshd_config TIME FORMATS)."""
    shown = text if spec is None else spec
    if not text:
        raise _invalid(shown, "an interval like 30m, 1h30m, 1d or 52w is missing")
    total = 0
    position = 0
    while position < len(text):
        match = _INTERVAL_PART.match(text, position)
        if match is None:
            raise _invalid(shown, "intervals are numbers with units s, m, h, d or w (e.g. 1h30m)")
        number = match.group(1).lstrip("0")
        if len(number) > 10:
            raise _invalid(shown, "the interval is longer than ssh-keygen allows (about 68 years)")
        total += int(number or "0") * _UNITS[match.group(2).lower()]
        if total > MAX_INTERVAL:
            raise _invalid(shown, "the interval is longer than ssh-keygen allows (about 68 years)")
        position = match.end()
    return total


def _parse_end(text: str, now: int, tz: tzinfo, *, open_word: str, open_value: int) -> int:
    if text[0] in "+-":
        seconds = parse_interval(text[1:], text)
        value = now + seconds if text[0] == "+" else now - seconds
        if value < 0:
            raise _invalid(text, "this time is before 1970")
        return value
    if text == open_word:
        return open_value
    hexadecimal = _HEX.fullmatch(text)
    if hexadecimal is not None:
        digits = hexadecimal.group(1).lstrip("0")
        if len(digits) > 16:
            raise _invalid(text, "the time does not fit in 64 bits")
        return int(digits or "0", 16)
    return _parse_absolute(text, tz)


def _parse_absolute(text: str, tz: tzinfo) -> int:
    match = _ABSOLUTE.fullmatch(text)
    if match is None:
        raise _invalid(
            text,
            "times are +/-INTERVAL, always, forever, 0xHEX, YYYYMMDD or YYYYMMDDHHMM[SS], "
            "with Z for UTC",
        )
    digits = match.group(1).ljust(14, "0")
    try:
        wall = datetime(
            int(digits[0:4]),
            int(digits[4:6]),
            int(digits[6:8]),
            int(digits[8:10]),
            int(digits[10:12]),
            int(digits[12:14]),
        )
    except ValueError as exc:
        raise _invalid(text, "this date or time does not exist", cause=str(exc)) from exc
    if match.group(2):
        offset = timedelta(0)
    else:
        # mktime() with tm_isdst = 0, as ssh-keygen: the zone's standard offset.
        offset = (tz.utcoffset(wall) or timedelta(0)) - (tz.dst(wall) or timedelta(0))
    seconds = int((wall - offset - datetime(1970, 1, 1)).total_seconds())
    if seconds < 0:
        raise _invalid(text, "this time is before 1970")
    return seconds


def _invalid(spec: str, hint: str, *, cause: str | None = None) -> InvalidInput:
    shown = spec if len(spec) <= 64 and spec.isprintable() else repr(spec[:64])
    return InvalidInput(f"invalid validity {shown!r}: {hint}", cause=cause)
