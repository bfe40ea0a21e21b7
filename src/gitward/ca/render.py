"""``ssh-keygen -L`` text for a certificate, byte for byte (OpenSSH 9.2 ``print_cert``).

Times are shown in the zone ``tz`` (ssh-keygen uses the local zone; the CLI passes it).
Option values are re-read from the certificate blob rather than from the parsed mapping,
because ssh-keygen prints an unknown option's raw data and the mapping cannot tell an
empty flag from an empty string value.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from typing import Final

from gitward.ca.certificate import FOREVER, USER_CERT, Certificate
from gitward.keys.wire import WireReader

# sshkey_type(): the short names ssh-keygen prints.
_SHORT_TYPES: Final = {
    "ssh-ed25519": "ED25519",
    "ecdsa-sha2-nistp256": "ECDSA",
    "ecdsa-sha2-nistp384": "ECDSA",
    "ecdsa-sha2-nistp521": "ECDSA",
    "ssh-rsa": "RSA",
}
# Printed without their (empty) data; anything else unknown shows its raw bytes.
_KNOWN_EXTENSION_FLAGS: Final = frozenset(
    {
        "permit-X11-forwarding",
        "permit-agent-forwarding",
        "permit-port-forwarding",
        "permit-pty",
        "permit-user-rc",
        "no-touch-required",
    }
)
_INDENT: Final = " " * 8
_ITEM: Final = " " * 16
_LAST_DATETIME: Final = 253402300799  # 9999-12-31T23:59:59Z


def render_certificate(cert: Certificate, path_label: str, tz: tzinfo = UTC) -> str:
    """What ``ssh-keygen -L -f FILE`` prints; ``path_label`` is FILE as typed."""
    return "".join(line + "\n" for line in certificate_lines(cert, path_label, tz))


def certificate_lines(cert: Certificate, path_label: str, tz: tzinfo = UTC) -> list[str]:
    """The lines of ``render_certificate`` (callers may append their own)."""
    critical, extensions = _raw_options(cert)
    kind = "user" if cert.cert_type == USER_CERT else "host"
    lines = [
        f"{path_label}:",
        f"{_INDENT}Type: {cert.key_type} {kind} certificate",
        f"{_INDENT}Public key: {_short(cert.public_key_type)}-CERT {cert.public_key_fingerprint}",
        f"{_INDENT}Signing CA: {_short(cert.signature_key_type)} "
        f"{cert.signature_key_fingerprint} (using {cert.signature_algorithm})",
        f'{_INDENT}Key ID: "{cert.key_id}"',
        f"{_INDENT}Serial: {cert.serial}",
        f"{_INDENT}Valid: {format_validity(cert.valid_after, cert.valid_before, tz)}",
    ]
    if cert.principals:
        lines.append(f"{_INDENT}Principals: ")
        lines += [f"{_ITEM}{name}" for name in cert.principals]
    else:
        lines.append(f"{_INDENT}Principals: (none)")
    lines += _option_lines("Critical Options", critical, in_critical=True)
    lines += _option_lines("Extensions", extensions, in_critical=False)
    return lines


def format_validity(valid_after: int, valid_before: int, tz: tzinfo = UTC) -> str:
    """sshkey_format_cert_validity(): "forever", "before T", "after T", "from T to T"."""
    if valid_after == 0 and valid_before == FOREVER:
        return "forever"
    if valid_after == 0:
        return f"before {format_time(valid_before, tz)}"
    if valid_before == FOREVER:
        return f"after {format_time(valid_after, tz)}"
    return f"from {format_time(valid_after, tz)} to {format_time(valid_before, tz)}"


def format_time(seconds: int, tz: tzinfo = UTC) -> str:
    """strftime("%Y-%m-%dT%H:%M:%S") of localtime(), in ``tz``.

    Past year 9999 Python's datetime gives up; the date is then computed from the day
    count with the offset ``tz`` has at the end of 9999 (glibc agrees up to its own limit,
    year 2**31; beyond that ssh-keygen prints whatever localtime_r left behind).
    """
    if seconds <= _LAST_DATETIME - 86400:
        return datetime.fromtimestamp(seconds, tz).strftime("%Y-%m-%dT%H:%M:%S")
    last = datetime.fromtimestamp(_LAST_DATETIME - 86400, tz)
    shifted = seconds + int((last.utcoffset() or timedelta(0)).total_seconds())
    days, rest = divmod(shifted, 86400)
    year, month, day = _civil_from_days(days)
    hour, rest = divmod(rest, 3600)
    minute, second = divmod(rest, 60)
    return f"{year}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}"


def _civil_from_days(days: int) -> tuple[int, int, int]:
    """Proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's algorithm)."""
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (month <= 2), month, day


def _short(key_type: str) -> str:
    if key_type.endswith("-cert-v01@openssh.com"):
        plain = key_type.removesuffix("-cert-v01@openssh.com")
        return f"{_short(plain)}-CERT"
    return _SHORT_TYPES.get(key_type, "unknown")


def _option_lines(title: str, raw: list[tuple[str, bytes]], *, in_critical: bool) -> list[str]:
    if not raw:
        return [f"{_INDENT}{title}: (none)"]
    lines = [f"{_INDENT}{title}: "]
    for name, data in raw:
        lines.append(f"{_ITEM}{name}{_option_text(name, data, in_critical=in_critical)}")
    return lines


def _option_text(name: str, data: bytes, *, in_critical: bool) -> str:
    """show_options(): the text after the option's name."""
    if not in_critical and name in _KNOWN_EXTENSION_FLAGS:
        return ""
    if in_critical and name in ("force-command", "source-address"):
        return " " + WireReader(data, what="option").text()
    if in_critical and name == "verify-required":
        return ""
    if data:
        return f" UNKNOWN OPTION: {data.hex()} (len {len(data)})"
    return " UNKNOWN FLAG OPTION"


def _raw_options(cert: Certificate) -> tuple[list[tuple[str, bytes]], list[tuple[str, bytes]]]:
    """The critical options and extensions as (name, raw data), read from ``cert.blob``.

    The blob has already passed parse_certificate, so the layout is known to be sound.
    """
    reader = WireReader(cert.blob, what="SSH certificate")
    reader.string()  # certificate key type
    reader.string()  # nonce
    plain_type_length = 4 + len(cert.public_key_type.encode("ascii"))
    reader.raw(len(cert.public_key) - plain_type_length)  # subject key fields
    reader.uint64()  # serial
    reader.uint32()  # type
    reader.string()  # key id
    reader.string()  # principals
    reader.uint64()  # valid after
    reader.uint64()  # valid before
    return _pairs(reader.string()), _pairs(reader.string())


def _pairs(raw: bytes) -> list[tuple[str, bytes]]:
    reader = WireReader(raw, what="options")
    pairs: list[tuple[str, bytes]] = []
    while reader.remaining:
        pairs.append((reader.string().decode("ascii"), reader.string()))
    return pairs
