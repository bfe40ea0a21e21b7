"""Live interop: ssh-keygen reads what Gitward signs, and `render` prints what -L prints.

Also signs through a real ssh-agent. Skips with a reason when OpenSSH is not installed.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from gitward.agent_client import AgentClient
from gitward.ca.certificate import FOREVER, HOST_CERT, Certificate, parse_certificate_line
from gitward.ca.render import render_certificate
from gitward.ca.sign import (
    AgentSigner,
    CertOptions,
    PrivateKeySigner,
    apply_option,
    sign_certificate,
)
from gitward.ca.validity import parse_validity
from gitward.errors import KeyRejected
from gitward.keys import export_private_key
from tests.ca.test_sign import KEY_KINDS, key, request

pytestmark = pytest.mark.skipif(
    shutil.which("ssh-keygen") is None, reason="ssh-keygen (OpenSSH) is not installed"
)
NOW = 1_795_294_058


def keygen_L(tmp_path: Path, cert: Certificate, zone: str = "UTC") -> tuple[str, str]:
    """(ssh-keygen -L output, our rendering) for ``cert`` written as c-cert.pub."""
    (tmp_path / "c-cert.pub").write_text(cert.to_line("me@host") + "\n")
    proc = subprocess.run(
        ["ssh-keygen", "-L", "-f", "c-cert.pub"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "TZ": zone},
        check=True,
    )
    ours = render_certificate(
        parse_certificate_line((tmp_path / "c-cert.pub").read_text()), "c-cert.pub", ZoneInfo(zone)
    )
    return proc.stdout, ours


@pytest.mark.parametrize("subject", KEY_KINDS)
@pytest.mark.parametrize("authority", KEY_KINDS)
def test_ok_keygen_reads_every_key_combination(
    tmp_path: Path, authority: str, subject: str
) -> None:
    state = CertOptions.for_type(1)
    for text in (
        "force-command=git-upload-pack",
        "source-address=10.0.0.0/8",
        "extension:login@git.example.com=alice",
    ):
        state = apply_option(state, text)
    req = request(public_key=key(subject, 1).public.blob).with_options(state)
    cert = sign_certificate(req, PrivateKeySigner(key(authority)))
    theirs, ours = keygen_L(tmp_path, cert)
    assert theirs == ours
    assert "(using rsa-sha2-512)" in theirs if authority == "rsa" else True


FORMS: dict[str, tuple[str, list[str], tuple[str, ...]]] = {
    # name: (-V, -O list, principals)
    "ok/forever-no-principals": ("always:forever", [], ()),
    "ok/before": ("always:20300101", ["clear"], ("git",)),
    "ok/after": ("20260101:forever", ["no-pty", "no-user-rc"], ("a", "b", "c")),
    "ok/relative": ("+52w1d", ["verify-required", "no-touch-required"], ("git",)),
    "ok/range": ("-5m:+1h30m", ["critical:x@example.com", "extension:flag@x"], ("git",)),
    "ok/hex": ("0x10:0x7fffffff", ["extension:e@x=", "critical:v@x=some value"], ("git",)),
    "ok/year-9999": ("20260101:99991231235959Z", [], ("git",)),
    "ok/year-10000": ("20260101:0x3afff4417f", [], ("git",)),
    "ok/year-36812": ("20260101:0x10000000000", [], ("git",)),
    "ok/all-options": (
        "20260101:20260201",
        [
            "clear",
            "force-command=echo 'hi there'",
            "source-address=10.0.0.0/8,2001:db8::/32",
            "verify-required",
            "permit-pty",
            "permit-x11-forwarding",
            "no-touch-required",
            "extension:login@git.example.com=alice",
            "critical:zz@x",
        ],
        ("git", "org-7"),
    ),
    "ok/unicode-key-id": ("always:forever", [], ("ålice",)),
}


@pytest.mark.parametrize("zone", ["UTC", "Europe/Paris", "America/New_York"])
@pytest.mark.parametrize("name", FORMS)
def test_ok_render_matches_keygen(tmp_path: Path, name: str, zone: str) -> None:
    spec, options, principals = FORMS[name]
    state = CertOptions.for_type(1)
    for text in options:
        state = apply_option(state, text)
    after, before = parse_validity(spec, NOW, ZoneInfo(zone))
    req = request(
        valid_after=after,
        valid_before=before,
        principals=principals,
        any_principal=not principals,
        key_id=f"id {name} é",
    ).with_options(state)
    cert = sign_certificate(req, PrivateKeySigner(key("p256")))
    theirs, ours = keygen_L(tmp_path, cert, zone)
    assert theirs == ours


def test_ok_render_host_certificate(tmp_path: Path) -> None:
    req = request(
        cert_type=HOST_CERT,
        extensions=(),
        principals=("git.example.com",),
        valid_after=0,
        valid_before=FOREVER,
    )
    theirs, ours = keygen_L(tmp_path, sign_certificate(req, PrivateKeySigner(key("rsa"))))
    assert theirs == ours and "host certificate" in ours


# --- ssh-agent ------------------------------------------------------------------------


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[str]:
    if shutil.which("ssh-agent") is None or shutil.which("ssh-add") is None:
        pytest.skip("ssh-agent/ssh-add (OpenSSH) are not installed")
    sock = str(tmp_path / "agent.sock")
    proc = subprocess.Popen(
        ["ssh-agent", "-D", "-a", sock], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 5
        while not os.path.exists(sock) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        if not os.path.exists(sock):
            pytest.skip("ssh-agent did not start")
        yield sock
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)


def _add(agent_sock: str, tmp_path: Path, kind: str) -> None:
    path = tmp_path / f"ca_{kind}"
    path.write_bytes(export_private_key(key(kind), "openssh"))
    path.chmod(0o600)
    subprocess.run(
        ["ssh-add", "-q", str(path)],
        env={**os.environ, "SSH_AUTH_SOCK": agent_sock},
        check=True,
        capture_output=True,
    )


@pytest.mark.parametrize("kind", ["ed25519", "p384", "rsa"])
def test_ok_agent_signer(agent: str, tmp_path: Path, kind: str) -> None:
    _add(agent, tmp_path, kind)
    client = AgentClient(agent)
    blobs = [identity.blob for identity in client.identities()]
    assert key(kind).public.blob in blobs
    cert = sign_certificate(request(), AgentSigner(client, key(kind).public.blob))
    expected = "rsa-sha2-512" if kind == "rsa" else key(kind).public.ssh_type
    assert cert.signature_algorithm == expected
    theirs, ours = keygen_L(tmp_path, cert)
    assert theirs == ours


def test_fail_agent_without_the_key(agent: str) -> None:
    client = AgentClient(agent)
    assert client.identities() == []
    with pytest.raises(KeyRejected, match="refused to sign"):
        sign_certificate(request(), AgentSigner(client, key("ed25519").public.blob))
