"""`gitward krl export|import`: the revocation list in OpenSSH's KRL format."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from gitward.cli.common import echo_json, handle_errors
from gitward.cli.context import read_input, service_context, settings_options
from gitward.errors import InvalidInput
from gitward.services import krl


@click.group(name="krl")
def krl_group() -> None:
    """Export and import OpenSSH key revocation lists (ssh-keygen -k / -Q)."""


@krl_group.command("export")
@click.option(
    "--ca",
    "ca_fingerprint",
    metavar="FP",
    help="Only this CA's revocations (plus revoked keys and any-CA key ids).",
)
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False),
    help="The KRL file to write ('-' for standard output).",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
@settings_options
@handle_errors
def krl_export(ca_fingerprint: str | None, output: str, as_json: bool) -> None:
    """Write the revocations as a KRL that ssh-keygen -Q and sshd's RevokedKeys read."""
    result = krl.export_krl(service_context(), ca_fingerprint)
    if output == "-":
        sys.stdout.buffer.write(result.data)
        sys.stdout.flush()
    else:
        _write(Path(output), result.data)
    summary = {"file": output, "entries": result.entries, "skipped": result.skipped}
    if as_json and output != "-":
        echo_json(summary)
    elif output != "-":
        note = (
            f" ({result.skipped} skipped: their CA's public key is unknown here)"
            if result.skipped
            else ""
        )
        click.echo(f"wrote {result.entries} revocations to {output}{note}")


def _write(path: Path, data: bytes) -> None:
    # Write beside and rename, so sshd never reads a half-written KRL.
    temporary = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        temporary.write_bytes(data)
        temporary.chmod(0o644)
        temporary.replace(path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise InvalidInput(f"cannot write {path}: {exc.strerror or exc}") from exc


@krl_group.command("import")
@click.argument("file", metavar="FILE")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
@settings_options
@handle_errors
def krl_import(file: str, as_json: bool) -> None:
    """Load a KRL (e.g. made by ssh-keygen -k) into the revocations; all or nothing."""
    result = krl.import_krl(service_context(), read_input(file), source=file)
    if as_json:
        echo_json(
            {
                "added": result.added,
                "already_revoked": result.already,
                "unregistered_cas": list(result.unregistered_cas),
            }
        )
        return
    click.echo(f"imported {result.added} revocations ({result.already} already present)")
    for fingerprint in result.unregistered_cas:
        click.echo(
            f"note: CA {fingerprint} is not registered here; its entries are kept "
            "and apply if it is added",
            err=True,
        )
