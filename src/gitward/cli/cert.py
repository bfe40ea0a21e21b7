"""`gitward cert ...`: issue and read OpenSSH certificates, the way ssh-keygen does.

`sign` mirrors ``ssh-keygen -s CA -I ID [-V] [-n] [-z] [-O]... [-h] [-U] KEY.pub...``:
same option forms, same defaults (valid forever, any principal when -n is left out, the
five permit-* extensions for user certificates), same output file (``KEY-cert.pub``).
`show` prints what ``ssh-keygen -L -f FILE`` prints. This is the I/O shell around the
pure ``gitward.ca`` modules: it reads the clock, the local time zone, files and the agent.

One function per command; shared helpers sit above them.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from datetime import UTC, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click

from gitward.agent_client import AgentClient
from gitward.ca.certificate import HOST_CERT, USER_CERT, Certificate, parse_certificate_line
from gitward.ca.render import certificate_lines, format_validity
from gitward.ca.sign import (
    AgentSigner,
    CertificateRequest,
    CertOptions,
    PrivateKeySigner,
    Signer,
    apply_option,
    sign_certificate,
)
from gitward.ca.validity import parse_validity
from gitward.cli.common import echo_json, fail, handle_errors
from gitward.cli.context import flag_overrides, read_input, service_context, settings_options
from gitward.errors import CertificateError, InvalidInput, KeyRejected
from gitward.keys import (
    PassphraseRequired,
    PrivateKey,
    PublicKey,
    load_private_key,
    load_public_key,
    read_key_file,
    write_public_key_file,
)
from gitward.services.ssh_access import certificate_user
from gitward.settings import load_settings

MAX_SERIAL = 2**64 - 1


@click.group(name="cert")
@settings_options
def cert_group() -> None:
    """Issue and inspect OpenSSH certificates (like ssh-keygen -s / -L)."""


# ---- shared helpers ----------------------------------------------------------------------


def local_timezone() -> tzinfo:
    """The zone ssh-keygen would use: $TZ, else /etc/localtime, else UTC."""
    name = os.environ.get("TZ", "").removeprefix(":")
    try:
        if name:
            return ZoneInfo(name)
        with open("/etc/localtime", "rb") as handle:
            return ZoneInfo.from_file(handle)
    except (OSError, ValueError, ZoneInfoNotFoundError):
        return UTC


def cert_path_for(public_path: str) -> Path:
    """``id_ed25519.pub`` -> ``id_ed25519-cert.pub`` (ssh-keygen's rule)."""
    base = public_path.removesuffix(".pub")
    return Path(f"{base}-cert.pub")


def parse_serial(text: str) -> tuple[int, bool]:
    """``-z``: a decimal serial, or ``+N`` to count up from N for each key signed."""
    increment = text.startswith("+")
    digits = text[1:] if increment else text
    if not digits.isascii() or not digits.isdigit() or int(digits) > MAX_SERIAL:
        raise InvalidInput(f"invalid serial number {text!r}: use 0 to {MAX_SERIAL}")
    return int(digits), increment


def parse_principals(text: str | None) -> tuple[str, ...]:
    """``-n a,b``; None (no -n) means any principal, as in ssh-keygen."""
    if text is None:
        return ()
    names = tuple(text.split(","))
    if any(not name for name in names):
        raise InvalidInput("empty principal name in -n")
    return names


def _passphrase(text: str | None, env: str | None) -> bytes | None:
    if text is not None and env is not None:
        raise click.UsageError("give the passphrase either with -P or with --passphrase-env")
    if env is not None:
        value = os.environ.get(env)
        if value is None:
            fail(f"the environment variable {env} is not set")
        return value.encode("utf-8")
    return text.encode("utf-8") if text is not None else None


def _open_ca_key(path: str, passphrase: bytes | None) -> PrivateKey:
    data = read_key_file(path)
    try:
        return load_private_key(data, passphrase)
    except PassphraseRequired:
        if not sys.stdin.isatty():
            fail(f"{path} is encrypted: give its passphrase with --passphrase-env VAR (or -P)")
    secret = click.prompt(f"Passphrase for {path}", hide_input=True, default="", show_default=False)
    return load_private_key(data, str(secret).encode("utf-8"))


def _ca_signer(path: str, use_agent: bool, passphrase: bytes | None) -> Signer:
    if not use_agent:
        return PrivateKeySigner(_open_ca_key(path, passphrase))
    public = load_public_key(read_key_file(path))
    client = AgentClient()
    if not any(identity.blob == public.blob for identity in client.identities()):
        raise KeyRejected(f"the ssh-agent does not hold the CA key {path} (ssh-add it)")
    return AgentSigner(client, public.blob)


@dataclass(frozen=True)
class _Signed:
    path: Path
    cert: Certificate
    comment: str


def _request_for(
    key: PublicKey,
    key_id: str,
    serial: int,
    principals: tuple[str, ...],
    validity: tuple[int, int],
    cert_type: int,
    options: CertOptions,
) -> CertificateRequest:
    return CertificateRequest(
        public_key=key.blob,
        key_id=key_id,
        serial=serial,
        cert_type=cert_type,
        principals=principals,
        any_principal=not principals,  # ssh-keygen: no -n means any principal
        valid_after=validity[0],
        valid_before=validity[1],
    ).with_options(options)


# ---- sign ---------------------------------------------------------------------------------


@cert_group.command("sign", context_settings={"help_option_names": ["--help"]})
@click.argument(
    "keys", metavar="PUBKEY_FILE...", nargs=-1, required=True, type=click.Path(dir_okay=False)
)
@click.option(
    "--ca",
    "-s",
    "ca_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="CA private key (any format); with -U, the CA's public key.",
)
@click.option("-I", "--key-id", "key_id", required=True, help="Key id (shown in logs).")
@click.option(
    "-V",
    "--validity",
    default="always:forever",
    show_default=True,
    help="ssh-keygen -V forms: +52w, -5m:+1h, 20260101:20270101Z, ...",
)
@click.option(
    "-n", "--principals", default=None, help="Comma-separated principals (default: any principal)."
)
@click.option(
    "-z",
    "--serial",
    default="0",
    show_default=True,
    help="Serial number; +N counts up from N for each key.",
)
@click.option(
    "-O",
    "--option",
    "options",
    multiple=True,
    help="Certificate option, as ssh-keygen -O (repeatable).",
)
@click.option("-h", "--host", "host", is_flag=True, help="Issue host certificates.")
@click.option(
    "-U", "--agent", "use_agent", is_flag=True, help="The CA key is in ssh-agent ($SSH_AUTH_SOCK)."
)
@click.option("-P", "--passphrase", default=None, help="CA key passphrase (visible in ps).")
@click.option(
    "--passphrase-env",
    metavar="VAR",
    default=None,
    help="Read the CA key passphrase from this environment variable.",
)
@settings_options
@handle_errors
def sign_cmd(
    keys: tuple[str, ...],
    ca_path: str,
    key_id: str,
    validity: str,
    principals: str | None,
    serial: str,
    options: tuple[str, ...],
    host: bool,
    use_agent: bool,
    passphrase: str | None,
    passphrase_env: str | None,
) -> None:
    """Sign each PUBKEY_FILE with the CA, writing NAME-cert.pub beside it."""
    cert_type = HOST_CERT if host else USER_CERT
    first_serial, increment = parse_serial(serial)
    names = parse_principals(principals)
    period = parse_validity(validity, int(time.time()), local_timezone())
    state = CertOptions.for_type(cert_type)
    for text in options:
        state = apply_option(state, text)
    subjects = [(path, load_public_key(read_key_file(path))) for path in keys]
    signer = _ca_signer(ca_path, use_agent, _passphrase(passphrase, passphrase_env))
    # Sign everything before writing anything: a refusal leaves no half-done batch.
    signed: list[_Signed] = []
    for index, (path, key) in enumerate(subjects):
        number = first_serial + index if increment else first_serial
        if number > MAX_SERIAL:
            raise CertificateError("the serial number passed 2**64-1 while counting up")
        request = _request_for(key, key_id, number, names, period, cert_type, state)
        signed.append(_Signed(cert_path_for(path), sign_certificate(request, signer), key.comment))
    tz = local_timezone()
    for item in signed:
        line = item.cert.to_line(item.comment) + "\n"
        write_public_key_file(item.path, line.encode("utf-8"), overwrite=True)
        kind = "user" if item.cert.cert_type == USER_CERT else "host"
        target = f" for {principals}" if principals is not None else ""
        valid = format_validity(item.cert.valid_after, item.cert.valid_before, tz)
        click.echo(
            f'Signed {kind} key {item.path}: id "{item.cert.key_id}" '
            f"serial {item.cert.serial}{target} valid {valid}"
        )


# ---- show ---------------------------------------------------------------------------------


def read_certificates(path: str) -> list[tuple[str, Certificate]]:
    """Every certificate in FILE (or stdin for '-'), labelled as ssh-keygen -L does."""
    text = read_input(path).decode("utf-8", errors="replace")
    shown = "(stdin)" if path == "-" else path
    found: list[tuple[str, Certificate]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.lstrip(" \t")
        if not stripped or stripped.startswith("#"):
            continue
        try:
            cert = parse_certificate_line(stripped)
        except CertificateError as exc:
            raise CertificateError(f"{shown}:{number}: {exc.message}", cause=exc.cause) from exc
        label = shown if number == 1 and path != "-" else f"{shown}:{number}"
        found.append((label, cert))
    if not found:
        raise CertificateError(f"{shown} holds no certificate")
    return found


def show_lines(label: str, cert: Certificate, tz: tzinfo) -> list[str]:
    """The text `cert show` prints for one certificate (ssh-keygen -L's lines).

    The seam for more: callers that know more (the account a certificate maps to)
    append their lines here.
    """
    return certificate_lines(cert, label, tz)


def show_data(label: str, cert: Certificate) -> dict[str, Any]:
    """The JSON `cert show --json` prints for one certificate."""
    return {
        "file": label,
        "type": "user" if cert.cert_type == USER_CERT else "host",
        "key_type": cert.key_type,
        "public_key_fingerprint": cert.public_key_fingerprint,
        "signing_ca": {
            "type": cert.signature_key_type,
            "fingerprint": cert.signature_key_fingerprint,
            "algorithm": cert.signature_algorithm,
        },
        "key_id": cert.key_id,
        "serial": cert.serial,
        "valid_after": cert.valid_after,
        "valid_before": cert.valid_before,
        "valid": format_validity(cert.valid_after, cert.valid_before, UTC),
        "principals": list(cert.principals),
        "critical_options": dict(cert.critical_options),
        "extensions": dict(cert.extensions),
        "fingerprint": cert.fingerprint,
    }


def gitward_user(cert: Certificate) -> str | None:
    """The user ``cert`` maps to on the server whose settings are in effect, or None when
    there is no server store here (``cert show`` must not create one)."""
    overrides, config = flag_overrides()
    settings = load_settings(overrides, config_file=config)
    if settings.database_url is None and not (settings.data_dir / "gitward.db").exists():
        return None
    found = certificate_user(service_context(), cert)
    return found or f"(none: no login@{settings.hostname} or id@{settings.hostname} user here)"


@cert_group.command("show")
@click.argument("path", metavar="FILE")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print a JSON list, one object per certificate (times in Unix seconds).",
)
@settings_options
@handle_errors
def show_cmd(path: str, as_json: bool) -> None:
    """Print a certificate as ssh-keygen -L does ('-' reads standard input)."""
    found = read_certificates(path)
    if as_json:
        # Always a list (one object per certificate in the file): one shape to parse.
        shown = [
            {**show_data(label, cert), "gitward_user": gitward_user(cert)} for label, cert in found
        ]
        echo_json(shown)
        return
    tz = local_timezone()
    for label, cert in found:
        for line in show_lines(label, cert, tz):
            click.echo(line)
        user = gitward_user(cert)
        if user is not None:
            click.echo(f"        Gitward user: {user}")


# --- inventory and revocation (the issuing service; appended) ---------------------------


@cert_group.command("list")
@click.option("--user", default=None, help="Only USER's certificates.")
@click.option(
    "--ca",
    "ca_fingerprint",
    default=None,
    metavar="FP",
    help="Only those signed by the CA with this fingerprint.",
)
@click.option("--valid-now", is_flag=True, help="Only those valid at this moment.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@settings_options
@handle_errors
def list_cmd(user: str | None, ca_fingerprint: str | None, valid_now: bool, as_json: bool) -> None:
    """The certificates Gitward has signed, newest first."""
    from gitward.cli.context import service_context
    from gitward.services import inventory

    found = inventory.list_certificates(
        service_context(), user=user, ca=ca_fingerprint, valid_now=valid_now
    )
    if as_json:
        echo_json([v.to_json() for v in found])
        return
    for v in found:
        click.echo(
            f"{v.serial}\t{v.key_id}\t{v.user}\t{v.valid_after.isoformat()}"
            f"\t{v.valid_before.isoformat()}\t{v.ca_fingerprint}"
        )


@cert_group.command("revoke")
@click.option("--serial", type=str, default=None, help="A serial number (needs --ca).")
@click.option(
    "--key-id",
    "key_id",
    default=None,
    help="A key id (under every CA, or the one given with --ca).",
)
@click.option(
    "--ca", "ca_fingerprint", default=None, metavar="FP", help="The CA's fingerprint (SHA256:...)."
)
@click.option(
    "--key",
    "key_file",
    default=None,
    metavar="PUBKEY_FILE",
    help="A public key (revoked as a key, under every certificate, and as a CA) "
    "or a certificate file.",
)
@click.option("--reason", default="", help="A note kept with the revocation.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@settings_options
@handle_errors
def revoke_cmd(
    serial: str | None,
    key_id: str | None,
    ca_fingerprint: str | None,
    key_file: str | None,
    reason: str,
    as_json: bool,
) -> None:
    """Revoke certificates or keys; the SSH server refuses them from the next connection."""
    from gitward.cli.context import service_context
    from gitward.services import revocation

    chosen = [
        name
        for name, value in (("--serial", serial), ("--key-id", key_id), ("--key", key_file))
        if value is not None
    ]
    if len(chosen) != 1:
        raise click.UsageError("give exactly one of --serial, --key-id or --key")
    if key_file is not None:
        if ca_fingerprint is not None:
            raise click.UsageError("--ca goes with --serial or --key-id, not --key")
        view = revocation.revoke_key(service_context(), read_input(key_file), reason)
    elif serial is not None:
        if ca_fingerprint is None:
            raise click.UsageError("--serial needs --ca FP: serials are only unique per CA")
        number, _ = parse_serial(serial)
        view = revocation.revoke_serial(service_context(), number, ca_fingerprint, reason)
    else:
        assert key_id is not None
        view = revocation.revoke_key_id(service_context(), key_id, ca_fingerprint, reason)
    if as_json:
        echo_json(view.to_json())
    else:
        click.echo(f"revoked {view.description}")
