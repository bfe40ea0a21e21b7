"""Passwords: argon2id hashes (argon2-cffi's defaults, RFC 9106's second recommendation).

A password is only ever a way into the web UI; git over SSH never takes one. The hash
carries its own parameters, so raising them later re-hashes each password at its next
successful sign-in (``needs_rehash``).
"""

from __future__ import annotations

from typing import Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from gitward.errors import InvalidInput
from gitward.services.accounts import require_user
from gitward.services.context import Context
from gitward.store.db import transaction
from gitward.store.queries import web as queries

MIN_LENGTH: Final = 10
MAX_LENGTH: Final = 1024  # argon2 takes any length; this only bounds the work per request
_HASHER: Final = PasswordHasher()
# Verified against when the account does not exist or has no password, so that the time
# taken does not tell whether a user name exists.
_DUMMY_HASH: Final = _HASHER.hash("gitward: no such account")


def check_password_rules(password: str) -> str:
    if len(password) < MIN_LENGTH:
        raise InvalidInput(f"a password needs at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise InvalidInput(f"a password has at most {MAX_LENGTH} characters")
    return password


def hash_password(password: str) -> str:
    return _HASHER.hash(check_password_rules(password))


def verify(stored: str | None, password: str) -> bool:
    """Whether ``password`` matches ``stored`` (None: no password; always False)."""
    if len(password) > MAX_LENGTH:
        return False
    try:
        return _HASHER.verify(stored or _DUMMY_HASH, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    return _HASHER.check_needs_rehash(stored)


def set_password(ctx: Context, username: str, password: str) -> str:
    """Set USER's password and end every session they have (a changed password signs out
    whoever else might have been signed in)."""
    digest = hash_password(password)
    with transaction(ctx.engine) as session:
        user = require_user(session, username)
        user.password_hash = digest
        ended = queries.end_sessions_of(session, user.id)
        ctx.audit(session, "user.set_password", user.username, sessions_ended=ended)
        return user.username
