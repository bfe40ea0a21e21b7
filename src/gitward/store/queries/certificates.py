"""Managed CA keys and the inventory of issued certificates."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    and_,
    exists,
    false,
    func,
    literal,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.orm import Session

from gitward.store.models import (
    CertificateAuthority,
    IssuedCertificate,
    ManagedCAKey,
    Membership,
    Organization,
    Revocation,
    RevocationKind,
)


def managed_key(session: Session, ca_id: int) -> ManagedCAKey | None:
    return session.get(ManagedCAKey, ca_id)


def newest_active_managed_ca(
    session: Session,
    *,
    organization_id: int | None = None,
    enterprise_id: int | None = None,
    now: dt.datetime,
) -> tuple[CertificateAuthority, ManagedCAKey] | None:
    """The newest managed CA of the owner that is not retired at ``now``."""
    owner = (
        CertificateAuthority.organization_id == organization_id
        if organization_id is not None
        else CertificateAuthority.enterprise_id == enterprise_id
    )
    row = session.execute(
        select(CertificateAuthority, ManagedCAKey)
        .join(ManagedCAKey, ManagedCAKey.ca_id == CertificateAuthority.id)
        .where(
            owner,
            or_(CertificateAuthority.retired_at.is_(None), CertificateAuthority.retired_at > now),
        )
        .order_by(CertificateAuthority.created_at.desc(), CertificateAuthority.id.desc())
        .limit(1)
    ).first()
    return None if row is None else (row[0], row[1])


def issued_certificates(
    session: Session,
    *,
    user_id: int | None = None,
    ca_fingerprint: str | None = None,
    valid_at: dt.datetime | None = None,
    limit: int | None = None,
) -> Sequence[IssuedCertificate]:
    query = select(IssuedCertificate).where(IssuedCertificate.certificate.is_not(None))
    if user_id is not None:
        query = query.where(IssuedCertificate.user_id == user_id)
    if ca_fingerprint is not None:
        query = query.where(IssuedCertificate.ca_fingerprint == ca_fingerprint)
    if valid_at is not None:
        query = query.where(
            IssuedCertificate.valid_after <= valid_at, IssuedCertificate.valid_before > valid_at
        )
    query = query.order_by(IssuedCertificate.id.desc())
    if limit is not None:
        query = query.limit(limit)
    return session.scalars(query).all()


def orgs_of_user(session: Session, user_id: int) -> Sequence[Organization]:
    return session.scalars(
        select(Organization)
        .join(Membership, Membership.organization_id == Organization.id)
        .where(Membership.user_id == user_id)
        .order_by(Organization.name)
    ).all()


# --- the inventory with filters (web UI and admin API) ---------------------------------

# Serials are stored plainly here but offset in revocations (models.Uint64): this moves an
# issued serial into the revocations' stored form inside SQL. Two literals, since 2**63
# itself does not fit a BIGINT.
_INT64_MAX = 2**63 - 1


def _stored_serial(column: Any) -> Any:
    return column - literal(_INT64_MAX, BigInteger) - literal(1, BigInteger)


def revoked_clause() -> ColumnElement[bool]:
    """True for an issued certificate some revocation row covers: its serial under its CA,
    its key id (under its CA or every CA), its key, itself, or its CA's key. (SHA-1 hashes
    imported from a KRL are not matched here; the SSH server matches them at login.)"""
    serial = _stored_serial(IssuedCertificate.serial)
    return exists().where(
        or_(
            and_(
                Revocation.kind == RevocationKind.SERIAL,
                Revocation.ca_fingerprint == IssuedCertificate.ca_fingerprint,
                type_coerce(Revocation.serial_min, BigInteger) <= serial,
                type_coerce(Revocation.serial_max, BigInteger) >= serial,
            ),
            and_(
                Revocation.kind == RevocationKind.KEY_ID,
                Revocation.key_id == IssuedCertificate.key_id,
                or_(
                    Revocation.ca_fingerprint.is_(None),
                    Revocation.ca_fingerprint == IssuedCertificate.ca_fingerprint,
                ),
            ),
            and_(
                Revocation.kind.in_([RevocationKind.KEY, RevocationKind.CERTIFICATE]),
                or_(
                    Revocation.fingerprint == IssuedCertificate.public_key_fingerprint,
                    Revocation.fingerprint == IssuedCertificate.certificate_fingerprint,
                    Revocation.fingerprint == IssuedCertificate.ca_fingerprint,
                ),
            ),
        )
    )


def inventory(
    session: Session,
    *,
    now: dt.datetime,
    user_id: int | None = None,
    organization_id: int | None = None,
    ca_fingerprint: str | None = None,
    status: str | None = None,
    expiring_before: dt.datetime | None = None,
    serial: int | None = None,
    offset: int = 0,
    limit: int = 30,
) -> tuple[list[tuple[IssuedCertificate, bool]], int]:
    """One page of issued certificates (newest first), each with whether it is revoked,
    and how many match in all. ``status``: valid, expired, revoked, or None for any."""
    revoked = revoked_clause()
    query = select(IssuedCertificate, revoked.label("revoked")).where(
        IssuedCertificate.certificate.is_not(None)
    )
    conditions: list[ColumnElement[bool]] = []
    if user_id is not None:
        conditions.append(IssuedCertificate.user_id == user_id)
    if organization_id is not None:
        conditions.append(IssuedCertificate.organization_id == organization_id)
    if ca_fingerprint is not None:
        conditions.append(IssuedCertificate.ca_fingerprint == ca_fingerprint)
    if expiring_before is not None:
        conditions.append(IssuedCertificate.valid_before < expiring_before)
    if serial is not None:
        # Issued serials are row ids, in a signed BIGINT: a larger number names none (and
        # must not reach the driver, which raises OverflowError on it).
        conditions.append(
            IssuedCertificate.serial == serial if 0 <= serial <= _INT64_MAX else false()
        )
    if status == "revoked":
        conditions.append(revoked)
    elif status == "expired":
        conditions += [IssuedCertificate.valid_before <= now, ~revoked]
    elif status == "valid":
        conditions += [
            IssuedCertificate.valid_after <= now,
            IssuedCertificate.valid_before > now,
            ~revoked,
        ]
    query = query.where(*conditions)
    total = session.scalar(
        select(func.count())
        .select_from(IssuedCertificate)
        .where(IssuedCertificate.certificate.is_not(None), *conditions)
    )
    rows = session.execute(
        query.order_by(IssuedCertificate.id.desc()).offset(offset).limit(limit)
    ).tuples()
    return [(row, bool(flag)) for row, flag in rows], int(total or 0)


def count_for_key(session: Session, fingerprint: str) -> int:
    """How many certificates Gitward signed for the key with this fingerprint."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(IssuedCertificate)
            .where(IssuedCertificate.public_key_fingerprint == fingerprint)
        )
        or 0
    )
