"""`gitward keys ...`: generate, inspect, convert and check SSH keys in every format.

Passphrases come from an environment variable (``--passphrase-env VAR``), a hidden prompt
when stdin is a terminal, or, least safely, argv (``-P`` / ``-N``, visible in ``ps``).
They are never echoed nor logged.
"""

from __future__ import annotations

import getpass
import os
import socket
import sys
from typing import Any

import click

from gitward.cli.common import echo_json, fail, handle_errors
from gitward.errors import KeyRejected
from gitward.keys import (
    PRIVATE_TARGETS,
    PUBLIC_TARGETS,
    KeyInfo,
    PassphraseRequired,
    PrivateKey,
    diagnose,
    diagnose_all,
    export_private_key,
    export_public_key,
    fingerprint_md5,
    fingerprint_sha256,
    generate_key,
    inspect_key,
    load_private_key,
    parse_target,
    read_key_file,
    write_private_key_file,
    write_public_key_file,
)
from gitward.keys.diagnose import TARGET_LABELS, TARGET_NAMES, describe
from gitward.keys.files import public_path_for
from gitward.keys.formats import codec_for

GENERATE_FORMATS = ("openssh", "pem", "pkcs8", "ppk", "ppk2")


@click.group(name="keys")
def keys_group() -> None:
    """Generate, inspect, convert and check SSH keys in every common format."""


# ---- passphrases ------------------------------------------------------------------------


def _from_env(var: str | None) -> bytes | None:
    if var is None:
        return None
    value = os.environ.get(var)
    if value is None:
        fail(f"the environment variable {var} is not set")
    return value.encode("utf-8")


def _given(text: str | None, env: str | None) -> bytes | None:
    if text is not None and env is not None:
        raise click.UsageError("give the passphrase either on the command line or by --*-env")
    return text.encode("utf-8") if text is not None else _from_env(env)


def _interactive() -> bool:
    return sys.stdin.isatty()


def _prompt(text: str, *, confirm: bool = False) -> bytes:
    value = click.prompt(
        text, hide_input=True, confirmation_prompt=confirm, default="", show_default=False
    )
    return str(value).encode("utf-8")


def _open(path: str, data: bytes, passphrase: bytes | None) -> PrivateKey:
    """Load a private key, asking for its passphrase on a terminal when it needs one."""
    try:
        return load_private_key(data, passphrase)
    except PassphraseRequired:
        if not _interactive():
            fail(
                f"{path} is encrypted: give its passphrase with --passphrase-env VAR "
                "(or -P, visible to other users)"
            )
    return load_private_key(data, _prompt(f"Passphrase for {path}"))


def _info(path: str, data: bytes, passphrase: bytes | None) -> KeyInfo:
    """Inspect a file; an encrypted key that hides its algorithm is opened when we can."""
    info = inspect_key(data)
    hidden = info.public is None or passphrase is not None
    if info.encrypted and hidden and (passphrase is not None or _interactive()):
        key = _open(path, data, passphrase)
        comment = key.comment or info.comment
        return KeyInfo(info.format, True, True, key.algorithm, key.public, comment)
    return info


def _default_comment() -> str:
    try:
        return f"{getpass.getuser()}@{socket.gethostname()}"
    except (OSError, KeyError):
        return ""


# ---- generate ---------------------------------------------------------------------------


