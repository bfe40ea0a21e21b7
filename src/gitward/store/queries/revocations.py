"""Revocations. The connection path asks narrow questions (one certificate, one key) that
each hit an index; only KRL export reads a whole CA's rows."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, or_, select
from sqlalchemy.orm import Mapped, Session

from gitward.store.models import Revocation, RevocationKind


def matching_certificate(
    session: Session,
    *,
    ca_fingerprint: str,
    serial: int,
    key_id: str,
    key_fingerprints: Collection[str],
    certificate_fingerprint: str,
) -> Sequence[Revocation]:
    """The rows that revoke a certificate with these properties (usually none)."""
    conditions = [
        and_(
            Revocation.kind == RevocationKind.SERIAL,
            Revocation.ca_fingerprint == ca_fingerprint,
            Revocation.serial_min <= serial,
            Revocation.serial_max >= serial,
        ),
        and_(
            Revocation.kind == RevocationKind.KEY_ID,
            Revocation.key_id == key_id,
            or_(Revocation.ca_fingerprint == ca_fingerprint, Revocation.ca_fingerprint.is_(None)),
        ),
        and_(
            Revocation.kind.in_([RevocationKind.KEY, RevocationKind.CERTIFICATE]),
            Revocation.fingerprint.in_([*key_fingerprints, certificate_fingerprint]),
        ),
    ]
    return session.scalars(select(Revocation).where(or_(*conditions))).all()


def key_revoked(session: Session, fingerprints: Collection[str]) -> bool:
    """Whether a key with any of these fingerprints (SHA256:, SHA1:) is revoked."""
    return bool(
        session.scalar(
            select(
                exists().where(
                    Revocation.kind == RevocationKind.KEY,
                    Revocation.fingerprint.in_(list(fingerprints)),
                )
            )
        )
    )


def revoked_fingerprints(session: Session, fingerprints: Collection[str]) -> set[str]:
    """The subset of ``fingerprints`` revoked as keys."""
    found = session.scalars(
        select(Revocation.fingerprint).where(
            Revocation.kind == RevocationKind.KEY,
            Revocation.fingerprint.in_(list(fingerprints)),
        )
    ).all()
    return {fingerprint for fingerprint in found if fingerprint is not None}


def all_revocations(session: Session, ca_fingerprint: str | None = None) -> Sequence[Revocation]:
    """Every row, or those a KRL for one CA needs (its own plus the CA-independent ones)."""
    query = select(Revocation)
    if ca_fingerprint is not None:
        query = query.where(
            or_(Revocation.ca_fingerprint == ca_fingerprint, Revocation.ca_fingerprint.is_(None))
        )
    return session.scalars(query.order_by(Revocation.id)).all()


def same_revocation(session: Session, row: Revocation) -> Revocation | None:
    """An existing row revoking exactly what ``row`` does (so revoking twice adds nothing)."""
    return session.scalar(
        select(Revocation)
        .where(
            Revocation.kind == row.kind,
            _eq(Revocation.ca_fingerprint, row.ca_fingerprint),
            _eq(Revocation.serial_min, row.serial_min),
            _eq(Revocation.serial_max, row.serial_max),
            _eq(Revocation.key_id, row.key_id),
            _eq(Revocation.fingerprint, row.fingerprint),
        )
        .limit(1)
    )


def _eq(column: Mapped[Any], value: object) -> ColumnElement[bool]:
    return column.is_(None) if value is None else column == value
