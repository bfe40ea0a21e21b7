"""ssh-keygen -V validity specs: table tests, properties, and live ssh-keygen agreement."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from datetime import UTC, timedelta, timezone, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gitward.ca.certificate import FOREVER, parse_certificate_line
from gitward.ca.validity import MAX_INTERVAL, parse_interval, parse_validity
from gitward.errors import InvalidInput

NOW = 1_795_294_058  # 2026-11-21T20:47:38Z
MINUTE_START = 1_795_293_960  # 20:46:00: ssh-keygen's backdated start for +INTERVAL
JAN_1 = 1_767_225_600  # 2026-01-01T00:00:00Z
FEB_1 = 1_769_904_000  # 2026-02-01T00:00:00Z
PARIS = ZoneInfo("Europe/Paris")
PLUS_2 = timezone(timedelta(hours=2))

OK: dict[str, tuple[str, tzinfo, tuple[int, int]]] = {
    "ok/plus-day": ("+1d", UTC, (MINUTE_START, NOW + 86400)),
    "ok/plus-weeks-days": ("+52w1d", UTC, (MINUTE_START, NOW + 52 * 604800 + 86400)),
    "ok/plus-combined": ("+1h30m", UTC, (MINUTE_START, NOW + 5400)),
    "ok/plus-upper-unit": ("+1D", UTC, (MINUTE_START, NOW + 86400)),
    "ok/plus-bare-seconds": ("+90", UTC, (MINUTE_START, NOW + 90)),
    "ok/plus-zero": ("+0", UTC, (MINUTE_START, NOW)),
    "ok/plus-max": ("+2147483647", UTC, (MINUTE_START, NOW + MAX_INTERVAL)),
    "ok/minus-plus": ("-5m:+1h", UTC, (NOW - 300, NOW + 3600)),
    "ok/plus-plus": ("+1d:+2d", UTC, (NOW + 86400, NOW + 2 * 86400)),
    "ok/always-forever": ("always:forever", UTC, (0, FOREVER)),
    "ok/always-plus": ("always:+1d", UTC, (0, NOW + 86400)),
    "ok/dates-utc-zone": ("20260101:20260201", UTC, (JAN_1, FEB_1)),
    "ok/dates-z": ("20260101Z:20260201z", PARIS, (JAN_1, FEB_1)),
    "ok/dates-utc-suffix": ("20260101UTC:20260201utc", PARIS, (JAN_1, FEB_1)),
    "ok/minutes": ("202601011230Z:20260201", UTC, (JAN_1 + 45000, FEB_1)),
    "ok/seconds": ("20260101123045Z:20260201", UTC, (JAN_1 + 45045, FEB_1)),
    "ok/fixed-offset": ("20260101:20260201", PLUS_2, (JAN_1 - 7200, FEB_1 - 7200)),
    "ok/paris-winter": ("20260101:20260201", PARIS, (JAN_1 - 3600, FEB_1 - 3600)),
    # ssh-keygen's mktime(tm_isdst=0): July is read with Paris's *standard* offset (+1).
    "ok/paris-summer-standard-offset": (
        "20260701:20260702",
        PARIS,
        (1_782_860_400, 1_782_946_800),  # 2026-06-30T23:00Z, 2026-07-01T23:00Z
    ),
    "ok/hex": ("0x10:0x20", UTC, (16, 32)),
    "ok/hex-forever": ("0x1:0xffffffffffffffff", UTC, (1, FOREVER)),
    "ok/hex-leading-zeros": ("0x0000000000000000010:0x20", UTC, (16, 32)),
    "ok/date-to-forever": ("20260101:forever", UTC, (JAN_1, FOREVER)),
    "ok/minus-to-date": ("-1d:20300101Z", UTC, (NOW - 86400, 1_893_456_000)),
}

FAIL: dict[str, str] = {
    "fail/empty": "",
    "fail/plus-alone": "+",
    "fail/colon-alone": ":",
    "fail/no-from": ":+1d",
    "fail/no-to": "+1d:",
    "fail/single-date": "20260101",
    "fail/single-minus": "-1d",
    "fail/bare-interval": "5m",
    "fail/bad-unit": "+5y",
    "fail/unit-first": "+m5",
    "fail/too-long-interval": "+4000w",
    "fail/interval-sign-inside": "++5m",
    "fail/interval-space": "+ 5m",
    "fail/reversed": "20260201:20260101",
    "fail/equal": "20260101:20260101",
    "fail/forever-first": "forever:always",
    "fail/always-last": "20260101:always",
    "fail/upper-hex-prefix": "0X10:0x20",
    "fail/hex-empty": "0x:0x20",
    "fail/hex-too-big": "0x1:0x10000000000000000",
    "fail/bad-month": "20261301:20270101",
    "fail/feb-30": "20260230:20260301",
    "fail/hour-24": "20260101240000:20260201",
    "fail/second-60": "20260101235960:20260202",
    "fail/nine-digits": "202601011:20260201",
    "fail/before-1970": "19690101Z:20260101",
    "fail/minus-before-1970": f"-{NOW + 1}:+1d",
    "fail/junk": "tomorrow:forever",
    "fail/huge-number": "+" + "9" * 5000,
    "fail/too-long-spec": "+1s" * 200,
}


@pytest.mark.parametrize("name", OK)
def test_ok(name: str) -> None:
    spec, tz, expected = OK[name]
    assert parse_validity(spec, NOW, tz) == expected


@pytest.mark.parametrize("name", FAIL)
def test_fail(name: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_validity(FAIL[name], NOW)
    assert info.value.message.startswith("invalid validity")
    assert "\n" not in info.value.message


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1h30m", 5400), ("52w1d", 52 * 604800 + 86400), ("10", 10), ("1s1s", 2), ("0005M", 300)],
)
def test_interval(text: str, seconds: int) -> None:
    assert parse_interval(text) == seconds


@given(st.text(max_size=40))
def test_any_text_gives_an_interval_or_invalid_input(spec: str) -> None:
    try:
        after, before = parse_validity(spec, NOW, PARIS)
    except InvalidInput:
        return
    assert 0 <= after < before <= FOREVER


# --- live: ssh-keygen 9.2 gives the same interval ------------------------------------

needs_ssh_keygen = pytest.mark.skipif(
    shutil.which("ssh-keygen") is None, reason="ssh-keygen (OpenSSH) is not installed"
)

LIVE = [
    "+1d",
    "+52w1d",
    "+1h30m",
    "-5m:+1h",
    "always:forever",
    "always:+1d",
    "20260101:20260201",
    "202601011230:20260201",
    "20260101123045Z:20260201",
    "20260101UTC:forever",
    "0x10:0x20",
    "0x1:0xffffffffffffffff",
    "20260701:20260702",
    "20261025023000:20261026",
    "20260329023000:20260330",
    "-1w:20300101",
]


@pytest.fixture(scope="module")
def keygen_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("validity")
    for name in ("ca", "user"):
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(work / name)], check=True
        )
    return work


def _keygen_validity(work: Path, spec: str, zone: str) -> tuple[int, int, int, int]:
    """(valid_after, valid_before, time before, time after) of a live ssh-keygen -V."""
    (work / "k.pub").write_bytes((work / "user.pub").read_bytes())
    env = {**os.environ, "TZ": zone}
    before = int(time.time())
    subprocess.run(
        ["ssh-keygen", "-q", "-s", str(work / "ca"), "-I", "v", "-V", spec, str(work / "k.pub")],
        check=True,
        env=env,
        capture_output=True,
    )
    after = int(time.time())
    cert = parse_certificate_line((work / "k-cert.pub").read_text())
    return cert.valid_after, cert.valid_before, before, after


@needs_ssh_keygen
@pytest.mark.parametrize("zone", ["UTC", "Europe/Paris"])
@pytest.mark.parametrize("spec", LIVE, ids=[f"ok/live-{s}" for s in LIVE])
def test_live_ssh_keygen_agrees(keygen_dir: Path, spec: str, zone: str) -> None:
    got_after, got_before, t0, t1 = _keygen_validity(keygen_dir, spec, zone)
    ours = {parse_validity(spec, now, ZoneInfo(zone)) for now in range(t0, t1 + 1)}
    assert (got_after, got_before) in ours


@needs_ssh_keygen
@pytest.mark.parametrize(
    "spec",
    [
        "",
        "+",
        "20260101",
        "5m",
        "+4000w",
        "20260101:20260101",
        "0X10:0x20",
        ":+1d",
        "20260101246000:20260201",
        "+1d:",
        "-1d",
        "forever:always",
    ],
)
def test_live_ssh_keygen_refuses_too(keygen_dir: Path, spec: str) -> None:
    (keygen_dir / "k.pub").write_bytes((keygen_dir / "user.pub").read_bytes())
    proc = subprocess.run(
        [
            "ssh-keygen",
            "-q",
            "-s",
            str(keygen_dir / "ca"),
            "-I",
            "v",
            "-V",
            spec,
            str(keygen_dir / "k.pub"),
        ],
        capture_output=True,
        check=False,
    )
    assert proc.returncode != 0
    with pytest.raises(InvalidInput):
        parse_validity(spec, int(time.time()))


@needs_ssh_keygen
@pytest.mark.parametrize(
    "spec", ["++5m:+1h", "+ 5m", "20260230:20260305", "20260101235960:20260202"]
)
def test_live_documented_divergences(keygen_dir: Path, spec: str) -> None:
    """ssh-keygen accepts these by accident (strtol, mktime rollover); we refuse them."""
    got_after, _, _, _ = _keygen_validity(keygen_dir, spec, "UTC")
    assert got_after > 0
    with pytest.raises(InvalidInput):
        parse_validity(spec, int(time.time()))


def test_fail_a_unicode_letter_that_folds_to_a_unit_is_refused() -> None:
    """Found by fuzz/ (validity): under re.IGNORECASE "ſ" (U+017F) matched the unit [s],
    and its lower case, itself, was not a unit: KeyError escaped parse_interval."""
    with pytest.raises(InvalidInput):
        parse_interval("1\u017f")
    with pytest.raises(InvalidInput):
        parse_validity("+1\u017f", 1_780_000_000)
    with pytest.raises(InvalidInput):
        parse_validity("20260101\u212a:20270101", 1_780_000_000)  # KELVIN SIGN, not K
