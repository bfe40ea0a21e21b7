"""User keys, deploy keys and certificate authorities."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from gitward.store.models import CertificateAuthority, SSHKey


def key_by_fingerprint(session: Session, fingerprint: str) -> SSHKey | None:
    return session.scalar(select(SSHKey).where(SSHKey.fingerprint == fingerprint))


def keys_of_user(session: Session, user_id: int) -> Sequence[SSHKey]:
    return session.scalars(
        select(SSHKey).where(SSHKey.user_id == user_id).order_by(SSHKey.created_at, SSHKey.id)
    ).all()


def ca_by_fingerprint(session: Session, fingerprint: str) -> CertificateAuthority | None:
    return session.scalar(
        select(CertificateAuthority).where(CertificateAuthority.fingerprint == fingerprint)
    )


def list_cas(session: Session) -> Sequence[CertificateAuthority]:
    return session.scalars(select(CertificateAuthority).order_by(CertificateAuthority.id)).all()
