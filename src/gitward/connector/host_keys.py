"""Host keys: known_hosts files, key lines, and the pin decision. Pure.

A pin is a host key the administrator has accepted for one ``host:port``; one pin serves
every repository there. ``decide`` compares what a host presents with the pins:

* ``PINNED``  — a presented key is pinned: connect;
* ``UNKNOWN`` — nothing is pinned for this host and port: refuse, show its fingerprints;
* ``CHANGED`` — keys are pinned but the host presents none of them: refuse, show both.

known_hosts (sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT"): each line is
``[@marker] hostpatterns keytype base64 [comment]``; host patterns are comma-separated
names or ``[host]:port``, ``*``/``?`` wildcards, ``!`` negation, or one hashed entry
``|1|salt|hmac`` (HMAC-SHA1 of the ``known_hosts_name`` keyed with the salt). Marker
``@revoked`` means the key must never be accepted; ``@cert-authority`` lines are CA keys,
not host keys, and pinning does not use them (a pin is one exact key).
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from gitward.connector.urls import known_hosts_name
from gitward.errors import InvalidInput, KeyFormatError
from gitward.keys.fingerprint import sha256_fingerprint
from gitward.keys.wire import WireReader

MAX_KNOWN_HOSTS_BYTES: Final = 4 * 1024 * 1024
# Host key types OpenSSH presents (sshd's HostKeyAlgorithms families).
HOST_KEY_TYPES: Final = frozenset(
    {
        "ssh-ed25519",
        "ssh-rsa",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
        "sk-ssh-ed25519@openssh.com",
        "sk-ecdsa-sha2-nistp256@openssh.com",
    }
)


class InvalidHostKey(InvalidInput):
    """A host key, key line or known_hosts file that cannot be used."""


@dataclass(frozen=True)
class HostKey:
    key_type: str
    blob: bytes

    @property
    def fingerprint(self) -> str:
        return sha256_fingerprint(self.blob)

    @property
    def line(self) -> str:
        """``TYPE BASE64``, what ``host pin --key`` takes."""
        return f"{self.key_type} {base64.b64encode(self.blob).decode('ascii')}"


class PinStatus(enum.StrEnum):
    PINNED = "pinned"
    UNKNOWN = "unknown"
    CHANGED = "changed"


@dataclass(frozen=True)
class PinDecision:
    status: PinStatus
    host_port: str
    presented: tuple[str, ...]  # fingerprints the host showed
    pinned: tuple[str, ...]  # fingerprints pinned for it

    @property
    def ok(self) -> bool:
        return self.status is PinStatus.PINNED


def parse_key_line(text: str) -> HostKey:
    """``TYPE BASE64 [comment]`` -> HostKey, checking the blob names the same type."""
    fields = text.strip().split()
    if len(fields) < 2:
        raise InvalidHostKey("give the host key as 'TYPE BASE64', e.g. 'ssh-ed25519 AAAAC3Nz...'")
    return _host_key(fields[0], fields[1])


def _host_key(key_type: str, data: str) -> HostKey:
    if key_type.endswith("-cert-v01@openssh.com"):
        raise InvalidHostKey("this is a host certificate; pin the host's plain key")
    if key_type not in HOST_KEY_TYPES:
        raise InvalidHostKey(f"{key_type[:40]!r} is not an SSH host key type")
    try:
        blob = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidHostKey("the host key's base64 data is damaged") from exc
    try:
        inner = WireReader(blob, what="host key").text()
    except (KeyFormatError, UnicodeDecodeError) as exc:
        raise InvalidHostKey("the host key's data is damaged", cause=str(exc)) from exc
    if inner != key_type:
        raise InvalidHostKey("the host key's type does not match its data")
    return HostKey(key_type, blob)


@dataclass(frozen=True)
class KnownHostsEntry:
    marker: str | None  # None, "revoked" or "cert-authority"
    patterns: tuple[str, ...]  # plain patterns, or one "|1|salt|hash"
    key: HostKey

    def matches(self, host: str, port: int) -> bool:
        name = known_hosts_name(host, port)
        if len(self.patterns) == 1 and self.patterns[0].startswith("|1|"):
            return _hashed_match(self.patterns[0], name)
        positive = False
        for pattern in self.patterns:
            negated = pattern.startswith("!")
            bare = pattern[1:] if negated else pattern
            if _glob(bare.lower(), name):
                if negated:
                    return False
                positive = True
        return positive


def _glob(pattern: str, name: str) -> bool:
    """OpenSSH's host patterns: ``*`` and ``?`` only (``[`` is literal: ``[host]:port``)."""
    if "*" not in pattern and "?" not in pattern:
        return pattern == name
    # Not a regular expression: ``a*a*a*...`` made one backtrack exponentially (a pasted
    # known_hosts line hung the connector; found by fuzz/ known_hosts). The classic
    # two-pointer match, back to the last ``*`` only: at most len(pattern) * len(name).
    p = n = 0
    star, resume = -1, 0
    while n < len(name):
        if p < len(pattern) and pattern[p] in ("?", name[n]) and pattern[p] != "*":
            p, n = p + 1, n + 1
        elif p < len(pattern) and pattern[p] == "*":
            star, resume = p, n
            p += 1
        elif star >= 0:
            resume += 1
            p, n = star + 1, resume
        else:
            return False
    return all(ch == "*" for ch in pattern[p:])


