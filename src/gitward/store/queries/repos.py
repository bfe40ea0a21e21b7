"""Repositories and collaborators."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gitward.store.models import Collaborator, Membership, Organization, Repository, SSHKey, User


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


def visible_repos(session: Session, user_id: int) -> Sequence[Repository]:
    """The user's own repositories, their organizations' and those they collaborate on."""
    member_of = select(Membership.organization_id).where(Membership.user_id == user_id)
    collaborates = select(Collaborator.repository_id).where(Collaborator.user_id == user_id)
    return session.scalars(
        select(Repository)
        .where(
            (Repository.owner_user_id == user_id)
            | Repository.owner_organization_id.in_(member_of)
            | Repository.id.in_(collaborates)
        )
        .order_by(Repository.id)
    ).all()


def repos_of_org(session: Session, org_id: int) -> Sequence[Repository]:
    return session.scalars(
        select(Repository)
        .where(Repository.owner_organization_id == org_id)
        .order_by(func.lower(Repository.name))
    ).all()


def collaborators_of(session: Session, repo_id: int) -> Sequence[tuple[Collaborator, User]]:
    rows = session.execute(
        select(Collaborator, User)
        .join(User, User.id == Collaborator.user_id)
        .where(Collaborator.repository_id == repo_id)
        .order_by(func.lower(User.username))
    )
    return [(c, u) for c, u in rows.tuples()]


def deploy_keys_of(session: Session, repo_id: int) -> Sequence[SSHKey]:
    return session.scalars(
        select(SSHKey).where(SSHKey.repository_id == repo_id).order_by(SSHKey.id)
    ).all()
