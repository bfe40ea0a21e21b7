"""Who is connecting, and may they run this git command? The SSH transport's use-cases.

The transport gathers facts (the key blob offered, the SSH username, the peer address, the
command line); these functions load what the database knows, ask the access core, record
the decision in the audit trail, and hand back a decision with its reasons. They are
synchronous: the transport runs them in a worker thread.

Fail closed: any error while deciding (an unparsable certificate, a database error) is a
refusal, logged with its cause.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from gitward import metrics
from gitward.access import messages
from gitward.access.decide import authorize, parse_ssh_username
from gitward.access.decision import Decision, Reason, deny
from gitward.access.facts import (
    NO_REVOCATIONS,
    CertificateCredential,
    Credential,
    DeployKeyCredential,
    TrustedCA,
    UserFacts,
    UserKeyCredential,
)
from gitward.access.identity import (
    certificate_problems,
    certificate_subject,
    check_certificate,
)
from gitward.ca.certificate import Certificate, is_certificate_blob, parse_certificate
from gitward.errors import CertificateError, GitwardError, KeyFormatError
from gitward.git import repos as disk
from gitward.git.commands import GitCommand, parse_git_command
from gitward.keys.algorithms import KNOWN_SSH_TYPES, decode_public_blob
from gitward.keys.fingerprint import sha256_fingerprint
from gitward.keys.wire import WireReader
from gitward.services import revocation
from gitward.services.context import Context
from gitward.services.facts import permission_on, repo_facts, trusted_ca, user_facts
from gitward.services.repositories import ssh_url
from gitward.store.db import Session, transaction
from gitward.store.models import CertificateAuthority, Organization, Repository, SSHKey
from gitward.store.queries import accounts, audit, keys, repos

log = structlog.get_logger("gitward.auth")


@dataclass(frozen=True)
class AuthResult:
    """The outcome of one authentication attempt.

    ``accepted`` with a ``credential``: the key may log in. ``accepted`` with a ``refusal``:
    the certificate is ours but cannot be used now (expired, revoked, ...); the login is let
    through only so that the reason can be shown to the user, and every command is refused.
    """

    accepted: bool
    decision: Decision
    credential: Credential | None = None
    refusal: Decision | None = None
    label: str = ""  # what the credential is, for logs ("key SHA256:... of alice")


def authenticate(
    ctx: Context, *, ssh_username: str, key_blob: bytes, peer: str, signed: bool
) -> AuthResult:
    """Decide one offered (``signed=False``) or signed-with (``signed=True``) key.

    Only signed attempts whose signature the transport verified may bind an identity; the
    transport calls this again for the signed attempt, never reusing an earlier answer.
    """
    now = ctx.now()
    event: dict[str, Any] | None = None
    try:
        with transaction(ctx.engine) as session:
            result = _decide_auth(ctx, session, ssh_username, key_blob, peer, now, signed)
            if signed or not result.accepted:
                event = _audit_auth(ctx, session, result, ssh_username, peer, signed)
    except GitwardError as exc:
        log.error("auth_failed_closed", cause=exc.cause, peer=peer, ssh_username=ssh_username)
        metrics.auth_decision("denied", Reason.INTERNAL_ERROR.value)
        return AuthResult(False, deny(Reason.INTERNAL_ERROR, messages.CERT_REFUSED, exc.cause))
    if event is not None:  # committed: the decision is in the audit trail
        log.info("ssh_auth", **event)
        metrics.auth_decision(event["outcome"], event["reason"])
    return result


def _decide_auth(
    ctx: Context,
    session: Session,
    ssh_username: str,
    blob: bytes,
    peer: str,
    now: dt.datetime,
    signed: bool,
) -> AuthResult:
    username = parse_ssh_username(ssh_username)
    if username is None:
        return _refused(Reason.SSH_BAD_USERNAME, f"ssh username {ssh_username[:64]!r}")
    if is_certificate_blob(blob):
        return _decide_certificate(
            ctx, session, username.org_id, blob, peer, now, used=now if signed else None
        )
    if username.org_id is not None:
        # org-ID@ accepts certificates only; refusing here lets the client offer its next key.
        return _refused(Reason.SSH_CERTIFICATE_ONLY, "plain key on org-ID username")
    try:
        if _blob_type(blob) in KNOWN_SSH_TYPES:  # security keys (sk-...) are read by asyncssh
            decode_public_blob(blob)
    except KeyFormatError as exc:
        # A blob no SSH implementation reads (a compressed ECDSA point, damage): refused
        # before any lookup, with the parser's reason in the log and the audit trail.
        return _refused(Reason.KEY_UNPARSABLE, exc.message, "unparsable key")
    return _decide_plain_key(session, blob, now if signed else None, peer)


def _blob_type(blob: bytes) -> str:
    return WireReader(blob, what="public key").text()


def _refused(reason: Reason, detail: str, label: str = "") -> AuthResult:
    return AuthResult(False, deny(reason, messages.CERT_REFUSED, detail), label=label)


def _decide_plain_key(
    session: Session, blob: bytes, used_at: dt.datetime | None, peer: str = ""
) -> AuthResult:
    """``used_at``: the time of a signed attempt, recorded as the key's last use when the
    key is accepted (on the row just loaded: no second lookup)."""
    fingerprint = sha256_fingerprint(blob)
    row = keys.key_by_fingerprint(session, fingerprint)
    if row is None:
        return _refused(Reason.KEY_UNKNOWN, "no such key", f"key {fingerprint}")
    if revocation.key_revoked(session, fingerprint, blob):
        # Let the login through only to say why: "revoked", like a revoked certificate.
        refusal = deny(Reason.KEY_REVOKED, messages.KEY_REVOKED, fingerprint, explainable=True)
        _mark_used(row, used_at, peer)
        return AuthResult(True, refusal, refusal=refusal, label=f"revoked key {fingerprint}")
    if row.repository_id is not None:
        credential: Credential = DeployKeyCredential(
            row.repository_id, write=not row.read_only, key_fingerprint=fingerprint
        )
        label = f"deploy key {fingerprint} of repository {row.repository_id}"
    else:
        user = accounts.user_by_id(session, row.user_id or 0)
        if user is None:  # the foreign key makes this impossible; fail closed anyway
            return _refused(Reason.KEY_UNKNOWN, "key without user", f"key {fingerprint}")
        credential = UserKeyCredential(user_facts(user), key_fingerprint=fingerprint)
        label = f"key {fingerprint} of {user.username}"
    _mark_used(row, used_at, peer)
    return AuthResult(True, Decision(True, Reason.OK), credential=credential, label=label)


def _mark_used(row: SSHKey, used_at: dt.datetime | None, peer: str) -> None:
    if used_at is not None:
        row.last_used_at = used_at
        row.last_used_address = peer[:64] or None


# A CA signs the certificates of many people: writing its row on every login would make
# every certificate login of an organization queue on one row lock (PostgreSQL). Minute
# precision is what "last used" needs, so the row is written at most once a minute.
CA_LAST_USED_PRECISION = dt.timedelta(seconds=60)


def _mark_ca_used(row: CertificateAuthority, used_at: dt.datetime, peer: str) -> None:
    last = row.last_used_at
    if last is None or used_at - last >= CA_LAST_USED_PRECISION:
        row.last_used_at = used_at
        row.last_used_address = peer[:64] or None


def _decide_certificate(
    ctx: Context,
    session: Session,
    org_id: int | None,
    blob: bytes,
    peer: str,
    now: dt.datetime,
    *,
    used: dt.datetime | None = None,
) -> AuthResult:
    try:
        cert = parse_certificate(blob)
    except CertificateError as exc:
        return _refused(Reason.CERT_UNPARSABLE, exc.cause, "unparsable certificate")
    label = (
        f"certificate serial {cert.serial} id {cert.key_id!r} ({cert.signature_key_fingerprint})"
    )
    row = keys.ca_by_fingerprint(session, cert.signature_key_fingerprint)
    if org_id is not None and not _org_trusts(session, org_id, row):
        return _refused(Reason.CERT_UNTRUSTED_CA, f"org-{org_id} does not trust this CA", label)
    user = _certificate_user(ctx, session, cert)
    ca = certificate_authority(session, row, now)
    decision = check_certificate(
        cert,
        hostname=ctx.settings.hostname,
        ca=ca,
        user=user,
        now=int(now.timestamp()),
        peer=peer,
        revocations=revocation.revocation_facts_for(session, cert, ca.ca_id)
        if ca
        else NO_REVOCATIONS,
    )
    if decision.allowed and user is not None and ca is not None:
        if used is not None and row is not None:
            _mark_ca_used(row, used, peer)
        credential = CertificateCredential(user, ca, cert)
        return AuthResult(
            True, decision, credential=credential, label=f"{label} of {user.username}"
        )
    if decision.explainable:
        return AuthResult(True, decision, refusal=decision, label=label)
    return AuthResult(False, decision, label=label)


def certificate_authority(
    session: Session, row: CertificateAuthority | None, now: dt.datetime
) -> TrustedCA | None:
    """The registered CA as the policy sees it: revoked when its key was revoked or its
    retirement date has passed (rotation: the old CA is trusted until then)."""
    if row is None:
        return None
    retired = row.retired_at is not None and row.retired_at <= now
    return trusted_ca(row, revoked=retired or revocation.ca_revoked(session, row.id))


def _org_trusts(session: Session, org_id: int, ca: CertificateAuthority | None) -> bool:
    org: Organization | None = accounts.org_by_id(session, org_id)
    if org is None or ca is None:
        return False
    if ca.organization_id is not None:
        return ca.organization_id == org.id
    return ca.enterprise_id is not None and ca.enterprise_id == org.enterprise_id


def _certificate_user(ctx: Context, session: Session, cert: Certificate) -> UserFacts | None:
    subject = certificate_subject(cert, ctx.settings.hostname)
    if subject.lookup is None:
        return None
    kind, value = subject.lookup
    user = (
        accounts.user_by_id(session, int(value))
        if kind == "id"
        else accounts.user_by_name(session, str(value))
    )
    return user_facts(user) if user else None


def _audit_auth(
    ctx: Context,
    session: Session,
    result: AuthResult,
    ssh_username: str,
    peer: str,
    signed: bool,
) -> dict[str, Any]:
    """Record the decision; returns the event's fields, for the log line written once the
    transaction has committed."""
    decision = result.refusal or result.decision
    outcome = "ok" if result.accepted and result.refusal is None else "denied"
    detail = {
        "ssh_username": ssh_username[:64],
        "signed": signed,
        "reason": decision.reason.value,
        "detail": decision.detail,
    }
    ctx.audit(
        session, "ssh.auth", result.label, outcome=outcome, peer=peer, actor="sshd", **detail
    )
    return {
        "action": "ssh.auth",
        "target": result.label,
        "actor": "sshd",
        "outcome": outcome,
        "peer": peer,
        **detail,
    }


@dataclass(frozen=True)
class CommandResult:
    """May this exec run? When allowed, the git command and the repository on disk."""

    decision: Decision
    command: GitCommand | None = None
    repo_dir: Path | None = None
    organization_id: int | None = None  # the owner of the repository, for the audit trail


def authorize_command(
    ctx: Context,
    *,
    credential: Credential,
    ssh_username: str,
    command_line: str,
    peer: str,
    who: str,
    label: str = "",
) -> CommandResult:
    """May ``credential`` run ``command_line``? ``who`` is the user (or deploy key), the
    audit's actor; ``label`` the credential itself (key fingerprint, or certificate serial,
    key id and CA)."""
    try:
        command = parse_git_command(command_line)
    except GitwardError as exc:
        result = CommandResult(deny(Reason.INVALID_COMMAND, exc.message, exc.cause))
        log.info(
            "git_command",
            action=None,
            target=None,
            actor=who,
            outcome="denied",
            peer=peer,
            ssh_username=ssh_username[:64],
            credential=label,
            reason=result.decision.reason.value,
            detail=result.decision.detail,
        )
        return result
    try:
        with transaction(ctx.engine) as session:
            result = _decide_command(ctx, session, credential, ssh_username, command)
            event = _audit_command(
                ctx, session, command, result, credential, ssh_username, peer, who, label
            )
    except GitwardError as exc:
        log.error("authorize_failed_closed", cause=exc.cause, peer=peer)
        return CommandResult(deny(Reason.INTERNAL_ERROR, messages.REPOSITORY_NOT_FOUND, exc.cause))
    log.info("git_command", **event)  # committed: the decision is in the audit trail
    return result


def _decide_command(
    ctx: Context,
    session: Session,
    credential: Credential,
    ssh_username: str,
    command: GitCommand,
) -> CommandResult:
    row = repos.repo_by_owner_and_name(session, command.owner, command.name)
    user = None if isinstance(credential, DeployKeyCredential) else credential.user
    permission = permission_on(session, user, row) if (row and user) else None
    decision = authorize(
        credential,
        ssh_username=ssh_username,
        command=command,
        repo=repo_facts(row) if row else None,
        permission=permission,
    )
    if decision.reason is Reason.ORG_REQUIRES_CERTIFICATES and row is not None:
        decision = _with_clone_url(ctx, decision, row)
    if row is None:
        return CommandResult(decision, command)
    org_id = row.owner_organization_id
    if not decision.allowed:
        return CommandResult(decision, command, organization_id=org_id)
    path = disk.repository_path(ctx.settings.repos_dir, row.owner_name, row.name)
    real = disk.resolve_inside(ctx.settings.repos_dir, path)
    if real is None:  # missing on disk, or a symlink that leads outside the repository root
        return CommandResult(
            deny(Reason.REPO_MISSING, messages.REPOSITORY_NOT_FOUND, f"{path} not usable"),
            command,
            organization_id=org_id,
        )
    return CommandResult(decision, command, real, org_id)


def _with_clone_url(ctx: Context, decision: Decision, row: Repository) -> Decision:
    """Name the exact org-ID URL to use instead of a template."""
    assert row.owner_organization is not None  # only organizations require certificates
    org = row.owner_organization
    url = ssh_url(f"org-{org.id}", ctx.settings.hostname, ctx.settings.ssh_port, row.full_name)
    message = messages.org_requires_certificates(org.name, org.id, url)
    return dataclasses.replace(decision, message=message)


def credential_kind(credential: Credential) -> str:
    """What the audit trail records as the credential's kind (the preview counts "key")."""
    if isinstance(credential, DeployKeyCredential):
        return "deploy_key"
    if isinstance(credential, CertificateCredential):
        return "certificate"
    return "key"


