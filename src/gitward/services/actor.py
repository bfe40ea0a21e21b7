"""Who acts through the web UI or the admin API, and the checks every use-case applies.

An ``Actor`` is a user as loaded at the start of a request: from a browser session
(``scopes`` is None: a person at the keyboard may do whatever their account may) or from a
bearer token (only what its scopes allow). Transports build it; services decide with it,
inside their own transaction, through the ``Check`` callables below: templates and route
handlers never decide who may see or do something.

Refusals follow GitHub: something the actor may not see is "not found", exactly as if it
did not exist (a member who is not an owner gets 404 on the organization's CA settings);
a token that lacks a scope gets 403 naming the scope.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from gitward.errors import NotFound, PermissionDenied
from gitward.services.context import Context
from gitward.services.tokens import InsufficientScope, implied_scopes
from gitward.store.db import Session
from gitward.store.models import Membership, Organization, Repository, Role, User
from gitward.store.queries import accounts

# A check run at the start of a service's transaction; raises to refuse.
Check = Callable[[Session], None]


@dataclass(frozen=True)
class Actor:
    user_id: int
    username: str
    site_admin: bool
    scopes: frozenset[str] | None = None  # None: a browser session
    peer: str | None = None

    @classmethod
    def of(
        cls, user: User, *, scopes: frozenset[str] | None = None, peer: str | None = None
    ) -> Actor:
        return cls(user.id, user.username, user.site_admin, scopes, peer)

    def allows(self, scope: str) -> bool:
        return self.scopes is None or scope in implied_scopes(self.scopes)

    def require_scope(self, scope: str) -> None:
        if not self.allows(scope):
            raise InsufficientScope(f"the access token lacks the {scope} scope")

    def context(self, ctx: Context) -> Context:
        """``ctx`` whose audit events name this actor."""
        return dataclasses.replace(ctx, actor=self.username)


def current_user(session: Session, actor: Actor) -> User:
    """The actor's row, re-read in this transaction (suspended meanwhile: refused)."""
    user = accounts.user_by_id(session, actor.user_id)
    if user is None or user.suspended:
        raise PermissionDenied("your account is suspended", cause=f"user {actor.user_id}")
    return user


def require_site_admin(session: Session, actor: Actor, scope: str = "site_admin") -> User:
    actor.require_scope(scope)
    user = current_user(session, actor)
    if not user.site_admin:
        raise NotFound("not found", cause=f"{actor.username} is not a site admin")
    return user


def site_admin_check(actor: Actor, scope: str = "site_admin") -> Check:
    def check(session: Session) -> None:
        require_site_admin(session, actor, scope)

    return check


def org_owner(session: Session, actor: Actor, org: Organization) -> bool:
    user = current_user(session, actor)
    if user.site_admin:
        return True
    membership = accounts.membership(session, org.id, user.id)
    return membership is not None and membership.role is Role.OWNER


def org_membership(session: Session, actor: Actor, org: Organization) -> Membership | None:
    return accounts.membership(session, org.id, actor.user_id)


def require_org_owner(
    session: Session, actor: Actor, name: str, scope: str = "admin:org"
) -> Organization:
    """The organization, if the actor owns it (or is a site admin); otherwise "not found"."""
    actor.require_scope(scope)
    org = accounts.org_by_name(session, name)
    if org is None or not org_owner(session, actor, org):
        raise NotFound(f"no organization named {name!r}", cause=f"{actor.username}: not owner")
    return org


def require_org_visible(
    session: Session, actor: Actor, name: str, scope: str = "read:org"
) -> Organization:
    """The organization, if the actor belongs to it (or is a site admin)."""
    actor.require_scope(scope)
    org = accounts.org_by_name(session, name)
    user = current_user(session, actor)
    if org is None or not (user.site_admin or org_membership(session, actor, org) is not None):
        raise NotFound(f"no organization named {name!r}", cause=f"{actor.username}: not member")
    return org


def org_owner_check(actor: Actor, name: str) -> Check:
    def check(session: Session) -> None:
        require_org_owner(session, actor, name)

    return check


def repo_permission(session: Session, actor: Actor, repo: Repository) -> str | None:
    """'read', 'write', 'admin' or None: what the actor may do to ``repo``."""
    from gitward.services.facts import permission_on, user_facts

    user = current_user(session, actor)
    if user.site_admin:
        return "admin"
    return permission_on(session, user_facts(user), repo)


__all__ = [
    "Actor",
    "Check",
    "current_user",
    "org_owner_check",
    "require_org_owner",
    "require_org_visible",
    "require_site_admin",
    "site_admin_check",
]


def actor_for_token(ctx: Context, token: str | None, *, peer: str | None = None) -> Actor:
    """The actor a bearer token speaks for (401 when missing or not valid). The scopes
    travel with the actor; each operation checks the one it needs."""
    from gitward.services.tokens import validate
    from gitward.store.db import transaction

    with transaction(ctx.engine) as session:
        caller = validate(session, token, ctx.now())
        return Actor.of(caller.user, scopes=caller.scopes, peer=peer)
