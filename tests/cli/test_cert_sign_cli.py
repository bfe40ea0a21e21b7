"""`gitward cert sign` and `gitward cert show`: ssh-keygen's contract, Gitward's exit codes."""

from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric import dsa

from gitward.ca.certificate import (
    FOREVER,
    HOST_CERT,
    USER_CERT,
    Certificate,
    parse_certificate_line,
)
from gitward.cli.cert import cert_group
from gitward.cli.main import cli as main_cli
from gitward.keys import PrivateKey, export_private_key, export_public_key, generate_key
from gitward.logging import configure_logging

needs_ssh_keygen = pytest.mark.skipif(
    shutil.which("ssh-keygen") is None, reason="ssh-keygen (OpenSSH) is not installed"
)
PERMITS = {
    "permit-X11-forwarding",
    "permit-agent-forwarding",
    "permit-port-forwarding",
    "permit-pty",
    "permit-user-rc",
}


def _root() -> click.Group:
    """The real `gitward` once the lead registers cert_group; until then the same settings."""
    if "cert" in main_cli.commands:
        return main_cli

    @click.group(context_settings={"help_option_names": ["-h", "--help"]})
    def root() -> None:
        configure_logging("warning")

    root.add_command(cert_group)
    return root


@dataclass
class Result:
    code: int
    out: str
    err: str


def run(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> Result:
    result = CliRunner().invoke(
        _root(),
        list(args),
        env={"TZ": "UTC", **(env or {})},
        input=stdin,
        prog_name="gitward",
        catch_exceptions=False,
    )
    return Result(result.exit_code, result.stdout, result.stderr)


def refused(*args: str, env: dict[str, str] | None = None) -> str:
    result = run(*args, env=env)
    assert result.code == 1, (result.code, result.out, result.err)
    lines = result.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.err
    return lines[0]


@functools.cache
def _key(kind: str, index: int = 0) -> PrivateKey:
    del index
    algorithm, bits = {"ed25519": ("ed25519", None), "p256": ("ecdsa", 256), "rsa": ("rsa", 2048)}[
        kind
    ]
    return generate_key(algorithm, bits, f"{kind}@test")


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "ca").write_bytes(export_private_key(_key("ed25519"), "openssh"))
    (tmp_path / "ca.pub").write_bytes(export_public_key(_key("ed25519").public))
    (tmp_path / "id_ed25519.pub").write_bytes(export_public_key(_key("ed25519", 1).public))
    (tmp_path / "id_rsa.pub").write_bytes(export_public_key(_key("rsa", 1).public))
    (tmp_path / "plain").write_bytes(export_public_key(_key("p256", 1).public))
    return tmp_path


def _cert(path: Path) -> Certificate:
    return parse_certificate_line(path.read_text())


# --- sign -----------------------------------------------------------------------------


def test_ok_sign_user(files: Path) -> None:
    result = run(
        "cert",
        "sign",
        "--ca",
        str(files / "ca"),
        "-I",
        "alice@laptop",
        "-n",
        "alice,git",
        "-z",
        "42",
        "-V",
        "20260101Z:20260201Z",
        str(files / "id_ed25519.pub"),
    )
    assert result.code == 0, result.err
    out = files / "id_ed25519-cert.pub"
    assert result.out == (
        f'Signed user key {out}: id "alice@laptop" serial 42 for alice,git '
        "valid from 2026-01-01T00:00:00 to 2026-02-01T00:00:00\n"
    )
    cert = _cert(out)
    assert cert.cert_type == USER_CERT and cert.principals == ("alice", "git")
    assert (cert.valid_after, cert.valid_before) == (1_767_225_600, 1_769_904_000)
    assert set(cert.extensions) == PERMITS and cert.serial == 42
    assert cert.public_key == _key("ed25519", 1).public.blob
    assert cert.signature_key == _key("ed25519").public.blob
    assert out.read_text().endswith(" ed25519@test\n")  # the subject key's comment


def test_ok_defaults_like_ssh_keygen(files: Path) -> None:
    result = run("cert", "sign", "--ca", str(files / "ca"), "-I", "x", str(files / "plain"))
    assert result.code == 0, result.err
    assert "serial 0 valid forever" in result.out
    cert = _cert(files / "plain-cert.pub")  # no .pub to strip: NAME-cert.pub
    assert cert.principals == () and (cert.valid_after, cert.valid_before) == (0, FOREVER)