def _audit_command(
    ctx: Context,
    session: Session,
    command: GitCommand,
    result: CommandResult,
    credential: Credential,
    ssh_username: str,
    peer: str,
    who: str,
    label: str,
) -> dict[str, Any]:
    """Record the decision; returns the event's fields, for the log line written once the
    transaction has committed."""
    fields: dict[str, Any] = {
        "actor": who,
        "action": command.service,
        "target": command.repo_path,
        "outcome": "ok" if result.decision.allowed else "denied",
        "peer": peer,
        "user_id": None if isinstance(credential, DeployKeyCredential) else credential.user.id,
        "organization_id": result.organization_id,
        "credential_kind": credential_kind(credential),
    }
    detail = {
        "ssh_username": ssh_username[:64],
        "credential": label,
        "reason": result.decision.reason.value,
        "detail": result.decision.detail,
    }
    audit.append_event(session, at=ctx.now(), detail=detail, **fields)
    return {**fields, **detail}


def deploy_key_repository(ctx: Context, repo_id: int) -> str:
    """OWNER/NAME of a deploy key's repository, for the greeting."""
    with transaction(ctx.engine) as session:
        repo = repos.repo_by_id(session, repo_id)
        return repo.full_name if repo else "deploy key"


@dataclass(frozen=True)
class CertificateCheck:
    """What `gitward cert check` reports: would the server accept this certificate?"""

    user: str | None
    ca: str | None
    problems: tuple[Decision, ...]

    @property
    def accepted(self) -> bool:
        return not self.problems


