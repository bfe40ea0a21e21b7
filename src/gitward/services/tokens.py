"""Personal access tokens: ``gwp_`` + 32 random bytes (base64url), shown once.

Only the SHA-256 of a token is stored. A slow password hash would buy nothing here: the
token has 256 bits of entropy, so nobody can guess it from its hash, and authenticating
must stay cheap (the issuing API aims at 1,000 certificates a second). The ``gwp_`` prefix
lets secret scanners and people recognise a leaked token.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Final

from gitward.ca.validity import parse_interval
from gitward.errors import GitwardError, InvalidInput, NotFound, PermissionDenied
from gitward.services.accounts import require_user
from gitward.services.context import Context
from gitward.services.views import View
from gitward.store.db import Session, transaction
from gitward.store.models import AccessToken, User
from gitward.store.queries import tokens

PREFIX: Final = "gwp_"
SCOPE_ISSUE: Final = "cert:issue"
SCOPE_READ: Final = "cert:read"
# The admin API's scopes carry GitHub's names where GitHub has the same thing. A token made
# before they existed keeps exactly the scopes it was given (cert:issue, cert:read).
SCOPE_READ_KEYS: Final = "read:public_key"
SCOPE_WRITE_KEYS: Final = "write:public_key"
SCOPE_REPO: Final = "repo"
SCOPE_READ_ORG: Final = "read:org"
SCOPE_ADMIN_ORG: Final = "admin:org"
SCOPE_SITE_ADMIN: Final = "site_admin"
# The connector's API (issue 10): read the index and statuses; trigger a sync.
SCOPE_CONNECTOR_READ: Final = "connector:read"
SCOPE_CONNECTOR_SYNC: Final = "connector:sync"
SCOPES: Final = frozenset(
    {
        SCOPE_ISSUE,
        SCOPE_READ,
        SCOPE_READ_KEYS,
        SCOPE_WRITE_KEYS,
        SCOPE_REPO,
        SCOPE_READ_ORG,
        SCOPE_ADMIN_ORG,
        SCOPE_SITE_ADMIN,
        SCOPE_CONNECTOR_READ,
        SCOPE_CONNECTOR_SYNC,
    }
)
# A wider scope includes the narrower one, as on GitHub (write:public_key reads too).
IMPLIES: Final = {
    SCOPE_WRITE_KEYS: frozenset({SCOPE_READ_KEYS}),
    SCOPE_ADMIN_ORG: frozenset({SCOPE_READ_ORG}),
    SCOPE_ISSUE: frozenset({SCOPE_READ}),
    SCOPE_CONNECTOR_SYNC: frozenset({SCOPE_CONNECTOR_READ}),
}
DEFAULT_EXPIRY: Final = 30 * 86400
_TOKEN_LENGTH: Final = len(PREFIX) + 43  # 32 bytes in unpadded base64url


class Unauthenticated(GitwardError):
    """No token, or one that is unknown, expired or revoked (HTTP 401)."""


class InsufficientScope(PermissionDenied):
    """A valid token without the scope the operation needs (HTTP 403)."""


@dataclass(frozen=True)
class TokenView(View):
    id: int
    user: str
    hint: str
    scopes: list[str]
    title: str
    created_at: dt.datetime
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None

    @classmethod
    def of(cls, token: AccessToken, user: User) -> TokenView:
        return cls(
            token.id,
            user.username,
            token.hint,
            token.scopes.split(),
            token.title,
            token.created_at,
            token.expires_at,
            token.revoked_at,
        )


@dataclass(frozen=True)
class CreatedToken:
    token: str  # the secret itself: printed once, never stored
    view: TokenView

    def to_json(self) -> dict[str, object]:
        return {"token": self.token, **self.view.to_json()}


@dataclass(frozen=True)
class Caller:
    """Who a valid token speaks for, as loaded in the request's transaction."""

    user: User
    token: AccessToken

    @property
    def scopes(self) -> frozenset[str]:
        return frozenset(self.token.scopes.split())


def implied_scopes(scopes: frozenset[str]) -> frozenset[str]:
    """The scopes themselves plus every scope they include."""
    return scopes.union(*(IMPLIES.get(scope, frozenset()) for scope in scopes))


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def parse_expiry(spec: str, now: dt.datetime) -> dt.datetime:
    """``30d`` (an interval, ssh-keygen's units), ``2027-01-31`` (midnight UTC), or an ISO
    date-time with a zone."""
    text = spec.strip()
    try:
        if len(text) == 10 and text[4] == "-":
            at = dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)
        elif "T" in text or " " in text:
            at = dt.datetime.fromisoformat(text)
            if at.tzinfo is None:
                raise InvalidInput(f"the time {text!r} needs a zone, e.g. {text}Z")
        else:
            at = now + dt.timedelta(seconds=parse_interval(text.lstrip("+")))
    except (ValueError, InvalidInput) as exc:
        if isinstance(exc, InvalidInput) and "needs a zone" in exc.message:
            raise
        raise InvalidInput(
            f"invalid expiry {text[:40]!r}: write an interval like 30d or a date like 2027-01-31"
        ) from exc
    if at <= now:
        raise InvalidInput("the expiry must be in the future")
    return at


