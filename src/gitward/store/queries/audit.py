"""The append-only audit trail."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
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
        at=at,
        actor=actor,
        action=action,
        target=target,
        outcome=outcome,
        peer=peer,
        detail=json.dumps(dict(detail or {}), sort_keys=True, default=str),
        user_id=user_id,
        organization_id=organization_id,
        credential_kind=credential_kind,
    )
    session.add(event)
    return event


def recent_events(session: Session, limit: int = 100) -> Sequence[AuditEvent]:
    return session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)).all()
