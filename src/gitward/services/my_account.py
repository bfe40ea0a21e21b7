"""What a signed-in person does to their own account: keys, tokens, certificates.

Every function takes the ``Actor`` and decides in its own transaction; another user's key,
token or certificate is "not found", exactly like one that does not exist.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from gitward.errors import InvalidInput, NotFound, PermissionDenied
from gitward.services import accounts, revocation, tokens
from gitward.services.actor import Actor, current_user
from gitward.services.context import Context
from gitward.services.issuing import IssuedView
from gitward.services.paging import Page, PageRequest
from gitward.services.tokens import CreatedToken, TokenView
from gitward.services.views import KeyView, OrgView, RepoView, UserView, View
from gitward.store.db import Session, transaction
from gitward.store.models import IssuedCertificate, SSHKey
from gitward.store.queries import accounts as account_queries
from gitward.store.queries import certificates, keys
from gitward.store.queries import tokens as token_queries
from gitward.store.queries.repos import list_repos, visible_repos

S = tokens  # the scope names live with the tokens


# --- keys ------------------------------------------------------------------------------


def list_my_keys(ctx: Context, actor: Actor) -> list[KeyView]:
    actor.require_scope(S.SCOPE_READ_KEYS)
    with transaction(ctx.engine) as session:
        user = current_user(session, actor)
        return [KeyView.of(k) for k in keys.keys_of_user(session, user.id)]


def my_key(ctx: Context, actor: Actor, key_id: int) -> KeyView:
    actor.require_scope(S.SCOPE_READ_KEYS)
    with transaction(ctx.engine) as session:
        return KeyView.of(_own_key(session, actor, key_id))


def _own_key(session: Session, actor: Actor, key_id: int) -> SSHKey:
    user = current_user(session, actor)
    row = session.get(SSHKey, key_id)
    if row is None or row.user_id != user.id:
        raise NotFound(f"you have no key with id {key_id}")
    return row


def add_my_key(ctx: Context, actor: Actor, data: bytes, *, title: str | None = None) -> KeyView:
    """The same validation and the same refusals, word for word, as ``gitward key add``."""
    actor.require_scope(S.SCOPE_WRITE_KEYS)

    def check(session: Session) -> None:
        current_user(session, actor)

    return accounts.add_key(
        actor.context(ctx), actor.username, data, title=title or None, check=check
    )


def remove_my_key(ctx: Context, actor: Actor, key_id: int) -> KeyView:
    actor.require_scope(S.SCOPE_WRITE_KEYS)
    with transaction(ctx.engine) as session:
        row = _own_key(session, actor, key_id)
        view = KeyView.of(row)
        session.delete(row)
        actor.context(ctx).audit(
            session, "key.remove", actor.username, fingerprint=view.fingerprint
        )
        return view


# --- tokens (browser only: a token does not mint or list tokens) -------------------------


def _browser_only(actor: Actor) -> None:
    if actor.scopes is not None:
        raise PermissionDenied("tokens are managed in the web UI, not with a token")


def list_my_tokens(ctx: Context, actor: Actor) -> list[TokenView]:
    _browser_only(actor)
    with transaction(ctx.engine) as session:
        user = current_user(session, actor)
        return [TokenView.of(t, user) for t in token_queries.tokens_of_user(session, user.id)]


def create_my_token(
    ctx: Context, actor: Actor, *, scopes: tuple[str, ...], expires: str | None, title: str
) -> CreatedToken:
    _browser_only(actor)
    if not scopes:
        raise InvalidInput("choose at least one scope")
    with transaction(ctx.engine) as session:
        user = current_user(session, actor)
        if S.SCOPE_SITE_ADMIN in scopes and not user.site_admin:
            raise PermissionDenied("only site admins may create site_admin tokens")
    return tokens.create_token(
        actor.context(ctx), actor.username, scopes=scopes, expires=expires or None, title=title
    )


def revoke_my_token(ctx: Context, actor: Actor, token_id: int) -> TokenView:
    _browser_only(actor)
    return tokens.revoke_own_token(actor.context(ctx), actor.user_id, token_id)


# --- certificates ------------------------------------------------------------------------


@dataclass(frozen=True)
class CertificateRow(View):
    """One issued certificate as the inventory shows it."""

    serial: int
    key_id: str
    user: str
    organization: str | None
    ca_fingerprint: str
    public_key_fingerprint: str
    valid_after: dt.datetime
    valid_before: dt.datetime
    status: str  # valid, not yet valid, expired, revoked
    created_at: dt.datetime
    requester_address: str | None
    certificate: str

    @classmethod
    def of(
        cls, row: IssuedCertificate, revoked: bool, org: str | None, now: dt.datetime
    ) -> CertificateRow:
        view = IssuedView.of(row)
        if revoked:
            status = "revoked"
        elif view.valid_before <= now:
            status = "expired"
        elif view.valid_after > now:
            status = "not yet valid"
        else:
            status = "valid"
        return cls(
            view.serial,
            view.key_id,
            view.user,
            org,
            view.ca_fingerprint,
            view.public_key_fingerprint,
            view.valid_after,
            view.valid_before,
            status,
            view.created_at,
            view.requester_address,
            view.certificate,
        )


def certificate_page(
    session: Session,
    now: dt.datetime,
    paging: PageRequest,
    **filters: object,
) -> Page[CertificateRow]:
    rows, total = certificates.inventory(
        session,
        now=now,
        offset=paging.offset,
        limit=paging.per_page,
        **filters,  # type: ignore[arg-type]
    )
    names = {o.id: o.name for o in account_queries.list_orgs(session)}
    items = [
        CertificateRow.of(row, revoked, names.get(row.organization_id or -1), now)
        for row, revoked in rows
    ]
    return Page(items, paging.page, paging.per_page, total)


def list_my_certificates(
    ctx: Context, actor: Actor, paging: PageRequest | None = None
) -> Page[CertificateRow]:
    actor.require_scope(S.SCOPE_READ)
    with transaction(ctx.engine) as session:
        user = current_user(session, actor)
        return certificate_page(session, ctx.now(), paging or PageRequest(), user_id=user.id)


def my_certificate(ctx: Context, actor: Actor, serial: int) -> CertificateRow:
    actor.require_scope(S.SCOPE_READ)
    with transaction(ctx.engine) as session:
        user = current_user(session, actor)
        page = certificate_page(session, ctx.now(), PageRequest(1, 1), serial=serial)
        if not page.items or page.items[0].user != user.username:
            raise NotFound(f"you have no certificate with serial {serial}")
        return page.items[0]


def revoke_my_certificate(ctx: Context, actor: Actor, serial: int) -> revocation.RevocationView:
    """Revoke a certificate issued to the actor (a lost laptop): its serial under its CA."""
    actor.require_scope(S.SCOPE_ISSUE)
    cert = my_certificate(ctx, actor, serial)

    def check(session: Session) -> None:
        current_user(session, actor)

    return revocation.revoke_serial(
        actor.context(ctx),
        cert.serial,
        cert.ca_fingerprint,
        f"revoked by {actor.username}",
        check=check,
    )


# --- what the actor belongs to -----------------------------------------------------------


@dataclass(frozen=True)
class Membership(View):
    organization: OrgView
    role: str


def my_organizations(ctx: Context, actor: Actor) -> list[Membership]:
    with transaction(ctx.engine) as session:
        user = current_user(session, actor)
        found = []
        for org in certificates.orgs_of_user(session, user.id):
            member = account_queries.membership(session, org.id, user.id)
            found.append(Membership(OrgView.of(org), member.role.value if member else "member"))
        return found


def my_repositories(ctx: Context, actor: Actor) -> list[RepoView]:
    """The repositories the actor can read (all of them for a site admin)."""
    with transaction(ctx.engine) as session:
        user = current_user(session, actor)
        found = list_repos(session) if user.site_admin else visible_repos(session, user.id)
        return [RepoView.of(repo) for repo in found]


def me(ctx: Context, actor: Actor) -> UserView:
    with transaction(ctx.engine) as session:
        return UserView.of(current_user(session, actor))