def _hashed_match(entry: str, name: str) -> bool:
    parts = entry.split("|")
    if len(parts) != 4:
        return False
    try:
        salt = base64.b64decode(parts[2], validate=True)
        expected = base64.b64decode(parts[3], validate=True)
    except (binascii.Error, ValueError):
        return False
    digest = hmac.new(salt, name.encode("utf-8"), hashlib.sha1).digest()
    return hmac.compare_digest(digest, expected)


def parse_known_hosts(data: bytes) -> list[KnownHostsEntry]:
    """Every readable entry of a known_hosts file. Lines that are not entries (comments,
    blanks) are skipped; a malformed entry is an error naming its line, because a pin taken
    from a file must not silently drop what the administrator meant."""
    if len(data) > MAX_KNOWN_HOSTS_BYTES:
        raise InvalidHostKey("the known_hosts file is too large")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidHostKey("the known_hosts file is not UTF-8 text") from exc
    entries = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        marker = None
        if fields[0].startswith("@"):
            marker = fields.pop(0)[1:]
            if marker not in ("revoked", "cert-authority"):
                raise InvalidHostKey(f"line {number}: unknown marker @{marker[:20]}")
        if len(fields) < 3:
            raise InvalidHostKey(f"line {number}: expected 'HOSTS TYPE BASE64'")
        try:
            key = _host_key(fields[1], fields[2])
        except InvalidHostKey as exc:
            raise InvalidHostKey(f"line {number}: {exc.message}") from exc
        entries.append(KnownHostsEntry(marker, tuple(fields[0].split(",")), key))
    return entries


def keys_for_host(entries: Iterable[KnownHostsEntry], host: str, port: int) -> list[HostKey]:
    """The host keys known_hosts accepts for ``host`` on ``port`` (never a revoked one,
    never a CA line), in file order without duplicates."""
    matching = [e for e in entries if e.matches(host, port)]
    revoked = {e.key.blob for e in matching if e.marker == "revoked"}
    found: list[HostKey] = []
    for entry in matching:
        if entry.marker is None and entry.key.blob not in revoked and entry.key not in found:
            found.append(entry.key)
    if not found:
        raise InvalidHostKey(
            f"the known_hosts file has no usable key for {known_hosts_name(host, port)}"
        )
    return found


def check_fingerprint(text: str) -> str:
    """A fingerprint as OpenSSH prints it: ``SHA256:`` and 43 characters of base64."""
    value = text.strip()
    body = value.removeprefix("SHA256:")
    if value.startswith("MD5:"):
        raise InvalidHostKey("give the SHA256 fingerprint (ssh-keygen -l prints it): SHA256:...")
    padded = body + "=" * (-len(body) % 4)
    try:
        ok = value.startswith("SHA256:") and len(base64.b64decode(padded, validate=True)) == 32
    except (binascii.Error, ValueError):
        ok = False
    if not ok:
        raise InvalidHostKey(f"{value[:60]!r} is not a fingerprint like SHA256:AbC...xyz")
    return value


_PREFERRED_TYPES: Final = (
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "ssh-rsa",
)


def _preference(key: HostKey) -> int:
    return (
        _PREFERRED_TYPES.index(key.key_type)
        if key.key_type in _PREFERRED_TYPES
        else len(_PREFERRED_TYPES)
    )


def decide(host_port: str, presented: Sequence[HostKey], pinned: Sequence[HostKey]) -> PinDecision:
    """Whether a host presenting ``presented`` may be trusted, given its pins. The keys
    shown come strongest type first, so the one a message suggests pinning is Ed25519
    when the host has one (ssh-keyscan lists RSA first)."""
    shown = tuple(k.fingerprint for k in sorted(presented, key=_preference))
    pins = tuple(k.fingerprint for k in pinned)
    if not pins:
        status = PinStatus.UNKNOWN
    elif set(shown) & set(pins):
        status = PinStatus.PINNED
    else:
        status = PinStatus.CHANGED
    return PinDecision(status, host_port, shown, pins)


def known_hosts_text(entries: Iterable[tuple[str, int, HostKey]]) -> str:
    """A known_hosts file for ssh's UserKnownHostsFile, one plain line per pin."""
    return "".join(f"{known_hosts_name(h, p)} {k.line}\n" for h, p, k in entries)