def test_ok_serial_counts_up_over_files(files: Path) -> None:
    result = run(
        "cert",
        "sign",
        "-s",
        str(files / "ca"),
        "-I",
        "x",
        "-n",
        "a",
        "-z",
        "+5",
        str(files / "id_ed25519.pub"),
        str(files / "id_rsa.pub"),
    )
    assert result.code == 0, result.err
    assert _cert(files / "id_ed25519-cert.pub").serial == 5
    assert _cert(files / "id_rsa-cert.pub").serial == 6


def test_ok_relative_validity_backdated(files: Path) -> None:
    before = int(time.time())
    assert (
        run(
            "cert",
            "sign",
            "--ca",
            str(files / "ca"),
            "-I",
            "x",
            "-V",
            "+1h",
            str(files / "id_ed25519.pub"),
        ).code
        == 0
    )
    after = int(time.time())
    cert = _cert(files / "id_ed25519-cert.pub")
    now = cert.valid_before - 3600
    assert before <= now <= after
    assert cert.valid_after == ((now - 59) // 60) * 60  # ssh-keygen's backdating


def test_ok_options(files: Path) -> None:
    result = run(
        "cert",
        "sign",
        "--ca",
        str(files / "ca"),
        "-I",
        "x",
        "-n",
        "git",
        "-O",
        "clear",
        "-O",
        "force-command=git-upload-pack",
        "-O",
        "permit-pty",
        "-O",
        "source-address=10.0.0.0/8",
        "-O",
        "extension:login@example.com=alice",
        str(files / "id_ed25519.pub"),
    )
    assert result.code == 0, result.err
    cert = _cert(files / "id_ed25519-cert.pub")
    assert dict(cert.critical_options) == {
        "force-command": "git-upload-pack",
        "source-address": "10.0.0.0/8",
    }
    assert dict(cert.extensions) == {"login@example.com": "alice", "permit-pty": ""}


def test_ok_host_with_dash_h(files: Path) -> None:
    result = run(
        "cert",
        "sign",
        "--ca",
        str(files / "ca"),
        "-I",
        "git.example.com",
        "-h",
        "-n",
        "git.example.com",
        str(files / "id_ed25519.pub"),
    )
    assert result.code == 0, result.err
    cert = _cert(files / "id_ed25519-cert.pub")
    assert cert.cert_type == HOST_CERT and dict(cert.extensions) == {}
    assert result.out.startswith("Signed host key ")


def test_ok_rsa_ca_in_pkcs8_with_passphrase_env(files: Path) -> None:
    (files / "rsa_ca.pem").write_bytes(export_private_key(_key("rsa"), "pkcs8", b"s3cret"))
    result = run(
        "cert",
        "sign",
        "--ca",
        str(files / "rsa_ca.pem"),
        "-I",
        "x",
        "-n",
        "a",
        "--passphrase-env",
        "CA_PASS",
        str(files / "id_ed25519.pub"),
        env={"CA_PASS": "s3cret"},
    )
    assert result.code == 0, result.err
    assert _cert(files / "id_ed25519-cert.pub").signature_algorithm == "rsa-sha2-512"


def test_ok_overwrites_existing_certificate_like_ssh_keygen(files: Path) -> None:
    (files / "id_ed25519-cert.pub").write_text("old\n")
    assert (
        run(
            "cert", "sign", "--ca", str(files / "ca"), "-I", "x", str(files / "id_ed25519.pub")
        ).code
        == 0
    )
    assert _cert(files / "id_ed25519-cert.pub").key_id == "x"


def test_fail_nothing_written_when_one_key_is_refused(files: Path) -> None:
    (files / "dsa.pub").write_bytes(
        export_public_key(PrivateKey(dsa.generate_private_key(1024)).public)
    )
    line = refused(
        "cert",
        "sign",
        "--ca",
        str(files / "ca"),
        "-I",
        "x",
        str(files / "id_ed25519.pub"),
        str(files / "dsa.pub"),
    )
    assert "ssh-dss" in line
    assert not (files / "id_ed25519-cert.pub").exists()


REFUSED: dict[str, tuple[list[str], str]] = {
    # name: (arguments after `cert sign --ca CA`, words in the error)
    "fail/bad-validity": (["-I", "x", "-V", "20260101"], "invalid validity"),
    "fail/validity-reversed": (["-I", "x", "-V", "20260201:20260101"], "not after"),
    "fail/unknown-option": (["-I", "x", "-O", "bogus"], "unknown certificate option"),
    "fail/bad-source-address": (["-I", "x", "-O", "source-address=nope"], "source-address"),
    "fail/force-command-twice": (
        ["-I", "x", "-O", "force-command=a", "-O", "force-command=b"],
        "twice",
    ),
    "fail/empty-principal": (["-I", "x", "-n", "a,,b"], "empty principal"),
    "fail/negative-serial": (["-I", "x", "-z", "-1"], "invalid serial"),
    "fail/serial-too-big": (["-I", "x", "-z", "18446744073709551616"], "invalid serial"),
    "fail/key-id-newline": (["-I", "a\nb"], "control characters"),
    "fail/host-with-options": (["-I", "x", "-h", "-O", "force-command=ls"], "host certificates"),
    "fail/duplicate-extension": (["-I", "x", "-O", "extension:a", "-O", "extension:a"], "twice"),
}


@pytest.mark.parametrize("name", REFUSED)
def test_refused(files: Path, name: str) -> None:
    args, words = REFUSED[name]
    line = refused("cert", "sign", "--ca", str(files / "ca"), *args, str(files / "id_ed25519.pub"))
    assert words in line
    assert not (files / "id_ed25519-cert.pub").exists()


def test_refused_subject_is_certificate(files: Path) -> None:
    assert (
        run(
            "cert", "sign", "--ca", str(files / "ca"), "-I", "x", str(files / "id_ed25519.pub")
        ).code
        == 0
    )
    line = refused(
        "cert", "sign", "--ca", str(files / "ca"), "-I", "x", str(files / "id_ed25519-cert.pub")
    )
    assert "certificate" in line


def test_refused_ca_is_public_key(files: Path) -> None:
    assert "public key" in refused(
        "cert", "sign", "--ca", str(files / "ca.pub"), "-I", "x", str(files / "id_ed25519.pub")
    )


def test_refused_ca_is_certificate_with_agent(files: Path) -> None:
    assert (
        run(
            "cert", "sign", "--ca", str(files / "ca"), "-I", "x", str(files / "id_ed25519.pub")
        ).code
        == 0
    )
    line = refused(
        "cert",
        "sign",
        "-U",
        "--ca",
        str(files / "id_ed25519-cert.pub"),
        "-I",
        "x",
        str(files / "id_rsa.pub"),
        env={"SSH_AUTH_SOCK": str(files / "none")},
    )
    assert "certificate" in line


def test_refused_encrypted_ca_without_passphrase(files: Path) -> None:
    (files / "enc").write_bytes(export_private_key(_key("ed25519"), "openssh", b"pw"))
    assert "encrypted" in refused(
        "cert", "sign", "--ca", str(files / "enc"), "-I", "x", str(files / "id_ed25519.pub")
    )


def test_refused_missing_file(files: Path) -> None:
    assert "cannot read" in refused(
        "cert", "sign", "--ca", str(files / "ca"), "-I", "x", str(files / "nope.pub")
    )


@pytest.mark.parametrize(
    "args",
    [
        ["cert", "sign", "--ca", "ca", "k.pub"],
        ["cert", "sign", "-I", "x", "k.pub"],
        ["cert", "sign", "--ca", "ca", "-I", "x"],
        ["cert", "show"],
    ],
    ids=["usage/no-key-id", "usage/no-ca", "usage/no-files", "usage/show-no-file"],
)
def test_usage_errors_exit_2(args: list[str]) -> None:
    assert run(*args).code == 2


@needs_ssh_keygen
@pytest.mark.parametrize(
    "args",
    [
        ["-V", "20260101"],
        ["-V", "+4000w"],
        ["-O", "bogus"],
        ["-O", "force-command="],
        ["-O", "source-address=bad"],
        ["-n", "a,,b"],
        ["-z", "-1"],
        ["-z", "18446744073709551616"],
    ],
)
def test_refused_like_ssh_keygen(files: Path, args: list[str]) -> None:
    (files / "ca").chmod(0o600)
    proc = subprocess.run(
        [
            "ssh-keygen",
            "-q",
            "-s",
            str(files / "ca"),
            "-I",
            "x",
            *args,
            str(files / "id_ed25519.pub"),
        ],
        capture_output=True,
        check=False,
    )
    assert proc.returncode != 0
    refused(
        "cert", "sign", "--ca", str(files / "ca"), "-I", "x", *args, str(files / "id_ed25519.pub")
    )


# --- agent ----------------------------------------------------------------------------


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


def test_ok_sign_with_agent(files: Path, agent: str) -> None:
    (files / "ca").chmod(0o600)
    env = {**os.environ, "SSH_AUTH_SOCK": agent}
    subprocess.run(["ssh-add", "-q", str(files / "ca")], env=env, check=True, capture_output=True)
    result = run(
        "cert",
        "sign",
        "-U",
        "--ca",
        str(files / "ca.pub"),
        "-I",
        "x",
        "-n",
        "a",
        str(files / "id_ed25519.pub"),
        env={"SSH_AUTH_SOCK": agent},
    )
    assert result.code == 0, result.err
    assert _cert(files / "id_ed25519-cert.pub").signature_key == _key("ed25519").public.blob


def test_refused_agent_without_the_ca(files: Path, agent: str) -> None:
    line = refused(
        "cert",
        "sign",
        "-U",
        "--ca",
        str(files / "ca.pub"),
        "-I",
        "x",
        str(files / "id_ed25519.pub"),
        env={"SSH_AUTH_SOCK": agent},
    )
    assert "does not hold the CA key" in line


def test_refused_agent_unreachable(files: Path) -> None:
    line = refused(
        "cert",
        "sign",
        "-U",
        "--ca",
        str(files / "ca.pub"),
        "-I",
        "x",
        str(files / "id_ed25519.pub"),
        env={"SSH_AUTH_SOCK": str(files / "gone")},
    )
    assert "cannot talk to the ssh-agent" in line


# --- show -----------------------------------------------------------------------------


@pytest.fixture
def signed(files: Path) -> Path:
    assert (
        run(
            "cert",
            "sign",
            "--ca",
            str(files / "ca"),
            "-I",
            "alice",
            "-n",
            "alice",
            "-V",
            "20260101:20260201",
            "-O",
            "force-command=ls",
            str(files / "id_ed25519.pub"),
        ).code
        == 0
    )
    return files / "id_ed25519-cert.pub"


@needs_ssh_keygen
@pytest.mark.parametrize("zone", ["UTC", "Asia/Tokyo"])
def test_ok_show_matches_ssh_keygen(signed: Path, zone: str) -> None:
    result = run("cert", "show", str(signed), env={"TZ": zone})
    proc = subprocess.run(
        ["ssh-keygen", "-L", "-f", str(signed)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "TZ": zone},
    )
    assert result.code == 0 and result.out == proc.stdout


def test_ok_show_stdin_and_several(signed: Path) -> None:
    line = signed.read_text()
    result = run("cert", "show", "-", stdin=f"# comment\n{line}\n{line}")
    assert result.code == 0, result.err
    assert result.out.startswith("(stdin):2:\n")
    assert "\n(stdin):4:\n" in result.out


def test_ok_show_json(signed: Path) -> None:
    result = run("cert", "show", "--json", str(signed))
    assert result.code == 0, result.err
    [data] = json.loads(result.out)
    assert data["key_id"] == "alice" and data["principals"] == ["alice"]
    assert data["critical_options"] == {"force-command": "ls"}
    assert data["valid"] == "from 2026-01-01T00:00:00 to 2026-02-01T00:00:00"
    assert data["signing_ca"]["algorithm"] == "ssh-ed25519"


def test_refused_show_not_a_certificate(files: Path) -> None:
    line = refused("cert", "show", str(files / "id_ed25519.pub"))
    assert line.startswith(f"error: {files / 'id_ed25519.pub'}:1: ")


def test_refused_show_empty(files: Path) -> None:
    (files / "empty").write_text("# nothing\n")
    assert "holds no certificate" in refused("cert", "show", str(files / "empty"))