@keys_group.command("generate")
@click.option(
    "-t",
    "--type",
    "algorithm",
    type=click.Choice(["rsa", "ed25519", "ecdsa"]),
    default="ed25519",
    show_default=True,
    help="Key algorithm.",
)
@click.option(
    "-b",
    "--bits",
    type=int,
    default=None,
    help="RSA: 2048-8192 (default 4096). ECDSA: 256, 384 or 521 (default 256).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(GENERATE_FORMATS),
    default="openssh",
    show_default=True,
    help="Format of the private key file.",
)
@click.option("-C", "--comment", default=None, help="Key comment (default: user@host).")
@click.option(
    "-N",
    "--new-passphrase",
    "passphrase",
    default=None,
    help="Passphrase (visible in ps; prefer --new-passphrase-env or the prompt).",
)
@click.option(
    "--new-passphrase-env",
    "passphrase_env",
    metavar="VAR",
    default=None,
    help="Read the passphrase from this environment variable.",
)
@click.option(
    "-f",
    "--file",
    "path",
    required=True,
    type=click.Path(dir_okay=False),
    help="Private key file to write; the public key goes to FILE.pub.",
)
@click.option("--force", is_flag=True, help="Overwrite existing files.")
@handle_errors
def generate_cmd(
    algorithm: str,
    bits: int | None,
    fmt: str,
    comment: str | None,
    passphrase: str | None,
    passphrase_env: str | None,
    path: str,
    force: bool,
) -> None:
    """Generate a key pair: FILE (mode 0600) and FILE.pub.

    `-t rsa -b 4096 --format pem` is what PEM-only (JSch-based) integrations need.
    """
    secret = _given(passphrase, passphrase_env)
    if secret is None and _interactive():
        secret = _prompt("Passphrase (empty for none)", confirm=True)
    key = generate_key(algorithm, bits, _default_comment() if comment is None else comment)
    private = export_private_key(key, fmt, secret)
    public = export_public_key(key.public)
    write_private_key_file(path, private, overwrite=force)
    write_public_key_file(public_path_for(path), public, overwrite=force)
    click.echo(f"wrote {path} ({codec_for(inspect_key(private).format).description})")
    click.echo(f"wrote {public_path_for(path)}")
    click.echo(f"{fingerprint_sha256(key)} {key.comment}".rstrip())


# ---- inspect ---------------------------------------------------------------------------


def _inspect_data(path: str, info: KeyInfo) -> dict[str, Any]:
    public = info.public
    return {
        "file": path,
        "format": str(info.format),
        "format_description": codec_for(info.format).description,
        "description": describe(info),
        "private": info.is_private,
        "encrypted": info.encrypted,
        "algorithm": str(info.algorithm) if info.algorithm else None,
        "ssh_type": public.ssh_type if public else None,
        "bits": info.bits,
        "curve": info.curve,
        "comment": info.comment or (public.comment if public else ""),
        "fingerprint_sha256": fingerprint_sha256(public) if public else None,
        "fingerprint_md5": fingerprint_md5(public) if public else None,
        "public_key": export_public_key(public).decode().strip() if public else None,
        "targets": {
            str(d.target): {"usable": d.usable, "reason": d.reason, "fix": d.fix}
            for d in diagnose_all(info, path=path)
        },
    }


