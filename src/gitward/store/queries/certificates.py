"""Managed CA keys and the inventory of issued certificates."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from gitward.store.models import (
    CertificateAuthority,
    IssuedCertificate,
    ManagedCAKey,
    Membership,
    Organization,
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
