"""repo_permission and permits: membership facts -> permission."""

from __future__ import annotations

from typing import Any

import pytest

from gitward.access.facts import Permission
from gitward.access.permissions import permits, repo_permission
from tests.access.world import ACME_APP, ALICE, ALICE_FORK, BOB, BOB_REPO

CASES: dict[str, tuple[Any, Any, dict[str, Any], Permission | None]] = {
    "ok/own-repo-admin": (ALICE, ALICE_FORK, {}, "admin"),
    "ok/org-owner-admin": (ALICE, ACME_APP, {"org_role": "owner"}, "admin"),
    "ok/org-member-read": (ALICE, ACME_APP, {"org_role": "member"}, "read"),
    "ok/member-plus-write-collaborator": (
        ALICE,
        ACME_APP,
        {"org_role": "member", "collaborator": "write"},
        "write",
    ),
    "ok/owner-with-read-grant-still-admin": (
        ALICE,
        ACME_APP,
        {"org_role": "owner", "collaborator": "read"},
        "admin",
    ),
    "ok/outside-collaborator-read": (ALICE, ACME_APP, {"collaborator": "read"}, "read"),
    "ok/outside-collaborator-admin": (ALICE, ACME_APP, {"collaborator": "admin"}, "admin"),
    "ok/collaborator-on-user-repo": (ALICE, BOB_REPO, {"collaborator": "write"}, "write"),
    "fail/stranger-org-repo": (ALICE, ACME_APP, {}, None),
    "fail/stranger-user-repo": (ALICE, BOB_REPO, {}, None),
    "fail/org-role-on-user-repo-ignored": (ALICE, BOB_REPO, {"org_role": "owner"}, None),
    "fail/other-users-fork": (BOB, ALICE_FORK, {}, None),
}


@pytest.mark.parametrize(("user", "repo", "facts", "expected"), CASES.values(), ids=CASES.keys())
def test_repo_permission(user: Any, repo: Any, facts: dict[str, Any], expected: Any) -> None:
    assert repo_permission(user, repo, **facts) == expected


PERMITS = {
    "ok/read-read": ("read", "read", True),
    "ok/write-read": ("write", "read", True),
    "ok/write-write": ("write", "write", True),
    "ok/admin-write": ("admin", "write", True),
    "fail/read-write": ("read", "write", False),
    "fail/none-read": (None, "read", False),
    "fail/none-write": (None, "write", False),
}


@pytest.mark.parametrize(("permission", "operation", "ok"), PERMITS.values(), ids=PERMITS.keys())
def test_permits(permission: Any, operation: Any, ok: bool) -> None:
    assert permits(permission, operation) is ok