def check_certificate_offline(
    ctx: Context,
    cert: Certificate,
    *,
    repo: str,
    operation: str,
    ssh_username: str,
    peer: str,
    at: dt.datetime,
) -> CertificateCheck:
    """Every reason the server would refuse ``cert`` for ``operation`` ('read' or 'write')
    on ``repo``, judged from the database as it is now and the clock at ``at``."""
    service = "git-receive-pack" if operation == "write" else "git-upload-pack"
    command = parse_git_command(f"{service} '{repo}'")
    with transaction(ctx.engine) as session:
        row = keys.ca_by_fingerprint(session, cert.signature_key_fingerprint)
        ca = certificate_authority(session, row, at)
        user = _certificate_user(ctx, session, cert)
        revocations = (
            revocation.revocation_facts_for(session, cert, ca.ca_id) if ca else NO_REVOCATIONS
        )
        problems = list(
            certificate_problems(
                cert,
                hostname=ctx.settings.hostname,
                ca=ca,
                user=user,
                now=int(at.timestamp()),
                peer=peer,
                revocations=revocations,
            )
        )
        problems += _username_problems(session, ssh_username, row)
        if ca is not None and user is not None:
            credential = CertificateCredential(user, ca, cert)
            verdict = _decide_command(ctx, session, credential, ssh_username, command).decision
            if not verdict.allowed and verdict.reason not in {p.reason for p in problems}:
                problems.append(verdict)
        owner = _ca_owner(row)
    return CertificateCheck(user.username if user else None, owner, tuple(problems))


def _username_problems(
    session: Session, ssh_username: str, row: CertificateAuthority | None
) -> list[Decision]:
    username = parse_ssh_username(ssh_username)
    if username is None:
        return [deny(Reason.SSH_BAD_USERNAME, messages.INVALID_SSH_USERNAME, ssh_username[:64])]
    if username.org_id is not None and not _org_trusts(session, username.org_id, row):
        detail = f"org-{username.org_id} does not trust this CA"
        return [deny(Reason.CERT_UNTRUSTED_CA, messages.CERT_REFUSED, detail)]
    return []


def _ca_owner(row: CertificateAuthority | None) -> str | None:
    if row is None:
        return None
    if row.organization is not None:
        return f"organization {row.organization.name}"
    return f"enterprise {row.enterprise.name}" if row.enterprise else None


def certificate_user(ctx: Context, cert: Certificate) -> str | None:
    """The Gitward user ``cert`` names on this server (by login@/id@ for our hostname)."""
    with transaction(ctx.engine) as session:
        user = _certificate_user(ctx, session, cert)
        return user.username if user else None
