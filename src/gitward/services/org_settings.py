"""Organizations and enterprises as their owners see them: members, repositories, SSH
certificate authorities, and the "Require SSH certificates" switch with its preview.

Who may: an organization's owners (and site admins) manage it; its members see its page;
anyone else gets "not found". Enterprises have no owners of their own in Gitward (yet), so
their settings belong to site admins.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Final, Literal

from gitward.errors import InvalidInput, NotFound
from gitward.services import authorities, managed_ca, orgs, repositories
from gitward.services.actor import (
    Actor,
    current_user,
    org_owner,
    require_org_owner,
    require_org_visible,
    require_site_admin,
)
from gitward.services.context import Check, Context
from gitward.services.views import CAView, OrgView, RepoView, View
from gitward.store.db import Session, transaction
from gitward.store.models import CertificateAuthority, Enterprise, Organization, Role
from gitward.store.queries import accounts, audit, keys
from gitward.store.queries import repos as repo_queries

PREVIEW_DAYS: Final = 30
OwnerKind = Literal["organization", "enterprise"]


@dataclass(frozen=True)
class MemberView(View):
    username: str
    role: str
    suspended: bool


@dataclass(frozen=True)
class OrgPage(View):
    organization: OrgView
    role: str | None  # the actor's: owner, member, or None (a site admin from outside)
    can_manage: bool
    members: list[MemberView]
    repositories: list[RepoView]


def org_page(ctx: Context, actor: Actor, name: str) -> OrgPage:
    with transaction(ctx.engine) as session:
        org = require_org_visible(session, actor, name)
        member = accounts.membership(session, org.id, actor.user_id)
        members = [
            MemberView(u.username, m.role.value, u.suspended)
            for m, u in accounts.list_members(session, org.id)
        ]
        return OrgPage(
            OrgView.of(org),
            member.role.value if member else None,
            org_owner(session, actor, org),
            members,
            [RepoView.of(r) for r in repo_queries.repos_of_org(session, org.id)],
        )


def create_org(ctx: Context, actor: Actor, name: str, *, enterprise: str | None = None) -> OrgView:
    """Site admins create organizations; the creator becomes an owner, as on GitHub."""

    def check(session: Session) -> None:
        require_site_admin(session, actor)

    view = orgs.create_org(actor.context(ctx), name, enterprise=enterprise or None, check=check)
    orgs.add_member(actor.context(ctx), view.name, actor.username, "owner")
    return view


def create_enterprise(ctx: Context, actor: Actor, name: str) -> dict[str, object]:
    def check(session: Session) -> None:
        require_site_admin(session, actor)

    return orgs.create_enterprise(actor.context(ctx), name, check=check)


def _owner_check(actor: Actor, name: str) -> Check:
    def check(session: Session) -> None:
        require_org_owner(session, actor, name)

    return check


def set_member(ctx: Context, actor: Actor, org: str, username: str, role: str) -> dict[str, str]:
    return orgs.add_member(actor.context(ctx), org, username, role, check=_owner_check(actor, org))


def remove_member(ctx: Context, actor: Actor, org_name: str, username: str) -> None:
    with transaction(ctx.engine) as session:
        org = require_org_owner(session, actor, org_name)
        user = accounts.user_by_name(session, username)
        member = accounts.membership(session, org.id, user.id) if user else None
        if member is None or user is None:
            raise NotFound(f"{username} is not a member of {org.name}")
        if member.role is Role.OWNER and _owners(session, org) == 1:
            raise InvalidInput(
                "an organization keeps at least one owner: make someone else owner first"
            )
        session.delete(member)
        actor.context(ctx).audit(session, "org.member.remove", org.name, user=user.username)


def _owners(session: Session, org: Organization) -> int:
    return sum(1 for m, _ in accounts.list_members(session, org.id) if m.role is Role.OWNER)


def create_repository(ctx: Context, actor: Actor, owner: str, name: str) -> RepoView:
    """In the actor's own account, or in an organization the actor owns."""

    def check(session: Session) -> None:
        user = current_user(session, actor)
        if owner.lower() == user.username.lower() or user.site_admin:
            return
        require_org_owner(session, actor, owner, scope="repo")

    actor.require_scope("repo")
    return repositories.create_repo(actor.context(ctx), f"{owner}/{name}", check=check)


# --- certificate authorities ---------------------------------------------------------------


@dataclass(frozen=True)
class CASettings(View):
    owner_kind: str
    name: str
    id: int
    require_ssh_certificates: bool | None  # None for an enterprise
    authorities: list[CAView]
    inherited: list[CAView]  # an organization's enterprise's CAs (trusted too, managed there)
    issuing_enabled: bool


def _owner(session: Session, actor: Actor, kind: OwnerKind, name: str) -> Organization | Enterprise:
    if kind == "organization":
        return require_org_owner(session, actor, name)
    require_site_admin(session, actor, scope="admin:org")
    enterprise = accounts.enterprise_by_name(session, name)
    if enterprise is None:
        raise NotFound(f"no enterprise named {name!r}")
    return enterprise


