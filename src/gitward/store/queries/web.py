"""Browser sessions, sign-in failures and one-time links."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from sqlalchemy import CursorResult, Delete, delete, func, select
from sqlalchemy.orm import Session

from gitward.store.models import OneTimeLink, SignInFailure, User, WebSession


def session_with_user(
    session: Session, session_id: str, now: dt.datetime
) -> tuple[WebSession, User] | None:
    """The unexpired browser session with this id and its user, in one query."""
    row = session.execute(
        select(WebSession, User)
        .join(User, User.id == WebSession.user_id)
        .where(WebSession.id == session_id, WebSession.expires_at > now)
    ).first()
    return None if row is None else (row[0], row[1])


def _deleted(session: Session, statement: Delete) -> int:
    result = cast(CursorResult[Any], session.execute(statement))
    return int(result.rowcount or 0)


def end_session(session: Session, session_id: str) -> int:
    return _deleted(session, delete(WebSession).where(WebSession.id == session_id))


def end_sessions_of(session: Session, user_id: int) -> int:
    return _deleted(session, delete(WebSession).where(WebSession.user_id == user_id))


def end_expired_sessions(session: Session, now: dt.datetime) -> int:
    return _deleted(session, delete(WebSession).where(WebSession.expires_at <= now))


def recent_failures(
    session: Session, *, username: str, address: str, since: dt.datetime
) -> tuple[int, int]:
    """Failed sign-ins since ``since``: for this account name, and from this address."""
    by_name = session.scalar(
        select(func.count())
        .select_from(SignInFailure)
        .where(SignInFailure.username == username, SignInFailure.at >= since)
    )
    by_address = session.scalar(
        select(func.count())
        .select_from(SignInFailure)
        .where(SignInFailure.address == address, SignInFailure.at >= since)
    )
    return int(by_name or 0), int(by_address or 0)


def oldest_failure(
    session: Session, *, username: str, address: str, since: dt.datetime
) -> dt.datetime | None:
    return session.scalar(
        select(func.min(SignInFailure.at)).where(
            SignInFailure.at >= since,
            (SignInFailure.username == username) | (SignInFailure.address == address),
        )
    )


def forget_failures(
    session: Session, *, username: str | None = None, before: dt.datetime | None = None
) -> None:
    query = delete(SignInFailure)
    if username is not None:
        query = query.where(SignInFailure.username == username)
    if before is not None:
        query = query.where(SignInFailure.at < before)
    session.execute(query)


def link_by_hash(session: Session, token_hash: str) -> OneTimeLink | None:
    # FOR UPDATE on PostgreSQL: two frontends redeeming one link at once must not both win.
    return session.scalar(
        select(OneTimeLink).where(OneTimeLink.token_hash == token_hash).with_for_update()
    )


def users_with_password(session: Session, *, site_admin: bool) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(User)
            .where(User.password_hash.is_not(None), User.site_admin.is_(site_admin))
        )
        or 0
    )
