"""authorize: SSH usernames, credential reach, organizations' certificate rules, permissions."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from gitward.access import messages
from gitward.access.decide import (
    SshUsername,
    authorize,
    ca_trusted_by_repo_org,
    parse_ssh_username,
)
from gitward.access.decision import Decision, Reason
from gitward.access.facts import (
    Credential,
    DeployKeyCredential,
    Permission,
    RepoFacts,
    UserKeyCredential,
)
from gitward.git.commands import parse_git_command
from tests.access.world import (
    ACME_APP,
    ACME_SECURE,
    ALICE,
    ALICE_FORK,
    BOB_REPO,
    CA_ACME,
    CA_ENTERPRISE,
    CA_OTHER,
    OTHER_APP,
    SIBLING_APP,
    credential,
    login,
)
from tests.ca.certbuilder import options

KEY = UserKeyCredential(ALICE, "SHA256:alice-key")
CERT = credential(CA_ACME)
CERT_ENTERPRISE = credential(CA_ENTERPRISE)
CERT_OTHER = credential(CA_OTHER)
DEPLOY_RO = DeployKeyCredential(repo_id=1)
DEPLOY_RW = DeployKeyCredential(repo_id=1, write=True)
DEPLOY_SECURE = DeployKeyCredential(repo_id=2, write=True)

READ = "git-upload-pack"
WRITE = "git-receive-pack"
ARCHIVE = "git-upload-archive"
NOT_FOUND = messages.REPOSITORY_NOT_FOUND


def _forced(command: str) -> Any:
    return credential(
        CA_ACME,
        critical_options=options(("force-command", command)),
        extensions=options(login()),
    )


def _run(
    cred: Credential,
    username: str,
    service: str,
    repo: RepoFacts | None,
    permission: Permission | None,
) -> Decision:
    path = repo.path if repo is not None else "acme/missing"
    command = parse_git_command(f"{service} '{path}.git'")
    return authorize(cred, ssh_username=username, command=command, repo=repo, permission=permission)


Case = tuple[Credential, str, str, "RepoFacts | None", "Permission | None", Reason, str]

CASES: dict[str, Case] = {
    # --- allowed ----------------------------------------------------------------------
    "ok/key-member-reads": (KEY, "git", READ, ACME_APP, "read", Reason.OK, ""),
    "ok/key-member-archive": (KEY, "git", ARCHIVE, ACME_APP, "read", Reason.OK, ""),
    "ok/key-writer-pushes": (KEY, "git", WRITE, ACME_APP, "write", Reason.OK, ""),
    "ok/key-admin-pushes": (KEY, "git", WRITE, ACME_APP, "admin", Reason.OK, ""),
    "ok/key-own-repo-pushes": (KEY, "git", WRITE, ALICE_FORK, "admin", Reason.OK, ""),
    "ok/key-collaborator-on-user-repo": (KEY, "git", WRITE, BOB_REPO, "write", Reason.OK, ""),
    "ok/cert-org-ca-reads": (CERT, "git", READ, ACME_APP, "read", Reason.OK, ""),
    "ok/cert-org-ca-pushes": (CERT, "git", WRITE, ACME_APP, "write", Reason.OK, ""),
    "ok/cert-on-org-requiring-certs": (CERT, "git", WRITE, ACME_SECURE, "write", Reason.OK, ""),
    "ok/cert-enterprise-ca-reaches-org": (
        CERT_ENTERPRISE,
        "git",
        READ,
        ACME_APP,
        "read",
        Reason.OK,
        "",
    ),
    "ok/cert-enterprise-ca-reaches-sibling-org": (
        CERT_ENTERPRISE,
        "git",
        READ,
        SIBLING_APP,
        "read",
        Reason.OK,
        "",
    ),
    "ok/cert-org-username": (CERT, "org-10", READ, ACME_APP, "read", Reason.OK, ""),
    "ok/cert-enterprise-ca-org-username": (
        CERT_ENTERPRISE,
        "org-10",
        WRITE,
        ACME_SECURE,
        "admin",
        Reason.OK,
        "",
    ),
    "ok/cert-other-org-ca-own-org": (CERT_OTHER, "git", READ, OTHER_APP, "read", Reason.OK, ""),
    "ok/deploy-key-reads": (DEPLOY_RO, "git", READ, ACME_APP, None, Reason.OK, ""),
    "ok/deploy-key-archive": (DEPLOY_RO, "git", ARCHIVE, ACME_APP, None, Reason.OK, ""),
    "ok/deploy-key-write-granted": (DEPLOY_RW, "git", WRITE, ACME_APP, None, Reason.OK, ""),
    "ok/deploy-key-exempt-from-cert-requirement": (
        DEPLOY_SECURE,
        "git",
        WRITE,
        ACME_SECURE,
        None,
        Reason.OK,
        "",
    ),
    "ok/force-command-same": (
        _forced("git-upload-pack 'acme/app.git'"),
        "git",
        READ,
        ACME_APP,
        "read",
        Reason.OK,
        "",
    ),
    "ok/force-command-other-quoting": (
        _forced("git-upload-pack /acme/app"),
        "git",
        READ,
        ACME_APP,
        "read",
        Reason.OK,
        "",
    ),
    # --- SSH username -----------------------------------------------------------------
    **{
        f"fail/username-{name or 'empty'}": (
            KEY,
            name,
            READ,
            ACME_APP,
            "read",
            Reason.SSH_BAD_USERNAME,
            messages.INVALID_SSH_USERNAME,
        )
        for name in ["root", "alice", "Git", "git ", "org-", "org-0", "org-010", "org-x", ""]
    },
    "fail/username-org-plus-sign": (
        CERT,
        "org-+10",
        READ,
        ACME_APP,
        "read",
        Reason.SSH_BAD_USERNAME,
        messages.INVALID_SSH_USERNAME,
    ),
    "fail/org-username-plain-key-unknown-org": (
        KEY,
        "org-99",
        READ,
        ACME_APP,
        "read",
        Reason.SSH_CERTIFICATE_ONLY,
        messages.CERTIFICATE_USERNAME_ONLY,
    ),
    "fail/org-username-plain-key-org-not-requiring": (
        KEY,
        "org-10",
        READ,
        ACME_APP,
        "read",
        Reason.SSH_CERTIFICATE_ONLY,
        messages.CERTIFICATE_USERNAME_ONLY,
    ),
    "fail/org-username-plain-key-org-requiring": (
        KEY,
        "org-10",
        READ,
        ACME_SECURE,
        "read",
        Reason.SSH_CERTIFICATE_ONLY,
        messages.CERTIFICATE_USERNAME_ONLY,
    ),
    "fail/org-username-deploy-key": (
        DEPLOY_RO,
        "org-10",
        READ,
        ACME_APP,
        None,
        Reason.SSH_CERTIFICATE_ONLY,
        messages.CERTIFICATE_USERNAME_ONLY,
    ),
    "fail/org-username-mismatched-org": (
        CERT_ENTERPRISE,
        "org-30",
        READ,
        ACME_APP,
        "read",
        Reason.SSH_ORG_MISMATCH,
        NOT_FOUND,
    ),
    "fail/org-username-other-org-repo": (
        CERT,
        "org-20",
        READ,
        ACME_APP,
        "read",
        Reason.SSH_ORG_MISMATCH,
        NOT_FOUND,
    ),
    "fail/org-username-user-repo": (
        CERT,
        "org-10",
        READ,
        ALICE_FORK,
        "admin",
        Reason.SSH_ORG_MISMATCH,
        NOT_FOUND,
    ),
    "fail/org-username-user-id-collides-with-org-id": (
        CERT,
        "org-100",
        READ,
        ALICE_FORK,
        "admin",
        Reason.SSH_ORG_MISMATCH,
        NOT_FOUND,
    ),
    # --- certificate reach --------------------------------------------------------------
    "fail/cert-org-a-ca-on-org-b": (
        CERT,
        "git",
        READ,
        OTHER_APP,
        "read",
        Reason.CERT_UNTRUSTED_CA,
        NOT_FOUND,
    ),
    "fail/cert-org-b-ca-on-org-a": (
        CERT_OTHER,
        "git",
        READ,
        ACME_APP,
        "admin",
        Reason.CERT_UNTRUSTED_CA,
        NOT_FOUND,
    ),
    "fail/cert-org-ca-on-sibling-org": (
        CERT,
        "git",
        READ,
        SIBLING_APP,
        "read",
        Reason.CERT_UNTRUSTED_CA,
        NOT_FOUND,
    ),
    "fail/cert-enterprise-ca-outside-enterprise": (
        CERT_ENTERPRISE,
        "git",
        READ,
        OTHER_APP,
        "read",
        Reason.CERT_UNTRUSTED_CA,
        NOT_FOUND,
    ),
    "fail/cert-own-fork": (
        CERT,
        "git",
        READ,
        ALICE_FORK,
        "admin",
        Reason.CERT_USER_REPO,
        NOT_FOUND,
    ),
    "fail/cert-other-users-repo": (
        CERT,
        "git",
        READ,
        BOB_REPO,
        "write",
        Reason.CERT_USER_REPO,
        NOT_FOUND,
    ),
    "fail/cert-revoked-ca": (
        replace(CERT, ca=replace(CA_ACME, revoked=True)),
        "git",
        READ,
        ACME_APP,
        "read",
        Reason.CERT_UNTRUSTED_CA,
        NOT_FOUND,
    ),
    "fail/cert-no-access": (CERT, "git", READ, ACME_APP, None, Reason.REPO_NO_ACCESS, NOT_FOUND),
    "fail/cert-read-only-push": (
        CERT,
        "git",
        WRITE,
        ACME_APP,
        "read",
        Reason.WRITE_DENIED,
        "Permission to acme/app denied to alice.",
    ),
    # --- force-command ------------------------------------------------------------------
    "fail/force-command-other-repo": (
        _forced("git-upload-pack 'acme/other'"),
        "git",
        READ,
        ACME_APP,
        "read",
        Reason.CERT_FORCE_COMMAND,
        messages.CERT_FORCE_COMMAND,
    ),
    "fail/force-command-other-service": (
        _forced("git-upload-pack 'acme/app'"),
        "git",
        WRITE,
        ACME_APP,
        "write",
        Reason.CERT_FORCE_COMMAND,
        messages.CERT_FORCE_COMMAND,
    ),
    "fail/force-command-not-git": (
        _forced("/usr/bin/id"),
        "git",
        READ,
        ACME_APP,
        "read",
        Reason.CERT_FORCE_COMMAND,
        messages.CERT_FORCE_COMMAND,
    ),
    # --- plain keys -----------------------------------------------------------------------
    "fail/key-missing-repo": (KEY, "git", READ, None, None, Reason.REPO_MISSING, NOT_FOUND),
    "fail/key-no-access": (KEY, "git", READ, OTHER_APP, None, Reason.REPO_NO_ACCESS, NOT_FOUND),
    "fail/key-read-only-push": (
        KEY,
        "git",
        WRITE,
        ACME_APP,
        "read",
        Reason.WRITE_DENIED,
        "Permission to acme/app denied to alice.",
    ),
    "fail/key-org-requires-certificates": (
        KEY,
        "git",
        READ,
        ACME_SECURE,
        "admin",
        Reason.ORG_REQUIRES_CERTIFICATES,
        messages.org_requires_certificates("acme", 10),
    ),
    "fail/key-org-requires-certificates-hidden-repo": (
        KEY,
        "git",
        READ,
        ACME_SECURE,
        None,
        Reason.REPO_NO_ACCESS,
        NOT_FOUND,
    ),
    "fail/suspended-key": (
        UserKeyCredential(replace(ALICE, suspended=True)),
        "git",
        READ,
        ALICE_FORK,
        "admin",
        Reason.USER_SUSPENDED,
        messages.ACCOUNT_SUSPENDED,
    ),
    "fail/suspended-cert": (
        replace(CERT, user=replace(ALICE, suspended=True)),
        "git",
        READ,
        ACME_APP,
        "admin",
        Reason.USER_SUSPENDED,
        messages.ACCOUNT_SUSPENDED,
    ),
    # --- deploy keys ----------------------------------------------------------------------
    "fail/deploy-key-other-repo": (
        DEPLOY_RW,
        "git",
        READ,
        ACME_SECURE,
        None,
        Reason.DEPLOY_KEY_OTHER_REPO,
        NOT_FOUND,
    ),
    "fail/deploy-key-read-only-push": (
        DEPLOY_RO,
        "git",
        WRITE,
        ACME_APP,
        None,
        Reason.DEPLOY_KEY_READ_ONLY,
        "Permission to acme/app denied to deploy key.",
    ),
    "fail/deploy-key-missing-repo": (
        DEPLOY_RO,
        "git",
        READ,
        None,
        None,
        Reason.REPO_MISSING,
        NOT_FOUND,
    ),
    "fail/deploy-key-permission-is-irrelevant": (
        DEPLOY_RO,
        "git",
        WRITE,
        ACME_APP,
        "admin",
        Reason.DEPLOY_KEY_READ_ONLY,
        "Permission to acme/app denied to deploy key.",
    ),
}


@pytest.mark.parametrize(
    ("cred", "username", "service", "repo", "permission", "reason", "message"),
    CASES.values(),
    ids=CASES.keys(),
)
def test_authorize(
    cred: Credential,
    username: str,
    service: str,
    repo: RepoFacts | None,
    permission: Permission | None,
    reason: Reason,
    message: str,
) -> None:
    decision = _run(cred, username, service, repo, permission)
    assert decision.reason == reason, decision.log_line
    assert decision.allowed is (reason == Reason.OK)
    assert decision.message == message


def test_hidden_and_missing_repositories_look_the_same() -> None:
    answers = {
        _run(KEY, "git", READ, None, None).message,
        _run(KEY, "git", READ, OTHER_APP, None).message,
        _run(CERT, "git", READ, OTHER_APP, "read").message,
        _run(CERT, "git", READ, ALICE_FORK, "admin").message,
        _run(CERT, "org-20", READ, ACME_APP, "read").message,
        _run(DEPLOY_RO, "git", READ, ACME_SECURE, None).message,
    }
    assert answers == {"Repository not found."}


def test_requires_certificates_message_says_how() -> None:
    text = messages.org_requires_certificates("acme", 10)
    assert text.startswith("The acme organization requires SSH certificates.")
    assert "gitward login" in text and "administrator" in text and "org-10" in text
    assert "\n" not in text


def test_messages_never_name_other_orgs() -> None:
    # Refusals for org B's repository seen with org A's certificate name nothing of B.
    decision = _run(CERT, "git", READ, OTHER_APP, "read")
    assert "other" not in decision.message and "acme" not in decision.message


def test_allowed_decisions_carry_audit_detail() -> None:
    decision = _run(CERT, "git", READ, ACME_APP, "read")
    assert decision.allowed and "ca=1" in decision.log_line and "repo=1" in decision.log_line
    decision = _run(DEPLOY_RW, "git", WRITE, ACME_APP, None)
    assert decision.allowed and "deploy_key" in decision.log_line


USERNAMES = {
    "ok/git": ("git", SshUsername()),
    "ok/org-1": ("org-1", SshUsername(1)),
    "ok/org-large": ("org-123456789", SshUsername(123456789)),
    "fail/org-0": ("org-0", None),
    "fail/org-leading-zero": ("org-01", None),
    "fail/org-negative": ("org--1", None),
    "fail/org-space": ("org- 1", None),
    "fail/org-unicode-digit": ("org-١", None),
    "fail/org-too-long": ("org-" + "9" * 20, None),
    "fail/upper": ("GIT", None),
    "fail/other": ("deploy", None),
}


@pytest.mark.parametrize(("name", "expected"), USERNAMES.values(), ids=USERNAMES.keys())
def test_parse_ssh_username(name: str, expected: SshUsername | None) -> None:
    assert parse_ssh_username(name) == expected


TRUST = {
    "ok/own-org": (CA_ACME, ACME_APP, True),
    "ok/enterprise": (CA_ENTERPRISE, ACME_APP, True),
    "ok/enterprise-sibling": (CA_ENTERPRISE, SIBLING_APP, True),
    "fail/other-org": (CA_ACME, OTHER_APP, False),
    "fail/enterprise-org-without-enterprise": (CA_ENTERPRISE, OTHER_APP, False),
    "fail/user-repo": (CA_ACME, ALICE_FORK, False),
    "fail/revoked": (replace(CA_ACME, revoked=True), ACME_APP, False),
    "fail/org-id-equals-enterprise-id": (
        replace(CA_ENTERPRISE, owner_id=10),
        replace(ACME_APP, org_enterprise_id=None),
        False,
    ),
    "fail/user-repo-owner-id-equals-ca-org-id": (
        CA_ACME,
        replace(ALICE_FORK, owner_id=10),
        False,
    ),
}


@pytest.mark.parametrize(("ca", "repo", "trusted"), TRUST.values(), ids=TRUST.keys())
def test_ca_trusted_by_repo_org(ca: Any, repo: RepoFacts, trusted: bool) -> None:
    assert ca_trusted_by_repo_org(ca, repo) is trusted
