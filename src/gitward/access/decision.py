"""A policy answer: allowed or not, what the user reads, and why (for the audit log)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Reason(StrEnum):
    """Machine-readable reason codes, stable for the audit log."""

    OK = "ok"
    # certificate checks (identity.check_certificate)
    CERT_UNKNOWN_CA = "cert.unknown_ca"
    CERT_CA_IS_CERTIFICATE = "cert.ca_is_certificate"
    CERT_CA_MISMATCH = "cert.ca_mismatch"
    CERT_SHA1_SIGNATURE = "cert.sha1_signature"
    CERT_BAD_SIGNATURE = "cert.bad_signature"
    CERT_NOT_USER = "cert.not_user_certificate"
    CERT_UNKNOWN_CRITICAL_OPTION = "cert.unknown_critical_option"
    CERT_VERIFY_REQUIRED = "cert.verify_required_unsupported"
    CERT_BAD_SOURCE_ADDRESS = "cert.bad_source_address"
    CERT_LIFETIME_TOO_LONG = "cert.lifetime_too_long"
    CERT_REVOKED = "cert.revoked"
    CERT_NOT_YET_VALID = "cert.not_yet_valid"
    CERT_EXPIRED = "cert.expired"
    CERT_SOURCE_ADDRESS = "cert.source_address"
    CERT_NO_SUBJECT = "cert.no_subject"
    CERT_UNKNOWN_USER = "cert.unknown_user"
    CERT_SUBJECT_MISMATCH = "cert.subject_mismatch"
    CERT_USER_TOO_NEW = "cert.user_newer_than_certificate"
    USER_SUSPENDED = "user.suspended"
    # authorization (decide.authorize)
    SSH_BAD_USERNAME = "ssh.bad_username"
    SSH_CERTIFICATE_ONLY = "ssh.certificate_only_username"
    SSH_ORG_MISMATCH = "ssh.org_mismatch"
    CERT_FORCE_COMMAND = "cert.force_command"
    REPO_MISSING = "repo.missing"
    REPO_NO_ACCESS = "repo.no_access"
    DEPLOY_KEY_OTHER_REPO = "deploy_key.other_repo"
    CERT_USER_REPO = "cert.user_owned_repo"
    CERT_UNTRUSTED_CA = "cert.ca_not_trusted_by_org"
    ORG_REQUIRES_CERTIFICATES = "org.requires_certificates"
    WRITE_DENIED = "repo.write_denied"
    DEPLOY_KEY_READ_ONLY = "deploy_key.read_only"
    # transport and services
    KEY_UNKNOWN = "key.unknown"
    KEY_REVOKED = "key.revoked"
    KEY_SHA1_SIGNATURE = "key.sha1_signature"
    KEY_BAD_SIGNATURE = "key.bad_signature"
    CERT_UNPARSABLE = "cert.unparsable"
    KEY_UNPARSABLE = "key.unparsable"
    INVALID_COMMAND = "ssh.invalid_command"
    INTERNAL_ERROR = "internal_error"


@dataclass(frozen=True)
class Decision:
    """``allowed`` and, when refused, ``message`` for the user and ``reason`` for the log.

    ``explainable`` marks refusals whose message is safe and useful to show *after*
    accepting authentication (expired, not yet valid, wrong address, revoked,
    suspended): a transport may accept the key, then print ``message`` and close, instead
    of failing authentication with no word of why. Other refusals should fail
    authentication silently.
    """

    allowed: bool
    reason: Reason
    message: str = ""
    detail: str = ""
    explainable: bool = False

    @property
    def log_line(self) -> str:
        return f"{self.reason} {self.detail}".strip()


def allow(detail: str = "") -> Decision:
    return Decision(allowed=True, reason=Reason.OK, detail=detail)


def deny(reason: Reason, message: str, detail: str = "", *, explainable: bool = False) -> Decision:
    return Decision(
        allowed=False, reason=reason, message=message, detail=detail, explainable=explainable
    )
