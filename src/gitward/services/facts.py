"""Turning stored rows into the frozen facts the access core decides on."""

from __future__ import annotations

from gitward.access.facts import OrgRole, Permission, RepoFacts, TrustedCA, UserFacts
from gitward.access.permissions import repo_permission
from gitward.store.db import Session
from gitward.store.models import CertificateAuthority, Repository, User
from gitward.store.queries import accounts, repos


def user_facts(user: User) -> UserFacts:
    return UserFacts(
        id=user.id,
        username=user.username,
        created_at=int(user.created_at.timestamp()),
        renamed_at=int(user.renamed_at.timestamp()) if user.renamed_at else None,
        suspended=user.suspended,
    )


def repo_facts(repo: Repository) -> RepoFacts:
    org = repo.owner_organization
    if org is not None:
        return RepoFacts(
            id=repo.id,
            owner_kind="org",
            owner_id=org.id,
            owner_name=org.name,
            name=repo.name,
            org_requires_certificates=org.require_ssh_certificates,
            org_enterprise_id=org.enterprise_id,
        )
    assert repo.owner_user is not None  # one_owner constraint
    return RepoFacts(
        id=repo.id,
        owner_kind="user",
        owner_id=repo.owner_user.id,
        owner_name=repo.owner_user.username,
        name=repo.name,
    )


def trusted_ca(ca: CertificateAuthority, *, revoked: bool = False) -> TrustedCA:
    if ca.organization_id is not None:
        return TrustedCA(ca.id, ca.fingerprint, "org", ca.organization_id, revoked)
    assert ca.enterprise_id is not None  # one_owner constraint
    return TrustedCA(ca.id, ca.fingerprint, "enterprise", ca.enterprise_id, revoked)


def permission_on(session: Session, user: UserFacts, repo: Repository) -> Permission | None:
    """The user's permission on ``repo`` from memberships and collaborator grants."""
    role: OrgRole | None = None
    if repo.owner_organization_id is not None:
        membership = accounts.membership(session, repo.owner_organization_id, user.id)
        role = membership.role.value if membership else None
    grant = repos.collaborator(session, repo.id, user.id)
    collaborator: Permission | None = grant.permission.value if grant else None
    return repo_permission(user, repo_facts(repo), org_role=role, collaborator=collaborator)
