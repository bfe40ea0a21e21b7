"""`gitward token ...`: personal access tokens for the HTTP API (``gitward login``)."""

from __future__ import annotations

import click

from gitward.cli.common import echo_json, handle_errors
from gitward.cli.context import service_context, settings_options
from gitward.services import tokens

json_flag = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


@click.group(name="token")
def token_group() -> None:
    """Personal access tokens (for gitward login and the API)."""


@token_group.command("create")
@click.argument("user")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    default=(tokens.SCOPE_ISSUE,),
    show_default=True,
    type=click.Choice(sorted(tokens.SCOPES)),
    help="What the token may do (repeat for several).",
)
@click.option(
    "--expires",
    default="30d",
    show_default=True,
    help="An interval (30d, 12h, 52w) or a date (2027-01-31, midnight UTC).",
)
@click.option("--title", default="", help="A note to recognise the token by.")
@json_flag
@settings_options
@handle_errors
def token_create(
    user: str, scopes: tuple[str, ...], expires: str, title: str, as_json: bool
) -> None:
    """Create a token for USER. It is printed once and cannot be shown again."""
    made = tokens.create_token(service_context(), user, scopes=scopes, expires=expires, title=title)
    if as_json:
        echo_json(made.to_json())
        return
    view = made.view
    expiry = view.expires_at.isoformat() if view.expires_at else "never"
    click.echo(made.token)
    click.echo(
        f"token {view.id} for {view.user} ({' '.join(view.scopes)}), expires {expiry}; "
        "store it now, it is not shown again",
        err=True,
    )


@token_group.command("list")
@click.argument("user")
@json_flag
@settings_options
@handle_errors
def token_list(user: str, as_json: bool) -> None:
    """USER's tokens (their hints only: the secrets are not kept)."""
    found = tokens.list_tokens(service_context(), user)
    if as_json:
        echo_json([t.to_json() for t in found])
        return
    for t in found:
        state = (
            "revoked"
            if t.revoked_at
            else (f"expires {t.expires_at.isoformat()}" if t.expires_at else "no expiry")
        )
        click.echo(f"{t.id}\t{t.hint}...\t{' '.join(t.scopes)}\t{state}\t{t.title}".rstrip())


@token_group.command("revoke")
@click.argument("token_id", type=int, metavar="ID")
@settings_options
@handle_errors
def token_revoke(token_id: int) -> None:
    """Revoke the token with ID (see token list)."""
    view = tokens.revoke_token(service_context(), token_id)
    click.echo(f"revoked token {view.id} of {view.user}")