def create_token(
    ctx: Context,
    username: str,
    *,
    scopes: tuple[str, ...] = (SCOPE_ISSUE,),
    expires: str | None = None,
    title: str = "",
) -> CreatedToken:
    unknown = sorted(set(scopes) - SCOPES)
    if unknown:
        raise InvalidInput(f"unknown scope {unknown[0]!r}: choose from {', '.join(sorted(SCOPES))}")
    if len(title) > 200 or any(ord(ch) < 32 for ch in title):
        raise InvalidInput("a token title is one line of at most 200 characters")
    now = ctx.now()
    expires_at = (
        parse_expiry(expires, now) if expires else now + dt.timedelta(seconds=DEFAULT_EXPIRY)
    )
    secret = PREFIX + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
    with transaction(ctx.engine) as session:
        user = require_user(session, username)
        row = AccessToken(
            user_id=user.id,
            token_hash=hash_token(secret),
            hint=secret[:8],
            scopes=" ".join(sorted(set(scopes or (SCOPE_ISSUE,)))),
            title=title,
            created_at=now,
            expires_at=expires_at,
        )
        session.add(row)
        session.flush()
        # The audit names the token by id and hint, never the secret.
        ctx.audit(
            session,
            "token.create",
            user.username,
            token_id=row.id,
            hint=row.hint,
            scopes=row.scopes,
        )
        return CreatedToken(secret, TokenView.of(row, user))


def revoke_own_token(ctx: Context, user_id: int, token_id: int) -> TokenView:
    """Revoke one of the user's own tokens; another user's token is "not found"."""
    with transaction(ctx.engine) as session:
        row = tokens.token_by_id(session, token_id)
        if row is None or row.user_id != user_id:
            raise NotFound(f"no token with id {token_id}")
        if row.revoked_at is None:
            row.revoked_at = ctx.now()
        ctx.audit(session, "token.revoke", row.user.username, token_id=row.id)
        return TokenView.of(row, row.user)


def list_tokens(ctx: Context, username: str) -> list[TokenView]:
    with transaction(ctx.engine) as session:
        user = require_user(session, username)
        return [TokenView.of(t, user) for t in tokens.tokens_of_user(session, user.id)]


def revoke_token(ctx: Context, token_id: int) -> TokenView:
    with transaction(ctx.engine) as session:
        row = tokens.token_by_id(session, token_id)
        if row is None:
            raise NotFound(f"no token with id {token_id}")
        if row.revoked_at is None:
            row.revoked_at = ctx.now()
        ctx.audit(session, "token.revoke", row.user.username, token_id=row.id)
        return TokenView.of(row, row.user)


def authenticate(
    session: Session,
    token: str | None,
    now: dt.datetime,
    scope: str,
    *,
    also: tuple[str, ...] = (),
) -> Caller:
    """The caller a bearer token speaks for, if the token is valid now and has ``scope``
    (or one of the scopes in ``also``).

    Every failure to authenticate gives the same message, so the answer does not tell an
    unknown token from a revoked one; the cause (for the log) does.
    """
    caller = validate(session, token, now)
    if not caller.scopes & {scope, *also}:
        raise InsufficientScope(
            f"the access token lacks the {scope} scope",
            cause=f"token {caller.token.id} scopes {caller.token.scopes}",
        )
    return caller


def validate(session: Session, token: str | None, now: dt.datetime) -> Caller:
    """The caller of a token valid now whose user is not suspended, whatever its scopes
    (the admin API checks the scope each operation needs)."""
    digest = token_digest(token)
    found = tokens.token_with_user(session, digest)
    # compare_digest is belt and braces: the lookup is by hash, so timing reveals nothing.
    if found is None or not hmac.compare_digest(found[0].token_hash, digest):
        raise Unauthenticated(_BAD_TOKEN, cause="unknown token")
    row, user = found
    check_token(row.id, row.revoked_at, row.expires_at, user.id, user.suspended, now)
    return Caller(user, row)


def token_digest(token: str | None) -> str:
    """The stored form of a well-formed token; Unauthenticated for none or a malformed one
    (checked before any lookup)."""
    if not token:
        raise Unauthenticated(
            "authentication required: send Authorization: Bearer TOKEN", cause="no token"
        )
    if not token.startswith(PREFIX) or len(token) != _TOKEN_LENGTH:
        raise Unauthenticated(_BAD_TOKEN, cause="malformed token")
    return hash_token(token)


def check_token(
    token_id: int,
    revoked_at: dt.datetime | None,
    expires_at: dt.datetime | None,
    user_id: int,
    suspended: bool,
    now: dt.datetime,
) -> None:
    """The checks on a token found by its hash (``validate``, and the issuing hot path,
    which reads the same columns with Core SQL): not revoked, not expired, user active."""
    if revoked_at is not None:
        raise Unauthenticated(_BAD_TOKEN, cause=f"token {token_id} revoked")
    if expires_at is not None and expires_at <= now:
        raise Unauthenticated(
            "the access token has expired: create a new one", cause=f"token {token_id} expired"
        )
    if suspended:
        raise PermissionDenied("your account is suspended", cause=f"user {user_id} suspended")


def check_scope(token_id: int, scopes: str, scope: str) -> None:
    if scope not in scopes.split():
        raise InsufficientScope(
            f"the access token lacks the {scope} scope",
            cause=f"token {token_id} scopes {scopes}",
        )


_BAD_TOKEN: Final = "the access token is not valid"
BAD_TOKEN: Final = _BAD_TOKEN
