"""`gitward login`: get a certificate for your key from a Gitward server's issuing API.

Runs on the user's machine: it needs a personal access token (``gitward token create``),
not the server's database. It sends ``KEY.pub``, writes ``KEY-cert.pub`` beside it (where
ssh looks for it), prints the expiry and the ``org-ID@HOST`` prefix of clone URLs, and
with ``--ssh-config`` adds a block to ~/.ssh/config so plain ``ssh``/``git`` offer that
certificate. The block sits between marker comments naming the host, goes first in the
file (ssh uses the first value it finds for most options) and is replaced in place on the
next login, so running login again never piles up copies.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import click

from gitward.cli.common import echo_json, handle_errors
from gitward.cli.context import settings_options
from gitward.errors import GitwardError, InvalidInput
from gitward.services.issuing_client import IssuingFailed, request_certificate

DEFAULT_KEY = "~/.ssh/id_ed25519"


class LoginFailed(GitwardError):
    """The server refused, or could not be reached."""


@click.command("login")
@click.option(
    "--server",
    required=True,
    metavar="URL",
    help="The Gitward server's web address, e.g. https://git.example.com.",
)
@click.option(
    "--token", default=None, help="A personal access token (visible in ps; prefer --token-env)."
)
@click.option(
    "--token-env",
    default="GITWARD_TOKEN",
    show_default=True,
    metavar="VAR",
    help="The environment variable holding the token.",
)
@click.option(
    "--key",
    "key_path",
    default=DEFAULT_KEY,
    show_default=True,
    metavar="FILE",
    help="Your private key; FILE.pub is sent, FILE-cert.pub written.",
)
@click.option("--org", default=None, help="The organization whose CA signs.")
@click.option(
    "--validity",
    default=None,
    metavar="INTERVAL",
    help="How long the certificate lives (30m, 8h, 1d); default: the server's.",
)
@click.option(
    "--bind-address",
    is_flag=True,
    help="Make the certificate usable only from this machine's address.",
)
@click.option(
    "--ssh-config",
    "ssh_config",
    is_flag=True,
    help="Add (or update) a block in your ssh config that offers the certificate.",
)
@click.option(
    "--ssh-config-file",
    default="~/.ssh/config",
    show_default=True,
    metavar="PATH",
    help="The ssh config file --ssh-config edits.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the server's answer as JSON.")
@settings_options
@handle_errors
def login(
    server: str,
    token: str | None,
    token_env: str,
    key_path: str,
    org: str | None,
    validity: str | None,
    bind_address: bool,
    ssh_config: bool,
    ssh_config_file: str,
    as_json: bool,
) -> None:
    """Get a short-lived SSH certificate for your key from a Gitward server."""
    secret = token or os.environ.get(token_env)
    if not secret:
        raise InvalidInput(f"no access token: pass --token or set {token_env}")
    private_path, public_path = _key_paths(key_path)
    try:
        public_line = public_path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read {public_path}: {getattr(exc, 'strerror', exc)}") from exc
    body: dict[str, Any] = {"public_key": public_line, "bind_source_address": bind_address}
    if org:
        body["organization"] = org
    if validity:
        body["validity"] = validity
    answer = _request(server, secret, body)
    cert_path = Path(f"{str(public_path).removesuffix('.pub')}-cert.pub")
    _write_public(cert_path, answer["certificate"].strip() + "\n")
    hostname, port = str(answer["hostname"]), int(answer["ssh_port"])
    if ssh_config:
        update_ssh_config(
            Path(ssh_config_file).expanduser(),
            ssh_config_block(hostname, port, private_path, cert_path),
        )
    if as_json:
        echo_json({**answer, "certificate_file": str(cert_path)})
        return
    prefix = str(answer["clone_prefix"])
    example = f"{prefix}:OWNER/REPO.git" if port == 22 else f"ssh://{prefix}:{port}/OWNER/REPO.git"
    click.echo(f"wrote {cert_path} (serial {answer['serial']}, key id {answer['key_id']})")
    click.echo(f"valid until {answer['valid_before']}")
    click.echo(f"clone with {prefix}: {example}")
    if ssh_config:
        click.echo(f"updated {ssh_config_file} for {hostname}")


def _key_paths(key_path: str) -> tuple[Path, Path]:
    path = Path(key_path).expanduser()
    if path.suffix == ".pub":
        return path.with_suffix(""), path
    return path, Path(f"{path}.pub")


def _request(server: str, token: str, body: dict[str, Any]) -> dict[str, Any]:
    try:
        return request_certificate(server, token, body)
    except IssuingFailed as exc:
        raise LoginFailed(exc.message, cause=exc.cause) from exc


def _write_public(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        temporary.write_text(text, encoding="utf-8")
        temporary.chmod(0o644)
        temporary.replace(path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise InvalidInput(f"cannot write {path}: {exc.strerror or exc}") from exc


# --- ssh config -----------------------------------------------------------------------


def _markers(hostname: str) -> tuple[str, str]:
    return (
        f"# BEGIN gitward {hostname} (written by gitward login; replaced on each login)",
        f"# END gitward {hostname}",
    )


def ssh_config_block(hostname: str, port: int, identity: Path, certificate: Path) -> str:
    begin, end = _markers(hostname)
    lines = [begin, f"Host {hostname}", f"    HostName {hostname}"]
    if port != 22:
        lines.append(f"    Port {port}")
    lines += [
        f"    IdentityFile {_quote(identity.resolve())}",
        f"    CertificateFile {_quote(certificate.resolve())}",
        "    IdentitiesOnly yes",
        end,
    ]
    return "\n".join(lines) + "\n"


def _quote(path: Path) -> str:
    text = str(path)
    return f'"{text}"' if any(ch.isspace() for ch in text) else text


def update_ssh_config(path: Path, block: str) -> None:
    """Put ``block`` first in ``path``, replacing the previous block for the same host."""
    begin = block.splitlines()[0]
    hostname = begin.split()[3]
    try:
        current = path.read_text(encoding="utf-8")
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        current, mode = "", 0o600
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read {path}: {exc}") from exc
    host = re.escape(hostname)
    pattern = re.compile(
        rf"^# BEGIN gitward {host}( .*)?\n.*?^# END gitward {host}\n?", re.MULTILINE | re.DOTALL
    )
    if pattern.search(current):
        updated = pattern.sub(lambda _m: block, current, count=1)
    else:
        separator = "\n" if current.strip() else ""
        updated = block + separator + current
    temporary = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(updated)
        os.chmod(temporary, mode)
        temporary.replace(path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise InvalidInput(f"cannot write {path}: {exc.strerror or exc}") from exc
