"""`gitward login` against the real app served by uvicorn on 127.0.0.1."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitward.ca.certificate import parse_certificate_line
from gitward.keys.api import export_private_key, export_public_key
from gitward.keys.generate import generate_key
from tests.cli.issuing_helpers import IssuingGitward
from tests.http.live import live_server


@pytest.fixture
def gw(database_url: str, tmp_path: Path) -> IssuingGitward:
    return IssuingGitward(tmp_path / "data", database_url)


@pytest.fixture
def server(gw: IssuingGitward) -> Iterator[tuple[str, dict[str, str]]]:
    world = gw.world()
    with gw.context() as ctx, live_server(ctx) as url:
        yield url, world


@pytest.fixture
def key(tmp_path: Path) -> Path:
    private = generate_key("ed25519", comment="alice@laptop")
    path = tmp_path / "home" / ".ssh" / "id_ed25519"
    path.parent.mkdir(parents=True)
    path.write_bytes(export_private_key(private, "openssh"))
    path.chmod(0o600)
    Path(f"{path}.pub").write_bytes(export_public_key(private))
    return path


def test_ok_login_writes_the_certificate_and_prints_the_prefix(
    gw: IssuingGitward, server: tuple[str, dict[str, str]], key: Path
) -> None:
    url, world = server
    out = gw.ok(
        "login", "--server", url, "--token", world["token"], "--key", str(key), "--validity", "2h"
    ).out
    cert_path = Path(f"{key}-cert.pub")
    cert = parse_certificate_line(cert_path.read_text())
    assert cert.extensions["login@git.example.com"] == "alice"
    assert cert.signature_key_fingerprint == world["ca"]
    org_id = gw.ok("org", "list", "--json").json()[0]["id"]
    assert f"clone with org-{org_id}@git.example.com" in out
    assert f"ssh://org-{org_id}@git.example.com:2222/OWNER/REPO.git" in out
    assert "valid until " in out
    assert (cert_path.stat().st_mode & 0o777) == 0o644


def test_ok_token_from_environment_and_ssh_config_is_idempotent(
    gw: IssuingGitward,
    server: tuple[str, dict[str, str]],
    key: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, world = server
    monkeypatch.setenv("MY_GW_TOKEN", world["token"])
    config = tmp_path / "ssh_config"
    config.write_text("Host *\n    ServerAliveInterval 30\n")
    config.chmod(0o600)
    args = (
        "login",
        "--server",
        url,
        "--token-env",
        "MY_GW_TOKEN",
        "--key",
        str(key),
        "--org",
        "acme",
        "--ssh-config",
        "--ssh-config-file",
        str(config),
    )
    gw.ok(*args)
    first = config.read_text()
    gw.ok(*args)
    second = config.read_text()
    assert first == second  # replaced in place, not appended again
    assert second.count("# BEGIN gitward git.example.com") == 1
    assert second.index("Host git.example.com") < second.index("Host *")  # first wins in ssh
    assert "    Port 2222\n" in second
    assert f"    IdentityFile {key}\n" in second
    assert f"    CertificateFile {key}-cert.pub\n" in second
    assert "    IdentitiesOnly yes\n" in second
    assert second.endswith("Host *\n    ServerAliveInterval 30\n")
    assert (config.stat().st_mode & 0o777) == 0o600


@pytest.mark.skipif(shutil.which("ssh") is None, reason="needs OpenSSH's ssh for -G")
def test_ok_ssh_reads_the_config_block(
    gw: IssuingGitward, server: tuple[str, dict[str, str]], key: Path, tmp_path: Path
) -> None:
    url, world = server
    config = tmp_path / "ssh_config"
    gw.ok(
        "login",
        "--server",
        url,
        "--token",
        world["token"],
        "--key",
        str(key),
        "--ssh-config",
        "--ssh-config-file",
        str(config),
    )
    effective = subprocess.run(
        ["ssh", "-G", "-F", str(config), "git.example.com"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout.lower()
    assert "port 2222" in effective
    assert f"certificatefile {str(key).lower()}-cert.pub" in effective
    assert "identitiesonly yes" in effective


@pytest.mark.parametrize(
    ("name", "extra", "message"),
    [
        ("fail/bad_token", ("--token", "gwp_" + "A" * 43), "the access token is not valid"),
        ("fail/over_cap", ("--validity", "3d"), "longer than acme allows"),
        ("fail/not_member", ("--org", "nope"), "not a member"),
    ],
)
def test_fail_server_refusals_are_one_line(
    gw: IssuingGitward,
    server: tuple[str, dict[str, str]],
    key: Path,
    name: str,
    extra: tuple[str, ...],
    message: str,
) -> None:
    url, world = server
    args = ["login", "--server", url, "--key", str(key)]
    if "--token" not in extra:
        args += ["--token", world["token"]]
    line = gw.refused(*args, *extra)
    assert line.startswith("error: the server refused: ") and message in line, name
    assert not Path(f"{key}-cert.pub").exists()


def test_fail_no_token(gw: IssuingGitward, key: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITWARD_TOKEN", raising=False)
    line = gw.refused("login", "--server", "http://127.0.0.1:9", "--key", str(key))
    assert "no access token" in line


def test_fail_missing_public_key(gw: IssuingGitward, tmp_path: Path) -> None:
    line = gw.refused(
        "login", "--server", "http://127.0.0.1:9", "--token", "x", "--key", str(tmp_path / "nope")
    )
    assert "cannot read" in line


def test_fail_unreachable_server(gw: IssuingGitward, key: Path) -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on: bound, never listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        line = gw.refused(
            "login", "--server", f"http://127.0.0.1:{port}", "--token", "x", "--key", str(key)
        )
    assert "cannot reach" in line
