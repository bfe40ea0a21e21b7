"""Signing in to the web UI: passwords (throttled), one-time links, browser sessions.

Ways in, each ending in ``start_session`` (a *new* session id every time: an id a browser
brought along is never promoted to a signed-in one):

- a user name and password (``sign_in_password``), throttled per account name and per
  address, counted in the database so the limit holds across frontends;
- ``ssh git@HOST login``: a link valid for five minutes, made for whoever holds the key or
  certificate that just authenticated (``ssh_login_link``);
- an invitation from ``gitward user invite`` or the admin pages: the link sets a password;
- the first-run setup link, printed by ``gitward serve`` while no site admin has a
  password: it creates the first site admin.

Links and session cookies are 32 random bytes; only their SHA-256 is stored (as for
tokens, a slow hash buys nothing against 256 bits). A link is consumed in the transaction
that signs in, under a row lock, so it works once even when two frontends race.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Final

from gitward.errors import InvalidInput, PermissionDenied
from gitward.names import check_account_name
from gitward.services import passwords
from gitward.services.accounts import ensure_name_free, require_user
from gitward.services.actor import Actor
from gitward.services.context import Context
from gitward.store.db import Session, transaction
from gitward.store.models import OneTimeLink, SignInFailure, User, WebSession
from gitward.store.queries import accounts
from gitward.store.queries import web as queries

THROTTLE_WINDOW: Final = dt.timedelta(minutes=15)
SSH_LINK_LIFETIME: Final = dt.timedelta(minutes=5)
INVITE_LIFETIME: Final = dt.timedelta(days=7)
SETUP_LIFETIME: Final = dt.timedelta(days=1)
# last_seen_at is written at most this often: a write per page view buys nothing.
TOUCH_EVERY: Final = dt.timedelta(minutes=5)

PURPOSE_SSH: Final = "ssh_login"
PURPOSE_INVITE: Final = "invite"
PURPOSE_SETUP: Final = "setup"

_WRONG: Final = "wrong user name or password"
_BAD_LINK: Final = "this sign-in link is not valid: it expired, was used already, or was mistyped"


class SignInRefused(PermissionDenied):
    """Wrong credentials, a used or expired link, or a suspended account."""


class SignInThrottled(SignInRefused):
    """Too many failures for this account name or from this address (HTTP 429)."""


def _random_token() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class NewSession:
    """What the transport puts in the cookie (``token``) and the forms (``csrf_token``)."""

    token: str
    csrf_token: str
    actor: Actor
    max_age: int


@dataclass(frozen=True)
class SignedIn:
    """A valid session, as every request sees it."""

    session_id: str
    csrf_token: str
    actor: Actor
    method: str


# --- sessions --------------------------------------------------------------------------


def start_session(
    session: Session, ctx: Context, user: User, *, method: str, peer: str | None
) -> NewSession:
    if user.suspended:
        raise SignInRefused("your account is suspended", cause=f"user {user.id} suspended")
    now = ctx.now()
    token, csrf = _random_token(), _random_token()
    max_age = ctx.settings.session_max_age_seconds
    session.add(
        WebSession(
            id=digest(token),
            user_id=user.id,
            csrf_token=csrf,
            method=method,
            peer=(peer or "")[:64] or None,
            created_at=now,
            last_seen_at=now,
            expires_at=now + dt.timedelta(seconds=max_age),
        )
    )
    queries.end_expired_sessions(session, now)
    ctx.audit(session, "web.sign_in", user.username, actor=user.username, peer=peer, method=method)
    return NewSession(token, csrf, Actor.of(user, peer=peer), max_age)


def resolve_session(ctx: Context, token: str | None, peer: str | None = None) -> SignedIn | None:
    """The signed-in browser behind a cookie value, or None (unknown, expired, ended, or
    its user suspended)."""
    if not token or len(token) > 100:
        return None
    now = ctx.now()
    with transaction(ctx.engine) as session:
        found = queries.session_with_user(session, digest(token), now)
        if found is None:
            return None
        row, user = found
        if user.suspended:
            return None
        if now - row.last_seen_at >= TOUCH_EVERY:
            row.last_seen_at = now
        return SignedIn(row.id, row.csrf_token, Actor.of(user, peer=peer), row.method)


def end_session(ctx: Context, token: str | None) -> None:
    """Sign this browser out: the row goes, so every frontend refuses the cookie at once."""
    if not token:
        return
    with transaction(ctx.engine) as session:
        found = queries.session_with_user(session, digest(token), ctx.now())
        if found is not None:
            queries.end_session(session, found[0].id)
            ctx.audit(session, "web.sign_out", found[1].username, actor=found[1].username)


def end_all_sessions(ctx: Context, actor: Actor) -> int:
    """Sign the actor out of every browser, on every frontend."""
    with transaction(ctx.engine) as session:
        ended = queries.end_sessions_of(session, actor.user_id)
        ctx.audit(
            session, "web.sign_out_everywhere", actor.username, actor=actor.username, ended=ended
        )
        return ended


# --- passwords ---------------------------------------------------------------------------


def sign_in_password(ctx: Context, username: str, password: str, *, peer: str | None) -> NewSession:
    """Check the password; on success a new session. Failures are throttled per account
    name (even names that do not exist: guessing them is guessing too) and per address."""
    name = username.strip().lower()[:64]
    address = (peer or "unknown")[:64]
    now = ctx.now()
    since = now - THROTTLE_WINDOW
    with transaction(ctx.engine) as session:
        by_name, by_address = queries.recent_failures(
            session, username=name, address=address, since=since
        )
        if (
            by_name >= ctx.settings.signin_max_failures_per_account
            or by_address >= ctx.settings.signin_max_failures_per_address
        ):
            oldest = queries.oldest_failure(session, username=name, address=address, since=since)
            wait = THROTTLE_WINDOW - (now - oldest) if oldest else THROTTLE_WINDOW
            minutes = max(1, int(wait.total_seconds() + 59) // 60)
            raise SignInThrottled(
                f"too many failed sign-ins: try again in {minutes} minute"
                + ("s" if minutes != 1 else ""),
                cause=f"throttled {name!r} ({by_name}) from {address} ({by_address})",
            )
    user_row: User | None = None
    with transaction(ctx.engine) as session:
        user_row = accounts.user_by_name(session, name) if name else None
        stored = user_row.password_hash if user_row else None
    # Verified outside any transaction: argon2 takes tens of milliseconds by design.
    if not passwords.verify(stored, password):
        with transaction(ctx.engine) as session:
            session.add(SignInFailure(at=now, username=name, address=address))
            queries.forget_failures(session, before=since)
            ctx.audit(
                session,
                "web.sign_in",
                name,
                outcome="denied",
                actor=name,
                peer=peer,
                reason="wrong password" if user_row else "no such user",
            )
        raise SignInRefused(_WRONG, cause=f"wrong password for {name!r} from {address}")
    assert user_row is not None and stored is not None
    with transaction(ctx.engine) as session:
        user = accounts.user_by_id(session, user_row.id)
        if user is None or user.password_hash != stored:
            raise SignInRefused(_WRONG, cause="password changed meanwhile")
        if passwords.needs_rehash(stored):
            user.password_hash = passwords.hash_password(password)
        queries.forget_failures(session, username=name)
        return start_session(session, ctx, user, method="password", peer=peer)


def change_password(ctx: Context, actor: Actor, current: str, new: str, confirm: str) -> NewSession:
    """Change the actor's password: every session ends (elsewhere too), and this browser
    gets a new one."""
    if new != confirm:
        raise InvalidInput("the two new passwords differ")
    passwords.check_password_rules(new)
    with transaction(ctx.engine) as session:
        user = require_user(session, actor.username)
        stored = user.password_hash
    if stored is not None and not passwords.verify(stored, current):
        raise SignInRefused("the current password is wrong")
    passwords.set_password(actor.context(ctx), actor.username, new)
    with transaction(ctx.engine) as session:
        user = require_user(session, actor.username)
        return start_session(session, ctx, user, method="password", peer=actor.peer)


# --- one-time links ----------------------------------------------------------------------


def _new_link(
    session: Session,
    ctx: Context,
    purpose: str,
    user_id: int | None,
    lifetime: dt.timedelta,
    peer: str | None = None,
) -> str:
    token = _random_token()
    now = ctx.now()
    session.add(
        OneTimeLink(
            token_hash=digest(token),
            purpose=purpose,
            user_id=user_id,
            peer=(peer or "")[:64] or None,
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    return token


def link_url(base_url: str, purpose: str, token: str) -> str:
    path = {PURPOSE_SSH: "login/ssh", PURPOSE_INVITE: "invite", PURPOSE_SETUP: "setup"}[purpose]
    return f"{base_url.rstrip('/')}/{path}/{token}"


def ssh_login_link(ctx: Context, user_id: int, *, peer: str, base_url: str) -> str:
    """What ``ssh git@HOST login`` prints: a link that signs this user in, once, within
    five minutes."""
    with transaction(ctx.engine) as session:
        user = accounts.user_by_id(session, user_id)
        if user is None or user.suspended:
            raise SignInRefused("your account is suspended", cause=f"user {user_id}")
        token = _new_link(session, ctx, PURPOSE_SSH, user.id, SSH_LINK_LIFETIME, peer)
        ctx.audit(session, "web.ssh_login_link", user.username, actor=user.username, peer=peer)
        return link_url(base_url, PURPOSE_SSH, token)


def invite(ctx: Context, username: str, *, base_url: str | None = None) -> str:
    """A link with which USER sets a password and signs in (valid for 7 days, once)."""
    with transaction(ctx.engine) as session:
        user = require_user(session, username)
        token = _new_link(session, ctx, PURPOSE_INVITE, user.id, INVITE_LIFETIME)
        ctx.audit(session, "user.invite", user.username)
        return link_url(base_url or ctx.settings.resolved_web_url, PURPOSE_INVITE, token)


def needs_setup(ctx: Context) -> bool:
    """True while no site admin can sign in with a password (a fresh installation)."""
    with transaction(ctx.engine) as session:
        return queries.users_with_password(session, site_admin=True) == 0


def setup_link(ctx: Context, *, base_url: str) -> str | None:
    """The first-run link (valid for a day, once), or None when a site admin exists."""
    with transaction(ctx.engine) as session:
        if queries.users_with_password(session, site_admin=True):
            return None
        token = _new_link(session, ctx, PURPOSE_SETUP, None, SETUP_LIFETIME)
        return link_url(base_url, PURPOSE_SETUP, token)


@dataclass(frozen=True)
class LinkInfo:
    purpose: str
    username: str | None
    expires_at: dt.datetime


def _usable(session: Session, ctx: Context, token: str, purpose: str) -> OneTimeLink:
    if not token or len(token) > 100:
        raise SignInRefused(_BAD_LINK, cause="malformed link")
    link = queries.link_by_hash(session, digest(token))
    if link is None or link.purpose != purpose:
        raise SignInRefused(_BAD_LINK, cause="unknown link")
    if link.used_at is not None:
        raise SignInRefused(_BAD_LINK, cause=f"link {link.id} used at {link.used_at}")
    if link.expires_at <= ctx.now():
        raise SignInRefused(_BAD_LINK, cause=f"link {link.id} expired")
    return link


def peek_link(ctx: Context, token: str, purpose: str) -> LinkInfo:
    """What a link is for, without using it (the page that asks to confirm)."""
    with transaction(ctx.engine) as session:
        link = _usable(session, ctx, token, purpose)
        user = accounts.user_by_id(session, link.user_id) if link.user_id else None
        if purpose == PURPOSE_SETUP and queries.users_with_password(session, site_admin=True):
            raise SignInRefused("this installation is set up already: sign in instead")
        return LinkInfo(purpose, user.username if user else None, link.expires_at)


def _link_user(session: Session, link: OneTimeLink) -> User:
    user = accounts.user_by_id(session, link.user_id) if link.user_id else None
    if user is None:
        raise SignInRefused(_BAD_LINK, cause=f"link {link.id} without user")
    return user


def redeem_ssh_link(ctx: Context, token: str, *, peer: str | None) -> NewSession:
    with transaction(ctx.engine) as session:
        link = _usable(session, ctx, token, PURPOSE_SSH)
        link.used_at = ctx.now()
        return start_session(session, ctx, _link_user(session, link), method="ssh", peer=peer)


def accept_invite(
    ctx: Context, token: str, password: str, confirm: str, *, peer: str | None
) -> NewSession:
    if password != confirm:
        raise InvalidInput("the two passwords differ")
    digest_ = passwords.hash_password(password)
    with transaction(ctx.engine) as session:
        link = _usable(session, ctx, token, PURPOSE_INVITE)
        link.used_at = ctx.now()
        user = _link_user(session, link)
        user.password_hash = digest_
        ctx.audit(session, "user.accept_invite", user.username, actor=user.username, peer=peer)
        return start_session(session, ctx, user, method="invite", peer=peer)


def complete_setup(
    ctx: Context, token: str, username: str, password: str, confirm: str, *, peer: str | None
) -> NewSession:
    """Create the first site admin (or give a password to a site admin made by the CLI)."""
    if password != confirm:
        raise InvalidInput("the two passwords differ")
    digest_ = passwords.hash_password(password)
    with transaction(ctx.engine) as session:
        link = _usable(session, ctx, token, PURPOSE_SETUP)
        if queries.users_with_password(session, site_admin=True):
            raise SignInRefused("this installation is set up already: sign in instead")
        link.used_at = ctx.now()
        user = accounts.user_by_name(session, username)
        if user is None:
            check_account_name(username)
            ensure_name_free(session, username)
            user = User(username=username, created_at=ctx.now(), suspended=False, site_admin=True)
            session.add(user)
            session.flush()
            ctx.audit(session, "user.create", username, actor=username, user_id=user.id)
        elif not user.site_admin:
            # An existing non-admin account is not promoted by whoever holds the link.
            raise AlreadyTaken(f"the name {username!r} is already taken")
        user.password_hash = digest_
        ctx.audit(session, "web.setup", user.username, actor=user.username, peer=peer)
        return start_session(session, ctx, user, method="setup", peer=peer)


class AlreadyTaken(InvalidInput):
    """Setup names an existing account that is not a site admin."""
