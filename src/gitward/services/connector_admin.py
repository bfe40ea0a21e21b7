"""The connector for site administrators on the web and through the admin API: the same
operations as ``gitward connector ...`` (services/connector_*.py do the work), each
behind the one decision of who may do it.

The CLI runs on the server, as whoever may read its data directory; a browser or a token
is someone else. Every function here first checks, in its own transaction, that the actor
is a site admin (a browser session, or a token with the ``site_admin`` scope); anyone else
gets "not found", as for the rest of the administration. The audit events name the actor.

``authorize_token`` is the rule for the endpoints an issue tracker calls (the issue
lookup, the repository list, the sync trigger): a token with the connector scope, or a
site admin's token with ``site_admin``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from gitward.connector.failures import FailureKind, FixFacts, fix_for
from gitward.connector.host_keys import PinStatus, decide
from gitward.connector.issue_keys import normalise_search_key
from gitward.connector.urls import format_host_port, parse_host_port
from gitward.errors import KeyFormatError, NotFound
from gitward.services import connector_hosts, connector_keys, connector_repos, connector_sync
from gitward.services.actor import Actor, require_site_admin
from gitward.services.connector_hosts import HostKeyView
from gitward.services.connector_index import DEFAULT_SEARCH_LIMIT, IssueView, search
from gitward.services.connector_keys import KeyStatus, PassphraseHint
from gitward.services.connector_repos import AddedRepository, RepositoryView
from gitward.services.connector_sync import TestReport
from gitward.services.context import Context
from gitward.services.tokens import SCOPE_SITE_ADMIN, InsufficientScope, authenticate
from gitward.services.views import View
from gitward.store.db import transaction

# The largest private key file taken (an 8192-bit RSA key in PEM is under 7 KB).
MAX_KEY_FILE: Final = 64 * 1024


def _admin(ctx: Context, actor: Actor) -> Context:
    """Refuse anyone but a site admin; the context whose audit events name the actor."""
    with transaction(ctx.engine) as session:
        require_site_admin(session, actor)
    return actor.context(ctx)


def authorize_token(ctx: Context, token: str | None, scope: str) -> None:
    """A token with ``scope`` (what an issue tracker is given), or with ``site_admin``
    when its user is a site admin (what the pages' API calls use)."""
    with transaction(ctx.engine) as session:
        caller = authenticate(session, token, ctx.now(), scope, also=(SCOPE_SITE_ADMIN,))
        if scope not in caller.scopes and not caller.user.site_admin:
            raise InsufficientScope(
                f"the access token lacks the {scope} scope",
                cause=f"token {caller.token.id}: site_admin scope of a user who is not one",
            )


# ---- the key ----------------------------------------------------------------------------


def key_status(ctx: Context, actor: Actor) -> KeyStatus:
    return connector_keys.status(_admin(ctx, actor))


def generate_key(
    ctx: Context, actor: Actor, key_type: str = "ed25519", bits: int | None = None
) -> KeyStatus:
    return connector_keys.generate(_admin(ctx, actor), key_type, bits)


def import_key(
    ctx: Context,
    actor: Actor,
    data: bytes,
    passphrase: bytes | None,
    *,
    filename: str,
    hint: PassphraseHint,
) -> KeyStatus:
    """Import an uploaded private key; ``filename`` names it in the diagnoses (only its
    last part, shortened: it is the uploader's text)."""
    admin_ctx = _admin(ctx, actor)
    name = (filename.replace("\\", "/").rsplit("/", 1)[-1] or "the key file")[:100]
    if len(data) > MAX_KEY_FILE:
        raise KeyFormatError(
            f"{name} is larger than {MAX_KEY_FILE} bytes: that is not a private key file "
            "(an 8192-bit RSA key is under 7 KB)"
        )
    return connector_keys.import_key(admin_ctx, data, passphrase or None, path=name, hint=hint)


# ---- hosts ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScannedKey(View):
    key_type: str
    fingerprint: str
    public_key: str
    pinned: bool


@dataclass(frozen=True)
class HostScan(View):
    """What a host presents now, compared with its pins: ``pinned`` (a presented key is
    pinned: syncs go ahead), ``unknown`` (nothing pinned) or ``changed`` (pins exist and
    none is presented: syncs are refused). ``fix`` is the line ``connector test`` prints
    for the same state (None when pinned)."""

    host_port: str
    status: str
    keys: list[ScannedKey]  # strongest type first: the one to suggest comes first
    pinned: list[str]
    fix: str | None
    pin_command: str | None = field(default=None)

    def to_json(self) -> dict[str, Any]:
        return {
            "host_port": self.host_port,
            "status": self.status,
            "keys": [k.to_json() for k in self.keys],
            "pinned": self.pinned,
            "fix": self.fix,
            "pin_command": self.pin_command,
        }


def scan_host(ctx: Context, actor: Actor, host_port: str) -> HostScan:
    """Scan HOST[:PORT] (pins nothing) and compare what it presents with its pins."""
    admin_ctx = _admin(ctx, actor)
    host, port = parse_host_port(host_port)
    label = format_host_port(host, port)
    presented = connector_hosts.scan_keys(host, port, admin_ctx.settings.connector_connect_timeout)
    pins = connector_hosts.pinned_keys(admin_ctx, host, port)
    decision = decide(label, presented, pins)
    by_fingerprint = {k.fingerprint: k for k in presented}
    pinned = set(decision.pinned)
    keys = [
        ScannedKey(by_fingerprint[f].key_type, f, by_fingerprint[f].line, f in pinned)
        for f in decision.presented
    ]
    facts = FixFacts(
        label,
        connector_keys.public_line(admin_ctx) or "",
        presented=decision.presented,
        pinned=decision.pinned,
    )
    fix = None
    if decision.status is PinStatus.UNKNOWN:
        fix = fix_for(FailureKind.HOST_KEY_UNKNOWN, facts)
    elif decision.status is PinStatus.CHANGED:
        fix = fix_for(FailureKind.HOST_KEY_CHANGED, facts)
    command = None
    if decision.status is not PinStatus.PINNED and decision.presented:
        # What `gitward connector host scan` suggests.
        command = (
            f"to trust one: gitward connector host pin {label} --fingerprint "
            f"{decision.presented[0]}  (check it with the host's administrator first)"
        )
    return HostScan(label, decision.status.value, keys, list(decision.pinned), fix, command)


def list_pins(ctx: Context, actor: Actor) -> list[HostKeyView]:
    return connector_hosts.list_pins(_admin(ctx, actor))


def pin_host(
    ctx: Context,
    actor: Actor,
    host_port: str,
    *,
    fingerprint: str | None = None,
    key_line: str | None = None,
    known_hosts: bytes | None = None,
) -> list[HostKeyView]:
    return connector_hosts.pin(
        _admin(ctx, actor),
        host_port,
        fingerprint=fingerprint,
        key_line=key_line,
        known_hosts=known_hosts,
    )


def unpin_host(ctx: Context, actor: Actor, host_port: str) -> list[HostKeyView]:
    return connector_hosts.unpin(_admin(ctx, actor), host_port)


# ---- repositories -----------------------------------------------------------------------


def list_repositories(ctx: Context, actor: Actor) -> list[RepositoryView]:
    return connector_repos.list_repositories(_admin(ctx, actor))


def add_repository(
    ctx: Context,
    actor: Actor,
    url: str,
    *,
    name: str | None = None,
    interval: str = connector_repos.DEFAULT_INTERVAL,
) -> AddedRepository:
    return connector_repos.add(_admin(ctx, actor), url, name=name or None, interval=interval)


def remove_repository(ctx: Context, actor: Actor, name: str) -> RepositoryView:
    return connector_repos.remove(_admin(ctx, actor), name)


def request_sync(ctx: Context, actor: Actor, name: str) -> RepositoryView:
    return connector_repos.request_sync(_admin(ctx, actor), name)


def run_test(ctx: Context, actor: Actor, names: Sequence[str] = ()) -> TestReport:
    """``connector test``: one verdict per repository (every one when ``names`` is
    empty; only that may promote a pending key)."""
    admin_ctx = _admin(ctx, actor)
    if names:
        with transaction(ctx.engine) as session:
            for name in names:
                connector_repos.require_repository(session, name)
    report = connector_sync.test_repositories(admin_ctx, names)
    if not report.verdicts and not names:
        raise NotFound(
            "no repositories are connected: add one with `gitward connector repo add URL`"
        )
    return report


# ---- search -----------------------------------------------------------------------------


def search_issue(
    ctx: Context, actor: Actor, issue_key: str, *, limit: int = DEFAULT_SEARCH_LIMIT
) -> IssueView:
    return search(_admin(ctx, actor), normalise_search_key(issue_key), limit=limit)
