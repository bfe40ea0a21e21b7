"""`gitward user ...`, `gitward key ...`, `gitward enterprise ...`, `gitward org ...`."""

from __future__ import annotations

import sys

import click

from gitward.cli.common import echo_json, handle_errors
from gitward.cli.context import read_input, service_context, settings_options
from gitward.services import accounts, orgs
from gitward.services.views import KeyView, OrgView, UserView

json_flag = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def _user_line(u: UserView) -> str:
    flags = [f for f, on in (("suspended", u.suspended), ("site-admin", u.site_admin)) if on]
    return f"{u.id}\t{u.username}" + (f"\t({', '.join(flags)})" if flags else "")


def _key_line(k: KeyView) -> str:
    return f"{k.fingerprint}\t{k.key_type}\t{k.title}"


def _org_line(o: OrgView) -> str:
    extra = "\trequires certificates" if o.require_ssh_certificates else ""
    ent = f"\tenterprise {o.enterprise}" if o.enterprise else ""
    return f"{o.id}\t{o.name}{ent}{extra}"


@click.group(name="user")
def user_group() -> None:
    """Create, rename, suspend and list users."""


@user_group.command("create")
@click.argument("name")
@click.option("--site-admin", is_flag=True, help="Make the user a site administrator.")
@json_flag
@settings_options
@handle_errors
def user_create(name: str, site_admin: bool, as_json: bool) -> None:
    user = accounts.create_user(service_context(), name, site_admin=site_admin)
    echo_json(user.to_json()) if as_json else click.echo(
        f"created user {user.username} (id {user.id})"
    )


@user_group.command("rename")
@click.argument("old")
@click.argument("new")
@settings_options
@handle_errors
def user_rename(old: str, new: str) -> None:
    user = accounts.rename_user(service_context(), old, new)
    click.echo(f"renamed {old} to {user.username}")


@user_group.command("suspend")
@click.argument("name")
@settings_options
@handle_errors
def user_suspend(name: str) -> None:
    user = accounts.set_suspended(service_context(), name, True)
    click.echo(f"suspended {user.username}")


@user_group.command("unsuspend")
@click.argument("name")
@settings_options
@handle_errors
def user_unsuspend(name: str) -> None:
    user = accounts.set_suspended(service_context(), name, False)
    click.echo(f"unsuspended {user.username}")


@user_group.command("list")
@json_flag
@settings_options
@handle_errors
def user_list(as_json: bool) -> None:
    users = accounts.list_users(service_context())
    if as_json:
        echo_json([u.to_json() for u in users])
    else:
        for user in users:
            click.echo(_user_line(user))


@user_group.command("set-password")
@click.argument("name")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from standard input (one line) instead of prompting.",
)
@settings_options
@handle_errors
def user_set_password(name: str, password_stdin: bool) -> None:
    """Set NAME's web UI password (argon2id); signs NAME out of every browser."""
    from gitward.services import passwords

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = str(click.prompt("Password", hide_input=True, confirmation_prompt=True))
    username = passwords.set_password(service_context(), name, password)
    click.echo(f"set the password of {username}")


@user_group.command("invite")
@click.argument("name")
@click.option("--web-url", help="The web UI's address in the link [GITWARD_WEB_URL].")
@settings_options
@handle_errors
def user_invite(name: str, web_url: str | None) -> None:
    """Print a one-time link (7 days) with which NAME sets a password and signs in."""
    from gitward.services import signin

    ctx = service_context({"web_url": web_url})
    click.echo(signin.invite(ctx, name))


@click.group(name="key")
def key_group() -> None:
    """Add, list and remove users' public keys."""


@key_group.command("add")
@click.argument("user")
@click.argument("pubkey_file")
@click.option("--title", help="A name for the key (default: its comment).")
@json_flag
@settings_options
@handle_errors
def key_add(user: str, pubkey_file: str, title: str | None, as_json: bool) -> None:
    """Register PUBKEY_FILE (a .pub file, or - for standard input) for USER."""
    key = accounts.add_key(service_context(), user, read_input(pubkey_file), title=title)
    echo_json(key.to_json()) if as_json else click.echo(f"added key {key.fingerprint} for {user}")


@key_group.command("list")
@click.argument("user")
@json_flag
@settings_options
@handle_errors
def key_list(user: str, as_json: bool) -> None:
    keys = accounts.list_keys(service_context(), user)
    if as_json:
        echo_json([k.to_json() for k in keys])
    else:
        for key in keys:
            click.echo(_key_line(key))


@key_group.command("remove")
@click.argument("user")
@click.argument("fingerprint")
@settings_options
@handle_errors
def key_remove(user: str, fingerprint: str) -> None:
    key = accounts.remove_key(service_context(), user, fingerprint)
    click.echo(f"removed key {key.fingerprint} from {user}")


@click.group(name="enterprise")
def enterprise_group() -> None:
    """Create enterprises (groups of organizations that share CAs)."""


@enterprise_group.command("create")
@click.argument("name")
@json_flag
@settings_options
@handle_errors
def enterprise_create(name: str, as_json: bool) -> None:
    ent = orgs.create_enterprise(service_context(), name)
    echo_json(ent) if as_json else click.echo(f"created enterprise {ent['name']} (id {ent['id']})")


@enterprise_group.command("list")
@json_flag
@settings_options
@handle_errors
def enterprise_list(as_json: bool) -> None:
    enterprises = orgs.list_enterprises(service_context())
    if as_json:
        echo_json(enterprises)
    else:
        for ent in enterprises:
            click.echo(f"{ent['id']}\t{ent['name']}")


@click.group(name="org")
def org_group() -> None:
    """Create organizations, manage members, require certificates."""


@org_group.command("create")
@click.argument("name")
@click.option("--enterprise", help="The enterprise the organization belongs to.")
@json_flag
@settings_options
@handle_errors
def org_create(name: str, enterprise: str | None, as_json: bool) -> None:
    org = orgs.create_org(service_context(), name, enterprise=enterprise)
    echo_json(org.to_json()) if as_json else click.echo(
        f"created organization {org.name} (id {org.id})"
    )


@org_group.command("list")
@json_flag
@settings_options
@handle_errors
def org_list(as_json: bool) -> None:
    found = orgs.list_orgs(service_context())
    if as_json:
        echo_json([o.to_json() for o in found])
    else:
        for org in found:
            click.echo(_org_line(org))


@org_group.group("member")
def member_group() -> None:
    """Add and list organization members."""


@member_group.command("add")
@click.argument("org")
@click.argument("user")
@click.option("--role", type=click.Choice(["member", "owner"]), default="member", show_default=True)
@settings_options
@handle_errors
def member_add(org: str, user: str, role: str) -> None:
    result = orgs.add_member(service_context(), org, user, role)
    click.echo(f"{result['user']} is now {result['role']} of {result['organization']}")


@member_group.command("list")
@click.argument("org")
@json_flag
@settings_options
@handle_errors
def member_list(org: str, as_json: bool) -> None:
    members = orgs.list_members(service_context(), org)
    if as_json:
        echo_json(members)
    else:
        for member in members:
            click.echo(f"{member['user']}\t{member['role']}")


@org_group.command("require-certificates")
@click.argument("org")
@click.argument("state", type=click.Choice(["on", "off"]))
@settings_options
@handle_errors
def org_require_certificates(org: str, state: str) -> None:
    """Refuse (on) or accept (off) plain user keys for ORG's repositories."""
    view = orgs.require_certificates(service_context(), org, state == "on")
    verb = "now requires" if view.require_ssh_certificates else "no longer requires"
    click.echo(f"{view.name} {verb} SSH certificates")
