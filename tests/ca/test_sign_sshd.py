"""A stock OpenSSH sshd accepts Gitward-signed certificates and honours Gitward's KRLs.

Runs ``/usr/sbin/sshd -D -e -f CONFIG -p PORT`` on 127.0.0.1 with its own host key,
``TrustedUserCAKeys`` listing Gitward test CAs (Ed25519, ECDSA, RSA), ``RevokedKeys`` a
KRL written by ``encode_krl``, and ``ForceCommand echo ok``; then logs in with ``ssh``
as the current user. Skips with the reason when sshd/ssh are missing or sshd cannot run.
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gitward.ca.krl import CertSection, Krl, encode_krl
from gitward.ca.sign import CertOptions, PrivateKeySigner, apply_option, sign_certificate
from gitward.keys import PrivateKey, export_private_key, export_public_key, generate_key
from tests.ca.test_sign import key, request

SSHD = "/usr/sbin/sshd"
USER = getpass.getuser()
REVOKED_SERIAL = 666
REVOKED_ID = "revoked-key-id"

pytestmark = [
    pytest.mark.skipif(not os.access(SSHD, os.X_OK), reason=f"{SSHD} (OpenSSH server) missing"),
    pytest.mark.skipif(shutil.which("ssh") is None, reason="ssh (OpenSSH client) missing"),
]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Sshd:
    port: int
    work: Path
    log: Path

    def login(self, subject: PrivateKey, cert_line: str) -> subprocess.CompletedProcess[str]:
        key_file = self.work / "id_subject"
        key_file.write_bytes(export_private_key(subject, "openssh"))
        key_file.chmod(0o600)
        cert_file = self.work / "id_subject-cert.pub"
        cert_file.write_text(cert_line + "\n")
        return subprocess.run(
            [
                "ssh",
                "-F",
                "/dev/null",
                "-i",
                str(key_file),
                "-o",
                f"CertificateFile={cert_file}",
                "-o",
                "IdentitiesOnly=yes",
                "-o",
                "IdentityAgent=none",
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "BatchMode=yes",
                "-o",
                "PreferredAuthentications=publickey",
                "-o",
                "ConnectTimeout=10",
                "-o",
                "LogLevel=ERROR",
                "-p",
                str(self.port),
                f"{USER}@127.0.0.1",
                "true",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )


CAS = ("ed25519", "p256", "rsa")


def _config(work: Path) -> Path:
    host_key = work / "host_ed25519"
    host_key.write_bytes(export_private_key(generate_key("ed25519"), "openssh"))
    host_key.chmod(0o600)
    cas = work / "trusted_cas.pub"
    cas.write_bytes(b"".join(export_public_key(key(kind).public) for kind in CAS))
    krl = work / "revoked.krl"
    krl.write_bytes(
        encode_krl(
            Krl(
                cert_sections=(
                    CertSection(key("ed25519").public.blob, ((REVOKED_SERIAL, REVOKED_SERIAL),)),
                    CertSection(None, (), (REVOKED_ID,)),
                )
            )
        )
    )
    config = work / "sshd_config"
    config.write_text(
        f"ListenAddress 127.0.0.1\n"
        f"HostKey {host_key}\n"
        f"PidFile {work / 'sshd.pid'}\n"
        f"TrustedUserCAKeys {cas}\n"
        f"RevokedKeys {krl}\n"
        "AuthorizedKeysFile none\n"
        "AuthorizedPrincipalsFile none\n"
        "PubkeyAuthentication yes\n"
        "PasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\n"
        "PermitRootLogin prohibit-password\n"
        "StrictModes no\n"
        "UsePAM no\n"
        "LogLevel VERBOSE\n"
        "ForceCommand echo ok\n"
    )
    return config


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    if os.geteuid() == 0 and not os.path.isdir("/run/sshd"):
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # privilege separation dir
    work = tmp_path_factory.mktemp("sshd")
    config = _config(work)
    check = subprocess.run(
        [SSHD, "-t", "-f", str(config)], capture_output=True, text=True, check=False
    )
    if check.returncode != 0:
        pytest.skip(f"sshd cannot run here: {check.stderr.strip()}")
    port = _free_port()
    log = work / "sshd.log"
    with open(log, "wb") as log_handle:
        proc = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(config), "-p", str(port)],
            stdout=log_handle,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.05)
        if proc.poll() is not None:
            pytest.skip(f"sshd exited at start: {log.read_text()[-500:]}")
        yield Sshd(port, work, log)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _cert_line(ca: str = "ed25519", *options: str, **changes: Any) -> tuple[PrivateKey, str]:
    subject = key("ed25519", 3)
    state = CertOptions.for_type(1)
    for text in options:
        state = apply_option(state, text)
    now = int(time.time())
    fields: dict[str, Any] = {
        "public_key": subject.public.blob,
        "principals": (USER,),
        "serial": 12,
        "valid_after": now - 60,
        "valid_before": now + 3600,
        "nonce": None,
    }
    fields.update(changes)
    cert = sign_certificate(request(**fields).with_options(state), PrivateKeySigner(key(ca)))
    return subject, cert.to_line("gitward-test")


@pytest.mark.parametrize("ca", CAS, ids=[f"ok/ca-{ca}" for ca in CAS])
def test_ok_sshd_accepts(sshd: Sshd, ca: str) -> None:
    result = sshd.login(*_cert_line(ca))
    assert result.returncode == 0, result.stderr + sshd.log.read_text()[-2000:]
    assert result.stdout.strip() == "ok"


def test_ok_sshd_accepts_options_and_source_address(sshd: Sshd) -> None:
    result = sshd.login(
        *_cert_line(
            "ed25519", "clear", "source-address=127.0.0.1/32", "force-command=echo from-cert"
        )
    )
    assert result.returncode == 0, result.stderr
    # sshd_config's ForceCommand wins over the certificate's.
    assert result.stdout.strip() == "ok"


REFUSED: dict[str, tuple[str, tuple[str, ...], dict[str, Any], str]] = {
    # name: (CA, -O options, request changes, what sshd logs)
    "fail/other-principal": (
        "ed25519",
        (),
        {"principals": ("someone-else",)},
        "name is not a listed principal",
    ),
    "fail/expired": ("ed25519", (), {"valid_after": 1, "valid_before": 1000}, "expired"),
    "fail/not-yet-valid": (
        "ed25519",
        (),
        {"valid_after": 4_000_000_000, "valid_before": 4_000_003_600},
        "not yet valid",
    ),
    "fail/source-address": (
        "ed25519",
        ("source-address=10.0.0.0/8",),
        {},
        "not from a permitted source address",
    ),
    "fail/unknown-critical-option": (
        "ed25519",
        ("critical:must-understand@example.com",),
        {},
        "is not supported",
    ),
    "fail/revoked-serial": ("ed25519", (), {"serial": REVOKED_SERIAL}, "revoked by file"),
    "fail/revoked-key-id-any-ca": ("rsa", (), {"key_id": REVOKED_ID}, "revoked by file"),
    "fail/untrusted-ca": ("p384", (), {}, "Failed publickey"),
}


@pytest.mark.parametrize("name", REFUSED)
def test_fail_sshd_refuses(sshd: Sshd, name: str) -> None:
    ca, options, changes, logged = REFUSED[name]
    seen = len(sshd.log.read_text())
    result = sshd.login(*_cert_line(ca, *options, **changes))
    assert result.returncode == 255, (result.stdout, result.stderr)
    assert result.stdout == ""
    deadline = time.monotonic() + 5
    while logged not in sshd.log.read_text()[seen:] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert logged in sshd.log.read_text()[seen:]
