"""Repositories and collaborators."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gitward.store.models import Collaborator, Organization, Repository, User


def repo_by_owner_and_name(session: Session, owner: str, name: str) -> Repository | None:
    lowered = name.lower()
    by_user = (
        select(Repository)
        .join(User, User.id == Repository.owner_user_id)
        .where(func.lower(User.username) == owner.lower(), func.lower(Repository.name) == lowered)
    )
    by_org = (
        select(Repository)
        .join(Organization, Organization.id == Repository.owner_organization_id)
        .where(
            func.lower(Organization.name) == owner.lower(), func.lower(Repository.name) == lowered
        )
    )
    return session.scalar(by_user) or session.scalar(by_org)


def repo_by_id(session: Session, repo_id: int) -> Repository | None:
    return session.get(Repository, repo_id)


def list_repos(session: Session) -> Sequence[Repository]:
    return session.scalars(select(Repository).order_by(Repository.id)).all()


def collaborator(session: Session, repo_id: int, user_id: int) -> Collaborator | None:
    return session.get(Collaborator, (repo_id, user_id))
