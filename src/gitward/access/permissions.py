"""A user's permission on a repository, from the membership facts (pure).

    a user on their own repository           admin
    an organization owner, on its repos      admin
    an organization member, on its repos     read
    a collaborator                           as granted (read, write, admin)

The strongest of these applies. Nothing else sees a repository (all are private).
"""

from __future__ import annotations

from gitward.access.facts import PERMISSION_RANK, OrgRole, Permission, RepoFacts, UserFacts
from gitward.git.commands import Operation


def repo_permission(
    user: UserFacts,
    repo: RepoFacts,
    *,
    org_role: OrgRole | None = None,
    collaborator: Permission | None = None,
) -> Permission | None:
    """The user's permission on ``repo``, or None if they may not even see it.

    ``org_role`` is the user's role in the organization that owns ``repo`` (None when not
    a member or when a user owns the repo); ``collaborator`` the grant on this repo, if any.
    """
    grants: list[Permission] = []
    if repo.owner_kind == "user" and repo.owner_id == user.id:
        grants.append("admin")
    if repo.owner_kind == "org" and org_role == "owner":
        grants.append("admin")
    if repo.owner_kind == "org" and org_role == "member":
        grants.append("read")
    if collaborator is not None:
        grants.append(collaborator)
    return max(grants, key=PERMISSION_RANK.__getitem__, default=None)


def permits(permission: Permission | None, operation: Operation) -> bool:
    """Reading needs read, pushing needs write (admin includes both)."""
    if permission is None:
        return False
    needed: Permission = "write" if operation == "write" else "read"
    return PERMISSION_RANK[permission] >= PERMISSION_RANK[needed]
