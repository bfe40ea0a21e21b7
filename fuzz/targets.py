"""One fuzz target per parser that takes outside bytes.

A target takes ``bytes`` and runs one parser on them (decoding to text first where the
parser takes text: invalid UTF-8 is part of the input space, decoded with
``surrogateescape`` the way Python hands over command-line arguments). The only exceptions
that may escape are the parser's documented ones (``Target.allowed``); anything else, or a
call that takes longer than ``SLOW_SECONDS``, is a finding.

Seeds come from ``tests/vectors/`` (files made by the real tools, see the make_*.sh
scripts there) plus, for the text parsers with no vector files, the forms their docs and
tests name.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from gitward.access.decide import parse_ssh_username
from gitward.ca.certificate import parse_certificate, parse_certificate_line
from gitward.ca.krl import decode_krl
from gitward.ca.options import parse_source_address
from gitward.ca.sign import CertOptions, apply_option
from gitward.ca.validity import parse_interval, parse_validity
from gitward.connector.host_keys import parse_key_line, parse_known_hosts
from gitward.connector.issue_keys import make_rule, normalise_search_key
from gitward.connector.log_records import LogFormat, LogParser
from gitward.connector.urls import parse_host_port, parse_remote_url
from gitward.errors import (
    CertificateError,
    GitwardError,
    InvalidInput,
    KeyFormatError,
    KeyRejected,
    NotFound,
)
from gitward.git.commands import parse_git_command
from gitward.keys import formats, inspect_key, load_private_key, load_public_key
from gitward.keys.algorithms import decode_public_blob
from gitward.keys.upload import KeyPurpose, validate_public_key_upload
from gitward.names import check_account_name, check_repository_name, split_full_name

VECTORS = Path(__file__).resolve().parent.parent / "tests" / "vectors"
SLOW_SECONDS = 10.0  # a hang, not a slow machine: CI shares 2 cores with other jobs
NOW = 1_780_000_000  # a fixed "now" for -V specs: targets are deterministic


@dataclass(frozen=True)
class Target:
    name: str
    run: Callable[[bytes], object]
    allowed: tuple[type[BaseException], ...]
    seeds: Callable[[], list[bytes]]
    doc: str = ""
    # Seeds that are text lines holding base64: the mutator also damages the decoded bytes.
    base64_aware: bool = field(default=False)


def _text(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


def _files(*patterns: str) -> list[bytes]:
    found: list[bytes] = []
    for pattern in patterns:
        for path in sorted(VECTORS.glob(pattern)):
            if path.is_file() and path.stat().st_size <= 64 * 1024:
                found.append(path.read_bytes())
    return found


def _blobs(*patterns: str) -> list[bytes]:
    """The base64 middle field of each line of OpenSSH public-key/certificate files."""
    out = []
    for data in _files(*patterns):
        for line in data.splitlines():
            fields = line.split()
            if len(fields) >= 2:
                try:
                    out.append(base64.b64decode(fields[1], validate=True))
                except (binascii.Error, ValueError):
                    continue
    return out


def _lines(*items: str) -> Callable[[], list[bytes]]:
    return lambda: [item.encode() for item in items]


# ---- keys -------------------------------------------------------------------------------


def _key_loaders(data: bytes) -> None:
    for parse in (
        lambda: formats.detect(data).peek(data),
        lambda: inspect_key(data),
        lambda: load_private_key(data, None),
        lambda: load_public_key(data, None),
    ):
        with contextlib.suppress(KeyFormatError):
            parse()


def _codec(data: bytes) -> None:
    """The format module itself, not the API (whose net turns any stray exception into
    KeyFormatError and so would hide a finding)."""
    codec = formats.detect(data)
    codec.peek(data)
    if codec.load_private is not None:
        codec.load_private(data, None)
    elif codec.load_public is not None:
        codec.load_public(data)


def _upload(data: bytes) -> None:
    for purpose in KeyPurpose:
        with contextlib.suppress(KeyFormatError, KeyRejected):
            validate_public_key_upload(data, purpose)


# ---- certificates, KRLs, ssh-keygen forms ---------------------------------------------


def _certificate_line(data: bytes) -> None:
    parse_certificate_line(_text(data))


def _validity(data: bytes) -> None:
    text = _text(data)
    with contextlib.suppress(InvalidInput):
        parse_validity(text, NOW, dt.UTC)
    parse_interval(text.lstrip("+-"))


def _option(data: bytes) -> None:
    state = CertOptions.for_type(1)
    for text in _text(data).split("\n")[:16]:
        state = apply_option(state, text)


def _source_address(data: bytes) -> None:
    parse_source_address(_text(data))


# ---- SSH and git front door ----------------------------------------------------------


def _git_command(data: bytes) -> None:
    command = parse_git_command(_text(data))
    _ = command.repo_path, command.operation


def _ssh_username(data: bytes) -> None:
    text = _text(data)
    parse_ssh_username(text)  # None for a name that is not ours, never an exception
    for check in (check_account_name, check_repository_name, split_full_name):
        with contextlib.suppress(InvalidInput):
            check(text)


# ---- the connector ---------------------------------------------------------------------


def _remote_url(data: bytes) -> None:
    text = _text(data)
    try:
        url = parse_remote_url(text)
        _ = url.git_url, url.known_hosts_name, url.default_name, url.host_port, url.ssh_user
    except InvalidInput:
        pass
    parse_host_port(text)


def _known_hosts(data: bytes) -> None:
    for line in data.splitlines()[:4]:
        with contextlib.suppress(InvalidInput):
            parse_key_line(_text(line))
    for entry in parse_known_hosts(data):
        entry.matches("git.example.com", 22)
        _ = entry.key.fingerprint, entry.key.line


_RULES = (make_rule(), make_rule(projects="PROJ,ABC"))


def _issue_keys(data: bytes) -> None:
    text = _text(data)
    for rule in _RULES:
        rule.keys_in(text)  # never raises: a commit message is whatever its author wrote
    normalise_search_key(text)


_LOG_FORMAT = LogFormat("00112233deadbeef")


def _log_records(data: bytes) -> None:
    parser = LogParser(_LOG_FORMAT)
    for start in range(0, len(data), 97):  # in pieces, as a pipe delivers them
        parser.feed(data[start : start + 97])
    parser.close()


def _log_seeds() -> list[bytes]:
    start, end = _LOG_FORMAT.start, _LOG_FORMAT.end
    record = (
        start + b"0123456789abcdef0123456789abcdef01234567\x001780000000\x00Alice\x00"
        b"alice@example.com\x00PROJ-12: fix the thing\n\nRefs ABC-3\n" + end + b"\n\n 2 files"
    )
    return [record, record + b"\n" + record, b""]


# ---- the table ----------------------------------------------------------------------------

TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target(
            "key_loaders",
            _key_loaders,
            (),
            lambda: _files("keys/*", "upload/*", "hostile/*"),
            "keys.inspect_key/load_private_key/load_public_key: OpenSSH, PEM, PKCS#8, DER, "
            ".ppk, RFC 4716, SSH.COM",
        ),
        Target(
            "key_codecs",
            _codec,
            (KeyFormatError,),
            lambda: _files("keys/*", "hostile/*"),
            "each format module directly (formats.detect(...).peek/load_*)",
        ),
        Target(
            "key_openssh",
            _codec,
            (KeyFormatError,),
            lambda: _files("keys/*.openssh", "keys/*.openssh.pub"),
            "OpenSSH private keys and public-key lines",
            base64_aware=True,
        ),
        Target(
            "key_pem",
            _codec,
            (KeyFormatError,),
            lambda: _files(
                "keys/*.pem", "keys/*.pkcs8", "keys/*.pkcs1", "keys/*.sec1", "keys/*.der"
            ),
            "PEM: PKCS#1, SEC1, PKCS#8 (encrypted too), SPKI, DER",
            base64_aware=True,
        ),
        Target(
            "key_ppk",
            _codec,
            (KeyFormatError,),
            lambda: _files("keys/*.ppk"),
            "PuTTY .ppk v2 and v3",
            base64_aware=True,
        ),
        Target(
            "key_rfc4716",
            _codec,
            (KeyFormatError,),
            lambda: _files("keys/*rfc4716*", "keys/*.sshcom"),
            "RFC 4716 public keys and SSH.COM private keys",
            base64_aware=True,
        ),
        Target(
            "public_key_blob",
            decode_public_blob,
            (KeyFormatError,),
            lambda: _blobs("upload/*.pub", "keys/*.pub", "hostile/*.pub"),
            "keys.algorithms.decode_public_blob (the SSH wire form)",
        ),
        Target(
            "key_upload",
            _upload,
            (),
            lambda: _files("upload/*", "hostile/*.pub", "keys/*.pub"),
            "keys.upload.validate_public_key_upload for every purpose",
            base64_aware=True,
        ),
        Target(
            "certificate",
            parse_certificate,
            (CertificateError,),
            lambda: _blobs("certs/*-cert.pub", "ca/*-cert.pub"),
            "ca.certificate.parse_certificate (the wire blob)",
        ),
        Target(
            "certificate_line",
            _certificate_line,
            (CertificateError,),
            lambda: _files("certs/*-cert.pub", "ca/*-cert.pub"),
            "ca.certificate.parse_certificate_line",
            base64_aware=True,
        ),
        Target(
            "krl",
            decode_krl,
            (CertificateError,),
            lambda: _files("krl/*.krl", "ca/*.krl"),
            "ca.krl.decode_krl",
        ),
        Target(
            "validity",
            _validity,
            (InvalidInput,),
            _lines(
                "+52w",
                "-1d:+1d",
                "always:forever",
                "20260101:20260201",
                "20260101123000:20260201",
                "-5m:+1h30m",
                "+1w2d3h4m5s",
                "20260101Z:20270101120000Z",
                "0x1:0x7fffffff",
                "1d",
                "",
            ),
            "ca.validity.parse_validity/parse_interval (ssh-keygen -V)",
        ),
        Target(
            "options",
            _option,
            (CertificateError,),
            _lines(
                "clear",
                "force-command=git-upload-pack 'a/b.git'",
                "source-address=10.0.0.0/8,2001:db8::/32",
                "no-pty\nno-port-forwarding\npermit-user-rc",
                "verify-required",
                "extension:login@git.example.com=alice",
                "critical:x@example.com=1",
                "no-touch-required",
            ),
            "ca.sign.apply_option (ssh-keygen -O)",
        ),
        Target(
            "source_address",
            _source_address,
            (CertificateError,),
            _lines("10.0.0.0/8", "192.0.2.1,2001:db8::/32", "::ffff:10.1.2.3", "127.0.0.1/32,::1"),
            "ca.options.parse_source_address",
        ),
        Target(
            "git_command",
            _git_command,
            (InvalidInput, NotFound),
            _lines(
                "git-upload-pack 'acme/app.git'",
                "git-receive-pack '/acme/app.git'",
                "git upload-pack 'acme/app'",
                "git-upload-archive 'bob/tools.git'",
                "git-upload-pack '~bob/x.git'",
                "git-upload-pack 'a/b.git' extra",
                'git-upload-pack "a/b.git"',
            ),
            "git.commands.parse_git_command (the SSH exec line)",
        ),
        Target(
            "ssh_username",
            _ssh_username,
            (),
            _lines("git", "org-12", "org-0", "org-007", "alice", "acme/app", "a-b-c"),
            "access.decide.parse_ssh_username and names.check_*",
        ),
        Target(
            "remote_url",
            _remote_url,
            (InvalidInput,),
            _lines(
                "ssh://git@git.example.com:2222/acme/app.git",
                "git@github.com:acme/app.git",
                "ssh://[::1]:22/a/b",
                "[2001:db8::1]:a/b.git",
                "git.example.com:22",
                "ssh://org-3@git.example.com/acme/app",
            ),
            "connector.urls.parse_remote_url/parse_host_port",
        ),
        Target(
            "known_hosts",
            _known_hosts,
            (InvalidInput,),
            lambda: _known_hosts_seeds(),
            "connector.host_keys.parse_known_hosts/parse_key_line",
            base64_aware=True,
        ),
        Target(
            "issue_keys",
            _issue_keys,
            (InvalidInput,),
            _lines(
                "PROJ-123: fix the login page",
                "Merge ABC-1, XYZ-22 and proj-7 (not a key)",
                "PROJ-1" * 50,
                "ÄÖ-12 ABC-0 ABC-01",
            ),
            "connector.issue_keys: keys_in and normalise_search_key",
        ),
        Target(
            "git_log_records",
            _log_records,
            (GitwardError,),
            _log_seeds,
            "connector.log_records.LogParser (git log output of a mirrored repository)",
        ),
    )
}


def _known_hosts_seeds() -> list[bytes]:
    lines = []
    for data in _files("upload/*.pub", "keys/sshkeygen_*.pub"):
        fields = data.split()
        if len(fields) >= 2:
            lines.append(b" ".join(fields[:2]))
    out = [b"git.example.com " + lines[0]] if lines else []
    for i, line in enumerate(lines[:6]):
        hosts = [b"git.example.com", b"[git.example.com]:2222,192.0.2.1", b"*.example.com"][i % 3]
        out.append(hosts + b" " + line)
    if lines:
        out.append(b"@cert-authority *.example.com " + lines[0])
        out.append(b"|1|c2FsdHNhbHRzYWx0c2FsdHNhbHQ=|aGFzaGhhc2hoYXNoaGFzaGhhc2g= " + lines[0])
        out.append(b"# comment\n\n" + b"\n".join(out[:3]))
    return out


def names(selected: Iterable[str] = ()) -> list[str]:
    chosen = list(selected) or list(TARGETS)
    unknown = [n for n in chosen if n not in TARGETS]
    if unknown:
        raise SystemExit(f"unknown fuzz targets: {', '.join(unknown)}; known: {', '.join(TARGETS)}")
    return chosen
