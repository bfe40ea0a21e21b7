"""The append-only audit trail."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session

from gitward.store.models import AuditEvent


def append_event(
    session: Session,
    *,
    at: dt.datetime,
    actor: str,
    action: str,
    target: str = "",
    outcome: str = "ok",
    peer: str | None = None,
    detail: Mapping[str, Any] | None = None,
    user_id: int | None = None,
    organization_id: int | None = None,
    credential_kind: str | None = None,
) -> AuditEvent:
    event = AuditEvent(
        **event_values(
            at=at,
            actor=actor,
            action=action,
            target=target,
            outcome=outcome,
            peer=peer,
            detail=detail,
            user_id=user_id,
            organization_id=organization_id,
            credential_kind=credential_kind,
        )
    )
    session.add(event)
    return event


def event_values(
    *,
    at: dt.datetime,
    actor: str,
    action: str,
    target: str = "",
    outcome: str = "ok",
    peer: str | None = None,
    detail: Mapping[str, Any] | None = None,
    user_id: int | None = None,
    organization_id: int | None = None,
    credential_kind: str | None = None,
) -> dict[str, Any]:
    """The columns of one event, as ``append_event`` writes them (for Core inserts)."""
    return {
        "at": at,
        "actor": actor,
        "action": action,
        "target": target,
        "outcome": outcome,
        "peer": peer,
        "detail": json.dumps(dict(detail or {}), sort_keys=True, default=str),
        "user_id": user_id,
        "organization_id": organization_id,
        "credential_kind": credential_kind,
    }


def recent_events(session: Session, limit: int = 100) -> Sequence[AuditEvent]:
    return session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)).all()


# The git services whose events the preview and the repository filter look at.
GIT_ACTIONS = ("git-upload-pack", "git-receive-pack", "git-upload-archive")


def _like_literal(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search_events(
    session: Session,
    *,
    actor: str | None = None,
    target: str | None = None,
    action: str | None = None,
    outcome: str | None = None,
    reason: str | None = None,
    after: dt.datetime | None = None,
    before: dt.datetime | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[Sequence[AuditEvent], int]:
    """One page of events, newest first, and how many match in all.

    ``reason`` matches the ``reason`` recorded in an event's detail (authentication and
    git command decisions, such as ``cert.expired``); the detail is JSON written with
    sorted keys and standard separators, so the pair appears verbatim."""
    conditions: list[ColumnElement[bool]] = []
    if actor:
        conditions.append(func.lower(AuditEvent.actor) == actor.lower())
    if target:
        conditions.append(func.lower(AuditEvent.target) == target.lower())
    if action:
        conditions.append(AuditEvent.action == action)
    if outcome:
        conditions.append(AuditEvent.outcome == outcome)
    if reason:
        pattern = "%" + _like_literal(json.dumps({"reason": reason})[1:-1]) + "%"
        conditions.append(AuditEvent.detail.like(pattern, escape="\\"))
    if after is not None:
        conditions.append(AuditEvent.at >= after)
    if before is not None:
        conditions.append(AuditEvent.at < before)
    total = session.scalar(select(func.count()).select_from(AuditEvent).where(*conditions))
    rows = session.scalars(
        select(AuditEvent)
        .where(*conditions)
        .order_by(AuditEvent.id.desc())
        .offset(offset)
        .limit(limit)
    ).all()
    return rows, int(total or 0)


def plain_key_users(
    session: Session, organization_id: int, since: dt.datetime
) -> Sequence[tuple[int, dt.datetime, int]]:
    """(user id, last use, uses) of everyone whose plain key was let run a git command on
    the organization's repositories since ``since``: the people "require certificates"
    would lock out. Reads ix_audit_events_org_credential_at only."""
    rows = session.execute(plain_key_users_query(organization_id, since)).tuples()
    return [(int(uid), at, int(count)) for uid, at, count in rows if uid is not None]


def plain_key_users_query(organization_id: int, since: dt.datetime) -> Select[Any]:
    return (
        select(AuditEvent.user_id, func.max(AuditEvent.at), func.count())
        .where(
            AuditEvent.organization_id == organization_id,
            AuditEvent.credential_kind == "key",
            AuditEvent.at >= since,
            AuditEvent.outcome == "ok",
            AuditEvent.user_id.is_not(None),
        )
        .group_by(AuditEvent.user_id)
    )
