"""Users, enterprises and organizations."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gitward.store.models import Enterprise, Membership, Organization, User


def user_by_name(session: Session, name: str) -> User | None:
    return session.scalar(select(User).where(func.lower(User.username) == name.lower()))


def user_by_id(session: Session, user_id: int) -> User | None:
    return session.get(User, user_id)


def list_users(session: Session) -> Sequence[User]:
    return session.scalars(select(User).order_by(User.id)).all()


def enterprise_by_name(session: Session, name: str) -> Enterprise | None:
    return session.scalar(select(Enterprise).where(func.lower(Enterprise.name) == name.lower()))


def list_enterprises(session: Session) -> Sequence[Enterprise]:
    return session.scalars(select(Enterprise).order_by(Enterprise.id)).all()


def org_by_name(session: Session, name: str) -> Organization | None:
    return session.scalar(select(Organization).where(func.lower(Organization.name) == name.lower()))


def org_by_id(session: Session, org_id: int) -> Organization | None:
    return session.get(Organization, org_id)


def list_orgs(session: Session) -> Sequence[Organization]:
    return session.scalars(select(Organization).order_by(Organization.id)).all()


def membership(session: Session, org_id: int, user_id: int) -> Membership | None:
    return session.get(Membership, (org_id, user_id))


def list_members(session: Session, org_id: int) -> Sequence[tuple[Membership, User]]:
    rows = session.execute(
        select(Membership, User)
        .join(User, User.id == Membership.user_id)
        .where(Membership.organization_id == org_id)
        .order_by(User.username)
    )
    return [(m, u) for m, u in rows.tuples()]


def account_name_taken(session: Session, name: str) -> bool:
    """Users and organizations share one namespace: both own repositories as NAME/..."""
    return user_by_name(session, name) is not None or org_by_name(session, name) is not None
