"""May this credential run this git command on this repository? (pure)

``authorize`` takes an authenticated credential (a certificate must already have passed
``identity.check_certificate``), the SSH username, the parsed command, the repository
(None when it does not exist) and the user's permission on it (``permissions.py``), and
applies these checks in this order; the first failure decides:

 1. the SSH username is ``git`` or ``org-ID``                       ssh.bad_username
 2. ``org-ID`` accepts certificates only (plain and deploy keys
    are refused, whatever the organization's setting)              ssh.certificate_only_username
 3. the user is not suspended                                      user.suspended
 4. a certificate's ``force-command``, if any, is this command      cert.force_command
 5. the repository exists                                          repo.missing        (NF)
 6. ``org-ID``: the repository belongs to organization ID          ssh.org_mismatch    (NF)
 7. the credential reaches the repository:
      deploy key: it is the key's repository                       deploy_key.other_repo (NF)
      certificate: an organization repository                      cert.user_owned_repo  (NF)
                   whose organization trusts the CA (its own CAs
                   and its enterprise's)                           cert.ca_not_trusted_by_org (NF)
      user key / certificate: the user may read it                 repo.no_access      (NF)
 8. a plain user key on an organization that requires
    certificates (deploy keys are exempt)                          org.requires_certificates
 9. pushing needs write (deploy key: granted write)                repo.write_denied /
                                                                   deploy_key.read_only

(NF) = "Repository not found.": a repository the credential may not see is
indistinguishable from one that does not exist. Step 8 comes after visibility so that an
organization's policy is only revealed to someone who can see its repositories.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gitward.access import messages
from gitward.access.decision import Decision, Reason, allow, deny
from gitward.access.facts import (
    CertificateCredential,
    Credential,
    DeployKeyCredential,
    Permission,
    RepoFacts,
    TrustedCA,
    UserKeyCredential,
)
from gitward.access.permissions import permits
from gitward.ca.options import FORCE_COMMAND
from gitward.git.commands import GitCommand, force_command_allows

_ORG_USERNAME = re.compile(r"org-([1-9][0-9]{0,18})")


@dataclass(frozen=True)
class SshUsername:
    """``git`` (org_id None) or ``org-ID``."""

    org_id: int | None = None


def parse_ssh_username(name: str) -> SshUsername | None:
    """``git`` or ``org-<decimal id>`` (no sign, no leading zero); anything else is None."""
    if name == "git":
        return SshUsername()
    match = _ORG_USERNAME.fullmatch(name)
    return SshUsername(int(match.group(1))) if match else None


def ca_trusted_by_repo_org(ca: TrustedCA, repo: RepoFacts) -> bool:
    """An organization trusts its own CAs and its enterprise's CAs; users trust none."""
    if repo.owner_kind != "org" or ca.revoked:
        return False
    if ca.owner_kind == "org":
        return ca.owner_id == repo.owner_id
    return repo.org_enterprise_id is not None and ca.owner_id == repo.org_enterprise_id


def authorize(
    credential: Credential,
    *,
    ssh_username: str,
    command: GitCommand,
    repo: RepoFacts | None,
    permission: Permission | None,
) -> Decision:
    """Decide; see the module docstring for the order of checks."""
    username = parse_ssh_username(ssh_username)
    if username is None:
        return deny(Reason.SSH_BAD_USERNAME, messages.INVALID_SSH_USERNAME, ssh_username[:64])
    decision = (
        _check_credential(credential, username, command)
        or _check_reach(credential, username, repo, permission)
        or _check_operation(credential, repo, permission, command)
    )
    return decision or allow(_describe(credential, repo, command))


def _check_credential(
    credential: Credential, username: SshUsername, command: GitCommand
) -> Decision | None:
    if username.org_id is not None and not isinstance(credential, CertificateCredential):
        detail = f"org-{username.org_id} with {type(credential).__name__}"
        return deny(Reason.SSH_CERTIFICATE_ONLY, messages.CERTIFICATE_USERNAME_ONLY, detail)
    if isinstance(credential, DeployKeyCredential):
        return None
    if credential.user.suspended:
        return deny(Reason.USER_SUSPENDED, messages.ACCOUNT_SUSPENDED, f"user={credential.user.id}")
    if isinstance(credential, CertificateCredential):
        forced = credential.cert.critical_options.get(FORCE_COMMAND)
        if forced is not None and not force_command_allows(forced, command):
            detail = f"forced {forced[:100]!r}, asked {command.service} {command.repo_path}"
            return deny(Reason.CERT_FORCE_COMMAND, messages.CERT_FORCE_COMMAND, detail)
    return None


def _not_found(reason: Reason, detail: str) -> Decision:
    return deny(reason, messages.REPOSITORY_NOT_FOUND, detail)


def _check_reach(
    credential: Credential,
    username: SshUsername,
    repo: RepoFacts | None,
    permission: Permission | None,
) -> Decision | None:
    if repo is None:
        return _not_found(Reason.REPO_MISSING, "")
    if username.org_id is not None and (
        repo.owner_kind != "org" or repo.owner_id != username.org_id
    ):
        return _not_found(Reason.SSH_ORG_MISMATCH, f"org-{username.org_id} repo={repo.id}")
    if isinstance(credential, DeployKeyCredential):
        if credential.repo_id != repo.id:
            return _not_found(Reason.DEPLOY_KEY_OTHER_REPO, f"key repo={credential.repo_id}")
        return None
    if isinstance(credential, CertificateCredential):
        if repo.owner_kind != "org":
            return _not_found(Reason.CERT_USER_REPO, f"repo={repo.id}")
        if not ca_trusted_by_repo_org(credential.ca, repo):
            return _not_found(Reason.CERT_UNTRUSTED_CA, f"ca={credential.ca.ca_id} repo={repo.id}")
    if permission is None:
        return _not_found(Reason.REPO_NO_ACCESS, f"user={credential.user.id} repo={repo.id}")
    if isinstance(credential, UserKeyCredential) and _requires_certificates(repo):
        message = messages.org_requires_certificates(repo.owner_name, repo.owner_id)
        return deny(Reason.ORG_REQUIRES_CERTIFICATES, message, f"repo={repo.id}")
    return None


def _requires_certificates(repo: RepoFacts) -> bool:
    return repo.owner_kind == "org" and repo.org_requires_certificates


def _check_operation(
    credential: Credential,
    repo: RepoFacts | None,
    permission: Permission | None,
    command: GitCommand,
) -> Decision | None:
    assert repo is not None  # _check_reach refused a missing repository
    if command.operation == "read":
        return None
    if isinstance(credential, DeployKeyCredential):
        if credential.write:
            return None
        message = messages.permission_denied(repo.path, messages.DEPLOY_KEY_NAME)
        return deny(Reason.DEPLOY_KEY_READ_ONLY, message, f"repo={repo.id}")
    if permits(permission, "write"):
        return None
    message = messages.permission_denied(repo.path, credential.user.username)
    return deny(Reason.WRITE_DENIED, message, f"user={credential.user.id} repo={repo.id}")


def _describe(credential: Credential, repo: RepoFacts | None, command: GitCommand) -> str:
    repo_id = repo.id if repo is not None else None
    if isinstance(credential, DeployKeyCredential):
        who = f"deploy_key repo={credential.repo_id}"
    elif isinstance(credential, CertificateCredential):
        who = f"user={credential.user.id} ca={credential.ca.ca_id} serial={credential.cert.serial}"
    else:
        who = f"user={credential.user.id}"
    return f"{who} {command.service} repo={repo_id}"
