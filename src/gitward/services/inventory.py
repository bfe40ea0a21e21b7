"""The inventory of certificates Gitward signed (``gitward cert list``)."""

from __future__ import annotations

from gitward.services.accounts import require_user
from gitward.services.context import Context
from gitward.services.issuing import IssuedView
from gitward.store.db import transaction
from gitward.store.queries import certificates


def list_certificates(
    ctx: Context, *, user: str | None = None, ca: str | None = None, valid_now: bool = False
) -> list[IssuedView]:
    with transaction(ctx.engine) as session:
        user_id = require_user(session, user).id if user else None
        rows = certificates.issued_certificates(
            session, user_id=user_id, ca_fingerprint=ca, valid_at=ctx.now() if valid_now else None
        )
        return [IssuedView.of(r) for r in rows]
