"""known_hosts parsing (plain, hashed, markers, ports) and the pin decision."""

from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitward.connector.host_keys import (
    HostKey,
    InvalidHostKey,
    PinStatus,
    check_fingerprint,
    decide,
    keys_for_host,
    parse_key_line,
    parse_known_hosts,
)
from gitward.errors import GitwardError
from gitward.keys import export_public_key, generate_key


def _key() -> HostKey:
    return parse_key_line(export_public_key(generate_key("ed25519").public).decode())


A, B, C = _key(), _key(), _key()


def test_ok_plain_entries_with_ports_patterns_and_markers() -> None:
    text = (
        "# comment\n\n"
        f"git.example.com,10.0.0.1 {A.line}\n"
        f"[git.example.com]:2222 {B.line} a comment\n"
        f"*.example.org,!bad.example.org {C.line}\n"
        f"@revoked git.example.com {C.line}\n"
        f"@cert-authority *.example.com {B.line}\n"
    ).encode()
    entries = parse_known_hosts(text)
    assert keys_for_host(entries, "git.example.com", 22) == [A]
    assert keys_for_host(entries, "git.example.com", 2222) == [B]
    assert keys_for_host(entries, "x.example.org", 22) == [C]
    with pytest.raises(InvalidHostKey, match=r"no usable key for bad\.example\.org"):
        keys_for_host(entries, "bad.example.org", 22)


def test_ok_revoked_key_is_never_returned() -> None:
    entries = parse_known_hosts(f"h {A.line}\nh {B.line}\n@revoked * {A.line}\n".encode())
    assert keys_for_host(entries, "h", 22) == [B]


def test_ok_hashed_entries_made_by_ssh_keygen(tmp_path: Path) -> None:
    path = tmp_path / "known_hosts"
    path.write_text(f"[127.0.0.1]:2310 {A.line}\ngit.example.com {B.line}\n")
    subprocess.run(["ssh-keygen", "-q", "-H", "-f", str(path)], check=True, capture_output=True)
    hashed = path.read_bytes()
    assert b"|1|" in hashed and b"127.0.0.1" not in hashed
    entries = parse_known_hosts(hashed)
    assert keys_for_host(entries, "127.0.0.1", 2310) == [A]
    assert keys_for_host(entries, "git.example.com", 22) == [B]
    with pytest.raises(InvalidHostKey):
        keys_for_host(entries, "127.0.0.1", 22)


@pytest.mark.parametrize(
    ("line", "said"),
    [
        ("h ssh-dss AAAA", "not an SSH host key type"),
        ("h ssh-ed25519 !!!", "base64"),
        ("h ssh-ed25519 AAAAB3NzaC1yc2E=", "does not match"),
        ("@weird h ssh-ed25519 AAAA", "unknown marker"),
        ("h ssh-ed25519", "expected"),
    ],
    ids=["fail/dsa", "fail/base64", "fail/type-mismatch", "fail/marker", "fail/short"],
)
def test_fail_bad_lines_name_their_line(line: str, said: str) -> None:
    with pytest.raises(InvalidHostKey) as info:
        parse_known_hosts(f"# one\n{line}\n".encode())
    assert info.value.message.startswith("line 2: ") and said in info.value.message


def test_ok_decisions_name_both_fingerprints() -> None:
    assert decide("h:22", [A, B], []).status is PinStatus.UNKNOWN
    pinned = decide("h:22", [A, B], [B])
    assert pinned.ok and pinned.status is PinStatus.PINNED
    changed = decide("h:22", [C], [A])
    assert changed.status is PinStatus.CHANGED
    assert changed.presented == (C.fingerprint,) and changed.pinned == (A.fingerprint,)


def test_ok_fingerprint_forms() -> None:
    assert check_fingerprint(f" {A.fingerprint} ") == A.fingerprint
    for bad in ("MD5:aa:bb", "SHA256:short", "ed25519 AAAA", ""):
        with pytest.raises(InvalidHostKey):
            check_fingerprint(bad)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_any_bytes_give_entries_or_a_gitward_error(data: bytes) -> None:
    try:
        entries = parse_known_hosts(data)
    except GitwardError:
        return
    for entry in entries:
        entry.matches("h", 22)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_any_key_line_gives_a_key_or_a_gitward_error(text: str) -> None:
    with contextlib.suppress(GitwardError):
        parse_key_line(text)


def test_ok_the_strongest_key_comes_first() -> None:
    """ssh-keyscan lists RSA first; the pin command a message suggests is the Ed25519 key."""
    rsa = HostKey("ssh-rsa", b"rsa-blob")
    ecdsa = HostKey("ecdsa-sha2-nistp256", b"ecdsa-blob")
    ed = HostKey("ssh-ed25519", b"ed-blob")
    decision = decide("h:22", [rsa, ecdsa, ed], [])
    assert decision.presented == (ed.fingerprint, ecdsa.fingerprint, rsa.fingerprint)


def test_fail_a_pattern_of_many_stars_does_not_hang() -> None:
    """Found by fuzz/ (known_hosts): the glob was a regular expression, and ``a*a*a*...b``
    against a long name backtracked exponentially (the connector hung on one line)."""
    key = export_public_key(generate_key("ed25519")).decode().split()
    line = ("a*" * 40 + "b " + " ".join(key[:2])).encode()
    [entry] = parse_known_hosts(line)
    assert not entry.matches("a" * 60, 22)
    [star] = parse_known_hosts(("*.example.com,!bad.example.com " + " ".join(key[:2])).encode())
    assert star.matches("git.example.com", 22) and not star.matches("bad.example.com", 22)
    assert not star.matches("example.com", 22)