def _cas_of(session: Session, owner: Organization | Enterprise) -> list[CAView]:
    column = (
        CertificateAuthority.organization_id
        if isinstance(owner, Organization)
        else CertificateAuthority.enterprise_id
    )
    return [CAView.of(ca) for ca in keys.list_cas(session) if getattr(ca, column.key) == owner.id]


def ca_settings(ctx: Context, actor: Actor, kind: OwnerKind, name: str) -> CASettings:
    from gitward.errors import ConfigurationError
    from gitward.services import ca_secret

    try:
        ca_secret.load_secret(ctx.settings, create=False)
        issuing = True
    except ConfigurationError:
        issuing = ca_secret.uses_embedded_store(ctx.settings)  # made on first need
    with transaction(ctx.engine) as session:
        owner = _owner(session, actor, kind, name)
        inherited: list[CAView] = []
        if isinstance(owner, Organization) and owner.enterprise is not None:
            inherited = _cas_of(session, owner.enterprise)
        return CASettings(
            kind,
            owner.name,
            owner.id,
            owner.require_ssh_certificates if isinstance(owner, Organization) else None,
            _cas_of(session, owner),
            inherited,
            issuing,
        )


def _kw(kind: OwnerKind, name: str) -> dict[str, str]:
    return {"org": name} if kind == "organization" else {"enterprise": name}


def add_ca(
    ctx: Context, actor: Actor, kind: OwnerKind, name: str, data: bytes, *, title: str | None = None
) -> CAView:
    def check(session: Session) -> None:
        _owner(session, actor, kind, name)

    return authorities.add_ca(
        actor.context(ctx), data, title=title or None, check=check, **_kw(kind, name)
    )


def create_ca(
    ctx: Context,
    actor: Actor,
    kind: OwnerKind,
    name: str,
    *,
    key_type: str = "ed25519",
    title: str | None = None,
) -> CAView:
    def check(session: Session) -> None:
        _owner(session, actor, kind, name)

    return managed_ca.create_managed_ca(
        actor.context(ctx), key_type=key_type, title=title or None, check=check, **_kw(kind, name)
    )


def _owned_ca(
    session: Session, actor: Actor, kind: OwnerKind, name: str, fingerprint: str
) -> tuple[Organization | Enterprise, CertificateAuthority]:
    owner = _owner(session, actor, kind, name)
    ca = keys.ca_by_fingerprint(session, fingerprint.strip())
    owned = ca is not None and (
        ca.organization_id == owner.id
        if isinstance(owner, Organization)
        else ca.enterprise_id == owner.id
    )
    if ca is None or not owned:
        raise NotFound(f"{owner.name} has no certificate authority {fingerprint[:60]}")
    return owner, ca


def retire_ca(
    ctx: Context, actor: Actor, kind: OwnerKind, name: str, fingerprint: str, at: dt.datetime
) -> CAView:
    if at.tzinfo is None:
        raise InvalidInput("the retirement time needs a time zone (or use a date)")
    with transaction(ctx.engine) as session:
        _, ca = _owned_ca(session, actor, kind, name, fingerprint)
        ca.retired_at = at.astimezone(dt.UTC)
        actor.context(ctx).audit(session, "ca.retire", ca.fingerprint, at=at.isoformat())
        return CAView.of(ca)


def remove_ca(
    ctx: Context, actor: Actor, kind: OwnerKind, name: str, fingerprint: str, *, confirm: str
) -> CAView:
    """Remove a CA after the owner typed the owner's name (GitHub's "type the name" guard):
    every certificate it signed stops working at once, on every frontend."""
    with transaction(ctx.engine) as session:
        owner, ca = _owned_ca(session, actor, kind, name, fingerprint)
        if confirm.strip().lower() != owner.name.lower():
            raise InvalidInput(f"type {owner.name} to confirm the removal")
        view = CAView.of(ca)
        session.delete(ca)
        actor.context(ctx).audit(session, "ca.remove", view.owner, fingerprint=view.fingerprint)
        return view


# --- requiring certificates -------------------------------------------------------------


@dataclass(frozen=True)
class LockedOut(View):
    """Someone whose plain key worked on the organization's repositories lately."""

    username: str
    role: str  # owner, member, or collaborator (outside the organization)
    last_used_at: dt.datetime
    uses: int


def require_preview(
    ctx: Context, actor: Actor, name: str, *, days: int = PREVIEW_DAYS
) -> list[LockedOut]:
    """Who used a plain key on the organization's repositories in the last ``days`` days:
    the people turning on "Require SSH certificates" would lock out."""
    since = ctx.now() - dt.timedelta(days=days)
    with transaction(ctx.engine) as session:
        org = require_org_owner(session, actor, name)
        found = []
        for user_id, last, uses in audit.plain_key_users(session, org.id, since):
            user = accounts.user_by_id(session, user_id)
            if user is None:
                continue
            member = accounts.membership(session, org.id, user.id)
            role = member.role.value if member else "collaborator"
            found.append(LockedOut(user.username, role, last, uses))
        return sorted(found, key=lambda p: (-p.last_used_at.timestamp(), p.username))


def set_require_certificates(ctx: Context, actor: Actor, name: str, required: bool) -> OrgView:
    return orgs.require_certificates(
        actor.context(ctx), name, required, check=_owner_check(actor, name)
    )
