"""Certificates made by real ssh-keygen: committed vectors, and live ones when available.

The committed vectors come from tests/vectors/make_cert_vectors.sh (OpenSSH 9.2); the
live tests run ssh-keygen now and skip with a reason where it is not installed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from gitward.ca.certificate import (
    FOREVER,
    HOST_CERT,
    USER_CERT,
    Certificate,
    parse_certificate,
    parse_certificate_line,
    verify_certificate_signature,
)
from gitward.errors import CertificateError
from tests.ca.certbuilder import build, make_key, options, principals

CERTS = Path(__file__).resolve().parent.parent / "vectors" / "certs"
JAN_2026 = (1767225600, 1769904000)  # 2026-01-01T00:00:00Z, 2026-02-01T00:00:00Z
HOST = "git.example.com"


def _fingerprints() -> dict[str, str]:
    lines = (CERTS / "fingerprints.txt").read_text().splitlines()
    return dict(line.split(" ", 1) for line in lines)


def _load(name: str) -> Certificate:
    return parse_certificate_line((CERTS / f"{name}-cert.pub").read_text())


# name -> (subject key, CA key, signature algorithm, subject key type, serial)
SIGNED = {
    "ed25519_by_ed25519": ("user_ed25519", "ca_ed25519", "ssh-ed25519", "ssh-ed25519", 42),
    "ecdsa256_by_ed25519": (
        "user_ecdsa256",
        "ca_ed25519",
        "ssh-ed25519",
        "ecdsa-sha2-nistp256",
        42,
    ),
    "ecdsa384_by_ed25519": (
        "user_ecdsa384",
        "ca_ed25519",
        "ssh-ed25519",
        "ecdsa-sha2-nistp384",
        42,
    ),
    "ecdsa521_by_ed25519": (
        "user_ecdsa521",
        "ca_ed25519",
        "ssh-ed25519",
        "ecdsa-sha2-nistp521",
        42,
    ),
    "rsa_by_ed25519": ("user_rsa", "ca_ed25519", "ssh-ed25519", "ssh-rsa", 42),
    "ed25519_by_rsa_sha512": ("user_ed25519", "ca_rsa", "rsa-sha2-512", "ssh-ed25519", 1),
    "ed25519_by_rsa_sha256": ("user_ed25519", "ca_rsa", "rsa-sha2-256", "ssh-ed25519", 2),
    "ed25519_by_rsa_sha1": ("user_ed25519", "ca_rsa", "ssh-rsa", "ssh-ed25519", 3),
    "ed25519_by_ecdsa256": (
        "user_ed25519",
        "ca_ecdsa256",
        "ecdsa-sha2-nistp256",
        "ssh-ed25519",
        4,
    ),
    "ed25519_by_ecdsa384": (
        "user_ed25519",
        "ca_ecdsa384",
        "ecdsa-sha2-nistp384",
        "ssh-ed25519",
        4,
    ),
    "ed25519_by_ecdsa521": (
        "user_ed25519",
        "ca_ecdsa521",
        "ecdsa-sha2-nistp521",
        "ssh-ed25519",
        4,
    ),
}


@pytest.mark.parametrize("name", SIGNED, ids=[f"ok/vector-{n}" for n in SIGNED])
def test_vectors_signed(name: str) -> None:
    subject, ca, algorithm, key_type, serial = SIGNED[name]
    fingerprints = _fingerprints()
    cert = _load(name)
    assert cert.public_key_type == key_type
    assert cert.public_key_fingerprint == fingerprints[subject]
    assert cert.signature_key_fingerprint == fingerprints[ca]
    assert cert.signature_algorithm == algorithm
    assert cert.serial == serial
    assert cert.cert_type == USER_CERT
    assert (cert.valid_after, cert.valid_before) == JAN_2026
    assert cert.extensions["login@git.example.com"] == "alice"
    assert verify_certificate_signature(cert)
    # The subject blob is exactly the plain public key ssh-keygen wrote.
    plain = (CERTS / f"{subject}.pub").read_text().split()
    assert cert.public_key_type == plain[0]
    assert cert.to_line().split()[0] == cert.key_type


def test_vector_options() -> None:
    cert = _load("options")
    assert cert.serial == 2**64 - 1
    assert cert.key_id == "options"
    assert cert.principals == ("git", "org-7")
    assert dict(cert.critical_options) == {
        "force-command": "git-upload-pack 'acme/app.git'",
        "source-address": "10.0.0.0/8,2001:db8::/32",
        "verify-required": "",
    }
    # ssh-keygen stores "-O extension:login@HOST=alice" as name login@HOST, value alice.
    assert dict(cert.extensions) == {
        "id@git.example.com": "42",
        "login@git.example.com": "alice",
        "login@other.example": "bob",
        "permit-pty": "",
    }
    assert verify_certificate_signature(cert)


def test_vector_unknown_critical_option() -> None:
    cert = _load("unknown_critical")
    assert dict(cert.critical_options) == {"gitward-test@example.com": "yes"}


def test_vector_forever_no_extensions() -> None:
    cert = _load("forever")
    assert cert.never_expires and cert.valid_before == FOREVER and cert.valid_after == 0
    assert dict(cert.extensions) == {} and cert.principals == ()


def test_vector_host() -> None:
    cert = _load("host")
    assert cert.cert_type == HOST_CERT and cert.principals == (HOST,)


def test_vector_tampered_fails_verification() -> None:
    cert = _load("ed25519_by_ed25519")
    blob = bytearray(cert.blob)
    key_id_at = blob.find(b"alice-ed25519")
    blob[key_id_at] = ord("b")
    tampered = parse_certificate(bytes(blob))
    assert tampered.key_id == "blice-ed25519"
    assert not verify_certificate_signature(tampered)


# --- live ssh-keygen -------------------------------------------------------------------

SSH_KEYGEN = shutil.which("ssh-keygen")
needs_ssh_keygen = pytest.mark.skipif(SSH_KEYGEN is None, reason="ssh-keygen is not installed")


def _run(*args: str) -> str:
    assert SSH_KEYGEN is not None
    done = subprocess.run(
        [SSH_KEYGEN, *args], capture_output=True, text=True, check=True, timeout=60
    )
    return done.stdout


def _keygen(path: Path, kind: str) -> None:
    extra = {"rsa": ["-t", "rsa", "-b", "2048"], "ed25519": ["-t", "ed25519"]}.get(
        kind, ["-t", "ecdsa", "-b", kind]
    )
    _run("-q", *extra, "-N", "", "-C", "", "-f", str(path))


def _fingerprint(path: Path) -> str:
    return _run("-l", "-E", "sha256", "-f", str(path)).split()[1]


LIVE = [
    ("ed25519", "ed25519", None),
    ("256", "rsa", "rsa-sha2-256"),
    ("384", "rsa", "rsa-sha2-512"),
    ("521", "256", None),
    ("rsa", "521", None),
]


@needs_ssh_keygen
@pytest.mark.parametrize(
    ("subject", "ca", "alg"), LIVE, ids=[f"ok/live-{s}-by-{c}" for s, c, _ in LIVE]
)
def test_live_ssh_keygen(tmp_path: Path, subject: str, ca: str, alg: str | None) -> None:
    _keygen(tmp_path / "ca", ca)
    _keygen(tmp_path / "user", subject)
    args = ["-q", "-s", str(tmp_path / "ca"), "-I", "live id", "-n", "git,alice", "-z", "99"]
    args += ["-V", "20260101000000Z:20260102000000Z"] + (["-t", alg] if alg else [])
    args += ["-O", f"extension:login@{HOST}=alice", "-O", "source-address=127.0.0.1/32,::1"]
    args += ["-O", "force-command=git-receive-pack 'acme/app'"]
    _run(*args, str(tmp_path / "user.pub"))
    cert = parse_certificate_line((tmp_path / "user-cert.pub").read_text())
    assert verify_certificate_signature(cert)
    assert cert.public_key_fingerprint == _fingerprint(tmp_path / "user.pub")
    assert cert.signature_key_fingerprint == _fingerprint(tmp_path / "ca.pub")
    assert (cert.key_id, cert.serial, cert.principals) == ("live id", 99, ("git", "alice"))
    assert (cert.valid_after, cert.valid_before) == (1767225600, 1767312000)
    assert cert.extensions[f"login@{HOST}"] == "alice"
    assert cert.critical_options["source-address"] == "127.0.0.1/32,::1"
    assert cert.critical_options["force-command"] == "git-receive-pack 'acme/app'"
    if alg:
        assert cert.signature_algorithm == alg


@needs_ssh_keygen
@pytest.mark.parametrize(
    ("subject", "signer", "algorithm"),
    [
        ("ed25519", "ed25519", "ssh-ed25519"),
        ("nistp256", "rsa", "rsa-sha2-512"),
        ("rsa", "nistp521", "ecdsa-sha2-nistp521"),
        ("nistp384", "nistp384", "ecdsa-sha2-nistp384"),
    ],
    ids=lambda v: str(v),
)
def test_live_ssh_keygen_accepts_our_test_encoder(
    tmp_path: Path, subject: str, signer: str, algorithm: str
) -> None:
    # ssh-keygen -L verifies the CA signature when loading: it confirms the test-only
    # encoder builds real certificates, so the hostile variants differ only where intended.
    cert = parse_certificate(
        build(
            subject=make_key(subject),
            signer=make_key(signer, 1),
            signature_algorithm=algorithm,
            key_id=b"from-builder",
            principals=principals("git"),
            critical_options=options(("force-command", "git-upload-pack 'a/b'")),
            extensions=options(("login@h", "alice"), ("permit-pty", None)),
        )
    )
    path = tmp_path / "c-cert.pub"
    path.write_text(cert.to_line() + "\n")
    listing = _run("-L", "-f", str(path))
    assert 'Key ID: "from-builder"' in listing
    assert f"(using {algorithm})" in listing
    assert re.search(r"force-command git-upload-pack 'a/b'", listing)


@needs_ssh_keygen
def test_live_ssh_keygen_rejects_what_we_reject(tmp_path: Path) -> None:
    # A signature over different bytes: both ssh-keygen and we refuse it (we at verify).
    good = build()
    bad = bytearray(good)
    bad[bad.find(b"alice@laptop")] = ord("A")
    path = tmp_path / "c-cert.pub"
    cert = parse_certificate(bytes(bad))
    path.write_text(cert.to_line() + "\n")
    with pytest.raises(subprocess.CalledProcessError):
        _run("-L", "-f", str(path))
    assert not verify_certificate_signature(cert)
    with pytest.raises(CertificateError):
        parse_certificate(bytes(bad) + b"\0")
