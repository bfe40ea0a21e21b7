"""What the user reads: one line each, plain text (the transport adds ``ERROR: ``).

Rules for every message here: never name another user or organization the caller could
not already see, and never say whether something exists that the caller may not see
(a hidden repository and a missing one get the same ``REPOSITORY_NOT_FOUND``).
"""

from __future__ import annotations

from typing import Final

REPOSITORY_NOT_FOUND: Final = "Repository not found."
CERT_EXPIRED: Final = "This SSH certificate has expired."
CERT_NOT_YET_VALID: Final = "This SSH certificate is not yet valid."
CERT_SOURCE_ADDRESS: Final = "This SSH certificate may not be used from this address."
CERT_REVOKED: Final = "This SSH certificate has been revoked."
KEY_REVOKED: Final = "This SSH key has been revoked."
# Every other certificate refusal: the reason goes to the audit log only, since a precise
# answer ("unknown CA", "no such user") would let anyone probe our configuration.
CERT_REFUSED: Final = "This SSH certificate is not accepted here."
CERT_FORCE_COMMAND: Final = "This SSH certificate does not permit this command."
ACCOUNT_SUSPENDED: Final = "Your account is suspended."
CERTIFICATE_USERNAME_ONLY: Final = "This SSH username accepts only SSH certificates."
INVALID_SSH_USERNAME: Final = 'Use the SSH username "git".'


def org_requires_certificates(org_name: str, org_id: int, url: str | None = None) -> str:
    """Said only to someone who can already see the organization's repository; ``url`` is
    the org-ID clone URL of the repository asked for, when the transport knows it."""
    where = url or f"org-{org_id}@HOST:OWNER/NAME.git"
    return (
        f"The {org_name} organization requires SSH certificates. "
        f"Run `gitward login` or ask an administrator of {org_name} for one, "
        f"then use the SSH username org-{org_id} ({where})."
    )


def permission_denied(repo_path: str, who: str) -> str:
    """A repository the caller can see but may not write to."""
    return f"Permission to {repo_path} denied to {who}."


DEPLOY_KEY_NAME: Final = "deploy key"
