"""`gitward cert check`: the server's verdict on a certificate, offline, with every reason."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from gitward.ca.sign import CertificateRequest, PrivateKeySigner, sign_certificate
from gitward.keys import export_public_key, generate_key
from tests.cli.conftest import Gitward

HOST = "git.example.com"  # the hostname the `gitward` fixture configures


@pytest.fixture
def ca_and_world(gitward: Gitward, tmp_path: Path) -> tuple[PrivateKeySigner, Path]:
    ca = generate_key("ed25519", comment="acme-ca")
    ca_pub = tmp_path / "ca.pub"
    ca_pub.write_bytes(export_public_key(ca))
    gitward.ok("user", "create", "alice")
    gitward.ok("org", "create", "acme")
    gitward.ok("org", "member", "add", "acme", "alice")
    gitward.ok("repo", "create", "acme/app")
    gitward.ok("repo", "create", "alice/mine")
    gitward.ok("ca", "add", "--org", "acme", str(ca_pub))
    return PrivateKeySigner(ca), tmp_path


def _cert(
    signer: PrivateKeySigner,
    path: Path,
    *,
    lifetime: int = 3600,
    critical: tuple[tuple[str, str | None], ...] = (),
) -> str:
    now = int(time.time())
    subject = generate_key("ed25519")
    request = CertificateRequest(
        public_key=subject.public.blob,
        key_id="alice-1",
        valid_after=now - 60,
        valid_before=now - 60 + lifetime,
        any_principal=True,
        critical_options=critical,
        extensions=((f"login@{HOST}", "alice"), ("permit-pty", None)),
    )
    path.write_text(sign_certificate(request, signer).to_line("alice") + "\n")
    return str(path)


def test_ok_accepted_for_clone(
    gitward: Gitward, ca_and_world: tuple[PrivateKeySigner, Path]
) -> None:
    signer, tmp = ca_and_world
    cert = _cert(signer, tmp / "ok-cert.pub")
    result = gitward.ok("cert", "check", cert, "--repo", "acme/app")
    assert result.out.splitlines() == [
        "Gitward user: alice",
        "Trusted by: organization acme",
        "clone acme/app: ACCEPTED",
    ]


def test_fail_lists_every_reason(
    gitward: Gitward, ca_and_world: tuple[PrivateKeySigner, Path]
) -> None:
    signer, tmp = ca_and_world
    cert = _cert(signer, tmp / "bad-cert.pub", critical=(("source-address", "127.0.0.1/32"),))
    result = gitward(
        "cert",
        "check",
        cert,
        "--repo",
        "alice/mine",
        "--from",
        "10.1.2.3",
        "--at",
        "2099-01-01T00:00:00",
        "--json",
    )
    assert result.code == 1
    reasons = [p["reason"] for p in result.json()["problems"]]
    assert reasons == ["cert.expired", "cert.source_address", "cert.user_owned_repo"]
    assert result.err.startswith("error: the server would refuse this certificate")


def test_fail_push_needs_write_and_org_username_must_trust(
    gitward: Gitward, ca_and_world: tuple[PrivateKeySigner, Path]
) -> None:
    signer, tmp = ca_and_world
    cert = _cert(signer, tmp / "c-cert.pub")
    push = gitward("cert", "check", cert, "--repo", "acme/app", "--write")
    assert push.code == 1
    assert "  - Permission to acme/app denied to alice. [repo.write_denied" in push.out
    other = gitward("cert", "check", cert, "--repo", "acme/app", "--ssh-user", "org-999")
    assert other.code == 1 and "cert.ca_not_trusted_by_org" in other.out


def test_fail_bad_time_is_a_clear_error(
    gitward: Gitward, ca_and_world: tuple[PrivateKeySigner, Path]
) -> None:
    signer, tmp = ca_and_world
    cert = _cert(signer, tmp / "t-cert.pub")
    assert gitward.refused("cert", "check", cert, "--repo", "acme/app", "--at", "tuesday") == (
        "error: --at takes an ISO 8601 time or YYYYMMDD[HHMM[SS]], not 'tuesday'"
    )


def test_ok_show_names_the_gitward_user(
    gitward: Gitward, ca_and_world: tuple[PrivateKeySigner, Path]
) -> None:
    signer, tmp = ca_and_world
    cert = _cert(signer, tmp / "show-cert.pub")
    shown = gitward.ok("cert", "show", cert)
    assert shown.out.splitlines()[0] == f"{cert}:"
    assert shown.out.splitlines()[-1] == "        Gitward user: alice"
    assert gitward.ok("cert", "show", cert, "--json").json()[0]["gitward_user"] == "alice"
    gitward.ok("user", "rename", "alice", "alicia")
    assert "Gitward user: (none: no login@git.example.com" in gitward.ok("cert", "show", cert).out
