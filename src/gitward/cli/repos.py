"""`gitward repo ...`, `gitward deploy-key ...`, `gitward ca ...`."""

from __future__ import annotations

import click

from gitward.cli.accounts import json_flag
from gitward.cli.common import echo_json, handle_errors
from gitward.cli.context import read_input, service_context, settings_options
from gitward.services import authorities, repositories


@click.group(name="repo")
def repo_group() -> None:
    """Create, fork and share repositories; print clone URLs."""


@repo_group.command("create")
@click.argument("full_name", metavar="OWNER/NAME")
@json_flag
@settings_options
@handle_errors
def repo_create(full_name: str, as_json: bool) -> None:
    """Create OWNER/NAME and its bare repository on disk."""
    repo = repositories.create_repo(service_context(), full_name)
    echo_json(repo.to_json()) if as_json else click.echo(f"created repository {repo.full_name}")


@repo_group.command("fork")
@click.argument("full_name", metavar="OWNER/NAME")
@click.option("--to", "to_user", required=True, metavar="USER", help="The user who gets the fork.")
@json_flag
@settings_options
@handle_errors
def repo_fork(full_name: str, to_user: str, as_json: bool) -> None:
    """Fork OWNER/NAME to USER/NAME."""
    repo = repositories.fork_repo(service_context(), full_name, to_user)
    echo_json(repo.to_json()) if as_json else click.echo(
        f"forked {repo.fork_of} to {repo.full_name}"
    )


@repo_group.command("grant")
@click.argument("full_name", metavar="OWNER/NAME")
@click.argument("user")
@click.argument("permission", type=click.Choice(["read", "write", "admin"]))
@settings_options
@handle_errors
def repo_grant(full_name: str, user: str, permission: str) -> None:
    """Make USER a collaborator on OWNER/NAME with PERMISSION."""
    result = repositories.grant(service_context(), full_name, user, permission)
    click.echo(f"{result['user']} has {result['permission']} on {result['repository']}")


@repo_group.command("url")
@click.argument("full_name", metavar="OWNER/NAME")
@click.option("--ssh-port", type=int, help="The SSH port clients connect to [GITWARD_SSH_PORT].")
@settings_options
@handle_errors
def repo_url(full_name: str, ssh_port: int | None) -> None:
    """Print the git@ URL and, for organization repositories, the org-ID@ URL."""
    for url in repositories.clone_urls(service_context({"ssh_port": ssh_port}), full_name):
        click.echo(url)


@repo_group.command("list")
@json_flag
@settings_options
@handle_errors
def repo_list(as_json: bool) -> None:
    found = repositories.list_repos(service_context())
    if as_json:
        echo_json([r.to_json() for r in found])
    else:
        for repo in found:
            click.echo(repo.full_name + (f"\t(fork of {repo.fork_of})" if repo.fork_of else ""))


@click.group(name="deploy-key")
def deploy_key_group() -> None:
    """Keys that reach one repository only."""


@deploy_key_group.command("add")
@click.argument("full_name", metavar="OWNER/NAME")
@click.argument("pubkey_file")
@click.option("--write", is_flag=True, help="Allow pushes (default: read-only).")
@click.option("--title", help="A name for the key (default: its comment).")
@json_flag
@settings_options
@handle_errors
def deploy_key_add(
    full_name: str, pubkey_file: str, write: bool, title: str | None, as_json: bool
) -> None:
    key = repositories.add_deploy_key(
        service_context(), full_name, read_input(pubkey_file), write=write, title=title
    )
    mode = "read-write" if write else "read-only"
    echo_json(key.to_json()) if as_json else click.echo(
        f"added {mode} deploy key {key.fingerprint} to {full_name}"
    )


@click.group(name="ca")
def ca_group() -> None:
    """Certificate authorities trusted by organizations and enterprises."""


@ca_group.command("add")
@click.argument("pubkey_file")
@click.option("--org", help="The organization that trusts the CA.")
@click.option("--enterprise", help="The enterprise that trusts the CA (all its organizations).")
@click.option("--title", help="A name for the CA (default: its comment).")
@json_flag
@settings_options
@handle_errors
def ca_add(
    pubkey_file: str, org: str | None, enterprise: str | None, title: str | None, as_json: bool
) -> None:
    """Trust the CA whose public key is PUBKEY_FILE."""
    ca = authorities.add_ca(
        service_context(), read_input(pubkey_file), org=org, enterprise=enterprise, title=title
    )
    echo_json(ca.to_json()) if as_json else click.echo(
        f"added certificate authority {ca.fingerprint} for {ca.owner_kind} {ca.owner}"
    )