@keys_group.command("inspect")
@click.argument("path", metavar="FILE", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("-P", "--passphrase", default=None, help="Passphrase (visible in ps).")
@click.option(
    "--passphrase-env",
    metavar="VAR",
    default=None,
    help="Read the passphrase from this environment variable.",
)
@handle_errors
def inspect_cmd(
    path: str, as_json: bool, passphrase: str | None, passphrase_env: str | None
) -> None:
    """Say what a key file is and which clients can use it as is."""
    data = read_key_file(path)
    info = _info(path, data, _given(passphrase, passphrase_env))
    report = _inspect_data(path, info)
    if as_json:
        echo_json(report)
        return
    rows = [
        ("format", f"{report['format']} ({report['format_description']})"),
        ("key", report["description"].removeprefix("an ").removeprefix("a ")),
        ("algorithm", report["algorithm"] or "unknown until decrypted"),
        ("bits", report["bits"]),
        ("curve", report["curve"]),
        ("encrypted", "yes" if info.encrypted else "no"),
        ("comment", report["comment"]),
        ("fingerprint", report["fingerprint_sha256"]),
        ("public key", report["public_key"]),
    ]
    for label, value in rows:
        if value not in (None, ""):
            click.echo(f"{label + ':':<13}{value}")
    click.echo("usable as is by:")
    for name, verdict in report["targets"].items():
        label = TARGET_LABELS[parse_target(name)]
        mark = "yes" if verdict["usable"] else "no "
        fix = f": {verdict['fix']}" if verdict["fix"] else ""
        click.echo(f"  {mark}  {label}: {verdict['reason']}{fix}")


# ---- convert ---------------------------------------------------------------------------


@keys_group.command("convert")
@click.argument("path", metavar="FILE", type=click.Path(dir_okay=False))
@click.option(
    "--to",
    "to",
    required=True,
    type=click.Choice(PRIVATE_TARGETS + PUBLIC_TARGETS),
    help="Target format ('pem' is PKCS#1 for RSA, SEC1 for ECDSA; 'ppk' is v3; "
    "'public' is the OpenSSH line).",
)
@click.option(
    "-o",
    "--output",
    default=None,
    type=click.Path(dir_okay=False),
    help="Output file (default: standard output).",
)
@click.option("-P", "--passphrase", default=None, help="Current passphrase (visible in ps).")
@click.option(
    "--passphrase-env",
    metavar="VAR",
    default=None,
    help="Read the current passphrase from this environment variable.",
)
@click.option(
    "-N",
    "--new-passphrase",
    default=None,
    help="New passphrase; '' writes the key unencrypted. Default: keep the current.",
)
@click.option(
    "--new-passphrase-env",
    metavar="VAR",
    default=None,
    help="Read the new passphrase from this environment variable.",
)
@click.option("-C", "--comment", default=None, help="Set the key comment.")
@click.option("--force", is_flag=True, help="Overwrite the output file.")
@handle_errors
def convert_cmd(
    path: str,
    to: str,
    output: str | None,
    passphrase: str | None,
    passphrase_env: str | None,
    new_passphrase: str | None,
    new_passphrase_env: str | None,
    comment: str | None,
    force: bool,
) -> None:
    """Convert a key file to another format (or extract its public key)."""
    data = read_key_file(path)
    old = _given(passphrase, passphrase_env)
    new = _given(new_passphrase, new_passphrase_env)
    info = inspect_key(data)
    if to in PUBLIC_TARGETS:
        public = info.public
        if public is None:
            public = _open(path, data, old).public
        if comment is not None:
            public = type(public)(public.key, comment)
        _emit(export_public_key(public, to), output, private=False, force=force)
        return
    if not info.is_private:
        raise KeyRejected(f"{path} holds only a public key: it cannot become a private key")
    key = _open(path, data, old)
    if comment is not None:
        key = key.with_comment(comment)
    if new is None:
        # Keep the key as protected as it was: reuse the passphrase that opened it.
        new = old if info.encrypted and old is not None else None
        if info.encrypted and new is None and _interactive():
            new = _prompt("New passphrase (empty for none)", confirm=True)
    _emit(export_private_key(key, to, new), output, private=True, force=force)


def _emit(data: bytes, output: str | None, *, private: bool, force: bool) -> None:
    if output is None:
        click.echo(data.decode("utf-8") if data.isascii() else data, nl=False)
        return
    if private:
        write_private_key_file(output, data, overwrite=force)
    else:
        write_public_key_file(output, data, overwrite=force)
    click.echo(f"wrote {output}", err=True)


# ---- check -----------------------------------------------------------------------------


@keys_group.command("check")
@click.argument("path", metavar="FILE", type=click.Path(dir_okay=False))
@click.option(
    "--for",
    "target",
    required=True,
    type=click.Choice(TARGET_NAMES),
    help="Who will use the key: openssh, putty, pem-only (alias jsch), gitward.",
)
@click.option("-P", "--passphrase", default=None, help="Passphrase (visible in ps).")
@click.option(
    "--passphrase-env",
    metavar="VAR",
    default=None,
    help="Read the passphrase from this environment variable.",
)
@handle_errors
def check_cmd(path: str, target: str, passphrase: str | None, passphrase_env: str | None) -> None:
    """Exit 0 if FILE is usable as is by TARGET; else say why and how to fix it (exit 1)."""
    data = read_key_file(path)
    info = _info(path, data, _given(passphrase, passphrase_env))
    verdict = diagnose(info, target, path=path)
    if not verdict.usable:
        fail(verdict.message)
    click.echo(f"ok: {verdict.reason}")
