"""Personal access tokens (stored as SHA-256 hashes only)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from gitward.store.models import AccessToken, User


def token_with_user(session: Session, token_hash: str) -> tuple[AccessToken, User] | None:
    """The token whose hash is ``token_hash`` and its user, in one query (the hot path)."""
    row = session.execute(
        select(AccessToken, User)
        .join(User, User.id == AccessToken.user_id)
        .where(AccessToken.token_hash == token_hash)
    ).first()
    return None if row is None else (row[0], row[1])


def tokens_of_user(session: Session, user_id: int) -> Sequence[AccessToken]:
    return session.scalars(
        select(AccessToken).where(AccessToken.user_id == user_id).order_by(AccessToken.id)
    ).all()


def token_by_id(session: Session, token_id: int) -> AccessToken | None:
    return session.get(AccessToken, token_id)