@ca_group.command("list")
@json_flag
@settings_options
@handle_errors
def ca_list(as_json: bool) -> None:
    found = authorities.list_cas(service_context())
    if as_json:
        echo_json([c.to_json() for c in found])
    else:
        for ca in found:
            notes = ["managed"] if ca.managed else []
            if ca.retired_at is not None:
                notes.append(f"retires {ca.retired_at.isoformat()}")
            extra = f"\t({', '.join(notes)})" if notes else ""
            click.echo(f"{ca.fingerprint}\t{ca.owner_kind} {ca.owner}\t{ca.title}{extra}")


@ca_group.command("remove")
@click.argument("fingerprint")
@settings_options
@handle_errors
def ca_remove(fingerprint: str) -> None:
    """Stop trusting the CA with FINGERPRINT (SHA256:...)."""
    ca = authorities.remove_ca(service_context(), fingerprint)
    click.echo(f"removed certificate authority {ca.fingerprint} from {ca.owner_kind} {ca.owner}")


# --- managed CAs (the issuing service; appended) ----------------------------------------


@ca_group.command("create")
@click.option("--org", help="The organization that trusts and uses the CA.")
@click.option("--enterprise", help="The enterprise that trusts and uses it (all its orgs).")
@click.option(
    "--type",
    "key_type",
    type=click.Choice(["ed25519", "ecdsa", "rsa"]),
    default="ed25519",
    show_default=True,
    help="The CA key's type.",
)
@click.option("--title", help="A name for the CA.")
@json_flag
@settings_options
@handle_errors
def ca_create(
    org: str | None, enterprise: str | None, key_type: str, title: str | None, as_json: bool
) -> None:
    """Create a CA whose private key the server keeps (encrypted) and issues with."""
    from gitward.services import managed_ca

    ca = managed_ca.create_managed_ca(
        service_context(), org=org, enterprise=enterprise, key_type=key_type, title=title
    )
    if as_json:
        echo_json(ca.to_json())
    else:
        click.echo(f"created certificate authority {ca.fingerprint} for {ca.owner_kind} {ca.owner}")
        click.echo(ca.public_key)


@ca_group.command("retire")
@click.argument("fingerprint")
@click.option(
    "--at",
    "at",
    default="now",
    show_default=True,
    help="When: now, a date (2027-01-31, midnight UTC) or an ISO time with zone.",
)
@json_flag
@settings_options
@handle_errors
def ca_retire(fingerprint: str, at: str, as_json: bool) -> None:
    """From AT on, the CA signs nothing and the server no longer trusts it."""
    import datetime as dt

    from gitward.errors import InvalidInput
    from gitward.services import managed_ca

    ctx = service_context()
    if at == "now":
        when = ctx.now()
    else:
        try:
            when = dt.datetime.fromisoformat(at)
        except ValueError as exc:
            raise InvalidInput(
                f"invalid time {at[:40]!r}: write 2027-01-31 or an ISO time"
            ) from exc
        if when.tzinfo is None:
            if len(at) > 10:
                raise InvalidInput(f"the time {at[:40]!r} needs a zone, e.g. {at[:40]}Z")
            when = when.replace(tzinfo=dt.UTC)
    ca = managed_ca.retire_ca(ctx, fingerprint, when)
    assert ca.retired_at is not None
    echo_json(ca.to_json()) if as_json else click.echo(
        f"certificate authority {ca.fingerprint} retires at {ca.retired_at.isoformat()}"
    )


@ca_group.command("max-lifetime")
@click.argument("org")
@click.argument("interval", required=False)
@settings_options
@handle_errors
def ca_max_lifetime(org: str, interval: str | None) -> None:
    """Set (or, without INTERVAL, reset to 24h) the longest certificate ORG's issuer signs."""
    from gitward.ca.validity import parse_interval
    from gitward.services import managed_ca

    seconds = parse_interval(interval) if interval else None
    result = managed_ca.set_max_lifetime(service_context(), org, seconds)
    click.echo(
        f"{result['organization']}: certificates live at most "
        f"{result['max_lifetime_seconds']} seconds"
    )
